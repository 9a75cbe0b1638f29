"""
Conformance kit: pytest mixins that check a store adapter against every storage contract.

Each mixin holds the tests of one contract; `StoreContract` combines them all.
The mixins are not named ``Test...``, so pytest does not collect them on their own: combine
them with a class of yours that is, and give it a ``store`` fixture returning a new, empty
store on every call::

    import pytest
    from funnelkit.testing.contracts import StoreContract

    class TestMyStore(StoreContract):
        @pytest.fixture
        def store(self, contact_keys):
            return MyStore(connect_for_tests(), contact_keys=contact_keys)

The ``contact_keys`` fixture supplies the `ContactKeys` function the contact look-up tests
expect (``funnelkit.storage.basic_contact_keys``, except that it raises for a contact of the
company `FAILING_KEYS_COMPANY`, as a host's own function may); build the store with it.
The tests use the seeds' Unicode stage names (``"ОП ВЗЯЛ В РАБОТУ"``) and Cyrillic ids, so an
adapter that mangles text fails them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import attrs
import pytest

from funnelkit.events import StageChanged
from funnelkit.exceptions import ConflictError, NotFoundError, UnitOfWorkError, ValidationError
from funnelkit.model import (
    Contact,
    Deal,
    DealStatus,
    EntityRef,
    Lead,
    LeadSource,
    LeadStatus,
    Money,
    Task,
    TaskKind,
    TaskStatus,
)
from funnelkit.storage import UnitOfWork, basic_contact_keys


if TYPE_CHECKING:
    from funnelkit.events import Event
    from funnelkit.storage import ContactKeys, Store

__all__ = [
    "FAILING_KEYS_COMPANY",
    "UNSTORABLE_KEYS_COMPANY",
    "ContactRepositoryContract",
    "DealRepositoryContract",
    "EventStoreContract",
    "LeadRepositoryContract",
    "RepositoryContract",
    "StoreContract",
    "TaskRepositoryContract",
    "UnitOfWorkContract",
]

MSK = timezone(timedelta(hours=3))
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=MSK)
ROOFING = "кровля"
NEW_LEAD = "НОВЫЙ ЛИД"
TAKEN = "ОП ВЗЯЛ В РАБОТУ"
PROPOSAL_READY = "КП ГОТОВО"


def make_contact(contact_id: str = "К-1", **changes: Any) -> Contact:
    """A new contact of the roofing seed: Алмаз Строитель, one phone, one e-mail."""
    contact = Contact(
        id=contact_id,
        created_at=T0,
        names=("Алмаз Строитель",),
        phones=("8 (912) 345-67-89",),
        emails=("almaz@example.ru",),
        company="ООО «Алмаз»",
    )
    return attrs.evolve(contact, **changes)


def make_lead(lead_id: str = "Л-1", **changes: Any) -> Lead:
    """A new open lead from the site form, at ``"НОВЫЙ ЛИД"``."""
    lead = Lead(
        id=lead_id,
        created_at=T0,
        pipeline=ROOFING,
        stage=NEW_LEAD,
        source=LeadSource(channel="site_form", site="krovlya-spb.ru"),
        message="Нужна кровля на дом 120 м²",
    )
    return attrs.evolve(lead, **changes)


def make_deal(deal_id: str = "С-1", **changes: Any) -> Deal:
    """A new open deal at ``"ОП ВЗЯЛ В РАБОТУ"`` worth 480 000 RUB."""
    deal = Deal(
        id=deal_id,
        created_at=T0,
        pipeline=ROOFING,
        stage=TAKEN,
        title="Кровля, Всеволожск",
        amount=Money(amount=Decimal("480000.00"), currency="RUB"),
    )
    return attrs.evolve(deal, **changes)


def make_task(task_id: str = "З-1", **changes: Any) -> Task:
    """A new open call task on deal ``С-1`` for manager ``anna``, due an hour after `T0`."""
    task = Task(
        id=task_id,
        created_at=T0,
        subject=EntityRef.deal("С-1"),
        kind=TaskKind.CALL,
        title="Перезвонить, уточнить размеры",
        assignee="anna",
        due_at=T0 + timedelta(hours=1),
    )
    return attrs.evolve(task, **changes)


def stage_changed(
    ref: EntityRef, sequence: int, to_stage: str = PROPOSAL_READY, *, actor: str = "anna"
) -> StageChanged:
    """A `StageChanged` event of `ref` with the given sequence number."""
    return StageChanged(
        entity=ref,
        sequence=sequence,
        at=T0 + timedelta(minutes=sequence),
        actor=actor,
        pipeline=ROOFING,
        from_stage=TAKEN,
        to_stage=to_stage,
    )


@attrs.frozen
class _Kind:
    """How the generic repository tests reach and make one kind of entity."""

    name: str
    repository: Callable[[UnitOfWork], Any]
    make: Callable[..., Any]
    change: dict[str, Any]


_KINDS = [
    _Kind("contacts", lambda uow: uow.contacts, make_contact, {"company": "ИП Алмаз"}),
    _Kind("leads", lambda uow: uow.leads, make_lead, {"stage": TAKEN}),
    _Kind("deals", lambda uow: uow.deals, make_deal, {"stage": PROPOSAL_READY}),
    _Kind("tasks", lambda uow: uow.tasks, make_task, {"title": "Выезд на замер"}),
]


def _add(store: Store, *entities: Any) -> list[Any]:
    """Add entities in one committed unit; return them as stored."""
    kinds = {Contact: "contacts", Lead: "leads", Deal: "deals", Task: "tasks"}
    with store.unit_of_work() as uow:
        stored = [getattr(uow, kinds[type(entity)]).add(entity) for entity in entities]
        uow.commit()
    return stored


def _append(store: Store, *events: Event) -> None:
    with store.unit_of_work() as uow:
        uow.events.append(list(events))
        uow.commit()


def _snapshot(store: Store) -> tuple[object, ...]:
    """Everything a store holds, for "nothing changed" assertions."""
    with store.unit_of_work() as uow:
        return (
            uow.contacts.list(),
            uow.leads.list(),
            uow.deals.list(),
            uow.tasks.list(),
            list(uow.events.read_all()),
        )


FAILING_KEYS_COMPANY = "ключи не считаются"
"""The company of a contact whose keys the ``contact_keys`` fixture fails to compute."""
UNSTORABLE_KEYS_COMPANY = "ключи не хранятся"
"""The company of a contact the ``contact_keys`` fixture gives keys no store may index."""


def _keys_of(contact: Contact) -> Iterable[str]:
    """
    `basic_contact_keys`, but for two companies, as a host's own function may go wrong.

    For one it fails (a commit must be all or nothing); for the other it gives keys no store
    may index (an over-long key, a lone surrogate).
    """
    if contact.company == FAILING_KEYS_COMPANY:
        msg = "the host's contact-key function failed"
        raise RuntimeError(msg)
    if contact.company == UNSTORABLE_KEYS_COMPANY:
        return [*basic_contact_keys(contact), "email:" + "я" * 400, "name:\ud83d"]
    return basic_contact_keys(contact)


class _Fixtures:
    """The fixtures every contract mixin relies on."""

    @pytest.fixture
    def contact_keys(self) -> ContactKeys:
        """The `ContactKeys` function to build the ``store`` fixture with."""
        return _keys_of


class RepositoryContract(_Fixtures):
    """Contracts every repository (contacts, leads, deals, tasks) follows; run once per kind."""

    @pytest.fixture(params=_KINDS, ids=lambda kind: kind.name)
    def kind(self, request: pytest.FixtureRequest) -> _Kind:
        """Each kind of entity in turn."""
        kind: _Kind = request.param
        return kind

    def test_add_then_get_returns_the_entity_at_version_1(self, store: Store, kind: _Kind) -> None:
        """`add` stores a version-0 entity as version 1; `get` reads exactly that back."""
        entity = kind.make()
        with store.unit_of_work() as uow:
            stored = kind.repository(uow).add(entity)
            uow.commit()
        assert stored == attrs.evolve(entity, version=1)
        with store.unit_of_work() as uow:
            assert kind.repository(uow).get(entity.id) == stored

    def test_unit_reads_its_own_writes_and_others_do_not(self, store: Store, kind: _Kind) -> None:
        """An uncommitted add is visible in its unit only; after commit, in every new unit."""
        entity = kind.make()
        writer = store.unit_of_work()
        with writer:
            kind.repository(writer).add(entity)
            assert kind.repository(writer).find(entity.id) is not None
            with store.unit_of_work() as reader:
                assert kind.repository(reader).find(entity.id) is None
            writer.commit()
        with store.unit_of_work() as reader:
            assert kind.repository(reader).find(entity.id) is not None

    def test_get_of_a_missing_id_raises_not_found(self, store: Store, kind: _Kind) -> None:
        """`get` of an unknown id raises `NotFoundError` naming it; `find` returns None."""
        missing = kind.make().id
        with store.unit_of_work() as uow:
            repository = kind.repository(uow)
            assert repository.find(missing) is None
            with pytest.raises(NotFoundError) as caught:
                repository.get(missing)
        assert caught.value.entity.id == missing

    def test_add_of_a_taken_id_conflicts_and_changes_nothing(
        self, store: Store, kind: _Kind
    ) -> None:
        """Adding an id that is stored raises `ConflictError`; the stored entity stays."""
        (first,) = _add(store, kind.make())
        before = _snapshot(store)
        with store.unit_of_work() as uow:
            with pytest.raises(ConflictError):
                kind.repository(uow).add(attrs.evolve(kind.make(), **kind.change))
            uow.commit()
        assert _snapshot(store) == before
        with store.unit_of_work() as uow:
            assert kind.repository(uow).get(first.id) == first

    def test_add_of_a_stored_version_is_refused(self, store: Store, kind: _Kind) -> None:
        """`add` refuses an entity whose version is not 0, naming the ``version`` field."""
        with store.unit_of_work() as uow:
            with pytest.raises(ValidationError) as caught:
                kind.repository(uow).add(attrs.evolve(kind.make(), version=3))
            uow.commit()
        assert caught.value.field == "version"
        assert _snapshot(store) == ([], [], [], [], [])

    def test_add_of_another_type_is_refused(self, store: Store, kind: _Kind) -> None:
        """A repository refuses entities of another kind with `ValidationError`."""
        other = make_task() if kind.name != "tasks" else make_deal()
        with store.unit_of_work() as uow:
            with pytest.raises(ValidationError):
                kind.repository(uow).add(other)
            uow.commit()
        assert _snapshot(store) == ([], [], [], [], [])

    def test_save_replaces_and_bumps_the_version(self, store: Store, kind: _Kind) -> None:
        """`save` of the current version stores the change as version + 1."""
        (stored,) = _add(store, kind.make())
        changed = attrs.evolve(stored, **kind.change)
        with store.unit_of_work() as uow:
            saved = kind.repository(uow).save(changed)
            uow.commit()
        assert saved == attrs.evolve(changed, version=2)
        with store.unit_of_work() as uow:
            assert kind.repository(uow).get(stored.id) == saved

    def test_save_twice_in_one_unit_chains_versions(self, store: Store, kind: _Kind) -> None:
        """Within a unit, a saved entity can be saved again from its new version."""
        (stored,) = _add(store, kind.make())
        with store.unit_of_work() as uow:
            once = kind.repository(uow).save(stored)
            twice = kind.repository(uow).save(attrs.evolve(once, **kind.change))
            uow.commit()
        assert twice.version == 3
        with store.unit_of_work() as uow:
            assert kind.repository(uow).get(stored.id) == twice

    def test_save_of_a_stale_version_conflicts_and_changes_nothing(
        self, store: Store, kind: _Kind
    ) -> None:
        """`save` from an old version raises `ConflictError` with both versions; nothing moves."""
        (stored,) = _add(store, kind.make())
        with store.unit_of_work() as uow:
            kind.repository(uow).save(stored)
            uow.commit()
        before = _snapshot(store)
        with store.unit_of_work() as uow:
            with pytest.raises(ConflictError) as caught:
                kind.repository(uow).save(attrs.evolve(stored, **kind.change))
            uow.commit()
        assert (caught.value.expected, caught.value.actual) == (1, 2)
        assert _snapshot(store) == before

    def test_concurrent_saves_let_only_the_first_commit(self, store: Store, kind: _Kind) -> None:
        """Two units save the same version: the first commits, the second's commit conflicts."""
        (stored,) = _add(store, kind.make())
        first, second = store.unit_of_work(), store.unit_of_work()
        with first, second:
            kind.repository(first).save(attrs.evolve(stored, **kind.change))
            kind.repository(second).save(stored)
            first.commit()
            with pytest.raises(ConflictError):
                second.commit()
        with store.unit_of_work() as uow:
            assert kind.repository(uow).get(stored.id) == attrs.evolve(
                stored, version=2, **kind.change
            )

    def test_concurrent_adds_of_one_id_let_only_the_first_commit(
        self, store: Store, kind: _Kind
    ) -> None:
        """Two units add the same id: the second commit conflicts and applies nothing."""
        first, second = store.unit_of_work(), store.unit_of_work()
        with first, second:
            kind.repository(first).add(kind.make())
            kind.repository(second).add(attrs.evolve(kind.make(), **kind.change))
            first.commit()
            with pytest.raises(ConflictError):
                second.commit()
        with store.unit_of_work() as uow:
            assert kind.repository(uow).get(kind.make().id) == attrs.evolve(kind.make(), version=1)

    def test_save_of_a_missing_id_raises_not_found(self, store: Store, kind: _Kind) -> None:
        """`save` of an entity that was never added raises `NotFoundError`."""
        with store.unit_of_work() as uow:
            with pytest.raises(NotFoundError):
                kind.repository(uow).save(kind.make())
            uow.commit()
        assert _snapshot(store) == ([], [], [], [], [])

    def test_count_includes_own_additions(self, store: Store, kind: _Kind) -> None:
        """`count` counts committed entities plus the unit's own additions."""
        _add(store, kind.make(kind.make().id + "-1"))
        with store.unit_of_work() as uow:
            repository = kind.repository(uow)
            repository.add(kind.make(kind.make().id + "-2"))
            assert repository.count() == 2
        with store.unit_of_work() as uow:
            assert kind.repository(uow).count() == 1

    def test_leaving_without_commit_rolls_back(self, store: Store, kind: _Kind) -> None:
        """Leaving the ``with`` block, normally or by an error, without commit discards writes."""
        with store.unit_of_work() as uow:
            kind.repository(uow).add(kind.make())

        def fail_midway() -> None:
            with store.unit_of_work() as uow:
                kind.repository(uow).add(kind.make())
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError, match="boom"):
            fail_midway()
        assert _snapshot(store) == ([], [], [], [], [])


