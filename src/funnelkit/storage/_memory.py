"""The in-memory store: the embedded default and the executable specification of the ports."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

import attrs

from funnelkit.exceptions import ConflictError, NotFoundError, UnitOfWorkError, ValidationError
from funnelkit.model import (
    EVENT_TYPES,
    Contact,
    Deal,
    DealStatus,
    EntityKind,
    EntityRef,
    Event,
    Lead,
    LeadStatus,
    Task,
    TaskStatus,
)
from funnelkit.model._checks import aware_datetime_problem, describe, identifier_problem
from funnelkit.storage._ports import ContactKeys, RecordedEvent


if TYPE_CHECKING:
    from datetime import datetime
    from types import TracebackType

    from typing_extensions import Self


__all__ = ["InMemoryStore", "basic_contact_keys"]

_NON_DIGITS = re.compile(r"\D+")
_EVENT_CLASSES = tuple(EVENT_TYPES.values())

E = TypeVar("E", Contact, Lead, Deal, Task)


def basic_contact_keys(contact: Contact) -> list[str]:
    """
    Look-up keys from a contact's phones and e-mails, with light normalisation.

    Phones become ``"phone:"`` plus their digits
    (``"8 (912) 345-67-89"`` → ``"phone:89123456789"``);
    e-mails become ``"email:"`` plus the address trimmed and case-folded.
    This is the default of `InMemoryStore`, with no dependency on a region; for real matching
    build the store with ``funnelkit.matching.Normaliser().keys`` (E.164 phones with country
    codes and trunk prefixes, e-mail provider rules), as `MatchPolicy.who_is` expects.
    """
    keys = []
    for phone in contact.phones:
        digits = _NON_DIGITS.sub("", phone)
        if digits:
            keys.append(f"phone:{digits}")
    keys.extend(f"email:{email.strip().casefold()}" for email in contact.emails)
    return keys


def _is_sequence(value: object) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


def _check_type(entity: object, cls: type[Any], method: str) -> None:
    if not isinstance(entity, cls):
        name = cls.__name__.lower()
        msg = f"{method}() of the {name} repository takes a {cls.__name__}, got {describe(entity)}"
        raise ValidationError(msg, field="entity", value=entity, rule="type")


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


@attrs.define
class _Pending(Generic[E]):
    """One entity written in a unit of work: its current value and the version it must replace."""

    entity: E
    base_version: int | None  # None: added in this unit
    order: int


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
        self._lock = threading.RLock()
        self._contact_keys = contact_keys
        self._tables: dict[EntityKind, _Table[Any]] = {
            EntityKind.CONTACT: _Table(()),
            EntityKind.LEAD: _Table(("pipeline", "stage", "status", "owner", "contact_id")),
            EntityKind.DEAL: _Table(("pipeline", "stage", "status", "owner", "contact_id")),
            EntityKind.TASK: _Table(("assignee", "status", "subject")),
        }
        self._keys: dict[str, dict[str, None]] = {}
        self._contact_key_sets: dict[str, tuple[str, ...]] = {}
        self._log: list[RecordedEvent] = []
        self._histories: dict[EntityRef, list[Event]] = {}
        self._next_order = 0

    def unit_of_work(self) -> InMemoryUnitOfWork:
        """Open a unit of work; use it as a context manager."""
        return InMemoryUnitOfWork(self)

    def live_keys(self, contact: Contact) -> tuple[str, ...]:
        """Return the keys the store indexes `contact` under (none for a merged contact)."""
        if contact.merged_into is not None:
            return ()
        return tuple(dict.fromkeys(self._contact_keys(contact)))

    # --- called by units of work, under the lock ---

    def _take_order(self) -> int:
        self._next_order += 1
        return self._next_order

    def _commit(self, unit: InMemoryUnitOfWork) -> None:
        with self._lock:
            self._verify(unit)
            for kind, pending in unit.pending.items():
                table = self._tables[kind]
                for item in pending.values():
                    if kind is EntityKind.CONTACT:
                        self._reindex_contact(item.entity)
                    table.put(item.entity, item.order if item.base_version is None else None)
            for event in unit.pending_events:
                self._histories.setdefault(event.entity, []).append(event)
                self._log.append(RecordedEvent(position=len(self._log) + 1, event=event))

    def _verify(self, unit: InMemoryUnitOfWork) -> None:
        for kind, pending in unit.pending.items():
            rows = self._tables[kind].rows
            for entity_id, item in pending.items():
                stored = rows.get(entity_id)
                ref = EntityRef(kind=kind, id=entity_id)
                if item.base_version is None and stored is not None:
                    raise ConflictError(
                        f"Cannot add {ref}: another writer added it first; use a new id, or "
                        "reload it and save instead",
                        entity=ref,
                        expected=None,
                        actual=stored.version,
                    )
                if item.base_version is not None:
                    actual = None if stored is None else stored.version
                    if actual != item.base_version:
                        raise _stale(ref, item.base_version, actual)
        firsts: dict[EntityRef, int] = {}
        for event in unit.pending_events:
            firsts.setdefault(event.entity, event.sequence)
        for ref, first in firsts.items():
            stored_last = len(self._histories.get(ref, ()))
            if first != stored_last + 1:
                raise _sequence_conflict(ref, first, stored_last)

    def _reindex_contact(self, contact: Contact) -> None:
        for key in self._contact_key_sets.get(contact.id, ()):
            bucket = self._keys[key]
            del bucket[contact.id]
            if not bucket:
                del self._keys[key]
        keys = self.live_keys(contact)
        self._contact_key_sets[contact.id] = keys
        for key in keys:
            self._keys.setdefault(key, {})[contact.id] = None


def _stale(ref: EntityRef, expected: int, actual: int | None) -> ConflictError:
    held = "no longer holds it" if actual is None else f"holds version {actual}"
    return ConflictError(
        f"Cannot save {ref}: it was read at version {expected} but the store {held}; "
        "someone else changed it first: reload it and retry",
        entity=ref,
        expected=expected,
        actual=actual,
    )


def _sequence_conflict(ref: EntityRef, first: int, stored_last: int) -> ConflictError:
    return ConflictError(
        f"Cannot append event {first} of {ref}: the store holds {stored_last} events of it, so "
        f"the next must be {stored_last + 1}; another writer appended first: reload and retry",
        entity=ref,
        expected=first - 1,
        actual=stored_last,
    )


class InMemoryUnitOfWork:
    """A unit of work on an `InMemoryStore` (see `funnelkit.storage.UnitOfWork`)."""

    def __init__(self, store: InMemoryStore) -> None:
        self._store = store
        self.pending: dict[EntityKind, dict[str, _Pending[Any]]] = {kind: {} for kind in EntityKind}
        self.pending_events: list[Event] = []
        self._last_sequences: dict[EntityRef, int] = {}
        self._ended: str | None = None
        self._contacts = _Contacts(self, Contact, EntityKind.CONTACT)
        self._leads = _Leads(self, Lead, EntityKind.LEAD)
        self._deals = _Deals(self, Deal, EntityKind.DEAL)
        self._tasks = _Tasks(self, Task, EntityKind.TASK)
        self._events = _Events(self)

    @property
    def contacts(self) -> _Contacts:
        """The contacts."""
        return self._contacts

    @property
    def leads(self) -> _Leads:
        """The leads."""
        return self._leads

    @property
    def deals(self) -> _Deals:
        """The deals."""
        return self._deals

    @property
    def tasks(self) -> _Tasks:
        """The tasks."""
        return self._tasks

    @property
    def events(self) -> _Events:
        """The event store."""
        return self._events

    @property
    def store(self) -> InMemoryStore:
        """The store this unit works on."""
        return self._store

    def ensure_open(self) -> None:
        """Raise `UnitOfWorkError` if the unit was committed or rolled back."""
        if self._ended is not None:
            msg = (
                f"This unit of work was {self._ended}; open a new one with store.unit_of_work() "
                "for the next operation"
            )
            raise UnitOfWorkError(msg)

    def commit(self) -> None:
        """Apply every write atomically and end the unit (see `UnitOfWork.commit`)."""
        self.ensure_open()
        try:
            self._store._commit(self)  # noqa: SLF001 - the unit is the store's own collaborator
        finally:
            self._ended = "committed"
            self.pending = {kind: {} for kind in EntityKind}
            self.pending_events = []

    def rollback(self) -> None:
        """Discard every write and end the unit."""
        if self._ended is None:
            self._ended = "rolled back"
        self.pending = {kind: {} for kind in EntityKind}
        self.pending_events = []

    def __enter__(self) -> Self:
        self.ensure_open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.rollback()

    # --- shared by the repositories ---

    def lock(self) -> threading.RLock:
        """The store's lock, held while reading committed state."""
        return self._store._lock  # noqa: SLF001

    def table(self, kind: EntityKind) -> _Table[Any]:
        """The committed table of `kind` (read it under `lock`)."""
        return self._store._tables[kind]  # noqa: SLF001

    def take_order(self) -> int:
        """A new position in the add order."""
        with self.lock():
            return self._store._take_order()  # noqa: SLF001


