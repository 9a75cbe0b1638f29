"""
The seeds' workflow, whole, through the service, with the numbers worked out by hand.

- Fresh deals are never lost: a new deal gets its first stage's tasks, and a deal waiting in
  a first stage with nothing planned tops its owner's agenda (seed 002: "НОВЫЙ ЛИД" is taken
  "в ту же минуту").
- Refusals tell the truth: a reserved move is named as such, and the refused stage is never
  offered as an alternative.
- Every lead is in one bucket, and the lead reports agree.
- The chained funnel of seed 000 is counted per customer journey.
- The rules the seeds state can be written: money in the till to win, reasons per junk stage,
  fields required by one move, tasks that block leaving a stage, who may move a deal in, and
  reports by custom field values as of the snapshot.
- Intake defaults of seed 000, no record about nothing (in every store), and a service a host
  reads from.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import funnelkit as fk
from funnelkit import analytics as fa
from funnelkit.pipelines import ExtraMove, Funnel
from funnelkit.qualification import Intake, QualificationPolicy, SpamPattern
from funnelkit.seeds.pipelines import (
    CONTRACT,
    LEADS,
    MAIN_SALE,
    MEETING,
    PROPOSAL,
    ROOFING,
    SEED_000,
)
from funnelkit.service import Service


if TYPE_CHECKING:
    from collections.abc import Callable


MSK = timezone(timedelta(hours=3), "MSK")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=MSK)
ANNA = fk.Actor(id="anna", roles=frozenset({"manager"}))
TURAL = fk.Actor(id="tural", roles=frozenset({"engineer"}))
HEAD = fk.Actor(id="boss", roles=frozenset({"head", "engineer"}))
ROOFING_FUNNEL = Funnel(key="кровля", leads=LEADS, deals=(ROOFING,))
CARD = {"product": "КРОВЛЯ", "client_type": "частник"}


def crm_for(funnel: Funnel = SEED_000, **changes: Any) -> Service:
    """A service over a fresh in-memory store, at `T0`, that junks casino spam."""
    intake = Intake(
        pipeline=LEADS,
        qualification=QualificationPolicy(rules=(SpamPattern(patterns=("казино",)),)),
    )
    options: dict[str, Any] = {
        "clock": fk.FixedClock(T0),
        "ids": fk.SequentialIds(),
        "funnel": funnel,
        "intake": intake,
    } | changes
    return Service(**options)


def request(number: int, message: str = "Нужна кровля на дом", **changes: Any) -> fk.Lead:
    lead = fk.Lead(
        id=f"Л-{number}",
        created_at=T0,
        pipeline=LEADS.key,
        stage="Новое обращение",
        source=fk.LeadSource(channel="site_form"),
        message=message,
        contact_data=fk.ContactData(name=f"Клиент {number}", phones=(f"+7921000{number:04d}",)),
    )
    return attrs.evolve(lead, **changes)


def good_lead(crm: Service, number: int) -> fk.Lead:
    """A request taken in and qualified, ready to convert."""
    taken = crm.take_in(attrs.evolve(request(number), created_at=crm.clock.now()), actor=ANNA)
    return crm.move(taken.lead.ref, "Квалификация", actor=ANNA)  # type: ignore[return-value]


def roofing_deal(crm: Service, stage_path: tuple[str, ...] = ()) -> fk.Deal:
    """A roofing deal converted from a request, taken into work and moved along `stage_path`."""
    deal = crm.convert(good_lead(crm, 1).ref, actor=ANNA).deal
    for task in crm.tasks(subject=deal.ref, status=fk.TaskStatus.OPEN):
        crm.complete_task(task.ref, "Позвонили, взяли в работу", actor=ANNA, client_reached=True)
    crm.update(
        deal.ref,
        actor=ANNA,
        owner="anna",
        fields={**CARD, "construction_stage": "коробка", "buys_when": "летом"},
    )
    for stage in stage_path:
        for task in crm.tasks(subject=deal.ref, status=fk.TaskStatus.OPEN):
            crm.complete_task(task.ref, "Сделано", actor=ANNA, client_reached=True)
        actor = TURAL if stage == "КП ГОТОВО" else ANNA
        crm.move(deal.ref, stage, actor=actor)
    return crm.get_deal(deal.ref)


# --- 1. fresh deals are never lost ---------------------------------------------------------------


def test_a_converted_deal_gets_its_first_stages_call_in_the_same_unit_of_work():
    """НОВЫЙ ЛИД plans a call due in a minute: the conversion creates it, about the deal."""
    crm = crm_for(ROOFING_FUNNEL)
    done = crm.convert(good_lead(crm, 1).ref, actor=ANNA)
    (effect,) = done.deal_effects
    assert isinstance(effect, fk.pipelines.PlannedTask)
    (task,) = crm.tasks(subject=done.deal.ref)
    assert (task.kind, task.due_at, task.assignee) == (
        fk.TaskKind.CALL,
        T0 + timedelta(minutes=1),
        "anna",
    )
    assert (effect,) == done.effects  # the lead's move to "Хороший лид" plans nothing
    assert isinstance(crm.events()[-1], fk.events.TaskCreated)


def test_a_deal_opened_by_hand_or_next_in_the_chain_gets_its_entry_tasks_too():
    """add_deal and open_next run the first stage's entry actions; the chain link is recorded."""
    crm = crm_for(ROOFING_FUNNEL)
    opened = crm.add_deal(
        fk.Deal(id="С-100", created_at=T0, pipeline=ROOFING.key, stage="НОВЫЙ ЛИД"), actor=ANNA
    )
    assert [fk.TaskKind.CALL] == [t.kind for t in crm.tasks(subject=opened.ref)]
    call = fk.CreateTask(kind=fk.TaskKind.CALL, title="Согласовать КП", due_in=timedelta(hours=2))
    proposal = attrs.evolve(
        PROPOSAL, stages=(attrs.evolve(PROPOSAL.stages[0], on_enter=(call,)), *PROPOSAL.stages[1:])
    )
    chained = crm_for(Funnel(key="заявки", leads=LEADS, deals=(MEETING, proposal)))
    meeting = chained.convert(good_lead(chained, 1).ref, actor=ANNA).deal
    chained.move(meeting.ref, "Встреча назначена", actor=ANNA)
    chained.win(meeting.ref, actor=ANNA)
    following = chained.open_next(meeting.ref, actor=ANNA)
    assert (meeting.id, meeting.lead_id) == (following.follows, following.lead_id)
    (task,) = chained.tasks(subject=following.ref)
    assert ("Согласовать КП", T0 + timedelta(hours=2)) == (task.title, task.due_at)


