"""
The unit of work every bundled store shares: writes are buffered, then committed in one go.

A unit keeps its own writes (`Writes`) and reads the store's committed state through a
`Committed` object, overlaying its writes on what it reads, so reads see "committed plus mine".
`commit` hands the writes to the store, which checks versions, ids and event sequences and
applies all of them or none.
Stores differ only in their `Committed` object: the in-memory store's holds dictionaries, the
SQL store's runs queries.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import attrs

from funnelkit._checks import (
    aware_datetime_problem,
    describe,
    identifier_problem,
    storable_text_problem,
)
from funnelkit.events import EVENT_TYPES, Event
from funnelkit.exceptions import ConflictError, NotFoundError, UnitOfWorkError, ValidationError
from funnelkit.model import (
    Contact,
    Deal,
    DealStatus,
    EntityKind,
    EntityRef,
    Lead,
    LeadStatus,
    Task,
    TaskStatus,
)


if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from datetime import datetime
    from types import TracebackType

    from typing_extensions import Self

    from funnelkit.storage._ports import RecordedEvent


__all__ = [
    "BufferedUnitOfWork",
    "Committed",
    "Pending",
    "Writes",
    "live_keys",
    "sequence_conflict",
    "stale",
    "taken",
]

E = TypeVar("E", Contact, Lead, Deal, Task)

_EVENT_CLASSES = tuple(EVENT_TYPES.values())
_UNCOMMITTED = 1 << 62  # add orders of a unit's new entities sort after every committed one
_LOG_CHUNK = 1024

ENTITY_CLASSES: dict[EntityKind, type[Any]] = {
    EntityKind.CONTACT: Contact,
    EntityKind.LEAD: Lead,
    EntityKind.DEAL: Deal,
    EntityKind.TASK: Task,
}


@attrs.define
class Pending(Generic[E]):
    """One entity written in a unit: its value, the version it replaces, and its add order."""

    entity: E
    base_version: int | None  # None: added in this unit
    order: int


@attrs.define
class Writes:
    """Everything one unit of work wrote, in the order written."""

    entities: dict[EntityKind, dict[str, Pending[Any]]] = attrs.field(
        factory=lambda: {kind: {} for kind in EntityKind}
    )
    events: list[Event] = attrs.field(factory=list)

    def added(self) -> list[tuple[EntityKind, Any]]:
        """The new entities, in the order they were added."""
        items = [
            (item.order, kind, item.entity)
            for kind, pending in self.entities.items()
            for item in pending.values()
            if item.base_version is None
        ]
        items.sort(key=lambda item: item[0])
        return [(kind, entity) for _, kind, entity in items]

    def saved(self) -> list[tuple[EntityKind, Any, int]]:
        """The updated entities with the version each was read at, sorted by kind and id."""
        items = [
            (kind, item.entity, item.base_version)
            for kind, pending in self.entities.items()
            for item in pending.values()
            if item.base_version is not None
        ]
        items.sort(key=lambda item: (item[0].value, item[1].id))
        return items

    def first_sequences(self) -> dict[EntityRef, int]:
        """The sequence of each entity's first event in this unit."""
        firsts: dict[EntityRef, int] = {}
        for event in self.events:
            firsts.setdefault(event.entity, event.sequence)
        return firsts


class Committed(Protocol):
    """The committed state of a store, as one unit of work reads and commits it."""

    def live_keys(self, contact: Contact) -> tuple[str, ...]:
        """The keys the store indexes `contact` under (none for a merged contact)."""
        ...

    def fetch(self, kind: EntityKind, entity_id: str) -> tuple[int, Any] | None:
        """The committed entity with this id and its add order, or ``None``."""
        ...

    def select(
        self,
        kind: EntityKind,
        filters: dict[str, object],
        due_before: datetime | None,
        limit: int | None = None,
    ) -> list[tuple[int, Any]]:
        """
        Committed entities equal to `filters` field by field (and due before), with orders.

        With a `limit`, at least the first `limit` of them in add order (a store may return
        more; the unit of work cuts).
        """
        ...

    def by_key(self, key: str, limit: int | None) -> list[tuple[int, Contact]]:
        """Committed live contacts indexed under `key` (at most `limit`), with their add orders."""
        ...

    def count(self, kind: EntityKind) -> int:
        """How many committed entities of `kind` there are."""
        ...

    def last_sequence(self, entity: EntityRef) -> int:
        """The sequence of the entity's last committed event (0 if none)."""
        ...

    def history(self, entity: EntityRef) -> list[Event]:
        """The entity's committed events in sequence order."""
        ...

    def log_after(self, after: int, limit: int) -> list[RecordedEvent]:
        """At most `limit` committed events after position `after`, in order."""
        ...

    def apply(self, writes: Writes) -> None:
        """Check and apply `writes` atomically; raise `ConflictError` and apply none if stale."""
        ...

    def close(self) -> None:
        """Release what the unit held (a connection); reads of `log_after` still work afterwards."""
        ...


