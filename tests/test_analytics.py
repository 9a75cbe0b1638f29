"""
Analytics on a small hand-made history whose numbers are worked out by hand.

Seed 000's chain as one pipeline (day numbers from T0; as of day 20):

- С-1 (site): Новая d0 → Встреча d1 → КП d3 → Договор d6 → won d10
- С-2 (site): Новая d0 → КП d2 (skips Встреча) → Встреча d4 (back) → КП d5 → lost "Дорого" d7
- С-3 (chat): Новая d1 → Встреча d2, still open
- С-4 (chat): Новая d2 → Договор d3 (skips Встреча and КП) → won d5
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import funnelkit as fk
from funnelkit import analytics as fa
from funnelkit.pipelines import Pipeline, PipelineKind, Reason, Stage, StageKind
from funnelkit.plans import Measure, Plan, Target
from funnelkit.seeds.seed_000_log import (
    AS_OF,
    CHAIN,
    CHAT,
    DEAL_LOG,
    FULL_LOG,
    MSK,
    SITE,
    day,
    deal_log,
)


DAY = 86_400.0


@pytest.mark.parametrize(
    ("reach", "expected"),
    [
        (fa.Reach.ENTERED, (4, 3, 2, 2, 2)),
        (fa.Reach.IMPLIED, (4, 4, 3, 2, 2)),
        (fa.Reach.ALL_PREVIOUS, (4, 3, 2, 1, 1)),
        (fa.Reach.IN_ORDER, (4, 3, 1, 1, 1)),
    ],
)
def test_conversion_under_each_definition_of_reached(reach, expected):
    """Skips, a backward move and an open deal, counted four ways (worked out in the header)."""
    result = fa.conversion(DEAL_LOG, CHAIN, as_of=AS_OF, reach=reach)
    assert ("Новая", "Встреча", "КП", "Договор", "Продажа") == result.stages
    assert expected == result.reached
    assert 4 == result.entities
    assert 1.0 == result.cumulative_rates[0]
    assert result.step_rates[0] is None
    assert expected[1] / expected[0] == result.step_rates[1]


def test_conversion_rows_carry_step_and_cumulative_rates():
    """Rows are plain dicts, one per stage."""
    rows = fa.conversion(DEAL_LOG, CHAIN, as_of=AS_OF).rows()
    assert {
        "position": 5,
        "stage": "Продажа",
        "reached": 2,
        "step_rate": 1.0,
        "cumulative_rate": 0.5,
    } == rows[-1]


def test_transitions_count_every_move_backward_ones_marked():
    """The from × to matrix holds re-entries and the move back from КП to Встреча."""
    result = fa.stage_flows(DEAL_LOG, CHAIN, as_of=AS_OF)
    assert [
        ("Новая", "Встреча", 2),
        ("Новая", "КП", 1),
        ("Новая", "Договор", 1),
        ("Встреча", "КП", 2),
        ("КП", "Встреча", 1),
        ("КП", "Договор", 1),
        ("КП", "Отказ", 1),
        ("Договор", "Продажа", 2),
    ] == list(result.counts)
    assert result.is_backward("КП", "Встреча")
    assert ["backward"] == [r["direction"] for r in result.rows() if r["to_stage"] == "Встреча"][1:]
    assert "КП,back to Встреча,1" in fa.sankey(result).splitlines()


def test_time_in_stage_per_visit_with_open_visits_counted_apart():
    """Durations per completed visit in days; С-3's visit of Встреча is open, not dropped."""
    result = fa.time_in_stage(DEAL_LOG, CHAIN, as_of=AS_OF)
    days = {t.stage: [d / DAY for d in t.durations] for t in result.stages}
    assert {"Новая": [1, 1, 1, 2], "Встреча": [1, 2], "КП": [2, 2, 3], "Договор": [2, 4]} == days
    assert {"Новая": 0, "Встреча": 1, "КП": 0, "Договор": 0} == {
        t.stage: t.open for t in result.stages
    }
    new = result.stage("Новая")
    assert DAY == new.median
    assert pytest.approx(1.7 * DAY) == new.p90


@pytest.mark.parametrize(
    ("per", "expected"),
    [(fa.Per.VISIT, [2, 2, 3]), (fa.Per.LATEST, [2, 3]), (fa.Per.CUMULATIVE, [3, 4])],
)
def test_time_in_stage_for_a_reentered_stage(per, expected):
    """С-2 was in КП twice (2 and 2 days): per visit, its latest, or their sum."""
    result = fa.time_in_stage(DEAL_LOG, CHAIN, as_of=AS_OF, per=per)
    assert expected == [d / DAY for d in result.stage("КП").durations]


