"""The manager's day in seed 002's order, its duration, and the checks as data."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import funnelkit as fk
from funnelkit.seeds.pipelines import ROOFING
from funnelkit.tasks import (
    agenda,
    agendas,
    agendas_in,
    closed_with_open_tasks,
    contact_card,
    idle,
    next_steps,
    overdue_tasks,
    sla_breaches,
    stage_entries,
    without_next_step,
)
from funnelkit.testing import strategies as fst
from funnelkit.testing.contracts import make_contact, make_deal, make_lead, make_task


MSK = timezone(timedelta(hours=3))
DAY = date(2026, 3, 2)
MORNING = datetime(2026, 3, 2, 9, 0, tzinfo=MSK)


def deal(deal_id, stage, amount):
    return make_deal(deal_id, stage=stage, owner="anna", amount=fk.Money.of(amount, "RUB"))


def call(task_id, deal_id, hours):
    return make_task(
        task_id, subject=fk.EntityRef.deal(deal_id), due_at=MORNING + timedelta(hours=hours)
    )


def test_the_day_follows_the_seed_order():
    """New leads first; then overdue; then КП/СМЕТА (big deals first), ГОРЯЧИЕ, ОП ВЗЯЛ В РАБОТУ."""
    deals = [
        deal("С-1", "ОП ВЗЯЛ В РАБОТУ", "900000"),
        deal("С-2", "КП ГОТОВО", "300000"),
        deal("С-3", "СМЕТА ГОТОВА", "800000"),
        deal("С-4", "ГОРЯЧИЕ", "100000"),
        deal("С-5", "ОП ВЗЯЛ В РАБОТУ", "50000"),
    ]
    tasks = [
        call("З-1", "С-1", 1),
        call("З-2", "С-2", 2),
        call("З-3", "С-3", 3),
        call("З-4", "С-4", 4),
    ]
    tasks.append(call("З-5", "С-5", -20))  # yesterday: overdue
    tasks.append(call("З-6", "С-1", 30))  # tomorrow: not today
    tasks.append(make_task("З-7", assignee="boris", due_at=MORNING))  # someone else's
    new_lead = make_lead("Л-1", pipeline=ROOFING.key, stage="НОВЫЙ ЛИД")
    day = agenda(
        "anna",
        DAY,
        zone=MSK,
        as_of=MORNING,
        tasks=tasks,
        leads=[new_lead],
        deals=deals,
        pipelines=[ROOFING],
    )
    order = [item.task.id if item.task else getattr(item.entity, "id", None) for item in day.items]
    assert ["Л-1", "З-5", "З-3", "З-2", "З-4", "З-1"] == order
    assert [False, True, False, False, False, False] == [item.overdue for item in day.items]


def test_forty_five_calls_take_two_hours_and_a_quarter():
    """Seed 002: 45 tasks × 3 minutes = 2 h 15 min."""
    tasks = [call(f"З-{n}", "С-1", 1) for n in range(45)]
    day = agenda("anna", DAY, zone=MSK, as_of=MORNING, tasks=tasks)
    assert (45, timedelta(hours=2, minutes=15)) == (len(day.items), day.duration)


@given(
    st.lists(
        fst.tasks(assignees=st.sampled_from(["anna", "boris"])),
        max_size=12,
        unique_by=lambda t: t.id,
    )
)
def test_the_agenda_holds_every_due_task_of_the_owner_once(tasks):
    """Every open task of the owner due by the day's end appears exactly once, nothing else."""
    end = datetime(2026, 3, 3, tzinfo=MSK)
    day = agenda("anna", DAY, zone=MSK, as_of=MORNING, tasks=tasks)
    expected = sorted(
        t.id
        for t in tasks
        if t.assignee == "anna" and t.status is fk.TaskStatus.OPEN and t.due_at < end
    )
    assert expected == sorted(item.task.id for item in day.items if item.task)


def test_checks_report_overdue_tasks_and_missing_next_steps():
    """Overdue tasks and open deals without any open task become alerts with who should act."""
    late = call("З-1", "С-1", -2)
    (alert,) = overdue_tasks([late, call("З-2", "С-1", 2)], MORNING)
    assert ("overdue_task", "anna", late.due_at) == (alert.rule, alert.responsible, alert.since)
    planned, forgotten = deal("С-1", "ГОРЯЧИЕ", "1"), deal("С-2", "ГОРЯЧИЕ", "1")
    (missing,) = without_next_step([planned, forgotten], [late])
    assert (forgotten.ref, "no_next_step") == (missing.entity, missing.rule)