class _Repository(Generic[E]):
    def __init__(self, unit: InMemoryUnitOfWork, cls: type[E], kind: EntityKind) -> None:
        self._unit = unit
        self._cls: type[E] = cls
        self._kind = kind

    def _ref(self, entity_id: str) -> EntityRef:
        return EntityRef(kind=self._kind, id=entity_id)

    def find(self, entity_id: str) -> E | None:
        """Return the entity with this id, or ``None``."""
        self._unit.ensure_open()
        problem = identifier_problem(entity_id)
        if problem is not None:
            msg = f"find/get(entity_id): {problem[0]}"
            raise ValidationError(msg, field="entity_id", value=entity_id, rule=problem[1])
        pending = self._unit.pending[self._kind].get(entity_id)
        if pending is not None:
            return cast("E", pending.entity)
        with self._unit.lock():
            return cast("E | None", self._unit.table(self._kind).rows.get(entity_id))

    def get(self, entity_id: str) -> E:
        """Return the entity with this id, or raise `NotFoundError`."""
        found = self.find(entity_id)
        if found is None:
            raise NotFoundError(self._ref(entity_id))
        return found

    def add(self, entity: E) -> E:
        """Store a new entity (version 0) and return it with version 1."""
        self._unit.ensure_open()
        _check_type(entity, self._cls, "add")
        if entity.version != 0:
            msg = (
                f"Cannot add {self._ref(entity.id)} with version {entity.version}: add() takes a "
                "new entity with version 0; to update a stored one, call save()"
            )
            raise ValidationError(msg, field="version", value=entity.version, rule="new_entity")
        current = self.find(entity.id)
        if current is not None:
            raise ConflictError(
                f"Cannot add {self._ref(entity.id)}: the id is taken; use a new id, or save() "
                "to update the stored one",
                entity=self._ref(entity.id),
                expected=None,
                actual=current.version,
            )
        stored = attrs.evolve(entity, version=1)
        self._unit.pending[self._kind][entity.id] = _Pending(stored, None, self._unit.take_order())
        return stored

    def save(self, entity: E) -> E:
        """Replace the stored entity if it is still at `entity.version`; return it bumped."""
        self._unit.ensure_open()
        _check_type(entity, self._cls, "save")
        current = self.find(entity.id)
        if current is None:
            raise NotFoundError(self._ref(entity.id))
        if current.version != entity.version:
            raise _stale(self._ref(entity.id), entity.version, current.version)
        stored = attrs.evolve(entity, version=entity.version + 1)
        pending = self._unit.pending[self._kind].get(entity.id)
        if pending is None:
            self._unit.pending[self._kind][entity.id] = _Pending(stored, entity.version, 0)
        else:
            pending.entity = stored
        return stored

    def count(self) -> int:
        """Return how many entities there are, this unit's additions included."""
        self._unit.ensure_open()
        added = sum(1 for p in self._unit.pending[self._kind].values() if p.base_version is None)
        with self._unit.lock():
            return len(self._unit.table(self._kind).rows) + added

    def _select(
        self, filters: dict[str, object], keep: Callable[[E], bool] | None = None
    ) -> list[E]:
        """Entities matching `filters` (field equality) and `keep`, in add order."""
        self._unit.ensure_open()
        wanted = {name: value for name, value in filters.items() if value is not None}

        def matches(entity: E) -> bool:
            return all(getattr(entity, name) == value for name, value in wanted.items()) and (
                keep is None or keep(entity)
            )

        pending = self._unit.pending[self._kind]
        found: list[tuple[int, E]] = []
        with self._unit.lock():
            table = self._unit.table(self._kind)
            for entity_id in table.candidates(wanted):
                if entity_id in pending:
                    continue
                entity = table.rows[entity_id]
                if matches(entity):
                    found.append((table.order[entity_id], entity))
            for entity_id, item in pending.items():
                if matches(item.entity):
                    order = item.order if item.base_version is None else table.order[entity_id]
                    found.append((order, item.entity))
        found.sort(key=lambda pair: pair[0])
        return [entity for _, entity in found]


