"""
The storage ports: what funnelkit needs from a store, as `typing.Protocol` classes.

A store hands out units of work; a unit of work holds one repository per entity kind and the
event store, and commits all their writes together or none of them.
The in-memory implementation (`InMemoryStore`) is the reference; the conformance kit in
``funnelkit.testing`` checks any other implementation against the contracts written here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Protocol, TypeVar

import attrs

from funnelkit import _checks as check
from funnelkit.events import Event
from funnelkit.model import (
    Contact,
    Deal,
    DealStatus,
    EntityRef,
    Lead,
    LeadStatus,
    Task,
    TaskStatus,
)


if TYPE_CHECKING:
    from datetime import datetime
    from types import TracebackType

    from typing_extensions import Self


__all__ = [
    "ContactKeys",
    "ContactRepository",
    "DealRepository",
    "EventStore",
    "LeadRepository",
    "RecordedEvent",
    "Store",
    "TaskRepository",
    "UnitOfWork",
]

E = TypeVar("E")

ContactKeys = Callable[[Contact], Iterable[str]]
"""
A function giving the look-up keys of a contact (normalised phones, e-mails, name keys...).

A store is built with one and indexes every live contact under each of its keys, so
`ContactRepository.find_by_key` answers in time that does not grow with the number of contacts.
"""


@attrs.frozen(kw_only=True)
class RecordedEvent:
    """
    An event as the event store recorded it.

    Attributes:
        position: Its place in the store's global order: 1 for the first event ever committed,
            then 2, 3... with no gaps.
        event: The event.
    """

    position: int = attrs.field(validator=check.positive_int)
    event: Event


class _Repository(Protocol[E]):
    """The operations every repository has; `E` is its entity type."""

    def get(self, entity_id: str) -> E:
        """
        Return the entity with this id.

        Raises:
            NotFoundError: If there is none.
        """
        ...

    def find(self, entity_id: str) -> E | None:
        """Return the entity with this id, or ``None`` if there is none."""
        ...

    def add(self, entity: E) -> E:
        """
        Store a new entity and return it as stored, with ``version`` 1.

        Raises:
            ValidationError: If the entity's ``version`` is not 0 (it claims to be stored already)
                or it is not of this repository's type; nothing is written.
            ConflictError: If an entity with this id exists; nothing is written.
        """
        ...

    def save(self, entity: E) -> E:
        """
        Replace the stored entity with this one and return it as stored, ``version`` plus one.

        The entity's ``version`` is the version it was read at: the write succeeds only if the
        store still holds that version (optimistic concurrency).

        Raises:
            NotFoundError: If no entity has this id; nothing is written.
            ConflictError: If the stored version differs (someone else saved first): nothing
                is written; reload the entity and retry.
            ValidationError: If the entity is not of this repository's type.
        """
        ...

    def count(self) -> int:
        """Return how many entities the repository holds."""
        ...


class ContactRepository(_Repository[Contact], Protocol):
    """
    **Protocol**: the contacts of a store.

    Listing methods return contacts in the order they were added.
    """

    def find_by_key(self, key: str, *, limit: int | None = None) -> list[Contact]:
        """
        Return the live contacts indexed under `key` by the store's `ContactKeys` function.

        Contacts merged into another one (``merged_into`` set) are not returned.
        The time taken does not grow with the number of contacts in the store, and with a
        `limit` it does not grow with the number of contacts holding the key either.

        Args:
            key: The key (``"phone:+79123456789"``).
            limit: Return at most this many contacts (``None``: all). When more hold the key,
                which of them are returned is the store's choice; they still come in add order.

        Raises:
            ValidationError: If `key` is not a string or `limit` is not a positive integer.
        """
        ...

    def list(self) -> list[Contact]:
        """Return every contact, merged ones included."""
        ...


class LeadRepository(_Repository[Lead], Protocol):
    """
    **Protocol**: the leads of a store.

    Listing methods return leads in the order they were added.
    """

    def list(
        self,
        *,
        pipeline: str | None = None,
        stage: str | None = None,
        status: LeadStatus | None = None,
        owner: str | None = None,
        contact_id: str | None = None,
        limit: int | None = None,
    ) -> list[Lead]:
        """
        Return the leads matching every filter given (``None`` means "any").

        With a `limit`, only the first `limit` of them in add order (the oldest): a client's
        thousandth request costs no more to take in than the first.

        Raises:
            ValidationError: If `limit` is not a positive integer.
        """
        ...


class DealRepository(_Repository[Deal], Protocol):
    """
    **Protocol**: the deals of a store.

    Listing methods return deals in the order they were added.
    """

    def list(
        self,
        *,
        pipeline: str | None = None,
        stage: str | None = None,
        status: DealStatus | None = None,
        owner: str | None = None,
        contact_id: str | None = None,
        limit: int | None = None,
    ) -> list[Deal]:
        """
        Return the deals matching every filter given (``None`` means "any").

        With a `limit`, only the first `limit` of them in add order (the oldest): a client's
        thousandth request costs no more to take in than the first.

        Raises:
            ValidationError: If `limit` is not a positive integer.
        """
        ...


class TaskRepository(_Repository[Task], Protocol):
    """
    **Protocol**: the tasks of a store.

    Listing methods return tasks in the order they were added.
    """

    def list(
        self,
        *,
        assignee: str | None = None,
        status: TaskStatus | None = None,
        subject: EntityRef | None = None,
        due_before: datetime | None = None,
    ) -> list[Task]:
        """
        Return the tasks matching every filter given (``None`` means "any").

        ``due_before`` keeps tasks whose ``due_at`` is strictly earlier.

        Raises:
            ValidationError: If ``due_before`` is a naive datetime.
        """
        ...


class EventStore(Protocol):
    """
    **Protocol**: the append-only log of events.

    Every entity has its own history, numbered by the events' ``sequence`` 1, 2, 3...; the
    store also keeps one global order of everything committed (`RecordedEvent.position`).
    Events are never changed or removed.
    """

    def append(self, events: Sequence[Event]) -> None:
        """
        Append events, all or nothing.

        For each entity, its events in `events` must be numbered consecutively, the first one
        following the last sequence stored for that entity (1 for a new entity).

        Raises:
            ConflictError: If an entity already has an event with one of these sequence numbers
                (someone else appended first); nothing is appended: reload and retry.
            ValidationError: If an item is not an event, or sequences leave a gap; nothing is
                appended.
        """
        ...

    def last_sequence(self, entity: EntityRef) -> int:
        """Return the sequence number of the entity's last event, 0 if it has none."""
        ...

    def read(self, entity: EntityRef) -> list[Event]:
        """Return the entity's events in sequence order (empty if it has none)."""
        ...

    def read_all(self, *, after: int = 0) -> Iterator[RecordedEvent]:
        """
        Yield committed events in global order, starting after position `after`, lazily.

        Events committed while the iterator runs may or may not be yielded; those yielded are
        always in order with no gaps.

        Raises:
            ValidationError: If `after` is negative or not an integer.
        """
        ...


