"""Periods and plans: targets per manager and stage, explained refusals, department totals."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import funnelkit as fk
from funnelkit.plans import Measure, Plan, Target
from funnelkit.seeds.pipelines import MEETING, ROOFING
from funnelkit.testing import strategies as fst


MSK = timezone(timedelta(hours=3))
MARCH = fk.Period.month(2026, 3)


def test_period_constructors_cover_the_calendar():
    """Months, quarters, weeks and days are half-open spans of the right days."""
    assert (date(2026, 2, 1), date(2026, 3, 1)) == (
        fk.Period.month(2026, 2).start,
        fk.Period.month(2026, 2).end,
    )
    assert 28 == fk.Period.month(2026, 2).days
    assert 29 == fk.Period.month(2028, 2).days
    assert fk.Period(date(2026, 10, 1), date(2027, 1, 1)) == fk.Period.quarter(2026, 4)
    assert fk.Period(date(2026, 3, 2), date(2026, 3, 9)) == fk.Period.week(date(2026, 3, 5))
    assert "2026-03-02" == str(fk.Period.day(date(2026, 3, 2)))
    assert "2026-03-01..2026-03-31" == str(MARCH)
    assert date(2026, 3, 31) in MARCH
    assert date(2026, 4, 1) not in MARCH
    assert datetime(2026, 3, 5, tzinfo=MSK) not in MARCH  # instants need a zone: use holds


def test_period_holds_an_instant_on_its_days_in_a_zone():
    """21:30 UTC on 31 March is already 1 April in Moscow."""
    late = datetime(2026, 3, 31, 21, 30, tzinfo=timezone.utc)
    assert MARCH.holds(late, timezone.utc)
    assert not MARCH.holds(late, MSK)
    start, end = MARCH.bounds(MSK)
    assert (start.tzinfo, end - start) == (MSK, timedelta(days=31))
    with pytest.raises(fk.ValidationError, match="naive") as caught:
        MARCH.holds(datetime(2026, 3, 5), MSK)  # noqa: DTZ001 - the naive time under test
    assert "moment" == caught.value.field


@pytest.mark.parametrize(
    ("build", "field", "rule"),
    [
        (lambda: fk.Period(date(2026, 3, 2), date(2026, 3, 2)), "Period.end", "range"),
        (lambda: fk.Period(date(2026, 3, 2), date(2026, 3, 1)), "Period.end", "range"),
        (
            lambda: fk.Period(datetime(2026, 3, 2, tzinfo=MSK), date(2026, 3, 3)),
            "Period.start",
            "type",
        ),
        (lambda: fk.Period.month(2026, 13), "Period.month", "range"),
        (lambda: fk.Period.quarter(2026, 0), "Period.quarter", "range"),
    ],
)
def test_bad_periods_are_refused_naming_the_field(build, field, rule):
    """An empty or reversed period, a datetime for a date, month 13: each named."""
    with pytest.raises(fk.ValidationError) as caught:
        build()
    assert (field, rule) == (caught.value.field, caught.value.rule)


@given(fst.periods(), st.dates())
def test_a_period_holds_exactly_its_days(period, day):
    """`day in period` is the half-open interval, and `days` counts its members."""
    assert (period.start <= day < period.end) == (day in period)
    assert period.days == (period.end - period.start).days >= 1


def meetings(owner: str | None, value: int, period: fk.Period = MARCH) -> Target:
    """A target of meetings held in seed 000's meeting pipeline."""
    return Target(
        measure=Measure.ENTERED,
        period=period,
        value=value,
        owner=owner,
        pipeline=MEETING.key,
        stage="Встреча проведена",
    )


def test_department_total_sums_the_managers_unless_set():
    """Without its own target, the department's is the managers' sum; with one, that one."""
    plan = Plan(targets=(meetings("anna", 20), meetings("boris", 15)))
    assert 35 == plan.department(
        Measure.ENTERED, MARCH, pipeline=MEETING.key, stage="Встреча проведена"
    )
    assert plan.department(Measure.WON, MARCH) is None
    own = Plan(targets=(*plan.targets, meetings(None, 40)))
    assert 40 == own.department(
        Measure.ENTERED, MARCH, pipeline=MEETING.key, stage="Встреча проведена"
    )
    assert ["anna", "boris"] == own.owners()
    assert (meetings(None, 40),) == own.for_owner(None)