def test_win_rate_by_source_counts_open_deals_apart():
    """Site: one won, one lost; chat: one won, one open; won of closed vs won of created."""
    result = fa.win_rate(DEAL_LOG, as_of=AS_OF, by="channel")
    assert [
        {
            "channel": "chat",
            "created": 2,
            "won": 1,
            "lost": 0,
            "open": 1,
            "win_rate": 1.0,
            "won_of_created": 0.5,
        },
        {
            "channel": "site_form",
            "created": 2,
            "won": 1,
            "lost": 1,
            "open": 0,
            "win_rate": 0.5,
            "won_of_created": 0.5,
        },
    ] == result.rows()
    assert pytest.approx(2 / 3) == result.total.win_rate


def test_lost_reasons_by_the_stage_they_were_lost_at():
    """С-2 was lost from КП as too expensive."""
    assert [{"outcome": "lost", "stage": "КП", "reason": "Дорого", "count": 1}] == (
        fa.lost_reasons(DEAL_LOG, as_of=AS_OF).rows()
    )


def test_closing_times_with_the_open_deal_censored():
    """Won in 10 and 3 days, lost in 7, С-3 open for 19: KM and Aalen–Johansen by hand."""
    result = fa.closing_times(DEAL_LOG, as_of=AS_OF)
    assert ((3.0, 7.0, 10.0, 19.0), ("won", "lost", "won", None)) == (
        result.times,
        result.outcomes,
    )
    assert (3.0, 10.0) == result.cycle()
    assert 6.5 == result.cycle_quantile(0.5)
    survival = result.time_to_close()
    assert ((3.0, 7.0, 10.0), (0.75, 0.5, 0.25)) == (survival.times, survival.values)
    assert (7.0, 1) == (survival.median, survival.censored)
    won = result.win_probability()
    assert ((3.0, 10.0), (0.25, 0.5)) == (won.times, won.values)


def test_sources_table():
    """Per channel: deals, won, lost, revenue and cycle."""
    site, chat = fa.sources(DEAL_LOG, as_of=AS_OF).sources[::-1]
    assert (2, 1, 1, (fk.Money.of("500000", "RUB"),), (10.0,)) == (
        site.deals,
        site.won,
        site.lost,
        site.revenue,
        site.cycle_days,
    )
    assert (fk.Money(amount=Decimal(900000), currency="RUB"),) == chat.revenue


def test_results_do_not_depend_on_the_order_of_the_input():
    """Shuffled events give the same histories and reports: sequences decide."""
    shuffled = DEAL_LOG[:]
    random.Random(7).shuffle(shuffled)  # noqa: S311 - a fixed shuffle, not a secret
    assert fa.histories(DEAL_LOG, as_of=AS_OF) == fa.histories(shuffled, as_of=AS_OF)
    assert fa.conversion(DEAL_LOG, CHAIN, as_of=AS_OF) == fa.conversion(
        shuffled, CHAIN, as_of=AS_OF
    )


def test_events_after_the_snapshot_have_not_happened():
    """As of day 4, С-1 is in КП and С-4 not yet won."""
    early = fa.histories(DEAL_LOG, as_of=day(4))
    assert ("КП", None) == (early.deals["С-1"].stage, early.deals["С-4"].outcome)
    total = fa.win_rate(early).total
    assert (4, 0, 0) == (total.open, total.won, total.lost)


def test_reports_need_an_explicit_snapshot_time():
    """Over events, as_of is required; over histories, it must match."""
    with pytest.raises(fk.ValidationError, match="as_of") as caught:
        fa.conversion(DEAL_LOG, CHAIN)
    assert "required" == caught.value.rule
    folded = fa.histories(DEAL_LOG, as_of=AS_OF)
    with pytest.raises(fk.ValidationError, match="folded as of"):
        fa.win_rate(folded, as_of=day(3))


# --- properties over generated logs ---------------------------------------------------------------

OPEN_STAGES = ["Новая", "Встреча", "КП", "Договор"]


