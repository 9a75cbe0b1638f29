"""
A Hypothesis state machine that checks any store against a plain dictionary model.

The machine adds and saves contacts, leads, deals and tasks, appends events, and runs units of
work that commit, roll back or race each other; after every step it checks that the store
holds exactly what the model says (entities, versions, contact keys, histories, global order).

Check a store with `check_store` from a test::

    from funnelkit.testing.stateful import check_store

    def test_my_store_against_the_model():
        check_store(lambda: MyStore(connect_for_tests()))

or subclass `StoreMachine` and expose its ``TestCase`` for pytest to collect.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import attrs
from hypothesis import settings as Settings  # noqa: N812 - the class, not the module
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

from funnelkit.events import EVENT_TYPES, Event
from funnelkit.exceptions import ConflictError
from funnelkit.model import (
    Contact,
    Deal,
    EntityRef,
    Lead,
    Task,
)
from funnelkit.storage import basic_contact_keys
from funnelkit.testing import strategies as fst


if TYPE_CHECKING:
    from collections.abc import Callable

    from funnelkit.storage import ContactKeys, Store, UnitOfWork

__all__ = ["StoreMachine", "check_store"]

_IDS = st.sampled_from(["1", "2", "Ё-3"])
_KIND_OF = {Contact: "contacts", Lead: "leads", Deal: "deals", Task: "tasks"}
_ENTITIES = st.one_of(
    fst.contacts(ids=_IDS),
    fst.leads(ids=_IDS),
    fst.deals(ids=_IDS),
    fst.tasks(ids=_IDS),
)


def _types_for(ref: EntityRef) -> st.SearchStrategy[str]:
    """Wire names of the event types about entities of `ref`'s kind."""
    return st.sampled_from(
        sorted(name for name, cls in EVENT_TYPES.items() if ref.kind in cls.ENTITY_KINDS)
    )


def _repository(uow: UnitOfWork, entity: Any) -> Any:
    return getattr(uow, _KIND_OF[type(entity)])


@attrs.define
class _Model:
    """What a correct store holds: entities by kind and id, histories, the global log."""

    entities: dict[str, dict[str, Any]] = attrs.field(
        factory=lambda: {name: {} for name in _KIND_OF.values()}
    )
    histories: dict[EntityRef, list[Event]] = attrs.field(factory=dict)
    log: list[Event] = attrs.field(factory=list)

    def stored(self, entity: Any) -> Any | None:
        return self.entities[_KIND_OF[type(entity)]].get(entity.id)

    def put(self, entity: Any) -> None:
        self.entities[_KIND_OF[type(entity)]][entity.id] = entity

    def last_sequence(self, ref: EntityRef) -> int:
        return len(self.histories.get(ref, ()))

    def record(self, events: list[Event]) -> None:
        for event in events:
            self.histories.setdefault(event.entity, []).append(event)
        self.log.extend(events)