def test_a_deal_waiting_in_its_first_stage_with_nothing_planned_tops_the_owners_day():
    """The call was cancelled: the deal itself is on anna's agenda, above her tasks."""
    crm = crm_for(ROOFING_FUNNEL)
    deal = crm.convert(good_lead(crm, 1).ref, actor=ANNA).deal
    other = crm.create_task(
        deal.ref,
        actor=ANNA,
        kind=fk.TaskKind.MESSAGE,
        title="Написать в мессенджер",
        assignee="anna",
        due_at=T0 + timedelta(hours=1),
    )
    day = crm.agendas(date(2026, 3, 2), MSK)["anna"]
    assert [None, None] != [item.task for item in day.items]  # with open tasks: only tasks
    assert all(item.task is not None for item in day.items)
    for task in crm.tasks(subject=deal.ref, status=fk.TaskStatus.OPEN):
        crm.cancel_task(task.ref, "Клиент просил не звонить", actor=ANNA)
    day = crm.agendas(date(2026, 3, 2), MSK)["anna"]
    (first,) = day.items
    assert (first.task, first.entity, first.stage) == (None, crm.get(deal.ref), "НОВЫЙ ЛИД")
    assert other.id not in [i.task.id for i in day.items if i.task is not None]


# --- 2. refusals tell the truth ------------------------------------------------------------------


def test_a_reserved_move_is_refused_naming_the_move_and_the_roles():
    """Only the head closes a deal straight from ОБЪЕМЫ; Турал may still move it to КП ГОТОВО."""
    reserved = ExtraMove(
        source="ОБЪЕМЫ У ТУРАЛА", dest="УСПЕШНО РЕАЛИЗОВАНО", roles=frozenset({"head"})
    )
    rules = attrs.evolve(ROOFING, extra_moves=(*ROOFING.extra_moves, reserved)).compile()
    deal = fk.Deal(
        id="С-1",
        created_at=T0,
        pipeline=ROOFING.key,
        stage="ОБЪЕМЫ У ТУРАЛА",
        amount=fk.Money.of("480000", "RUB"),
        payments=(fk.Payment(id="С-1-P1", amount=fk.Money.of("1000", "RUB"), received_at=T0),),
    )
    (violation,) = rules.check(deal, "УСПЕШНО РЕАЛИЗОВАНО", TURAL)
    assert "move_role" == violation.rule
    assert violation.message == (
        "only head may make the move 'ОБЪЕМЫ У ТУРАЛА' → 'УСПЕШНО РЕАЛИЗОВАНО' (reserved to "
        "them); 'tural' has roles: engineer"
    )
    assert "КП ГОТОВО" in violation.allowed
    assert "УСПЕШНО РЕАЛИЗОВАНО" not in violation.allowed
    (exit_rule,) = rules.check(deal, "КП ГОТОВО", ANNA)
    assert (
        "exit_role",
        "only engineer may move out of 'ОБЪЕМЫ У ТУРАЛА'; 'anna' has roles: manager",
    ) == (exit_rule.rule, exit_rule.message)
    assert () == rules.check(deal, "УСПЕШНО РЕАЛИЗОВАНО", HEAD)


def test_a_refused_stage_is_never_offered_as_the_alternative():
    """Moving a lead to its won stage is refused (conversion only), and not offered back."""
    crm = crm_for()
    lead = good_lead(crm, 1)
    with pytest.raises(fk.MoveRefusedError) as refused:
        crm.move(lead.ref, "Хороший лид", actor=ANNA)
    (violation,) = refused.value.violations
    assert "conversion" == violation.rule
    assert "Хороший лид" not in violation.allowed
    assert "Спам" in violation.allowed