@st.composite
def logs(draw, *, max_deals=6):
    """Event logs of CHAIN: random moves (skips, backward, re-entries, ties), some deals open."""
    events = []
    for number in range(draw(st.integers(min_value=0, max_value=max_deals))):
        created = draw(st.integers(min_value=0, max_value=10))
        steps: list[tuple[Any, ...]] = []
        when: float = created
        for _ in range(draw(st.integers(min_value=0, max_value=6))):
            when += draw(st.sampled_from([0, 0.5, 1, 3]))  # 0: moves at the same instant
            target = draw(st.sampled_from([*OPEN_STAGES, "Продажа", "Отказ"]))
            current = steps[-1][1] if steps else "Новая"
            if target == current:
                continue
            steps.append((when, target, "Дорого") if target == "Отказ" else (when, target))
            if target in {"Продажа", "Отказ"}:
                break
        source = draw(st.sampled_from([SITE, CHAT]))
        events.extend(deal_log(f"С-{number}", source, created, steps))
    return events


def split(events, data, *, by_entity):
    """Two parts of a log: whole entities to each side, or any events to each side."""
    if by_entity:
        left = data.draw(st.sets(st.sampled_from([e.entity for e in events]))) if events else set()
        return [e for e in events if e.entity in left], [e for e in events if e.entity not in left]
    sides = data.draw(st.lists(st.booleans(), min_size=len(events), max_size=len(events)))
    return [e for e, s in zip(events, sides, strict=False) if s], [
        e for e, s in zip(events, sides, strict=False) if not s
    ]


AS_OFS = st.sampled_from([day(3), day(8), AS_OF])
PLAN = Plan(
    targets=(
        Target(
            measure=Measure.ENTERED,
            period=fk.Period.month(2026, 3),
            value=3,
            owner="anna",
            pipeline=CHAIN.key,
            stage="КП",
        ),
        Target(
            measure=Measure.REVENUE,
            period=fk.Period.month(2026, 3),
            value=fk.Money.of("1000000", "RUB"),
        ),
    )
)


def reports(data, as_of):
    """Every mergeable report of a log or a fold."""
    return [
        *(fa.conversion(data, CHAIN, as_of=as_of, reach=reach) for reach in fa.Reach),
        fa.stage_flows(data, CHAIN, as_of=as_of),
        *(fa.time_in_stage(data, CHAIN, as_of=as_of, per=per) for per in fa.Per),
        fa.win_rate(data, as_of=as_of, by="channel"),
        fa.lost_reasons(data, as_of=as_of),
        fa.closing_times(data, as_of=as_of),
        fa.sources(data, as_of=as_of),
        fa.lead_flow(data, as_of=as_of),
        fa.response_times(data, as_of=as_of),
        fa.deal_steps(data, as_of=as_of),
        fa.bottlenecks(data, CHAIN, as_of=as_of),
        fa.forecast(data, CHAIN, currency="RUB", as_of=as_of, basis="history"),
        fa.velocity(data, fk.Period.month(2026, 3), currency="RUB", as_of=as_of),
        fa.cohorts(data, window=timedelta(days=7), as_of=as_of),
        fa.receivables(data, currency="RUB", as_of=as_of),
        fa.plan_vs_fact(data, PLAN, as_of=as_of),
        fa.task_load(data, as_of=as_of),
        fa.sla_report(data, [CHAIN], as_of=as_of),
    ]


@given(logs(), AS_OFS, st.data())
def test_merging_the_reports_of_parts_equals_the_report_of_the_whole(events, as_of, data):
    """Split by entity (as a distributed engine partitions by key), every report merges."""
    left, right = split(events, data, by_entity=True)
    for whole, a, b in zip(
        reports(events, as_of), reports(left, as_of), reports(right, as_of), strict=False
    ):
        assert whole == a.merge(b)


@given(logs(), AS_OFS, st.data())
def test_merging_folds_of_any_parts_equals_the_fold_of_the_whole(events, as_of, data):
    """Histories merge across any split of the log, even one entity's events split in two."""
    left, right = split(events, data, by_entity=False)
    merged = fa.histories(left, as_of=as_of).merge(fa.histories(right, as_of=as_of))
    assert fa.histories(events, as_of=as_of) == merged
    assert reports(events, as_of) == reports(merged, as_of)


@given(logs(), AS_OFS, st.randoms(use_true_random=False))
def test_reports_do_not_depend_on_the_order_of_events(events, as_of, rng):
    """Only the recorded sequence orders an entity's events."""
    shuffled = events[:]
    rng.shuffle(shuffled)
    assert reports(events, as_of) == reports(shuffled, as_of)