class StoreMachine(RuleBasedStateMachine):
    """
    Drive a store with random operations and compare it with a dictionary model after each.

    Subclass it and implement `make_store`, or use `check_store`.
    """

    contact_keys: ClassVar[ContactKeys] = staticmethod(basic_contact_keys)
    """The `ContactKeys` function the store indexes contacts with."""

    refs: Bundle[EntityRef] = Bundle("refs")
    store: Store
    model: _Model

    def __init__(self) -> None:
        super().__init__()
        self.store = self.make_store()
        self.model = _Model()

    def make_store(self) -> Store:
        """Return a new, empty store; subclasses implement it."""
        raise NotImplementedError

    # --- rules -----------------------------------------------------------------------------

    @rule(target=refs, entity=_ENTITIES)
    def add(self, entity: Any) -> EntityRef:
        """Add an entity: stored at version 1 if the id is free, a conflict otherwise."""
        taken = self.model.stored(entity) is not None
        with self.store.unit_of_work() as uow:
            if taken:
                try:
                    _repository(uow, entity).add(entity)
                except ConflictError:
                    pass
                else:
                    msg = f"add() of the taken id {entity.ref} did not raise ConflictError"
                    raise AssertionError(msg)
            else:
                stored = _repository(uow, entity).add(entity)
                assert stored == attrs.evolve(entity, version=1)
                self.model.put(stored)
            uow.commit()
        return entity.ref  # type: ignore[no-any-return]

    @rule(replacement=_ENTITIES, stale=st.booleans())
    def save(self, replacement: Any, stale: bool) -> None:
        """Save a new state of a stored entity, from its current or from a stale version."""
        current = self.model.stored(replacement)
        if current is None:
            return
        stale = stale and current.version > 1
        version = current.version - 1 if stale else current.version
        entity = attrs.evolve(replacement, version=version)
        with self.store.unit_of_work() as uow:
            if stale:
                try:
                    _repository(uow, entity).save(entity)
                except ConflictError:
                    pass
                else:
                    msg = f"save() of {entity.ref} at stale version {version} did not conflict"
                    raise AssertionError(msg)
            else:
                saved = _repository(uow, entity).save(entity)
                assert saved.version == version + 1
                self.model.put(saved)
            uow.commit()

    @rule(ref=refs, data=st.data(), count=st.integers(1, 3))
    def append(self, ref: EntityRef, data: st.DataObject, count: int) -> None:
        """Append a few consecutive events of one entity."""
        events = self._draw_events(ref, data, count)
        with self.store.unit_of_work() as uow:
            uow.events.append(events)
            uow.commit()
        self.model.record(events)

    @rule(ref=refs, data=st.data())
    def append_taken_sequence(self, ref: EntityRef, data: st.DataObject) -> None:
        """Appending an event with a sequence already stored conflicts and appends nothing."""
        last = self.model.last_sequence(ref)
        if last == 0:
            return
        event = data.draw(
            fst.events(types=_types_for(ref), entities=st.just(ref), sequences=st.integers(1, last))
        )
        with self.store.unit_of_work() as uow:
            try:
                uow.events.append([event])
            except ConflictError:
                pass
            else:
                msg = f"append() of {ref} sequence {event.sequence} (taken) did not conflict"
                raise AssertionError(msg)
            uow.commit()

    @rule(entity=_ENTITIES, ref=refs, data=st.data())
    def roll_back(self, entity: Any, ref: EntityRef, data: st.DataObject) -> None:
        """A unit that writes and then rolls back leaves the store as it was."""
        with self.store.unit_of_work() as uow:
            current = self.model.stored(entity)
            if current is None:
                _repository(uow, entity).add(entity)
            else:
                _repository(uow, entity).save(attrs.evolve(entity, version=current.version))
            uow.events.append(self._draw_events(ref, data, 1))
            uow.rollback()

    @rule(ref=refs, data=st.data())
    def race(self, ref: EntityRef, data: st.DataObject) -> None:
        """Two units write the same entity's history; the first commit wins, the second fails."""
        events = self._draw_events(ref, data, 1)
        rival = self._draw_events(ref, data, 1)
        first, second = self.store.unit_of_work(), self.store.unit_of_work()
        with first, second:
            first.events.append(events)
            second.events.append(rival)
            first.commit()
            try:
                second.commit()
            except ConflictError:
                pass
            else:
                msg = f"two units appended sequence {events[0].sequence} of {ref}; both committed"
                raise AssertionError(msg)
        self.model.record(events)

    def _draw_events(self, ref: EntityRef, data: st.DataObject, count: int) -> list[Event]:
        first = self.model.last_sequence(ref) + 1
        return [
            data.draw(
                fst.events(
                    types=_types_for(ref), entities=st.just(ref), sequences=st.just(first + offset)
                )
            )
            for offset in range(count)
        ]

    # --- invariants ------------------------------------------------------------------------

    @invariant()
    def entities_match_the_model(self) -> None:
        """Every repository holds exactly the model's entities, in add order."""
        with self.store.unit_of_work() as uow:
            for name, expected in self.model.entities.items():
                repository = getattr(uow, name)
                assert repository.count() == len(expected)
                assert {e.id: e for e in repository.list()} == expected
                for entity_id, entity in expected.items():
                    assert repository.get(entity_id) == entity

    @invariant()
    def contact_keys_match_the_model(self) -> None:
        """Every key of every live contact finds exactly the live contacts having it."""
        live = [c for c in self.model.entities["contacts"].values() if c.merged_into is None]
        keys = {key for contact in live for key in type(self).contact_keys(contact)}
        with self.store.unit_of_work() as uow:
            for key in keys:
                expected = {c.id for c in live if key in set(type(self).contact_keys(c))}
                assert {c.id for c in uow.contacts.find_by_key(key)} == expected

    @invariant()
    def events_match_the_model(self) -> None:
        """Histories, last sequences and the global log are the model's."""
        with self.store.unit_of_work() as uow:
            for ref, history in self.model.histories.items():
                assert uow.events.read(ref) == history
                assert uow.events.last_sequence(ref) == len(history)
            recorded = list(uow.events.read_all())
            assert [r.position for r in recorded] == list(range(1, len(self.model.log) + 1))
            assert [r.event for r in recorded] == self.model.log


def check_store(
    make_store: Callable[[], Store],
    *,
    contact_keys: ContactKeys = basic_contact_keys,
    settings: Settings | None = None,
) -> None:
    """
    Run `StoreMachine` against stores made by `make_store`; raise on the first discrepancy.

    Args:
        make_store: Returns a new, empty store each call, built with `contact_keys`.
        contact_keys: The key function the store indexes contacts with.
        settings: Hypothesis settings for the run (the active profile by default).

    Raises:
        AssertionError: With Hypothesis' minimal failing sequence of steps, if the store and
            the model disagree.
    """

    class _Machine(StoreMachine):
        def make_store(self) -> Store:
            return make_store()

    _Machine.contact_keys = staticmethod(contact_keys)
    run_state_machine_as_test(_Machine, settings=settings)
