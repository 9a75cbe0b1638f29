"""The application service: each operation in one unit of work, conflicts retried or refused."""

from __future__ import annotations

from datetime import date, timedelta, timezone
from typing import Any

import attrs
import pytest

import funnelkit as fk
from funnelkit import analytics as fa
from funnelkit.qualification import Intake, QualificationPolicy, SpamPattern
from funnelkit.seeds.pipelines import LEADS, MEETING, SEED_000
from funnelkit.service import Service
from funnelkit.testing.contracts import T0


MSK = timezone(timedelta(hours=3))
ANNA = fk.Actor(id="anna", roles=frozenset({"manager"}))
SITE = fk.LeadSource(channel="site_form", site="krovlya-spb.ru")


def service(**changes):
    """A service over a fresh in-memory store, at 09:00 on 2 March 2026."""
    intake = Intake(
        pipeline=LEADS,
        qualification=QualificationPolicy(rules=(SpamPattern(patterns=("казино",)),)),
    )
    options: dict[str, Any] = {
        "clock": fk.FixedClock(T0),
        "ids": fk.SequentialIds(),
        "funnel": SEED_000,
        "store": fk.InMemoryStore(contact_keys=intake.matching.normaliser.keys),
        "intake": intake,
    } | changes
    return Service(**options)


def request(lead_id="Л-1", message="Нужна встреча по кровле"):
    return fk.Lead(
        id=lead_id,
        created_at=T0,
        pipeline=LEADS.key,
        stage="Новое обращение",
        source=SITE,
        message=message,
        contact_data=fk.ContactData(name="Алмаз", phones=("8 (912) 345-67-89",)),
    )


def sequences(events):
    """Each entity's event sequence numbers, in recorded order."""
    found: dict[fk.EntityRef, list[int]] = {}
    for event in events:
        found.setdefault(event.entity, []).append(event.sequence)
    return found


def test_a_request_becomes_a_won_meeting_with_payments_documents_and_tasks():
    """The whole path through the service; every entity's events are numbered 1, 2, 3..."""
    crm = service()
    taken = crm.take_in(request(), actor=ANNA)
    assert "Новое обращение" == taken.lead.stage
    crm.clock.advance(timedelta(minutes=5))
    crm.move(taken.lead.ref, "Квалификация", actor=ANNA)
    crm.clock.advance(timedelta(minutes=5))
    converted = crm.convert(taken.lead.ref, actor=ANNA, amount=fk.Money.of("480000", "RUB"))
    deal = converted.deal
    assert (MEETING.key, MEETING.first_stage.key) == (deal.pipeline, deal.stage)
    task = crm.create_task(
        deal.ref,
        actor=ANNA,
        kind=fk.TaskKind.MEETING,
        title="Встреча на объекте",
        assignee="anna",
        due_at=T0 + timedelta(days=1),
    )
    crm.clock.advance(timedelta(days=1))
    crm.complete_task(task.ref, "Встретились, замерили", actor=ANNA, client_reached=True)
    crm.add_document(deal.ref, fk.DocumentKind.PROPOSAL, actor=ANNA)
    crm.add_document(deal.ref, fk.DocumentKind.PROPOSAL, actor=ANNA)
    crm.record_payment(deal.ref, fk.Money.of("100000", "RUB"), actor=ANNA)
    crm.move(deal.ref, "Встреча назначена", actor=ANNA)
    won = crm.win(deal.ref, actor=ANNA)
    assert (fk.DealStatus.WON, (1, 2)) == (won.status, tuple(d.version for d in won.documents))
    assert f"{deal.id}-P1" == won.payments[0].id
    for numbers in sequences(crm.events()).values():
        assert list(range(1, len(numbers) + 1)) == numbers
    folded = crm.histories()
    steps = fa.deal_steps(folded)
    assert (1, 0) == (steps.won, steps.won_without_meeting)
    assert (1, 1) == (fa.lead_flow(folded).converted, fa.lead_flow(folded).won_from_leads)


def test_a_refused_move_writes_nothing():
    """Skipping a stage is refused with the rule, and the store and the log are unchanged."""
    crm = service()
    taken = crm.take_in(request(), actor=ANNA)
    before = crm.events()
    with pytest.raises(fk.MoveRefusedError):
        crm.move(taken.lead.ref, "Спам", actor=ANNA)  # junk needs a reason
    assert before == crm.events()
    with crm.store.unit_of_work() as uow:
        assert taken.lead == uow.leads.get(taken.lead.id)