@given(logs(), AS_OFS)
def test_rates_are_shares_and_counts_add_up(events, as_of):
    """Rates in [0, 1]; strict definitions count no more than loose ones; counts add up."""
    folded = fa.histories(events, as_of=as_of)
    by_reach = {reach: fa.conversion(folded, CHAIN, reach=reach) for reach in fa.Reach}
    for reach, result in by_reach.items():
        # Under ENTERED a stage may be entered by more deals than the one before (skips).
        steps = result.step_rates[1:] if reach is not fa.Reach.ENTERED else ()
        rates = [*steps, *result.cumulative_rates]
        assert all(0 <= rate <= 1 for rate in rates if rate is not None)
        assert result.entities == len(folded.deals)
    for index in range(len(CHAIN.stages) - 1):
        counts = [by_reach[r].reached[index] for r in fa.Reach]
        entered, implied, all_previous, in_order = counts
        assert in_order <= all_previous <= entered <= implied
    for reach in (fa.Reach.IMPLIED, fa.Reach.ALL_PREVIOUS, fa.Reach.IN_ORDER):
        reached = by_reach[reach].reached
        assert list(reached) == sorted(reached, reverse=True)
    wins = fa.win_rate(folded, by="channel")
    assert len(folded.deals) == wins.total.created == sum(g.created for g in wins.groups)
    assert all(0 <= g.win_rate <= 1 for g in wins.groups if g.win_rate is not None)
    moves = sum(len(h.visits) - 1 for h in folded.deals.values())
    assert moves == sum(n for _, _, n in fa.stage_flows(folded, CHAIN).counts)
    closing = fa.closing_times(folded)
    curve = closing.win_probability()
    assert all(0 <= value <= 1 for value in curve.values)
    assert list(curve.values) == sorted(curve.values)
    survival = closing.time_to_close()
    assert list(survival.values) == sorted(survival.values, reverse=True)


# --- management reports on the same deals, with leads, tasks, documents and payments -------------


def test_lead_flow_from_leads_to_won_deals():
    """Four leads: one junk, one good and converted (its deal won), one repeat request."""
    flow = fa.lead_flow(FULL_LOG, as_of=AS_OF)
    assert (4, 1, 1, 1, 1, 1, 1) == (
        flow.leads,
        flow.junk,
        flow.good,
        flow.repeat,
        flow.converted,
        flow.deals_from_leads,
        flow.won_from_leads,
    )
    assert 0.25 == flow.repeat_share


def test_response_times_with_untouched_leads_waiting():
    """4, 10 and 20 minutes to the first touch; Л-3 is still waiting, not dropped."""
    times = fa.response_times(FULL_LOG, as_of=AS_OF)
    assert (4.0, 10.0, 20.0) == times.minutes
    assert 1 == len(times.waiting)
    assert [("≤5", 1), ("5–15", 1), ("15–60", 1), (">60", 0)] == times.band_counts()
    assert 10.0 == times.quantile(0.5)
    with pytest.raises(fk.ValidationError, match="increasing"):
        fa.response_times(FULL_LOG, as_of=AS_OF, bands=(15, 5))


def test_meetings_proposals_and_contracts():
    """С-4 bought at once; С-1 had a meeting, two proposal versions two days apart, a contract."""
    steps = fa.deal_steps(FULL_LOG, as_of=AS_OF)
    assert (2, 1, 1) == (steps.won, steps.won_without_meeting, steps.bought_at_once)
    assert ((0, 1), (1, 1)) == steps.meetings_before_proposal
    assert ((2, 1),) == steps.versions_before_contract
    assert (2.0,) == steps.rework_days


def test_bottlenecks_rank_the_stages():
    """КП loses a deal; Встреча holds the open one for a median 1.5 days."""
    result = fa.bottlenecks(FULL_LOG, CHAIN, as_of=AS_OF)
    assert [
        {
            "stage": "Новая",
            "entered": 4,
            "dropped": 0,
            "drop_rate": 0.0,
            "in_stage": 0,
            "median_days": 1.0,
            "queue_days": 0.0,
        },
        {
            "stage": "Встреча",
            "entered": 3,
            "dropped": 0,
            "drop_rate": 0.0,
            "in_stage": 1,
            "median_days": 1.5,
            "queue_days": 1.5,
        },
        {
            "stage": "КП",
            "entered": 2,
            "dropped": 1,
            "drop_rate": 0.5,
            "in_stage": 0,
            "median_days": 2.0,
            "queue_days": 0.0,
        },
        {
            "stage": "Договор",
            "entered": 2,
            "dropped": 0,
            "drop_rate": 0.0,
            "in_stage": 0,
            "median_days": 3.0,
            "queue_days": 0.0,
        },
    ] == result.rows()
    assert ("КП", "Встреча") == (result.worst("dropped").stage, result.worst("queue_days").stage)