class _Contacts(_Repository[Contact]):
    def find_by_key(self, key: str) -> list[Contact]:
        """Return the live contacts indexed under `key`, in add order."""
        self._unit.ensure_open()
        if type(key) is not str:
            msg = f"find_by_key(key): expected a string key, got {describe(key)}"
            raise ValidationError(msg, field="key", value=key, rule="type")
        store = self._unit.store
        pending = self._unit.pending[EntityKind.CONTACT]
        found: list[tuple[int, Contact]] = []
        with self._unit.lock():
            table = self._unit.table(EntityKind.CONTACT)
            found.extend(
                (table.order[contact_id], table.rows[contact_id])
                for contact_id in store._keys.get(key, {})  # noqa: SLF001
                if contact_id not in pending
            )
            for contact_id, item in pending.items():
                if key in store.live_keys(item.entity):
                    order = item.order if item.base_version is None else table.order[contact_id]
                    found.append((order, item.entity))
        found.sort(key=lambda pair: pair[0])
        return [contact for _, contact in found]

    def list(self) -> list[Contact]:
        """Return every contact, in add order."""
        return self._select({})


class _Leads(_Repository[Lead]):
    def list(
        self,
        *,
        pipeline: str | None = None,
        stage: str | None = None,
        status: LeadStatus | None = None,
        owner: str | None = None,
        contact_id: str | None = None,
    ) -> list[Lead]:
        """Return the leads matching every filter given, in add order."""
        return self._select(
            {
                "pipeline": pipeline,
                "stage": stage,
                "status": status,
                "owner": owner,
                "contact_id": contact_id,
            }
        )