# --- 3. every lead in one bucket -----------------------------------------------------------------


def test_a_lead_qualified_good_then_closed_as_junk_is_junk_in_every_report():
    """
    Three requests the intake qualified good: one then closed as junk, one converted, one open.

    Junk 1 (its last verdict), good 2 (the converted one and the open one), waiting 0.
    """
    crm = crm_for()
    first = good_lead(crm, 1)
    crm.move(first.ref, "Случайный посетитель", actor=ANNA, reason="random_visitor")
    crm.convert(good_lead(crm, 2).ref, actor=ANNA)
    crm.take_in(request(3), actor=ANNA)
    folded = crm.histories()
    flow = fa.lead_flow(folded)
    assert (flow.leads, flow.junk, flow.good, flow.waiting) == (3, 1, 2, 0)
    (row,) = fa.sources(folded).sources
    assert (row.leads, row.junk, row.good, row.waiting) == (3, 1, 2, 0)
    assert fa.Bucket.JUNK is folded.leads["Л-1"].bucket


_ACTIONS = st.lists(
    st.sampled_from(["good", "junk_verdict", "review", "close_junk", "convert", "reopen"]),
    max_size=6,
)


def _lead_log(number: int, actions: list[str]) -> tuple[list[fk.events.Event], str]:
    """A lead's events for `actions` (impossible ones skipped), and its bucket worked out apart."""
    ref = fk.EntityRef.lead(f"Л-{number}")
    lead = request(number)
    events: list[fk.events.Event] = [
        fk.events.LeadCreated(entity=ref, sequence=1, at=T0, actor="system", lead=lead)
    ]
    bucket, stage, closed = "waiting", lead.stage, False
    common: dict[str, Any] = {"entity": ref, "at": T0, "actor": "anna", "pipeline": LEADS.key}
    for action in actions:
        sequence = len(events) + 1
        if action in ("good", "junk_verdict", "review"):
            verdict = {"good": fk.events.Verdict.GOOD, "junk_verdict": fk.events.Verdict.JUNK}.get(
                action, fk.events.Verdict.REVIEW
            )
            events.append(
                fk.events.LeadQualified(
                    entity=ref, sequence=sequence, at=T0, actor="system", verdict=verdict, score=0
                )
            )
            bucket = {"good": "good", "junk_verdict": "junk"}.get(action, "waiting")
        elif action == "close_junk" and not closed:
            events.append(
                fk.events.LeadClosedAsJunk(
                    **common, sequence=sequence, from_stage=stage, to_stage="Спам", reason="spam"
                )
            )
            bucket, stage, closed = "junk", "Спам", True
        elif action == "convert" and not closed:
            events.append(
                fk.events.LeadConverted(
                    **common,
                    sequence=sequence,
                    from_stage=stage,
                    to_stage="Хороший лид",
                    deal_id=f"С-{number}",
                    contact_id="К-1",
                )
            )
            bucket, stage, closed = "good", "Хороший лид", True
        elif action == "reopen" and closed:
            events.append(
                fk.events.StageChanged(
                    **common,
                    sequence=sequence,
                    from_stage=stage,
                    to_stage="Квалификация",
                    forced=True,
                )
            )
            bucket, stage, closed = "waiting", "Квалификация", False
    return events, bucket


@given(st.lists(_ACTIONS, max_size=8))
def test_the_buckets_partition_the_leads_and_the_reports_agree(histories_of_actions):
    """Property: junk + good + waiting = leads, each lead in its last verdict's bucket."""
    log: list[fk.events.Event] = []
    expected = {"junk": 0, "good": 0, "waiting": 0}
    for number, actions in enumerate(histories_of_actions, start=1):
        events, bucket = _lead_log(number, actions)
        log.extend(events)
        expected[bucket] += 1
    folded = fa.histories(log, as_of=T0 + timedelta(days=1))
    flow = fa.lead_flow(folded)
    assert expected == {"junk": flow.junk, "good": flow.good, "waiting": flow.waiting}
    assert flow.leads == flow.junk + flow.good + flow.waiting == len(histories_of_actions)
    rows = fa.sources(folded).sources
    assert (flow.junk, flow.good) == (sum(r.junk for r in rows), sum(r.good for r in rows))


# --- 4. the chained funnel, per customer journey -------------------------------------------------