def test_forecast_weighs_open_amounts_by_history():
    """С-3 (500 000) waits in Встреча; of the deals that entered it and closed, half won."""
    result = fa.forecast(FULL_LOG, CHAIN, currency="RUB", as_of=AS_OF, basis="history")
    assert fk.Money.of("250000.00", "RUB") == result.total
    assert (
        fk.Money.of("0", "RUB") == fa.forecast(FULL_LOG, CHAIN, currency="RUB", as_of=AS_OF).total
    )


def test_velocity_levers():
    """From 6 March: 4 deals open, 2 won of 3 closed, 700 000 on average, 6.5 days."""
    period = fk.Period(date(2026, 3, 6), date(2026, 3, 23))
    result = fa.velocity(FULL_LOG, period, currency="RUB", as_of=AS_OF, zone=MSK)
    assert (4, 2, 1) == (result.open_at_start, result.won, result.lost)
    assert (Decimal(700000), 6.5) == (result.deal_size, result.cycle)
    assert fk.Money.of("287179.49", "RUB") == result.per_day


def test_velocity_of_one_channel():
    """Chat: С-3 and С-4 open on 6 March; С-4 won 900 000 on d5, three days after creation."""
    period = fk.Period(date(2026, 3, 6), date(2026, 3, 23))
    chat = fa.Filters(channel=CHAT.channel)
    result = fa.velocity(FULL_LOG, period, currency="RUB", as_of=AS_OF, zone=MSK, filters=chat)
    assert (2, 1, 0) == (result.open_at_start, result.won, result.lost)
    assert (Decimal(900000), 3.0) == (result.deal_size, result.cycle)


def test_filters_of_another_type_are_refused():
    """A dict instead of `Filters` gets an error naming the argument."""
    with pytest.raises(fk.ValidationError, match="filters"):
        fa.velocity(
            FULL_LOG,
            fk.Period.month(2026, 3),
            currency="RUB",
            as_of=AS_OF,
            filters={"owner": "anna"},  # type: ignore[arg-type]
        )


def test_cohorts_of_one_channel():
    """The site's two deals: С-1 won on day 10, outside a 7-day window; chat's С-4 inside."""
    site, chat = fa.Filters(channel=SITE.channel), fa.Filters(channel=CHAT.channel)
    week = timedelta(days=7)
    by_site = fa.cohorts(FULL_LOG, window=week, as_of=AS_OF, zone=MSK, filters=site)
    by_chat = fa.cohorts(FULL_LOG, window=week, as_of=AS_OF, zone=MSK, filters=chat)
    assert [(2, 0)] == [(c.created, c.won) for c in by_site.cohorts]
    assert [(2, 1)] == [(c.created, c.won) for c in by_chat.cohorts]


def test_cohorts_by_creation_week():
    """All four deals were created in the week of 2 March; one won within 7 days."""
    result = fa.cohorts(FULL_LOG, window=timedelta(days=7), as_of=AS_OF, zone=MSK)
    assert [{"week": "2026-03-02", "created": 4, "won": 1, "rate": 0.25, "complete": True}] == (
        result.rows()
    )
    young = fa.cohorts(FULL_LOG, window=timedelta(days=30), as_of=AS_OF, zone=MSK)
    assert [False] == [c.complete for c in young.cohorts]


def test_receivables_per_deal_and_owner():
    """С-1 paid in full, С-4 owes 500 000."""
    result = fa.receivables(FULL_LOG, currency="RUB", as_of=AS_OF)
    due = {r.deal: r.due.amount for r in result.deals}
    assert {"С-1": 0, "С-2": 500000, "С-3": 500000, "С-4": 500000} == due
    assert [{"owner": "anna", "amount": "1400000", "paid": "900000", "due": "500000"}] == (
        result.by_owner()
    )