def test_no_deal_stays_in_new_lead_beyond_its_sla():
    """A deal left five minutes in НОВЫЙ ЛИД (SLA one minute) is an alert."""
    new = make_deal("С-1", stage="НОВЫЙ ЛИД", created_at=MORNING, owner="anna")
    moved = make_deal("С-2", stage="ГОРЯЧИЕ", created_at=MORNING - timedelta(days=30), owner="anna")
    entered = stage_entries(
        [
            fk.events.StageChanged(
                entity=moved.ref,
                sequence=2,
                at=MORNING - timedelta(days=1),
                actor="anna",
                pipeline=ROOFING.key,
                from_stage="ОП ВЗЯЛ В РАБОТУ",
                to_stage="ГОРЯЧИЕ",
            )
        ]
    )
    alerts = sla_breaches([new, moved], [ROOFING], MORNING + timedelta(minutes=5), entered=entered)
    assert [(new.ref, "sla", MORNING + timedelta(minutes=1))] == [
        (a.entity, a.rule, a.since) for a in alerts
    ]


def test_idle_deals_and_closed_deals_with_open_tasks():
    """A deal without activity for a week rots; a lost deal with an open task is flagged."""
    quiet = make_deal("С-1", created_at=MORNING - timedelta(days=30), owner="anna")
    busy = make_deal("С-2", created_at=MORNING - timedelta(days=30), owner="anna")
    alerts = idle([quiet, busy], MORNING, last_activity={busy.ref: MORNING - timedelta(days=1)})
    assert [quiet.ref] == [a.entity for a in alerts]
    shorter = idle(
        [busy],
        MORNING,
        last_activity={busy.ref: MORNING - timedelta(days=1)},
        per_stage={busy.stage: timedelta(hours=12)},
    )
    assert [busy.ref] == [a.entity for a in shorter]
    lost = make_deal("С-3", status=fk.DealStatus.LOST, lost_reason="дорого", closed_at=MORNING)
    (alert,) = closed_with_open_tasks([lost], [call("З-1", "С-3", 1)])
    assert ("closed_with_open_tasks", MORNING) == (alert.rule, alert.since)


def test_agenda_refuses_a_naive_now():
    """The time must be aware."""
    with pytest.raises(fk.ValidationError) as caught:
        agenda("anna", DAY, zone=MSK, as_of=MORNING.replace(tzinfo=None), tasks=[])
    assert "aware_datetime" == caught.value.rule


def test_every_open_deal_with_its_next_step_unplanned_first():
    """A manager sees each open deal, its contact and next action; unplanned deals first."""
    planned, unplanned = deal("С-1", "ГОРЯЧИЕ", "1"), deal("С-2", "КП ГОТОВО", "1")
    won = make_deal(
        "С-3",
        owner="anna",
        status=fk.DealStatus.WON,
        closed_at=MORNING,
        stage="УСПЕШНО РЕАЛИЗОВАНО",
    )
    almaz = make_contact("К-1")
    planned = attrs.evolve(planned, contact_id="К-1")
    later, sooner = call("З-1", "С-1", 5), call("З-2", "С-1", 1)
    steps = next_steps("anna", [planned, unplanned, won], [later, sooner], [almaz])
    assert [("С-2", None, None), ("С-1", "К-1", "З-2")] == [
        (s.deal.id, s.contact.id if s.contact else None, s.next_task.id if s.next_task else None)
        for s in steps
    ]


def test_the_contact_card_shows_all_deals_and_open_tasks():
    """Seed 002's card: the client's deals, newest first, and every open task on them."""
    almaz = make_contact("К-1")
    old = make_deal("С-1", contact_id="К-1", created_at=MORNING - timedelta(days=300))
    new = make_deal("С-2", contact_id="К-1", created_at=MORNING)
    other = make_deal("С-3", contact_id="К-9")
    tasks = [
        call("З-1", "С-2", 2),
        make_task("З-2", subject=almaz.ref, due_at=MORNING),
        call("З-3", "С-3", 1),
    ]
    card = contact_card(almaz, [old, new, other], tasks)
    assert (["С-2", "С-1"], ["З-2", "З-1"]) == (
        [d.id for d in card.deals],
        [t.id for t in card.open_tasks],
    )