class _Chain:
    """
    Seed 000's chain for four requests, one day per step.

    - Л-1 (A): meeting (1 meeting) → proposal (2 versions) → contract → main sale, paid: a sale.
    - Л-2 (B): converted straight into the main sale, paid: a sale bought at once.
    - Л-3 (C): meeting (2 meetings) → proposal (1 version), lost as expensive.
    - Л-4: casino spam, junked on arrival.

    A's sale comes 13 days after the request (a meeting, its stage, two days of proposals and
    its stage, the contract and its stage, then the sale: prepayment, four stages, the final
    payment); B's 6 days (the sale alone).
    """

    PRICE = fk.Money.of("1000000", "RUB")

    def __init__(self) -> None:
        self.crm = crm_for()
        clock = self.crm.clock
        assert isinstance(clock, fk.FixedClock)
        self.clock = clock
        self.moments: dict[str, datetime] = {}
        self.client_a()
        self.client_b()
        self.client_c()
        self.crm.take_in(request(4, "Казино и ставки"), actor=ANNA)

    def day(self) -> None:
        self.clock.advance(timedelta(days=1))

    def meet(self, deal: fk.Deal, times: int) -> None:
        for _ in range(times):
            task = self.crm.create_task(
                deal.ref,
                actor=ANNA,
                kind=fk.TaskKind.MEETING,
                title="Встреча",
                assignee="anna",
                due_at=self.clock.now() + timedelta(hours=2),
            )
            self.day()
            self.crm.complete_task(task.ref, "Обсудили проект", actor=ANNA, client_reached=True)

    def through(self, deal: fk.Deal, *stages: str) -> None:
        for stage in stages:
            self.day()
            self.crm.move(deal.ref, stage, actor=ANNA)

    def propose(self, deal: fk.Deal, versions: int) -> None:
        for number in range(versions):
            self.day()
            self.crm.add_document(deal.ref, fk.DocumentKind.PROPOSAL, actor=ANNA)
            if number == 0:
                self.through(deal, "КП отправлено")

    def sell(self, deal: fk.Deal) -> None:
        half = fk.Money.of("500000", "RUB")
        self.through(deal, "Предоплата")
        self.crm.record_payment(deal.ref, half, actor=ANNA)
        self.through(deal, "Производство", "Проверка качества", "Обратная связь", "Доплата")
        self.day()
        self.crm.record_payment(deal.ref, half, actor=ANNA, kind=fk.PaymentKind.FINAL)
        self.crm.win(deal.ref, actor=ANNA)

    def meeting(self, number: int, meetings: int) -> fk.Deal:
        """A request converted into a meeting deal, met `meetings` times and won."""
        deal = self.crm.convert(good_lead(self.crm, number).ref, actor=ANNA, amount=self.PRICE)
        self.meet(deal.deal, meetings)
        self.through(deal.deal, "Встреча назначена")
        self.crm.win(deal.deal.ref, actor=ANNA)
        return deal.deal

    def client_a(self) -> None:
        self.moments["A"] = self.clock.now()
        meeting = self.meeting(1, 1)
        proposal = self.crm.open_next(meeting.ref, actor=ANNA)
        self.propose(proposal, 2)
        self.crm.win(proposal.ref, actor=ANNA)
        contract = self.crm.open_next(proposal.ref, actor=ANNA)
        self.day()
        self.crm.add_document(contract.ref, fk.DocumentKind.CONTRACT, actor=ANNA)
        self.through(contract, "Договор отправлен")
        self.crm.win(contract.ref, actor=ANNA)
        self.sell(self.crm.open_next(contract.ref, actor=ANNA))
        self.moments["A sold"] = self.clock.now()

    def client_b(self) -> None:
        self.day()
        self.moments["B"] = self.clock.now()
        lead = good_lead(self.crm, 2)
        sale = self.crm.convert(lead.ref, actor=ANNA, pipeline=MAIN_SALE.key, amount=self.PRICE)
        self.sell(sale.deal)
        self.moments["B sold"] = self.clock.now()

    def client_c(self) -> None:
        self.day()
        proposal = self.crm.open_next(self.meeting(3, 2).ref, actor=ANNA)
        self.propose(proposal, 1)
        self.crm.lose(proposal.ref, "expensive", actor=ANNA)


def _chain_crm() -> tuple[Service, dict[str, datetime]]:
    chain = _Chain()
    return chain.crm, chain.moments


def test_the_chained_funnel_answers_seed_000s_questions_per_customer():
    """Two sales from three good requests; one bought at once; meetings and versions per client."""
    crm, moments = _chain_crm()
    folded = crm.histories()
    assert (3, 1) == (
        len([j for j in folded.journeys() if j.deals]),
        len([j for j in folded.journeys() if not j.deals]),
    )
    flow = fa.lead_flow(folded)
    assert (flow.leads, flow.junk, flow.good, flow.converted) == (4, 1, 3, 3)
    assert (flow.deals_from_leads, flow.won_from_leads) == (3, 2)
    steps = fa.deal_steps(folded)
    assert (steps.won, steps.won_without_meeting, steps.bought_at_once) == (2, 1, 1)
    assert ((1, 1), (2, 1)) == steps.meetings_before_proposal  # A: 1 meeting, C: 2
    assert ((2, 1),) == steps.versions_before_contract  # A: 2 versions before the contract
    a_days = (moments["A sold"] - moments["A"]).total_seconds() / 86_400
    b_days = (moments["B sold"] - moments["B"]).total_seconds() / 86_400
    assert tuple(sorted((a_days, b_days))) == steps.cycle_days
    assert (b_days, a_days) == (6.0, 13.0)


