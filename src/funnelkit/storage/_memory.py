"""The in-memory store: the embedded default and the executable specification of the ports."""

from __future__ import annotations

import itertools
import re
import threading
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from funnelkit.model import (
    Contact,
    Deal,
    EntityKind,
    EntityRef,
    Lead,
    Task,
)
from funnelkit.storage._ports import ContactKeys, RecordedEvent
from funnelkit.storage._units import (
    BufferedUnitOfWork,
    live_keys,
    sequence_conflict,
    stale,
    taken,
)


if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime

    from funnelkit.events import Event
    from funnelkit.storage._units import Writes


__all__ = ["InMemoryStore", "InMemoryUnitOfWork", "basic_contact_keys"]

_NON_DIGITS = re.compile(r"\D+")

E = TypeVar("E", Contact, Lead, Deal, Task)


EMAIL_MAX = 254
"""The longest e-mail address (RFC 5321); a longer one is no address and gets no key."""


def basic_contact_keys(contact: Contact) -> list[str]:
    """
    Look-up keys from a contact's phones and e-mails, with light normalisation.

    Phones become ``"phone:"`` plus their digits
    (``"8 (912) 345-67-89"`` → ``"phone:89123456789"``);
    e-mails become ``"email:"`` plus the address trimmed and case-folded (one longer than
    254 characters, the most RFC 5321 allows, is no address and gets no key).
    This is the default of `InMemoryStore`, with no dependency on a region; for real matching
    build the store with your match policy's ``contact_keys`` (``MatchPolicy().contact_keys``:
    E.164 phones with country codes and trunk prefixes, e-mail provider rules, key fields), as
    `MatchPolicy.who_is` and the intake expect.
    """
    keys = []
    for phone in contact.phones:
        digits = _NON_DIGITS.sub("", phone)
        if digits:
            keys.append(f"phone:{digits}")
    keys.extend(
        f"email:{email.strip().casefold()}"
        for email in contact.emails
        if len(email.strip()) <= EMAIL_MAX  # longer is no e-mail address (RFC 5321)
    )
    return keys


class _Table(Generic[E]):
    """The committed entities of one kind, with an index per filterable field."""

    def __init__(self, indexed: tuple[str, ...]) -> None:
        self.rows: dict[str, E] = {}
        self.order: dict[str, int] = {}
        self.indexes: dict[str, dict[object, dict[str, None]]] = {name: {} for name in indexed}

    def put(self, entity: E, order: int | None) -> None:
        old = self.rows.get(entity.id)
        for name, index in self.indexes.items():
            new_value = getattr(entity, name)
            if old is not None:
                old_value = getattr(old, name)
                if old_value == new_value:
                    continue
                bucket = index[old_value]
                del bucket[entity.id]
                if not bucket:
                    del index[old_value]
            index.setdefault(new_value, {})[entity.id] = None
        self.rows[entity.id] = entity
        if order is not None:
            self.order[entity.id] = order

    def candidates(self, filters: dict[str, object]) -> Iterable[str]:
        """Ids that may match: the smallest index bucket among the filters (or all ids)."""
        best: Iterable[str] | None = None
        best_size = len(self.rows) + 1
        for name, value in filters.items():
            index = self.indexes.get(name)
            if index is None:
                continue
            bucket = index.get(value, {})
            if len(bucket) < best_size:
                best, best_size = bucket, len(bucket)
        return self.rows if best is None else best