class ContactRepositoryContract(_Fixtures):
    """Contracts of the contacts repository: look-up by key and listing."""

    def test_find_by_key_finds_live_contacts_in_add_order(self, store: Store) -> None:
        """Contacts sharing a key are all found, in the order they were added."""
        first, second = _add(
            store,
            make_contact("К-1"),
            make_contact("К-2", names=("Алмаз",), emails=("zakaz@almaz.ru",)),
        )
        with store.unit_of_work() as uow:
            assert uow.contacts.find_by_key("phone:89123456789") == [first, second]
            assert uow.contacts.find_by_key("email:zakaz@almaz.ru") == [second]
            assert uow.contacts.find_by_key("phone:84950001122") == []

    def test_keys_no_store_may_index_are_refused_alike(self, store: Store) -> None:
        """A key over 300 characters or with a lone surrogate: `ValidationError`, nothing kept."""
        with (  # noqa: PT012 - the refusal may come at the add or at the commit
            pytest.raises(ValidationError, match="contact_keys") as refused,
            store.unit_of_work() as uow,
        ):
            uow.contacts.add(make_contact(company=UNSTORABLE_KEYS_COMPANY))
            uow.commit()
        assert refused.value.rule in {"too_long", "surrogate"}
        assert _snapshot(store) == ([], [], [], [], [])

    def test_find_by_key_follows_saved_changes(self, store: Store) -> None:
        """After a save replaces a phone, the old key no longer finds the contact."""
        (stored,) = _add(store, make_contact())
        with store.unit_of_work() as uow:
            saved = uow.contacts.save(attrs.evolve(stored, phones=("+7 (495) 000-11-22",)))
            assert uow.contacts.find_by_key("phone:74950001122") == [saved]
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.contacts.find_by_key("phone:89123456789") == []
            assert uow.contacts.find_by_key("phone:74950001122") == [saved]

    def test_find_by_key_skips_merged_contacts(self, store: Store) -> None:
        """A contact merged into another is not found by key but is still listed."""
        survivor, merged = _add(store, make_contact("К-1"), make_contact("К-2"))
        with store.unit_of_work() as uow:
            merged = uow.contacts.save(attrs.evolve(merged, merged_into=survivor.id))
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.contacts.find_by_key("email:almaz@example.ru") == [survivor]
            assert uow.contacts.list() == [survivor, merged]

    def test_find_by_key_stops_at_its_limit(self, store: Store) -> None:
        """With a limit, at most that many holders come back, in add order, this unit's too."""
        added = _add(store, make_contact("К-1"), make_contact("К-2"), make_contact("К-3"))
        order = [contact.id for contact in added]
        with store.unit_of_work() as uow:
            two = uow.contacts.find_by_key("phone:89123456789", limit=2)
            assert len(two) == 2
            assert [c.id for c in two] == sorted((c.id for c in two), key=order.index)
            assert set(order) >= {c.id for c in two}
            assert uow.contacts.find_by_key("phone:89123456789", limit=3) == added
            fourth = uow.contacts.add(make_contact("К-4"))
            assert uow.contacts.find_by_key("phone:89123456789", limit=9) == [*added, fourth]
            assert uow.contacts.find_by_key("phone:89123456789", limit=1) != []

    @pytest.mark.parametrize("limit", [0, -1, 1.5, True, "2"])
    def test_find_by_key_refuses_a_limit_that_is_not_positive(
        self, store: Store, limit: object
    ) -> None:
        """A limit that is not a positive integer is refused with `ValidationError`."""
        with store.unit_of_work() as uow, pytest.raises(ValidationError):
            uow.contacts.find_by_key("phone:89123456789", limit=limit)  # type: ignore[arg-type]

    def test_find_by_key_refuses_a_non_string(self, store: Store) -> None:
        """A key that is not a string is refused with `ValidationError`."""
        with store.unit_of_work() as uow, pytest.raises(ValidationError):
            uow.contacts.find_by_key(89123456789)  # type: ignore[arg-type]