def test_counting_per_deal_is_still_there_where_it_is_meant():
    """Per deal: seven deals from leads, six won (A's four, B's one, C's meeting)."""
    crm, _ = _chain_crm()
    folded = crm.histories()
    flow = fa.lead_flow(folded, counting=fa.Counting.DEAL)
    assert (flow.deals_from_leads, flow.won_from_leads) == (7, 6)
    steps = fa.deal_steps(folded, counting=fa.Counting.DEAL)
    # Won without a meeting on the deal itself: A's proposal, contract and sale, and B's sale;
    # of them with at most one proposal version: all but A's proposal deal (two versions).
    assert (steps.won, steps.won_without_meeting, steps.bought_at_once) == (6, 4, 3)
    assert ((0, 2),) == steps.meetings_before_proposal
    assert ((0, 1),) == steps.versions_before_contract
    wins = {
        p.key: fa.win_rate(folded, pipeline=p).total.won
        for p in (MEETING, PROPOSAL, CONTRACT, MAIN_SALE)
    }
    assert {"встреча": 2, "кп": 1, "договор": 1, "продажа": 2} == wins


# --- 5. the rules the seeds state ----------------------------------------------------------------


def test_a_deal_is_won_only_with_money_in_the_till():
    """УСПЕШНО РЕАЛИЗОВАНО needs a payment (seed 002); the main sale needs it paid in full."""
    crm = crm_for(ROOFING_FUNNEL)
    deal = roofing_deal(crm, ("ОП ВЗЯЛ В РАБОТУ", "ГОРЯЧИЕ", "ОБЪЕМЫ У ТУРАЛА"))
    crm.update(deal.ref, actor=TURAL, amount=fk.Money.of("480000", "RUB"))
    crm.move(deal.ref, "КП ГОТОВО", actor=TURAL)
    before = crm.events()
    with pytest.raises(fk.MoveRefusedError) as refused:
        crm.win(deal.ref, actor=ANNA)
    (violation,) = refused.value.violations
    assert ("payment", "payments") == (violation.rule, violation.field)
    assert "needs money received" in violation.message
    assert before == crm.events()
    crm.record_payment(deal.ref, fk.Money.of("100000", "RUB"), actor=ANNA)
    assert fk.DealStatus.WON is crm.win(deal.ref, actor=ANNA).status

    sale = fk.Deal(
        id="С-7",
        created_at=T0,
        pipeline=MAIN_SALE.key,
        stage="Доплата",
        amount=fk.Money.of("1000000", "RUB"),
        payments=(fk.Payment(id="С-7-P1", amount=fk.Money.of("500000", "RUB"), received_at=T0),),
    )
    (half,) = MAIN_SALE.compile().check(sale, "Успешно реализовано", ANNA)
    assert "has 500000 RUB of 1000000 RUB: record the rest first" in half.message
    no_amount = attrs.evolve(sale, amount=None, payments=())
    assert ["payment"] == [
        v.rule for v in MAIN_SALE.compile().check(no_amount, "Успешно реализовано", ANNA)
    ]


def test_a_junk_reason_closes_into_its_own_stage():
    """Seed 000 sorts junk by stage: spam goes to "Спам", not "Случайный посетитель"."""
    crm = crm_for()
    lead = good_lead(crm, 1)
    with pytest.raises(fk.MoveRefusedError) as refused:
        crm.move(lead.ref, "Случайный посетитель", actor=ANNA, reason="spam")
    (violation,) = refused.value.violations
    assert "reason_stage" == violation.rule
    assert "closes into ['Спам'], not 'Случайный посетитель'" in violation.message
    assert "'random_visitor', 'other'" in violation.message
    assert fk.LeadStatus.JUNK is crm.move(lead.ref, "Спам", actor=ANNA, reason="spam").status
    spam = crm.take_in(request(2, "Казино и ставки"), actor=ANNA)
    assert "Спам" == spam.lead.stage
    contractors = SpamPattern(patterns=("продвижение",), key="contractor", junk_reason="contractor")
    intake = Intake(pipeline=LEADS, qualification=QualificationPolicy(rules=(contractors,)))
    offer = crm_for(intake=intake).take_in(request(3, "Продвижение сайтов"), actor=ANNA)
    assert ("Подрядчик", "contractor") == (offer.lead.stage, offer.lead.junk_reason)
    with pytest.raises(fk.ValidationError, match="closes into") as wrong_stage:
        Intake(pipeline=LEADS, qualification=intake.qualification, junk_stages={"spam": "Дубль"})
    assert ("Intake.junk_stages['spam']", "reason_stage") == (
        wrong_stage.value.field,
        wrong_stage.value.rule,
    )