class _State:
    """Everything an `InMemoryStore` has committed, read and changed under one lock."""

    def __init__(self, contact_keys: ContactKeys) -> None:
        self.lock = threading.RLock()
        self.contact_keys = contact_keys
        self.tables: dict[EntityKind, _Table[Any]] = {
            EntityKind.CONTACT: _Table(()),
            EntityKind.LEAD: _Table(("pipeline", "stage", "status", "owner", "contact_id")),
            EntityKind.DEAL: _Table(("pipeline", "stage", "status", "owner", "contact_id")),
            EntityKind.TASK: _Table(("assignee", "status", "subject")),
        }
        self.keys: dict[str, dict[str, None]] = {}
        self.contact_key_sets: dict[str, tuple[str, ...]] = {}
        self.log: list[RecordedEvent] = []
        self.histories: dict[EntityRef, list[Event]] = {}
        self.next_order = 0

    # --- the Committed protocol (funnelkit.storage._units) ---

    def live_keys(self, contact: Contact) -> tuple[str, ...]:
        return live_keys(self.contact_keys, contact)

    def fetch(self, kind: EntityKind, entity_id: str) -> tuple[int, Any] | None:
        table = self.tables[kind]
        with self.lock:
            entity = table.rows.get(entity_id)
            return None if entity is None else (table.order[entity_id], entity)

    def select(
        self,
        kind: EntityKind,
        filters: dict[str, object],
        due_before: datetime | None,
        limit: int | None = None,  # noqa: ARG002 - all of them: the unit of work cuts
    ) -> list[tuple[int, Any]]:
        table = self.tables[kind]
        rows, items = table.rows, filters.items()
        found = []
        with self.lock:
            for entity_id in table.candidates(filters):
                entity = rows[entity_id]
                if all(getattr(entity, name) == value for name, value in items) and (
                    due_before is None or entity.due_at < due_before
                ):
                    found.append((table.order[entity_id], entity))
        return found

    def by_key(self, key: str, limit: int | None) -> list[tuple[int, Contact]]:
        table = self.tables[EntityKind.CONTACT]
        with self.lock:
            holders = itertools.islice(self.keys.get(key, {}), limit)
            return [(table.order[cid], table.rows[cid]) for cid in holders]

    def count(self, kind: EntityKind) -> int:
        with self.lock:
            return len(self.tables[kind].rows)

    def last_sequence(self, entity: EntityRef) -> int:
        with self.lock:
            return len(self.histories.get(entity, ()))

    def history(self, entity: EntityRef) -> list[Event]:
        with self.lock:
            return list(self.histories.get(entity, ()))

    def log_after(self, after: int, limit: int) -> list[RecordedEvent]:
        with self.lock:
            return self.log[after : after + limit]

    def apply(self, writes: Writes) -> None:
        with self.lock:
            self._verify(writes)
            # Everything that can fail runs before anything changes: the host's contact-key
            # function included, so a commit is all or nothing.
            keys = {
                entity.id: self.live_keys(entity)
                for kind, entity in [*writes.added(), *((k, e) for k, e, _ in writes.saved())]
                if kind is EntityKind.CONTACT
            }
            for kind, entity in writes.added():
                self.next_order += 1
                self._put(kind, entity, self.next_order, keys)
            for kind, entity, _ in writes.saved():
                self._put(kind, entity, None, keys)
            for event in writes.events:
                self.histories.setdefault(event.entity, []).append(event)
                self.log.append(RecordedEvent(position=len(self.log) + 1, event=event))

    def close(self) -> None:
        pass

    # --- under the lock ---

    def _put(
        self, kind: EntityKind, entity: Any, order: int | None, keys: dict[str, tuple[str, ...]]
    ) -> None:
        if kind is EntityKind.CONTACT:
            self._reindex_contact(entity, keys[entity.id])
        self.tables[kind].put(entity, order)

    def _verify(self, writes: Writes) -> None:
        for kind, pending in writes.entities.items():
            rows = self.tables[kind].rows
            for entity_id, item in pending.items():
                stored = rows.get(entity_id)
                ref = EntityRef(kind=kind, id=entity_id)
                if item.base_version is None and stored is not None:
                    raise taken(ref, stored.version)
                if item.base_version is not None:
                    actual = None if stored is None else stored.version
                    if actual != item.base_version:
                        raise stale(ref, item.base_version, actual)
        for ref, first in writes.first_sequences().items():
            stored_last = len(self.histories.get(ref, ()))
            if first != stored_last + 1:
                raise sequence_conflict(ref, first, stored_last)

    def _reindex_contact(self, contact: Contact, keys: tuple[str, ...]) -> None:
        # Keys the contact keeps stay where they are in their buckets, so a contact saved
        # unchanged (linking a lead touches its contact) costs no re-indexing.
        old = self.contact_key_sets.get(contact.id, ())
        if keys == old:
            return
        for key in set(old).difference(keys):
            bucket = self.keys[key]
            del bucket[contact.id]
            if not bucket:
                del self.keys[key]
        self.contact_key_sets[contact.id] = keys
        for key in keys:
            self.keys.setdefault(key, {})[contact.id] = None


class InMemoryStore:
    """
    A thread-safe store that keeps everything in memory: the embedded default.

    It implements `funnelkit.storage.Store` and is the reference the conformance kit is written
    against: look-ups by id and by contact key are O(1), listings use an index per filter.

    Args:
        contact_keys: The function giving each contact's look-up keys; defaults to
            `basic_contact_keys`.
    """

    def __init__(self, *, contact_keys: ContactKeys = basic_contact_keys) -> None:
        self._state = _State(contact_keys)

    def unit_of_work(self) -> InMemoryUnitOfWork:
        """Open a unit of work; use it as a context manager."""
        return InMemoryUnitOfWork(self._state)

    def live_keys(self, contact: Contact) -> tuple[str, ...]:
        """Return the keys the store indexes `contact` under (none for a merged contact)."""
        return self._state.live_keys(contact)


class InMemoryUnitOfWork(BufferedUnitOfWork):
    """A unit of work on an `InMemoryStore` (see `funnelkit.storage.UnitOfWork`)."""