class LeadRepositoryContract(_Fixtures):
    """Contracts of the leads repository: filtered listing."""

    def test_list_filters_by_every_field_given(self, store: Store) -> None:
        """Each filter narrows the list; several filters combine; order is add order."""
        taken = make_lead("Л-1", stage=TAKEN, owner="anna", contact_id="К-1")
        new = make_lead("Л-2")
        junk = make_lead(
            "Л-3", status=LeadStatus.JUNK, junk_reason="спам", closed_at=T0, stage="СПАМ"
        )
        other = make_lead("Л-4", pipeline="опт", owner="boris")
        taken, new, junk, other = _add(store, taken, new, junk, other)
        with store.unit_of_work() as uow:
            leads = uow.leads
            assert leads.list() == [taken, new, junk, other]
            assert leads.list(pipeline=ROOFING) == [taken, new, junk]
            assert leads.list(stage=NEW_LEAD) == [new, other]
            assert leads.list(status=LeadStatus.JUNK) == [junk]
            assert leads.list(owner="anna") == [taken]
            assert leads.list(contact_id="К-1") == [taken]
            assert leads.list(pipeline=ROOFING, stage=NEW_LEAD) == [new]
            assert leads.list(pipeline="опт", status=LeadStatus.JUNK) == []

    def test_list_sees_saved_changes_and_own_writes(self, store: Store) -> None:
        """A lead moved by a save leaves its old stage's list and joins the new one's."""
        (stored,) = _add(store, make_lead())
        with store.unit_of_work() as uow:
            moved = uow.leads.save(attrs.evolve(stored, stage=TAKEN))
            added = uow.leads.add(make_lead("Л-2"))
            assert uow.leads.list(stage=NEW_LEAD) == [added]
            assert uow.leads.list(stage=TAKEN) == [moved]
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.leads.list(stage=TAKEN) == [moved]
            assert uow.leads.list() == [moved, added]

    def test_list_stops_at_its_limit_oldest_first(self, store: Store) -> None:
        """With a limit, the first leads in add order come back, this unit's own included."""
        first, second, third = _add(
            store, *(make_lead(f"Л-{n}", contact_id="К-1") for n in (1, 2, 3))
        )
        with store.unit_of_work() as uow:
            assert uow.leads.list(contact_id="К-1", limit=2) == [first, second]
            moved = uow.leads.save(attrs.evolve(first, contact_id="К-2"))
            assert uow.leads.list(contact_id="К-1", limit=2) == [second, third]
            fourth = uow.leads.add(make_lead("Л-4", contact_id="К-2"))
            assert uow.leads.list(contact_id="К-2", limit=5) == [moved, fourth]
            for bad in (0, -1, 1.5, True):
                with pytest.raises(ValidationError):
                    uow.leads.list(limit=bad)  # type: ignore[arg-type]