def test_a_move_can_require_fields_of_its_own():
    """Paying on the proposal, skipping the estimate, needs the settlement on the card."""
    pay_now = ExtraMove(
        source="КП ГОТОВО", dest="УСПЕШНО РЕАЛИЗОВАНО", required_fields=("settlement",)
    )
    rules = attrs.evolve(ROOFING, extra_moves=(pay_now,)).compile()
    deal = fk.Deal(
        id="С-1",
        created_at=T0,
        pipeline=ROOFING.key,
        stage="КП ГОТОВО",
        amount=fk.Money.of("480000", "RUB"),
        payments=(fk.Payment(id="С-1-P1", amount=fk.Money.of("1000", "RUB"), received_at=T0),),
    )
    (violation,) = rules.check(deal, "УСПЕШНО РЕАЛИЗОВАНО", ANNA)
    assert ("required_field", "settlement") == (violation.rule, violation.field)
    assert violation.message == (
        "'settlement' must be filled for the move 'КП ГОТОВО' → 'УСПЕШНО РЕАЛИЗОВАНО'; "
        "fill it first"
    )
    assert () == rules.check(deal, "СМЕТА ГОТОВА", ANNA)  # the other way needs nothing more
    filled = attrs.evolve(deal, fields={"settlement": "п. Званка"})
    assert () == rules.check(filled, "УСПЕШНО РЕАЛИЗОВАНО", ANNA)


def test_the_stages_task_must_be_done_before_leaving_it():
    """ГОРЯЧИЕ plans the call for the roof plan; while it is open the deal stays (or is lost)."""
    crm = crm_for(ROOFING_FUNNEL)
    deal = roofing_deal(crm, ("ОП ВЗЯЛ В РАБОТУ",))
    crm.move(deal.ref, "ГОРЯЧИЕ", actor=ANNA)
    (call,) = crm.tasks(subject=deal.ref, status=fk.TaskStatus.OPEN)
    before = crm.events()
    with pytest.raises(fk.MoveRefusedError) as refused:
        crm.move(deal.ref, "ОБЪЕМЫ У ТУРАЛА", actor=ANNA)
    (violation,) = refused.value.violations
    assert "open_task" == violation.rule
    assert f"call task '{call.id}' ({call.title}) is still open" in violation.message
    assert before == crm.events()
    crm.complete_task(call.ref, "Получили план кровли", actor=ANNA, client_reached=True)
    assert "ОБЪЕМЫ У ТУРАЛА" == crm.move(deal.ref, "ОБЪЕМЫ У ТУРАЛА", actor=ANNA).stage
    # Without the service, the move must be told the open tasks.
    rules = ROOFING.compile()
    hot = attrs.evolve(crm.get_deal(deal.ref), stage="ГОРЯЧИЕ")
    (unknown,) = rules.check(hot, "ОБЪЕМЫ У ТУРАЛА", ANNA)
    assert "pass context={OPEN_TASKS: [...]}" in unknown.message
    assert () == rules.check(hot, "ОБЪЕМЫ У ТУРАЛА", ANNA, context={fk.pipelines.OPEN_TASKS: ()})
    assert () == rules.check(hot, "ЗАКРЫТО И НЕ РЕАЛИЗОВАНО", ANNA, reason="expensive")


def test_the_manager_moves_a_deal_into_the_engineers_stage_and_only_the_engineer_out():
    """Seed 002: "ОБЪЕМЫ У ТУРАЛА" is entered by the manager and left by the engineer."""
    crm = crm_for(ROOFING_FUNNEL)
    deal = roofing_deal(crm, ("ОП ВЗЯЛ В РАБОТУ", "ГОРЯЧИЕ"))
    for task in crm.tasks(subject=deal.ref, status=fk.TaskStatus.OPEN):
        crm.complete_task(task.ref, "План получен", actor=ANNA, client_reached=True)
    with pytest.raises(fk.MoveRefusedError) as refused:
        crm.move(deal.ref, "ОБЪЕМЫ У ТУРАЛА", actor=TURAL)
    (violation,) = refused.value.violations
    assert (
        "entry_role",
        "only manager may move into 'ОБЪЕМЫ У ТУРАЛА'; 'tural' has roles: engineer",
    ) == (violation.rule, violation.message)
    crm.move(deal.ref, "ОБЪЕМЫ У ТУРАЛА", actor=ANNA)
    crm.update(deal.ref, actor=TURAL, amount=fk.Money.of("480000", "RUB"))
    with pytest.raises(fk.MoveRefusedError, match="only engineer may move out"):
        crm.move(deal.ref, "КП ГОТОВО", actor=ANNA)
    assert "КП ГОТОВО" == crm.move(deal.ref, "КП ГОТОВО", actor=TURAL).stage


def test_reports_filter_and_group_by_custom_fields_as_of_the_snapshot():
    """Three roofing deals; one changed from ФАСАД to КРОВЛЯ on day 2 counts as ФАСАД before."""
    crm = crm_for(Funnel(key="кровля", deals=(ROOFING,)))
    deals = [
        crm.add_deal(
            fk.Deal(
                id=f"С-{n}",
                created_at=T0,
                pipeline=ROOFING.key,
                stage="НОВЫЙ ЛИД",
                fields={"product": product},
            ),
            actor=ANNA,
        )
        for n, product in enumerate(("КРОВЛЯ", "ФАСАД", "ФАСАД"), start=1)
    ]
    crm.lose(deals[0].ref, "expensive", actor=ANNA)
    crm.clock.advance(timedelta(days=2))  # type: ignore[attr-defined]
    crm.update(deals[1].ref, actor=ANNA, fields={"product": "КРОВЛЯ"})
    now, before = crm.clock.now(), T0 + timedelta(days=1)
    by_product = fa.win_rate(crm.histories(now), by="fields.product")
    assert {g.group: g.created for g in by_product.groups} == {"КРОВЛЯ": 2, "ФАСАД": 1}
    earlier = fa.win_rate(crm.histories(before), by="fields.product")
    assert {g.group: g.created for g in earlier.groups} == {"КРОВЛЯ": 1, "ФАСАД": 2}
    roofs = fa.Filters(fields={"product": "КРОВЛЯ"})
    assert (2, 1) == (
        fa.win_rate(crm.histories(now), filters=roofs).total.created,
        fa.win_rate(crm.histories(now), filters=roofs).total.lost,
    )
    with pytest.raises(fk.ValidationError, match=r"'fields\.<key>'"):
        fa.win_rate(crm.histories(now), by="product")