class _Deals(_Repository[Deal]):
    def list(
        self,
        *,
        pipeline: str | None = None,
        stage: str | None = None,
        status: DealStatus | None = None,
        owner: str | None = None,
        contact_id: str | None = None,
    ) -> list[Deal]:
        """Return the deals matching every filter given, in add order."""
        return self._select(
            {
                "pipeline": pipeline,
                "stage": stage,
                "status": status,
                "owner": owner,
                "contact_id": contact_id,
            }
        )


class _Tasks(_Repository[Task]):
    def list(
        self,
        *,
        assignee: str | None = None,
        status: TaskStatus | None = None,
        subject: EntityRef | None = None,
        due_before: datetime | None = None,
    ) -> list[Task]:
        """Return the tasks matching every filter given, in add order."""
        keep: Callable[[Task], bool] | None = None
        if due_before is not None:
            problem = aware_datetime_problem(due_before)
            if problem is not None:
                msg = f"list(due_before): {problem[0]}"
                raise ValidationError(msg, field="due_before", value=due_before, rule=problem[1])
            limit = due_before

            def keep(task: Task) -> bool:
                return task.due_at < limit

        return self._select({"assignee": assignee, "status": status, "subject": subject}, keep)


class _Events:
    def __init__(self, unit: InMemoryUnitOfWork) -> None:
        self._unit = unit

    def last_sequence(self, entity: EntityRef) -> int:
        """Return the entity's last sequence, this unit's appends included (0 if none)."""
        self._unit.ensure_open()
        pending = self._unit._last_sequences.get(entity)  # noqa: SLF001
        if pending is not None:
            return pending
        with self._unit.lock():
            return len(self._unit.store._histories.get(entity, ()))  # noqa: SLF001

    def read(self, entity: EntityRef) -> list[Event]:
        """Return the entity's events in order, this unit's appends included."""
        self._unit.ensure_open()
        with self._unit.lock():
            events = list(self._unit.store._histories.get(entity, ()))  # noqa: SLF001
        events.extend(e for e in self._unit.pending_events if e.entity == entity)
        return events

    def append(self, events: Sequence[Event]) -> None:
        """Append events all or nothing (see `EventStore.append`)."""
        self._unit.ensure_open()
        if not _is_sequence(events):
            msg = f"append(events): expected a list of events, got {describe(events)}"
            raise ValidationError(msg, field="events", value=events, rule="type")
        last: dict[EntityRef, int] = {}
        for index, event in enumerate(events):
            if not isinstance(event, _EVENT_CLASSES):
                msg = f"append(events): item {index} is not an event, got {describe(event)}"
                raise ValidationError(msg, field=f"events[{index}]", value=event, rule="type")
            ref = event.entity
            previous = last[ref] if ref in last else self.last_sequence(ref)
            if event.sequence <= previous:
                raise _sequence_conflict(ref, event.sequence, previous)
            if event.sequence != previous + 1:
                msg = (
                    f"append(events): event {index} of {ref} has sequence {event.sequence}, but "
                    f"the entity's last is {previous}; number its events {previous + 1}, "
                    f"{previous + 2}... without gaps"
                )
                raise ValidationError(
                    msg, field=f"events[{index}].sequence", value=event.sequence, rule="sequence"
                )
            last[ref] = event.sequence
        self._unit.pending_events.extend(events)
        self._unit._last_sequences.update(last)  # noqa: SLF001

    def read_all(self, *, after: int = 0) -> Iterator[RecordedEvent]:
        """Yield committed events in global order after position `after`, lazily."""
        self._unit.ensure_open()
        if type(after) is not int or after < 0:
            msg = (
                f"read_all(after): expected a non-negative integer position, got {describe(after)}"
            )
            raise ValidationError(msg, field="after", value=after, rule="range")
        return self._iterate(after)

    def _iterate(self, after: int, chunk: int = 1024) -> Iterator[RecordedEvent]:
        log = self._unit.store._log  # noqa: SLF001
        position = after
        while True:
            with self._unit.lock():
                batch = log[position : position + chunk]
            if not batch:
                return
            yield from batch
            position += len(batch)
