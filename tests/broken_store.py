"""A deliberately broken store for the kit's self-test: its saves ignore versions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from funnelkit.storage import InMemoryStore, InMemoryUnitOfWork, basic_contact_keys


if TYPE_CHECKING:
    from types import TracebackType

    from typing_extensions import Self

    from funnelkit.storage import ContactKeys, EventStore


class IgnoresVersionsStore:
    """An in-memory store whose ``save`` overwrites whatever is stored (last writer wins)."""

    def __init__(self, *, contact_keys: ContactKeys = basic_contact_keys) -> None:
        self._inner = InMemoryStore(contact_keys=contact_keys)

    def unit_of_work(self) -> _LaxUnit:
        return _LaxUnit(self._inner.unit_of_work())


class _LaxRepository:
    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def save(self, entity: Any) -> Any:
        current = self._inner.get(entity.id)
        return self._inner.save(attrs.evolve(entity, version=current.version))


class _LaxUnit:
    def __init__(self, inner: InMemoryUnitOfWork) -> None:
        self._inner = inner

    @property
    def contacts(self) -> Any:
        return _LaxRepository(self._inner.contacts)

    @property
    def leads(self) -> Any:
        return _LaxRepository(self._inner.leads)

    @property
    def deals(self) -> Any:
        return _LaxRepository(self._inner.deals)

    @property
    def tasks(self) -> Any:
        return _LaxRepository(self._inner.tasks)

    @property
    def events(self) -> EventStore:
        return self._inner.events

    def commit(self) -> None:
        self._inner.commit()

    def rollback(self) -> None:
        self._inner.rollback()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._inner.__exit__(exc_type, exc, traceback)