def test_money_targets_add_up_in_one_currency():
    """Revenue targets are Money; the department sums them; mixed currencies are refused."""
    rub = Plan(
        targets=(
            Target(
                measure=Measure.REVENUE,
                period=MARCH,
                value=fk.Money.of("1500000", "RUB"),
                owner="anna",
            ),
            Target(
                measure=Measure.REVENUE,
                period=MARCH,
                value=fk.Money.of("900000", "RUB"),
                owner="boris",
            ),
        )
    )
    assert fk.Money.of("2400000", "RUB") == rub.department(Measure.REVENUE, MARCH)
    mixed = Plan(
        targets=(
            rub.targets[0],
            Target(
                measure=Measure.REVENUE,
                period=MARCH,
                value=fk.Money.of("9000", "EUR"),
                owner="boris",
            ),
        )
    )
    with pytest.raises(fk.ValidationError, match="one currency"):
        mixed.department(Measure.REVENUE, MARCH)


@pytest.mark.parametrize(
    ("changes", "field", "rule"),
    [
        ({"value": 2.5}, "Target.value", "type"),
        ({"value": -1}, "Target.value", "range"),
        ({"value": True}, "Target.value", "type"),
        ({"stage": None}, "Target.stage", "required"),
        ({"pipeline": None}, "Target.stage", "required"),
        ({"measure": Measure.WON}, "Target.stage", "stage_not_allowed"),
        ({"measure": Measure.REVENUE, "stage": None}, "Target.value", "type"),
        ({"owner": " anna"}, "Target.owner", "identifier"),
        ({"period": "2026-03"}, "Target.period", "type"),
    ],
)
def test_bad_targets_are_refused_naming_the_field(changes, field, rule):
    """Counts are non-negative ints, money is Money, only entered targets name a stage."""
    fields = {
        "measure": Measure.ENTERED,
        "period": MARCH,
        "value": 20,
        "owner": "anna",
        "pipeline": MEETING.key,
        "stage": "Встреча проведена",
    } | changes
    with pytest.raises(fk.ValidationError) as caught:
        Target(**fields)
    assert (field, rule) == (caught.value.field, caught.value.rule)


def test_a_target_given_twice_is_refused():
    """Two values for one owner, measure, stage and period would be ambiguous."""
    with pytest.raises(fk.ValidationError, match="repeats the target at index 0") as caught:
        Plan(targets=(meetings("anna", 20), meetings("boris", 15), meetings("anna", 25)))
    assert ("Plan.targets[2]", "unique") == (caught.value.field, caught.value.rule)


def test_check_names_an_unknown_pipeline_or_stage():
    """A typo in a stage title is caught against the pipelines, with the stages that exist."""
    Plan(targets=(meetings("anna", 20),)).check([MEETING, ROOFING])
    typo = Target(
        measure=Measure.ENTERED,
        period=MARCH,
        value=5,
        owner="anna",
        pipeline=ROOFING.key,
        stage="КП ГОТОВ",
    )
    with pytest.raises(fk.ValidationError, match="'КП ГОТОВО'") as caught:
        Plan(targets=(meetings("anna", 20), typo)).check([MEETING, ROOFING])
    assert ("Plan.targets[1].stage", "unknown_stage") == (caught.value.field, caught.value.rule)
    with pytest.raises(fk.ValidationError, match="no pipeline") as caught:
        Plan(targets=(meetings("anna", 20),)).check([ROOFING])
    assert "Plan.targets[0].pipeline" == caught.value.field


def test_a_plan_loads_from_data_with_every_problem_listed():
    """A head of sales keeps the plan as JSON; problems come back with their paths."""
    data: dict[str, Any] = {
        "targets": [
            {
                "measure": "entered",
                "period": {"start": "2026-03-01", "end": "2026-04-01"},
                "owner": "anna",
                "pipeline": MEETING.key,
                "stage": "Встреча проведена",
                "value": 20,
            },
            {
                "measure": "revenue",
                "period": {"start": "2026-03-01", "end": "2026-04-01"},
                "owner": "anna",
                "value": {"amount": "1500000", "currency": "RUB"},
            },
        ]
    }
    plan = fk.from_data(data, Plan)
    assert (20, fk.Money.of("1500000", "RUB")) == tuple(t.value for t in plan.targets)
    data["targets"][0]["value"] = "20"
    data["targets"][1]["period"]["end"] = "2026-03-01"
    with pytest.raises(fk.StructureError) as caught:
        fk.from_data(data, Plan)
    assert "$.targets[0].value: expected a count" in str(caught.value)
    assert "$.targets[1].period.end: must be after start" in str(caught.value)