CONTACT_KEY_MAX = 300
"""The longest contact key a store indexes, in characters (an e-mail key is at most 260)."""


def live_keys(
    contact_keys: Callable[[Contact], Iterable[str]], contact: Contact
) -> tuple[str, ...]:
    """
    The keys a store indexes `contact` under: its `contact_keys`, once each; none if merged.

    Every store indexes the same keys or refuses the same ones: a key must be a non-empty
    string of at most `CONTACT_KEY_MAX` characters that UTF-8 can write.

    Raises:
        ValidationError: If the contact-key function gives a key no store should index.
    """
    if contact.merged_into is not None:
        return ()
    keys = tuple(dict.fromkeys(contact_keys(contact)))
    for key in keys:
        if type(key) is not str or not key:
            problem: tuple[str, str] | None = (
                f"expected non-empty strings, got {describe(key)}",
                "type",
            )
        elif len(key) > CONTACT_KEY_MAX:
            message = (
                f"a key of {len(key)} characters is longer than {CONTACT_KEY_MAX}: "
                f"{key[:60]!r}...; make the contact-key function shorten or skip it"
            )
            problem = message, "too_long"
        else:
            problem = storable_text_problem(key)
        if problem is not None:
            msg = f"contact_keys({contact.ref}): {problem[0]}"
            raise ValidationError(msg, field="contact_keys", value=key, rule=problem[1])
    return keys


def stale(ref: EntityRef, expected: int, actual: int | None) -> ConflictError:
    """The error for a save of `ref` read at version `expected` when the store holds `actual`."""
    held = "no longer holds it" if actual is None else f"holds version {actual}"
    return ConflictError(
        f"Cannot save {ref}: it was read at version {expected} but the store {held}; "
        "someone else changed it first: reload it and retry",
        entity=ref,
        expected=expected,
        actual=actual,
    )


def taken(ref: EntityRef, actual: int | None) -> ConflictError:
    """The error for an add of `ref` when another writer added it first."""
    return ConflictError(
        f"Cannot add {ref}: another writer added it first; use a new id, or reload it and save "
        "instead",
        entity=ref,
        expected=None,
        actual=actual,
    )


def sequence_conflict(ref: EntityRef, first: int, stored_last: int) -> ConflictError:
    """The error for events of `ref` numbered from `first` when the store holds `stored_last`."""
    return ConflictError(
        f"Cannot append event {first} of {ref}: the store holds {stored_last} events of it, so "
        f"the next must be {stored_last + 1}; another writer appended first: reload and retry",
        entity=ref,
        expected=first - 1,
        actual=stored_last,
    )


def _check_limit(limit: object, method: str) -> None:
    """Refuse a `limit` that is neither ``None`` nor a positive integer."""
    if limit is not None and (type(limit) is not int or limit < 1):
        msg = f"{method}(limit): expected None or a positive integer, got {describe(limit)}"
        raise ValidationError(msg, field="limit", value=limit, rule="range")


def _is_sequence(value: object) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


def _check_type(entity: object, cls: type[Any], method: str) -> None:
    if not isinstance(entity, cls):
        name = cls.__name__.lower()
        msg = f"{method}() of the {name} repository takes a {cls.__name__}, got {describe(entity)}"
        raise ValidationError(msg, field="entity", value=entity, rule="type")