# --- 6. intake defaults of seed 000 --------------------------------------------------------------


def test_junk_registers_no_contact_unless_asked_and_auto_junk_is_not_a_fast_answer():
    """A spam bot gets no contact; the spam filter's 0 minutes are not a response time."""
    crm = crm_for()
    spam = crm.take_in(request(1, "Казино и ставки"), actor=ANNA)
    assert (None, False, []) == (spam.contact_id, spam.created_contact, crm.contacts())
    crm.take_in(request(2), actor=ANNA)
    crm.clock.advance(timedelta(minutes=12))  # type: ignore[attr-defined]
    crm.move(fk.EntityRef.lead("Л-2"), "Квалификация", actor=ANNA)
    times = fa.response_times(crm.histories())
    assert ((12.0,), 1) == (times.minutes, times.screened)
    assert {"band": "screened", "leads": 1} in times.rows()
    keeping = crm_for(
        intake=Intake(
            pipeline=LEADS,
            qualification=QualificationPolicy(rules=(SpamPattern(patterns=("казино",)),)),
            contacts_for_junk=True,
        )
    )
    assert keeping.take_in(request(1, "Казино и ставки"), actor=ANNA).created_contact


def test_a_merge_through_the_service_keeps_each_phone_once():
    """One client's phone written two ways is one phone after the merge; history has both."""
    crm = crm_for()
    for number, phone in ((1, "+7 912 345-67-89"), (2, "8 (912) 345-67-89")):
        crm.add_contact(
            fk.Contact(id=f"К-{number}", created_at=T0, names=("Алмаз",), phones=(phone,)),
            actor=ANNA,
        )
    plan = crm.plan_merge([fk.EntityRef.contact("К-1"), fk.EntityRef.contact("К-2")])
    crm.merge(plan, actor=ANNA)
    assert ("+7 912 345-67-89",) == crm.get_contact(fk.EntityRef.contact("К-1")).phones
    created = [e for e in crm.events() if isinstance(e, fk.events.ContactCreated)]
    assert ["+7 912 345-67-89", "8 (912) 345-67-89"] == [e.contact.phones[0] for e in created]


# --- 7. no record about nothing, in every store --------------------------------------------------


def test_records_about_missing_or_merged_entities_are_refused_in_every_store(make_store):
    """Tasks and deals about nothing are refused naming it; nothing is written."""
    intake = Intake(pipeline=LEADS, qualification=QualificationPolicy(rules=()))
    crm = crm_for(store=make_store(intake.matching.contact_keys), intake=intake)
    crm.add_contact(
        fk.Contact(id="К-1", created_at=T0, names=("Алмаз",), phones=("+79123456789",)), actor=ANNA
    )
    crm.add_contact(
        fk.Contact(id="К-2", created_at=T0, names=("Алмаз",), phones=("89123456789",)), actor=ANNA
    )
    crm.merge(
        crm.plan_merge([fk.EntityRef.contact("К-1"), fk.EntityRef.contact("К-2")]), actor=ANNA
    )
    before = crm.events()
    task: dict[str, Any] = {
        "actor": ANNA,
        "kind": fk.TaskKind.CALL,
        "title": "Позвонить",
        "assignee": "anna",
        "due_at": T0 + timedelta(hours=1),
    }
    refusals: list[tuple[Callable[[], object], type[Exception], str]] = [
        (lambda: crm.create_task(fk.EntityRef.deal("С-404"), **task), fk.NotFoundError, "С-404"),
        (lambda: crm.create_task(fk.EntityRef.lead("Л-404"), **task), fk.NotFoundError, "Л-404"),
        (lambda: crm.create_task(fk.EntityRef.contact("К-404"), **task), fk.NotFoundError, "К-404"),
        (
            lambda: crm.create_task(fk.EntityRef.contact("К-2"), **task),
            fk.ConflictError,
            "merged into 'К-1'",
        ),
    ]
    new = fk.Deal(id="С-1", created_at=T0, pipeline=MEETING.key, stage=MEETING.first_stage.key)
    refusals += [
        (
            lambda: crm.add_deal(attrs.evolve(new, contact_id="К-404"), actor=ANNA),
            fk.NotFoundError,
            "К-404",
        ),
        (
            lambda: crm.add_deal(attrs.evolve(new, contact_id="К-2"), actor=ANNA),
            fk.ConflictError,
            "К-2",
        ),
        (
            lambda: crm.add_deal(attrs.evolve(new, lead_id="Л-404"), actor=ANNA),
            fk.NotFoundError,
            "Л-404",
        ),
        (
            lambda: crm.add_deal(attrs.evolve(new, follows="С-404"), actor=ANNA),
            fk.NotFoundError,
            "С-404",
        ),
    ]
    for operation, error, words in refusals:
        with pytest.raises(error, match=words):
            operation()
    won = attrs.evolve(new, status=fk.DealStatus.WON, closed_at=T0)
    with pytest.raises(
        fk.ValidationError, match="is won, but its stage 'Назначить встречу' is an open stage"
    ) as refused:
        crm.add_deal(won, actor=ANNA)
    assert ("deal.status", "status") == (refused.value.field, refused.value.rule)
    ghost = fk.Contact(id="К-3", created_at=T0, names=("Алмаз",), merged_into="К-404")
    with pytest.raises(fk.ValidationError, match="merged into nothing yet") as merged:
        crm.add_contact(ghost, actor=ANNA)
    assert "contact.merged_into" == merged.value.field
    assert before == crm.events()
    assert [] == crm.deals()
    assert [] == crm.tasks()