def test_losing_needs_a_known_reason():
    """A deal is lost with one of its pipeline's reasons; the reason is in the event."""
    crm = service()
    taken = crm.take_in(request(), actor=ANNA)
    crm.move(taken.lead.ref, "Квалификация", actor=ANNA)
    deal = crm.convert(taken.lead.ref, actor=ANNA).deal
    with pytest.raises(fk.MoveRefusedError, match="reason"):
        crm.lose(deal.ref, actor=ANNA, reason="погода")
    lost = crm.lose(deal.ref, actor=ANNA, reason="expensive")
    assert ("expensive", "expensive") == (lost.lost_reason, crm.events()[-1].reason)


def test_bad_input_is_refused_and_nothing_is_written():
    """A payment in another currency, a blank result, an unknown deal: errors, no writes."""
    crm = service()
    taken = crm.take_in(request(), actor=ANNA)
    crm.move(taken.lead.ref, "Квалификация", actor=ANNA)
    deal = crm.convert(taken.lead.ref, actor=ANNA, amount=fk.Money.of("480000", "RUB")).deal
    task = crm.create_task(
        deal.ref,
        actor=ANNA,
        kind=fk.TaskKind.CALL,
        title="Позвонить",
        assignee="anna",
        due_at=T0 + timedelta(hours=1),
    )
    before = crm.events()
    with pytest.raises(fk.ValidationError, match="currency"):
        crm.record_payment(deal.ref, fk.Money.of("100", "EUR"), actor=ANNA)
    with pytest.raises(fk.ValidationError, match="result"):
        crm.complete_task(task.ref, "  ", actor=ANNA, client_reached=True)
    with pytest.raises(fk.NotFoundError):
        crm.win(fk.EntityRef.deal("Д-404"), actor=ANNA)
    assert before == crm.events()
    with pytest.raises(fk.ValidationError, match="intake"):
        service(intake=None).take_in(request(), actor=ANNA)


class RacingIds:
    """An id factory that lets someone else save the lead while a conversion is under way."""

    def __init__(self, store, lead_id):
        self.ids = fk.SequentialIds()
        self.store, self.lead_id, self.raced = store, lead_id, False

    def new_id(self, kind):
        if kind is fk.EntityKind.DEAL and not self.raced:
            self.raced = True
            with self.store.unit_of_work() as uow:
                lead = uow.leads.get(self.lead_id)
                uow.leads.save(attrs.evolve(lead, owner="boris"))
                uow.commit()
        return self.ids.new_id(kind)


def test_a_conflict_is_refused_or_retried_on_fresh_values():
    """Someone else saves the lead mid-conversion: refused, or converted on a fresh read."""
    for retries, expected in ((0, None), (1, "boris")):
        crm = service(retries=retries)
        taken = crm.take_in(request(), actor=ANNA)
        crm.move(taken.lead.ref, "Квалификация", actor=ANNA)
        crm.ids = RacingIds(crm.store, taken.lead.id)
        if expected is None:
            with pytest.raises(fk.ConflictError):
                crm.convert(taken.lead.ref, actor=ANNA)
            with crm.store.unit_of_work() as uow:
                assert [] == uow.deals.list()
        else:
            converted = crm.convert(taken.lead.ref, actor=ANNA)
            assert expected == converted.deal.owner


def test_the_agendas_read_from_the_store():
    """The manager's day through the service: the new lead first, then her call."""
    crm = service()
    taken = crm.take_in(attrs.evolve(request(), owner="anna"), actor=ANNA)
    crm.create_task(
        taken.lead.ref,
        actor=ANNA,
        kind=fk.TaskKind.CALL,
        title="Перезвонить",
        assignee="anna",
        due_at=T0 + timedelta(hours=2),
    )
    day = crm.agendas(date(2026, 3, 2), MSK)["anna"]
    assert [None, "Перезвонить"] == [item.task.title if item.task else None for item in day.items]