class BufferedUnitOfWork:
    """
    A unit of work that buffers its writes and commits them through a `Committed` object.

    See `funnelkit.storage.UnitOfWork` for the contract.
    """

    writes: Writes

    def __init__(self, committed: Committed) -> None:
        self._committed = committed
        self.writes = Writes()
        self._last_sequences: dict[EntityRef, int] = {}
        self._next_order = _UNCOMMITTED
        self._ended: str | None = None
        self._contacts = _Contacts(self, EntityKind.CONTACT)
        self._leads = _Leads(self, EntityKind.LEAD)
        self._deals = _Deals(self, EntityKind.DEAL)
        self._tasks = _Tasks(self, EntityKind.TASK)
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
    def committed(self) -> Committed:
        """The committed state this unit reads."""
        return self._committed

    def ensure_open(self) -> None:
        """Raise `UnitOfWorkError` if the unit was committed or rolled back."""
        if self._ended is not None:
            msg = (
                f"This unit of work was {self._ended}; open a new one with store.unit_of_work() "
                "for the next operation"
            )
            raise UnitOfWorkError(msg)

    def take_order(self) -> int:
        """An add order for a new entity: after every committed one and this unit's earlier."""
        self._next_order += 1
        return self._next_order

    def commit(self) -> None:
        """Apply every write atomically and end the unit (see `UnitOfWork.commit`)."""
        self.ensure_open()
        try:
            self._committed.apply(self.writes)
        finally:
            self._end("committed")

    def rollback(self) -> None:
        """Discard every write and end the unit (no error if it already ended)."""
        self._end("rolled back")

    def _end(self, how: str) -> None:
        if self._ended is None:
            self._ended = how
            self._committed.close()
        self.writes = Writes()
        self._last_sequences = {}

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


class _Repository(Generic[E]):
    def __init__(self, unit: BufferedUnitOfWork, kind: EntityKind) -> None:
        self._unit = unit
        self._cls: type[E] = ENTITY_CLASSES[kind]
        self._kind = kind

    def _ref(self, entity_id: str) -> EntityRef:
        return EntityRef(kind=self._kind, id=entity_id)

    def _pending(self) -> dict[str, Pending[E]]:
        return self._unit.writes.entities[self._kind]

    def _lookup(self, entity_id: str) -> tuple[int, E] | None:
        self._unit.ensure_open()
        problem = identifier_problem(entity_id)
        if problem is not None:
            msg = f"find/get(entity_id): {problem[0]}"
            raise ValidationError(msg, field="entity_id", value=entity_id, rule=problem[1])
        pending = self._pending().get(entity_id)
        if pending is not None:
            return pending.order, pending.entity
        return self._unit.committed.fetch(self._kind, entity_id)

    def find(self, entity_id: str) -> E | None:
        """Return the entity with this id, or ``None``."""
        found = self._lookup(entity_id)
        return None if found is None else found[1]

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
        self._pending()[entity.id] = Pending(stored, None, self._unit.take_order())
        return stored

    def save(self, entity: E) -> E:
        """Replace the stored entity if it is still at `entity.version`; return it bumped."""
        self._unit.ensure_open()
        _check_type(entity, self._cls, "save")
        found = self._lookup(entity.id)
        if found is None:
            raise NotFoundError(self._ref(entity.id))
        order, current = found
        if current.version != entity.version:
            raise stale(self._ref(entity.id), entity.version, current.version)
        stored = attrs.evolve(entity, version=entity.version + 1)
        pending = self._pending().get(entity.id)
        if pending is None:
            self._pending()[entity.id] = Pending(stored, entity.version, order)
        else:
            pending.entity = stored
        return stored

    def count(self) -> int:
        """Return how many entities there are, this unit's additions included."""
        self._unit.ensure_open()
        added = sum(1 for item in self._pending().values() if item.base_version is None)
        return self._unit.committed.count(self._kind) + added

    def _select(
        self,
        filters: dict[str, object],
        due_before: datetime | None = None,
        limit: int | None = None,
    ) -> list[E]:
        """Entities matching `filters` (field equality) and due before, in add order."""
        self._unit.ensure_open()
        _check_limit(limit, "list")
        wanted = {name: value for name, value in filters.items() if value is not None}

        def keep(entity: Any) -> bool:  # E; only tasks are filtered by due time
            return all(getattr(entity, name) == value for name, value in wanted.items()) and (
                due_before is None or entity.due_at < due_before
            )

        pending = self._pending()
        # This unit's own saves may hide committed entities: ask for enough to fill `limit`.
        wanted_count = None if limit is None else limit + len(pending)
        committed = self._unit.committed.select(self._kind, wanted, due_before, wanted_count)
        found = [(order, entity) for order, entity in committed if entity.id not in pending]
        found.extend((item.order, item.entity) for item in pending.values() if keep(item.entity))
        found.sort(key=lambda pair: pair[0])
        return [entity for _, entity in found[:limit]]