# --- 8. a service a host reads from, with one calling convention ---------------------------------


def test_the_host_reads_everything_back_without_a_unit_of_work():
    """get/find, listings by owner, stage and contact, and the contact card."""
    crm = crm_for(ROOFING_FUNNEL)
    deal = roofing_deal(crm, ("ОП ВЗЯЛ В РАБОТУ",))
    assert deal == crm.get(deal.ref) == crm.get_deal(deal.ref) == crm.find_deal(deal.ref)
    assert crm.find(fk.EntityRef.deal("С-404")) is None
    assert crm.find_task(fk.EntityRef.task("З-404")) is None
    with pytest.raises(fk.NotFoundError):
        crm.get(fk.EntityRef.task("З-404"))
    with pytest.raises(fk.ValidationError, match="expected a reference to a lead"):
        crm.get_lead(deal.ref)
    assert [deal] == crm.deals(owner="anna", stage="ОП ВЗЯЛ В РАБОТУ")
    assert [] == crm.deals(stage="ГОРЯЧИЕ")
    contact = fk.EntityRef.contact(deal.contact_id or "")
    assert [deal] == crm.deals(contact=contact)
    assert [fk.LeadStatus.CONVERTED] == [lead.status for lead in crm.leads(contact=contact)]
    card = crm.contact_card(contact)
    assert ((deal,), ()) == (card.deals, card.open_tasks)
    assert [contact.id] == [c.id for c in crm.contacts()]


def test_one_calling_convention_with_clear_errors_for_the_old_forms():
    """Refs first, the actor by keyword: an id or an entity where a ref belongs is a clear error."""
    crm = crm_for(ROOFING_FUNNEL)
    deal = roofing_deal(crm)
    with pytest.raises(fk.ValidationError, match=rf"pass EntityRef.deal\('{deal.id}'\)") as refused:
        crm.win(deal.id, actor=ANNA)  # type: ignore[arg-type]
    assert ("ref", "entity_kind") == (refused.value.field, refused.value.rule)
    with pytest.raises(
        fk.ValidationError, match=rf"pass its ref \(EntityRef.deal\('{deal.id}'\)\)"
    ):
        crm.move(deal, "ОП ВЗЯЛ В РАБОТУ", actor=ANNA)  # type: ignore[arg-type]
    with pytest.raises(fk.ValidationError, match="expected a reference to a lead"):
        crm.convert(deal.ref, actor=ANNA)
    with pytest.raises(fk.ValidationError, match="actor: expected an Actor"):
        crm.move(deal.ref, "ОП ВЗЯЛ В РАБОТУ", actor="anna")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        crm.win(deal.ref, ANNA)  # type: ignore[call-arg]


def test_a_funnel_of_deal_pipelines_only_works():
    """A business with one deal pipeline declares no lead pipeline; converting is refused."""
    crm = crm_for(Funnel(key="кровля", deals=(ROOFING,)))
    deal = crm.add_deal(
        fk.Deal(
            id="С-1",
            created_at=T0,
            pipeline=ROOFING.key,
            stage="НОВЫЙ ЛИД",
            owner="anna",
            fields=CARD,
        ),
        actor=ANNA,
    )
    assert "ОП ВЗЯЛ В РАБОТУ" == crm.move(deal.ref, "ОП ВЗЯЛ В РАБОТУ", actor=ANNA).stage
    lead = crm.take_in(request(1), actor=ANNA).lead
    with pytest.raises(fk.ValidationError, match="deal pipelines only") as refused:
        crm.convert(lead.ref, actor=ANNA)
    assert "Funnel.leads" == refused.value.field
    assert "flowchart TB" in fk.pipelines.to_mermaid(crm.funnel)
    assert Decimal(0) == sum((p.amount.amount for p in deal.payments), Decimal(0))