class DealRepositoryContract(_Fixtures):
    """Contracts of the deals repository: filtered listing."""

    def test_list_filters_by_every_field_given(self, store: Store) -> None:
        """Each filter narrows the list; several filters combine; order is add order."""
        first = make_deal("С-1", owner="anna", contact_id="К-1")
        ready = make_deal("С-2", stage=PROPOSAL_READY, owner="anna")
        lost = make_deal(
            "С-3", status=DealStatus.LOST, lost_reason="дорого", closed_at=T0, stage="ПРОИГРАНА"
        )
        first, ready, lost = _add(store, first, ready, lost)
        with store.unit_of_work() as uow:
            deals = uow.deals
            assert deals.list() == [first, ready, lost]
            assert deals.list(stage=PROPOSAL_READY) == [ready]
            assert deals.list(status=DealStatus.OPEN) == [first, ready]
            assert deals.list(owner="anna") == [first, ready]
            assert deals.list(owner="anna", stage=TAKEN) == [first]
            assert deals.list(contact_id="К-1") == [first]
            assert deals.list(pipeline="опт") == []
            assert deals.list(owner="anna", limit=1) == [first]
            assert deals.list(limit=5) == [first, ready, lost]


class TaskRepositoryContract(_Fixtures):
    """Contracts of the tasks repository: filtered listing, due times compared as instants."""

    def test_list_filters_by_every_field_given(self, store: Store) -> None:
        """Filters on assignee, status and subject narrow the list and combine."""
        call = make_task("З-1")
        meeting = make_task("З-2", kind=TaskKind.MEETING, subject=EntityRef.lead("Л-1"))
        done = make_task(
            "З-3",
            assignee="boris",
            status=TaskStatus.DONE,
            result="Договорились о замере",
            client_reached=True,
            closed_at=T0,
        )
        call, meeting, done = _add(store, call, meeting, done)
        with store.unit_of_work() as uow:
            tasks = uow.tasks
            assert tasks.list() == [call, meeting, done]
            assert tasks.list(assignee="anna") == [call, meeting]
            assert tasks.list(status=TaskStatus.DONE) == [done]
            assert tasks.list(subject=EntityRef.deal("С-1")) == [call, done]
            assert tasks.list(assignee="anna", subject=EntityRef.lead("Л-1")) == [meeting]

    def test_due_before_is_strict_and_compares_instants(self, store: Store) -> None:
        """``due_before`` keeps tasks due strictly earlier, whatever their UTC offsets."""
        early = make_task("З-1", due_at=datetime(2026, 3, 2, 10, 0, tzinfo=MSK))
        late = make_task("З-2", due_at=datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc))
        early, late = _add(store, early, late)
        with store.unit_of_work() as uow:
            tasks = uow.tasks
            assert tasks.list(due_before=datetime(2026, 3, 2, 7, 0, tzinfo=timezone.utc)) == []
            assert tasks.list(due_before=datetime(2026, 3, 2, 7, 1, tzinfo=timezone.utc)) == [early]
            assert tasks.list(due_before=datetime(2026, 3, 2, 11, 0, tzinfo=MSK)) == [early]
            assert tasks.list(due_before=datetime(2026, 3, 2, 11, 1, tzinfo=MSK)) == [early, late]

    def test_due_before_refuses_a_naive_datetime(self, store: Store) -> None:
        """A naive ``due_before`` is refused with `ValidationError` naming the argument."""
        with store.unit_of_work() as uow, pytest.raises(ValidationError) as caught:
            uow.tasks.list(due_before=datetime(2026, 3, 2, 10, 0))  # noqa: DTZ001
        assert caught.value.field == "due_before"