class _Contacts(_Repository[Contact]):
    def find_by_key(self, key: str, *, limit: int | None = None) -> list[Contact]:
        """Return the live contacts indexed under `key` (at most `limit`), in add order."""
        self._unit.ensure_open()
        if type(key) is not str:
            msg = f"find_by_key(key): expected a string key, got {describe(key)}"
            raise ValidationError(msg, field="key", value=key, rule="type")
        _check_limit(limit, "find_by_key")
        committed = self._unit.committed
        pending = self._pending()
        # This unit's own saves may hide committed holders: ask for enough to fill `limit`.
        wanted = None if limit is None else limit + len(pending)
        found = [pair for pair in committed.by_key(key, wanted) if pair[1].id not in pending]
        found.extend(
            (item.order, item.entity)
            for item in pending.values()
            if key in committed.live_keys(item.entity)
        )
        found.sort(key=lambda pair: pair[0])
        return [contact for _, contact in found[:limit]]

    def list(self) -> list[Contact]:
        """Return every contact, in add order."""
        return self._select({})


class _Cards(_Repository[E]):
    """Leads or deals: listed by pipeline, stage, status, owner and contact."""

    def list(
        self,
        *,
        pipeline: str | None = None,
        stage: str | None = None,
        status: LeadStatus | DealStatus | None = None,
        owner: str | None = None,
        contact_id: str | None = None,
        limit: int | None = None,
    ) -> list[E]:
        """Return the leads or deals matching every filter given, in add order."""
        return self._select(
            {
                "pipeline": pipeline,
                "stage": stage,
                "status": status,
                "owner": owner,
                "contact_id": contact_id,
            },
            limit=limit,
        )


class _Leads(_Cards[Lead]):
    pass


class _Deals(_Cards[Deal]):
    pass


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
        if due_before is not None:
            problem = aware_datetime_problem(due_before)
            if problem is not None:
                msg = f"list(due_before): {problem[0]}"
                raise ValidationError(msg, field="due_before", value=due_before, rule=problem[1])
        return self._select(
            {"assignee": assignee, "status": status, "subject": subject}, due_before
        )


class _Events:
    def __init__(self, unit: BufferedUnitOfWork) -> None:
        self._unit = unit

    def last_sequence(self, entity: EntityRef) -> int:
        """Return the entity's last sequence, this unit's appends included (0 if none)."""
        self._unit.ensure_open()
        pending = self._unit._last_sequences.get(entity)  # noqa: SLF001
        if pending is not None:
            return pending
        return self._unit.committed.last_sequence(entity)

    def read(self, entity: EntityRef) -> list[Event]:
        """Return the entity's events in order, this unit's appends included."""
        self._unit.ensure_open()
        events = self._unit.committed.history(entity)
        events.extend(e for e in self._unit.writes.events if e.entity == entity)
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
                raise sequence_conflict(ref, event.sequence, previous)
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
        self._unit.writes.events.extend(events)
        self._unit._last_sequences.update(last)  # noqa: SLF001

    def read_all(self, *, after: int = 0) -> Iterator[RecordedEvent]:
        """Yield committed events in global order after position `after`, lazily."""
        self._unit.ensure_open()
        if type(after) is not int or after < 0:
            msg = (
                f"read_all(after): expected a non-negative integer position, got {describe(after)}"
            )
            raise ValidationError(msg, field="after", value=after, rule="range")
        return self._iterate(self._unit.committed, after)

    @staticmethod
    def _iterate(committed: Committed, after: int) -> Iterator[RecordedEvent]:
        position = after
        while True:
            batch = committed.log_after(position, _LOG_CHUNK)
            if not batch:
                return
            yield from batch
            position += len(batch)