class UnitOfWork(Protocol):
    """
    **Protocol**: one operation's access to a store, committed all together or not at all.

    Reads see the store as committed plus this unit's own writes.
    Writes are checked when made (a stale version or a taken id is refused at once) and checked
    again by `commit`, which applies all of them atomically or raises and applies none.
    Leaving the ``with`` block without committing rolls everything back.
    A unit of work is used by one thread; after commit or rollback it cannot be used again.

    Example::

        with store.unit_of_work() as uow:
            deal = uow.deals.get("D-7")
            uow.deals.save(attrs.evolve(deal, owner="anna"))
            uow.events.append([...])
            uow.commit()
    """

    @property
    def contacts(self) -> ContactRepository:
        """The contacts."""
        ...

    @property
    def leads(self) -> LeadRepository:
        """The leads."""
        ...

    @property
    def deals(self) -> DealRepository:
        """The deals."""
        ...

    @property
    def tasks(self) -> TaskRepository:
        """The tasks."""
        ...

    @property
    def events(self) -> EventStore:
        """The event store."""
        ...

    def commit(self) -> None:
        """
        Apply every write of this unit atomically and end it.

        Raises:
            ConflictError: If another unit committed a conflicting write since (a newer version,
                a taken id, events with the same sequence); nothing is applied and the unit ends.
            UnitOfWorkError: If the unit already ended.
        """
        ...

    def rollback(self) -> None:
        """Discard every write of this unit and end it (no error if it already ended)."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...


class Store(Protocol):
    """**Protocol**: a store of contacts, leads, deals, tasks and events."""

    def unit_of_work(self) -> UnitOfWork:
        """Open a unit of work; use it as a context manager."""
        ...