@given(
    st.lists(
        fst.tasks(assignees=st.sampled_from(["anna", "boris", "ирина"])),
        max_size=15,
        unique_by=lambda t: t.id,
    )
)
def test_agendas_for_everyone_equal_one_agenda_per_owner(tasks):
    """The one-pass agendas are exactly the agendas built owner by owner."""
    everyone = agendas(DAY, zone=MSK, as_of=MORNING, tasks=tasks)
    for owner, day in everyone.items():
        assert agenda(owner, DAY, zone=MSK, as_of=MORNING, tasks=tasks) == day
    end = datetime(2026, 3, 3, tzinfo=MSK)
    owners = {t.assignee for t in tasks if t.status is fk.TaskStatus.OPEN and t.due_at < end}
    assert owners == set(everyone)


def test_agendas_in_a_store_equal_agendas_over_its_values():
    """Read through the storage ports, the day is the one built from the same values."""
    deals = [
        deal("С-1", "КП ГОТОВО", "300000"),
        deal("С-2", "ГОРЯЧИЕ", "100000"),
        attrs.evolve(
            deal("С-3", "УСПЕШНО РЕАЛИЗОВАНО", "700000"),
            status=fk.DealStatus.WON,
            closed_at=MORNING,
        ),
    ]
    new_lead = make_lead("Л-1", pipeline=ROOFING.key, stage="НОВЫЙ ЛИД", owner="boris")
    tasks = [
        call("З-1", "С-1", 1),
        call("З-2", "С-2", -3),
        call("З-3", "С-3", 2),  # a closed deal with an open task still shows its stage
        call("З-4", "С-1", 48),  # the day after tomorrow: not today
        attrs.evolve(call("З-5", "С-2", 1), assignee="boris"),
    ]
    store = fk.InMemoryStore()
    with store.unit_of_work() as uow:  # the store gives each value its version: keep those
        deals = [uow.deals.add(item) for item in deals]
        new_lead = uow.leads.add(new_lead)
        tasks = [uow.tasks.add(task) for task in tasks]
        uow.commit()
    with store.unit_of_work() as uow:
        read = agendas_in(uow, DAY, zone=MSK, as_of=MORNING, pipelines=[ROOFING])
    expected = agendas(
        DAY,
        zone=MSK,
        as_of=MORNING,
        tasks=tasks,
        leads=[new_lead],
        deals=deals,
        pipelines=[ROOFING],
    )
    assert expected == read
    assert ["З-2", "З-1", "З-3"] == [item.task.id for item in read["anna"].items if item.task]
    assert "УСПЕШНО РЕАЛИЗОВАНО" == read["anna"].items[2].stage
    assert [None, "З-5"] == [i.task.id if i.task else None for i in read["boris"].items]
    with store.unit_of_work() as uow, pytest.raises(fk.ValidationError, match="aware"):
        agendas_in(uow, DAY, zone=MSK, as_of=datetime(2026, 3, 2, 9), pipelines=[ROOFING])  # noqa: DTZ001


@given(
    st.lists(fst.deals(), max_size=8, unique_by=lambda d: d.id),
    st.lists(fst.tasks(), max_size=8, unique_by=lambda t: t.id),
    fst.aware_datetimes(),
)
def test_checks_are_pure_functions_of_their_input_and_the_time(deals, tasks, as_of):
    """Same input and time, same findings: a second call and a one-shot iterator agree."""
    entered = {d.ref: d.created_at for d in deals}
    runs = [
        (
            overdue_tasks(source_tasks, as_of),
            without_next_step(source_deals, source_tasks),
            sla_breaches(source_deals, [ROOFING], as_of, entered=entered),
            idle(source_deals, as_of, last_activity=entered),
            closed_with_open_tasks(source_deals, source_tasks),
        )
        for source_deals, source_tasks in [(deals, tasks), (deals, tasks)]
    ]
    once = (
        overdue_tasks(iter(tasks), as_of),
        without_next_step(iter(deals), iter(tasks)),
        sla_breaches(iter(deals), iter([ROOFING]), as_of, entered=entered),
        idle(iter(deals), as_of, last_activity=entered),
        closed_with_open_tasks(iter(deals), iter(tasks)),
    )
    assert runs[0] == runs[1] == once