def test_plan_against_fact_attributed_to_who_acted():
    """Anna moved three deals into КП and won two; the department was paid 900 000."""
    march = fk.Period.month(2026, 3)
    plan = Plan(
        targets=(
            Target(
                measure=Measure.ENTERED,
                period=march,
                value=3,
                owner="anna",
                pipeline=CHAIN.key,
                stage="КП",
            ),
            Target(measure=Measure.WON, period=march, value=2, owner="anna"),
            Target(
                measure=Measure.REVENUE,
                period=march,
                value=fk.Money.of("1000000", "RUB"),
                owner="anna",
            ),
            Target(measure=Measure.PAYMENTS, period=march, value=fk.Money.of("1000000", "RUB")),
            Target(measure=Measure.WON, period=march, value=1, owner="boris"),
        )
    )
    result = fa.plan_vs_fact(FULL_LOG, plan, as_of=AS_OF, zone=MSK)
    assert [3, 2, fk.Money.of("1400000", "RUB"), fk.Money.of("900000", "RUB"), 0] == [
        item.fact for item in result.items
    ]
    assert [1.0, 1.0, 1.4, 0.9, 0.0] == [item.done for item in result.items]


def test_task_load_per_manager():
    """Boris's open call is overdue; anna's is due later."""
    assert [
        {"assignee": "anna", "open": 1, "overdue": 0},
        {"assignee": "boris", "open": 1, "overdue": 1},
    ] == fa.task_load(FULL_LOG, as_of=AS_OF).rows()


@given(st.data())
def test_reports_of_the_full_log_merge_when_tasks_go_with_their_subject(data):
    """Parts hold whole cases (a task with the lead or deal it is about), as a shard key would."""
    subject = {e.entity: e.task.subject for e in FULL_LOG if isinstance(e, fk.events.TaskCreated)}
    cases = sorted({subject.get(e.entity, e.entity).id for e in FULL_LOG})
    left_cases = data.draw(st.sets(st.sampled_from(cases)))
    left = [e for e in FULL_LOG if subject.get(e.entity, e.entity).id in left_cases]
    right = [e for e in FULL_LOG if subject.get(e.entity, e.entity).id not in left_cases]
    for whole, a, b in zip(
        reports(FULL_LOG, AS_OF), reports(left, AS_OF), reports(right, AS_OF), strict=True
    ):
        assert whole == a.merge(b)
    halves = data.draw(st.lists(st.booleans(), min_size=len(FULL_LOG), max_size=len(FULL_LOG)))
    first = fa.histories([e for e, h in zip(FULL_LOG, halves, strict=False) if h], as_of=AS_OF)
    second = fa.histories([e for e, h in zip(FULL_LOG, halves, strict=False) if not h], as_of=AS_OF)
    assert fa.histories(FULL_LOG, as_of=AS_OF) == first.merge(second)


def test_stages_held_past_their_sla_per_owner():
    """С-3 has waited in Встреча since day 2 (SLA 3 days); nobody took Л-3 (SLA 15 minutes)."""
    slow = attrs.evolve(
        CHAIN,
        stages=tuple(
            attrs.evolve(s, sla=timedelta(days=3)) if s.key == "Встреча" else s
            for s in CHAIN.stages
        ),
    )
    leads = Pipeline(
        key="лиды",
        kind=PipelineKind.LEAD,
        stages=(
            Stage(key="Новое обращение", sla=timedelta(minutes=15)),
            Stage(key="Квалификация"),
            Stage(key="Хороший лид", kind=StageKind.WON),
            Stage(key="Спам", kind=StageKind.JUNK),
        ),
        reasons=(Reason(key="spam", title="Спам"),),
    )
    assert [
        {"owner": "anna", "pipeline": "сделки", "stage": "Встреча", "late": 1},
        {"owner": None, "pipeline": "лиды", "stage": "Новое обращение", "late": 1},
    ] == fa.sla_report(FULL_LOG, [slow, leads], as_of=AS_OF).rows()
    early = day(1) + timedelta(minutes=10)  # Л-3 has waited 10 minutes only
    assert () == fa.sla_report(FULL_LOG, [slow, leads], as_of=early).counts
    annas = fa.sla_report(FULL_LOG, [slow, leads], as_of=AS_OF, filters=fa.Filters(owner="anna"))
    assert [("anna", "сделки", "Встреча", 1)] == list(annas.counts)