def test_update_records_each_change_and_checks_the_schema():
    """Owner, amount and custom fields: one event each; unknown fields are refused whole."""
    crm = service()
    taken = crm.take_in(request(), actor=ANNA)
    crm.move(taken.lead.ref, "Квалификация", actor=ANNA)
    deal = crm.convert(taken.lead.ref, actor=ANNA).deal
    before = len(crm.events())
    updated = crm.update(deal.ref, actor=ANNA, owner="boris", amount=fk.Money.of("300000", "RUB"))
    assert ("boris", fk.Money.of("300000", "RUB")) == (updated.owner, updated.amount)
    assert ["owner_changed", "amount_changed"] == [type(e).TYPE for e in crm.events()[before:]]
    assert updated == crm.update(deal.ref, actor=ANNA, owner="boris")  # no change, no event
    with pytest.raises(fk.ValidationError):
        crm.update(deal.ref, actor=ANNA, fields={"нет такого поля": "x"})
    with pytest.raises(fk.ValidationError, match="only deals"):
        crm.update(taken.lead.ref, actor=ANNA, amount=None)
    assert before + 2 == len(crm.events())


def test_cancelling_a_task_needs_a_reason():
    """A cancelled task keeps its reason; a blank reason changes nothing."""
    crm = service()
    taken = crm.take_in(request(), actor=ANNA)
    task = crm.create_task(
        taken.lead.ref,
        actor=ANNA,
        kind=fk.TaskKind.CALL,
        title="Перезвонить",
        assignee="anna",
        due_at=T0 + timedelta(hours=2),
    )
    with pytest.raises(fk.ValidationError):
        crm.cancel_task(task.ref, " ", actor=ANNA)
    cancelled = crm.cancel_task(task.ref, "Клиент передумал", actor=ANNA)
    assert (fk.TaskStatus.CANCELLED, "Клиент передумал") == (
        cancelled.status,
        cancelled.cancel_reason,
    )


def test_a_won_meeting_opens_the_proposal_deal():
    """In seed 000's chained funnel the next deal keeps the lead, the contact and the amount."""
    crm = service()
    taken = crm.take_in(request(), actor=ANNA)
    crm.move(taken.lead.ref, "Квалификация", actor=ANNA)
    meeting = crm.convert(taken.lead.ref, actor=ANNA, amount=fk.Money.of("480000", "RUB")).deal
    with pytest.raises(fk.ValidationError):
        crm.open_next(meeting.ref, actor=ANNA)  # not won yet
    crm.move(meeting.ref, "Встреча назначена", actor=ANNA)
    crm.win(meeting.ref, actor=ANNA)
    proposal = crm.open_next(meeting.ref, actor=ANNA)
    assert ("кп", "Л-1", meeting.contact_id, meeting.amount) == (
        proposal.pipeline,
        proposal.lead_id,
        proposal.contact_id,
        proposal.amount,
    )


def _imported_twins(crm):
    """Two contacts of one client, imported from two old systems, and a deal of the second."""
    first = fk.Contact(id="К-1", created_at=T0, names=("Алмаз",), phones=("+7 912 345-67-89",))
    second = fk.Contact(
        id="К-2",
        created_at=T0 + timedelta(days=3),
        names=("Алмаз Строитель",),
        phones=("8 (912) 345-67-89",),
        emails=("almaz@example.ru",),
    )
    deal = fk.Deal(id="С-9", created_at=T0, pipeline=MEETING.key, stage=MEETING.first_stage.key)
    with crm.store.unit_of_work() as uow:
        uow.contacts.add(first)
        uow.contacts.add(second)
        uow.deals.add(attrs.evolve(deal, contact_id="К-2"))
        uow.commit()


def test_duplicates_are_found_merged_and_unmerged_through_the_service():
    crm = service()
    _imported_twins(crm)
    found = crm.find_duplicates()
    assert (frozenset({"К-1", "К-2"}),) == found.clusters

    plan = crm.plan_merge(fk.EntityRef.contact(c) for c in sorted(found.clusters[0]))
    assert ("merge:К-1+К-2", "К-1") == (plan.merge_id, plan.survivor.id)
    assert ["С-9"] == [child.id for child in plan.children]
    before = crm.events()
    record = crm.merge(plan, actor=ANNA)
    with crm.store.unit_of_work() as uow:
        survivor, merged = uow.contacts.get("К-1"), uow.contacts.get("К-2")
        assert {"Алмаз", "Алмаз Строитель"} == set(survivor.names)
        assert ("almaz@example.ru",) == survivor.emails
        assert "К-1" == merged.merged_into
        assert "К-1" == uow.deals.get("С-9").contact_id
    assert any(isinstance(event, fk.events.ContactsMerged) for event in crm.events()[len(before) :])

    crm.undo_merge(record, actor=ANNA)
    with crm.store.unit_of_work() as uow:
        assert uow.contacts.get("К-2").merged_into is None
        assert "К-2" == uow.deals.get("С-9").contact_id