class EventStoreContract(_Fixtures):
    """Contracts of the event store: per-entity sequences, all-or-nothing appends, ordering."""

    def test_append_then_read_in_sequence_order(self, store: Store) -> None:
        """Appended events read back per entity, in order, with the last sequence known."""
        deal, lead = EntityRef.deal("С-1"), EntityRef.lead("Л-1")
        events = [stage_changed(deal, 1), stage_changed(lead, 1), stage_changed(deal, 2)]
        _append(store, *events)
        with store.unit_of_work() as uow:
            assert uow.events.read(deal) == [events[0], events[2]]
            assert uow.events.read(lead) == [events[1]]
            assert uow.events.last_sequence(deal) == 2
            assert uow.events.last_sequence(EntityRef.task("З-9")) == 0
            assert uow.events.read(EntityRef.task("З-9")) == []

    def test_read_all_yields_positions_in_commit_order(self, store: Store) -> None:
        """`read_all` yields every committed event with positions 1, 2, 3... lazily."""
        deal, lead = EntityRef.deal("С-1"), EntityRef.lead("Л-1")
        first = [stage_changed(deal, 1), stage_changed(lead, 1)]
        second = [stage_changed(deal, 2, to_stage=TAKEN)]
        _append(store, *first)
        _append(store, *second)
        with store.unit_of_work() as uow:
            stream = uow.events.read_all()
            assert iter(stream) is stream
            recorded = list(stream)
            assert [r.position for r in recorded] == [1, 2, 3]
            assert [r.event for r in recorded] == first + second
            assert [r.event for r in uow.events.read_all(after=2)] == second
            assert list(uow.events.read_all(after=3)) == []

    def test_read_all_refuses_a_negative_position(self, store: Store) -> None:
        """``after`` must be a non-negative integer."""
        with store.unit_of_work() as uow, pytest.raises(ValidationError):
            uow.events.read_all(after=-1)

    def test_append_of_a_taken_sequence_conflicts_and_appends_nothing(self, store: Store) -> None:
        """Re-using a stored sequence raises `ConflictError`; no event of the batch is kept."""
        deal = EntityRef.deal("С-1")
        _append(store, stage_changed(deal, 1))
        before = _snapshot(store)
        with store.unit_of_work() as uow:
            with pytest.raises(ConflictError) as caught:
                uow.events.append([stage_changed(EntityRef.lead("Л-1"), 1), stage_changed(deal, 1)])
            uow.commit()
        assert caught.value.entity == deal
        assert _snapshot(store) == before

    def test_append_with_a_gap_is_refused_and_appends_nothing(self, store: Store) -> None:
        """Sequences must follow on from the last one without gaps."""
        deal = EntityRef.deal("С-1")
        with store.unit_of_work() as uow:
            with pytest.raises(ValidationError) as caught:
                uow.events.append([stage_changed(deal, 1), stage_changed(deal, 3)])
            uow.commit()
        assert caught.value.rule == "sequence"
        assert _snapshot(store) == ([], [], [], [], [])

    def test_append_of_a_non_event_is_refused(self, store: Store) -> None:
        """Anything that is not a funnelkit event is refused with `ValidationError`."""
        with store.unit_of_work() as uow:
            with pytest.raises(ValidationError):
                uow.events.append([stage_changed(EntityRef.deal("С-1"), 1), {"type": "x"}])  # type: ignore[list-item]
            uow.commit()
        assert _snapshot(store) == ([], [], [], [], [])

    def test_concurrent_appends_let_only_the_first_commit(self, store: Store) -> None:
        """Two units append sequence 1 of one entity: the second commit conflicts."""
        deal = EntityRef.deal("С-1")
        mine, theirs = stage_changed(deal, 1), stage_changed(deal, 1, actor="boris")
        first, second = store.unit_of_work(), store.unit_of_work()
        with first, second:
            first.events.append([mine])
            second.events.append([theirs])
            first.commit()
            with pytest.raises(ConflictError):
                second.commit()
        with store.unit_of_work() as uow:
            assert uow.events.read(deal) == [mine]

    def test_uncommitted_events_are_invisible_to_read_all(self, store: Store) -> None:
        """A unit reads its own appends per entity; `read_all` shows committed events only."""
        deal = EntityRef.deal("С-1")
        with store.unit_of_work() as uow:
            uow.events.append([stage_changed(deal, 1)])
            assert uow.events.last_sequence(deal) == 1
            assert uow.events.read(deal) == [stage_changed(deal, 1)]
            assert list(uow.events.read_all()) == []