def test_a_stale_merge_plan_is_refused_and_writes_nothing():
    crm = service(retries=3)
    _imported_twins(crm)
    plan = crm.plan_merge([fk.EntityRef.contact("К-1"), fk.EntityRef.contact("К-2")])
    crm.update(fk.EntityRef.deal("С-9"), actor=ANNA, owner="boris")  # the plan's child changes
    before = crm.events()
    with pytest.raises(fk.ConflictError):
        crm.merge(plan, actor=ANNA)
    assert before == crm.events()
    with pytest.raises(fk.NotFoundError):
        crm.plan_merge([fk.EntityRef.contact("К-1"), fk.EntityRef.contact("К-404")])
    with pytest.raises(fk.ValidationError, match="two"):
        crm.plan_merge([fk.EntityRef.contact("К-1")])


def test_contacts_and_deals_added_by_hand_are_checked():
    crm = service()
    contact = fk.Contact(id="К-1", created_at=T0, names=("Алмаз",))
    assert 1 == crm.add_contact(contact, actor=ANNA).version
    before = crm.events()
    with pytest.raises(fk.ConflictError):
        crm.add_contact(contact, actor=ANNA)
    deal = fk.Deal(id="С-1", created_at=T0, pipeline=MEETING.key, stage="Встреча назначена")
    with pytest.raises(fk.ValidationError, match="starts at") as refused:
        crm.add_deal(deal, actor=ANNA)
    assert "deal.stage" == refused.value.field
    with pytest.raises(fk.ValidationError, match="not a pipeline of the funnel"):
        crm.add_deal(attrs.evolve(deal, pipeline="склад"), actor=ANNA)
    assert before == crm.events()
    opened = crm.add_deal(attrs.evolve(deal, stage=MEETING.first_stage.key), actor=ANNA)
    assert isinstance(crm.events()[-1], fk.events.DealCreated)
    assert opened.ref == crm.events()[-1].entity


# --- one customer per person ---------------------------------------------------------------------


def test_the_default_store_finds_a_known_client_however_the_phone_is_written():
    """Without an explicit store, contacts are indexed under the keys the intake looks up."""
    crm = service()
    crm = Service(clock=crm.clock, ids=crm.ids, funnel=crm.funnel, intake=crm.intake)
    crm.add_contact(
        fk.Contact(id="К-1", created_at=T0, names=("Алмаз",), phones=("+7 912 345 67 89",)),
        actor=ANNA,
    )
    taken = crm.take_in(request(), actor=ANNA)
    assert ("К-1", False) == (taken.contact_id, taken.created_contact)


@pytest.mark.parametrize(
    "store",
    [
        pytest.param(fk.InMemoryStore, id="basic keys"),
        pytest.param(lambda: fk.InMemoryStore(contact_keys=lambda c: []), id="no keys"),
    ],
)
def test_a_store_indexing_other_keys_than_the_intake_is_refused(store):
    """A store whose keys the intake would never find is refused when the service is built."""
    with pytest.raises(fk.ValidationError, match=r"contact_keys=intake\.matching") as refused:
        service(store=store())
    assert ("Service.store", "contact_keys") == (refused.value.field, refused.value.rule)


def test_a_store_that_does_not_index_the_policys_key_fields_is_refused():
    """A policy looking up a device id needs a store that indexes it."""
    base = service()
    assert base.intake is not None
    matching = attrs.evolve(base.intake.matching, key_fields=("fields.device",))
    intake = attrs.evolve(base.intake, matching=matching)
    with pytest.raises(fk.ValidationError, match=r"fields\.device:probe"):
        service(intake=intake)  # its store indexes phones and e-mails only
    crm = service(intake=intake, store=fk.InMemoryStore(contact_keys=matching.contact_keys))
    assert crm.intake is intake


def _meeting(deal_id, contact_id):
    """A new deal of the meeting pipeline for a contact."""
    return fk.Deal(
        id=deal_id,
        created_at=T0,
        pipeline=MEETING.key,
        stage=MEETING.first_stage.key,
        contact_id=contact_id,
    )


def test_a_deal_added_between_plan_and_merge_makes_the_merge_refused():
    """The merge must see every child: a deal opened after the plan refuses it; replanned, moves."""
    crm = service()
    _imported_twins(crm)
    plan = crm.plan_merge([fk.EntityRef.contact("К-1"), fk.EntityRef.contact("К-2")])
    crm.add_deal(_meeting("С-10", "К-2"), actor=ANNA)
    with pytest.raises(fk.ConflictError):
        crm.merge(plan, actor=ANNA)
    crm.merge(
        crm.plan_merge([fk.EntityRef.contact("К-1"), fk.EntityRef.contact("К-2")]), actor=ANNA
    )
    with crm.store.unit_of_work() as uow:
        assert ["К-1", "К-1"] == [uow.deals.get(d).contact_id for d in ("С-9", "С-10")]


def test_records_about_a_merged_contact_are_refused_naming_the_survivor():
    """A deal or a task asked for by a merged contact's id is refused, not filed elsewhere."""
    crm = service()
    _imported_twins(crm)
    crm.merge(
        crm.plan_merge([fk.EntityRef.contact("К-1"), fk.EntityRef.contact("К-2")]), actor=ANNA
    )
    before = crm.events()
    deal = _meeting("С-11", "К-2")
    with pytest.raises(fk.ConflictError, match="'К-2' was merged into 'К-1'") as refused:
        crm.add_deal(deal, actor=ANNA)
    assert fk.EntityRef.contact("К-2") == refused.value.entity
    with pytest.raises(fk.ConflictError, match="merged into 'К-1'"):
        crm.create_task(
            fk.EntityRef.contact("К-2"),
            actor=ANNA,
            kind=fk.TaskKind.CALL,
            title="Перезвонить",
            assignee="anna",
            due_at=T0 + timedelta(hours=1),
        )
    with pytest.raises(fk.NotFoundError, match="К-404"):
        crm.add_deal(attrs.evolve(deal, id="С-12", contact_id="К-404"), actor=ANNA)
    assert before == crm.events()
    assert "К-1" == crm.add_deal(attrs.evolve(deal, contact_id="К-1"), actor=ANNA).contact_id


def test_a_conversion_reads_the_context_and_its_messages_follow_the_commit():
    """The lead pipeline's own condition reads the context; its callback's message is sent after."""

    def met_in_person(attempt: fk.pipelines.MoveAttempt) -> fk.Violation | None:
        if attempt.context.get("met") is True:
            return None
        return fk.Violation(rule="not_met", message="meet the client before converting")

    def thank(attempt: fk.pipelines.MoveAttempt) -> tuple[fk.pipelines.Message, ...]:
        return (fk.pipelines.Message(to="client", text="Спасибо, ждём вас на встрече"),)

    leads = attrs.evolve(
        LEADS,
        stages=tuple(
            attrs.evolve(stage, conditions=(met_in_person,), on_enter=(thank,))
            if stage.kind is fk.StageKind.WON
            else stage
            for stage in LEADS.stages
        ),
    )
    sent: list[tuple[fk.EntityRef, fk.pipelines.Message]] = []
    crm = service(
        funnel=attrs.evolve(SEED_000, leads=leads),
        intake=Intake(pipeline=leads, qualification=QualificationPolicy(rules=())),
        on_message=lambda ref, message: sent.append((ref, message)),
    )
    taken = crm.take_in(request(), actor=ANNA)
    crm.move(taken.lead.ref, "Квалификация", actor=ANNA)
    with pytest.raises(fk.MoveRefusedError, match="meet the client"):
        crm.convert(taken.lead.ref, actor=ANNA)
    assert [] == sent
    converted = crm.convert(taken.lead.ref, actor=ANNA, context={"met": True})
    assert [
        (taken.lead.ref, fk.pipelines.Message(to="client", text="Спасибо, ждём вас на встрече"))
    ] == sent
    assert converted.effects == (sent[0][1],)