class UnitOfWorkContract(_Fixtures):
    """Contracts of units of work: all or nothing across repositories and the event store."""

    def test_commit_applies_entities_and_events_together(self, store: Store) -> None:
        """One commit makes every repository write and every event visible."""
        with store.unit_of_work() as uow:
            deal = uow.deals.add(make_deal())
            task = uow.tasks.add(make_task())
            uow.events.append([stage_changed(deal.ref, 1)])
            uow.commit()
        with store.unit_of_work() as uow:
            assert (uow.deals.get(deal.id), uow.tasks.get(task.id)) == (deal, task)
            assert uow.events.read(deal.ref) == [stage_changed(deal.ref, 1)]

    def test_a_conflict_at_commit_applies_nothing(self, store: Store) -> None:
        """If one write of a unit conflicts at commit, none of its writes or events apply."""
        (deal,) = _add(store, make_deal())
        slow = store.unit_of_work()
        with slow:
            slow.tasks.add(make_task())
            slow.events.append([stage_changed(deal.ref, 1)])
            slow.deals.save(attrs.evolve(deal, stage=PROPOSAL_READY))
            with store.unit_of_work() as fast:
                fast.deals.save(attrs.evolve(deal, owner="boris"))
                fast.commit()
            before = _snapshot(store)
            with pytest.raises(ConflictError):
                slow.commit()
        assert _snapshot(store) == before

    def test_a_host_callback_failing_at_commit_applies_nothing(self, store: Store) -> None:
        """A contact-key function that raises for one contact leaves the store untouched."""
        (kept,) = _add(store, make_contact("К-0", phones=("+7 921 000 00 01",), emails=()))
        before = _snapshot(store)
        with (  # noqa: PT012 - the failure may come at any write or at the commit
            pytest.raises(RuntimeError, match="contact-key function failed"),
            store.unit_of_work() as uow,
        ):
            deal = uow.deals.add(make_deal())
            uow.contacts.add(make_contact("К-1"))
            uow.contacts.save(attrs.evolve(kept, names=("Алмаз",)))
            uow.contacts.add(make_contact("К-2", company=FAILING_KEYS_COMPANY))
            uow.events.append([stage_changed(deal.ref, 1)])
            uow.commit()
        assert _snapshot(store) == before
        with store.unit_of_work() as uow:
            assert [kept] == uow.contacts.find_by_key(next(iter(basic_contact_keys(kept))))

    def test_an_ended_unit_refuses_work(self, store: Store) -> None:
        """After commit, using the unit raises `UnitOfWorkError`; rollback stays harmless."""
        uow = store.unit_of_work()
        with uow:
            uow.commit()
            with pytest.raises(UnitOfWorkError):
                uow.deals.add(make_deal())
            with pytest.raises(UnitOfWorkError):
                uow.commit()
            uow.rollback()
        assert _snapshot(store) == ([], [], [], [], [])

    def test_rollback_discards_everything(self, store: Store) -> None:
        """`rollback` discards entity writes and events alike."""
        with store.unit_of_work() as uow:
            uow.contacts.add(make_contact())
            uow.events.append([stage_changed(EntityRef.deal("С-1"), 1)])
            uow.rollback()
        assert _snapshot(store) == ([], [], [], [], [])

    def test_refused_writes_leave_the_rest_of_the_unit_intact(self, store: Store) -> None:
        """A refused write changes nothing; the unit's other writes still commit."""
        with store.unit_of_work() as uow:
            lead = uow.leads.add(make_lead())
            with pytest.raises(ConflictError):
                uow.leads.add(make_lead())
            with pytest.raises(ValidationError):
                uow.events.append([stage_changed(lead.ref, 2)])
            uow.commit()
        assert _snapshot(store) == ([], [lead], [], [], [])


class StoreContract(
    RepositoryContract,
    ContactRepositoryContract,
    LeadRepositoryContract,
    DealRepositoryContract,
    TaskRepositoryContract,
    EventStoreContract,
    UnitOfWorkContract,
):
    """Every storage contract at once: the mixin an adapter's test class usually combines."""
