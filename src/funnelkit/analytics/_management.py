"""
Steering the team: plan against fact, the task load, and stages held past their SLA.

`plan_vs_fact` checks a `Plan`'s targets against the log, `task_load` counts open and overdue
tasks per person, `sla_report` lists entities held in a stage past its SLA.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone, tzinfo
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import attrs

from funnelkit.analytics._common import (
    _EVERYTHING,
    Filters,
    _fold,
    _rate,
    _same,
    _select,
)
from funnelkit.events import (
    DealWon,
    MoveEvent,
    PaymentReceived,
)
from funnelkit.model import (
    Money,
    TaskStatus,
)
from funnelkit.pipelines import Pipeline
from funnelkit.pipelines._definition import pipelines_given
from funnelkit.plans import Measure, Plan, Target


if TYPE_CHECKING:
    from collections.abc import Iterable

    from funnelkit.analytics._history import Histories
    from funnelkit.events import Event
    from funnelkit.pipelines import Pipeline


__all__ = [
    "PlanFact",
    "PlanFacts",
    "SlaReport",
    "TaskLoad",
    "plan_vs_fact",
    "sla_report",
    "task_load",
]

# --- plan against fact ---------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class PlanFact:
    """
    One target and what was done.

    Attributes:
        target: The target.
        fact: What was done in its period by its owner (or by everyone for a department
            target): a count, or `Money` for revenue and payments.
    """

    target: Target
    fact: int | Money

    @property
    def done(self) -> float | None:
        """The fact as a share of the target (``None`` for a zero target)."""
        target, fact = self.target.value, self.fact
        if isinstance(target, Money) and isinstance(fact, Money):
            return float(fact.amount / target.amount) if target.amount else None
        return _rate(int(fact), int(target))  # type: ignore[arg-type]


@attrs.frozen(kw_only=True)
class PlanFacts:
    """
    A plan against the facts, target by target.

    Attributes:
        as_of: The snapshot time.
        zone: The time zone of the plan's periods.
        items: One `PlanFact` per target of the plan, in the plan's order.
    """

    as_of: datetime
    zone: tzinfo
    items: tuple[PlanFact, ...]

    def merge(self, other: PlanFacts) -> PlanFacts:
        """Two parts together (the same plan)."""
        for name in ("as_of", "zone"):
            _same(name, getattr(self, name), getattr(other, name))
        _same("targets", [i.target for i in self.items], [i.target for i in other.items])
        return attrs.evolve(
            self,
            items=tuple(
                attrs.evolve(a, fact=a.fact + b.fact)  # type: ignore[operator]
                for a, b in zip(self.items, other.items, strict=True)
            ),
        )

    def rows(self) -> list[dict[str, Any]]:
        """One row per target."""
        return [
            {
                "owner": i.target.owner,
                "measure": i.target.measure.value,
                "pipeline": i.target.pipeline,
                "stage": i.target.stage,
                "period": str(i.target.period),
                "target": str(i.target.value),
                "fact": str(i.fact),
                "done": i.done,
            }
            for i in self.items
        ]


def _money_of(money: Money | None, target: Target) -> Decimal:
    """An amount counted toward a money target: in its currency, else nothing."""
    value = target.value
    if money is None or not isinstance(value, Money) or money.currency != value.currency:
        return Decimal(0)
    return money.amount


def _fact_of(event: Event, target: Target) -> int | Decimal:
    """What one event adds to a target (0 if nothing)."""
    measure = target.measure
    if measure is Measure.PAYMENTS:
        return _money_of(event.payment.amount, target) if isinstance(event, PaymentReceived) else 0
    if not isinstance(event, MoveEvent) or (
        target.pipeline is not None and event.pipeline != target.pipeline
    ):
        return 0
    if measure is Measure.ENTERED:
        return int(event.to_stage == target.stage)
    if not isinstance(event, DealWon):
        return 0
    return 1 if measure is Measure.WON else _money_of(event.amount, target)


def plan_vs_fact(
    data: Histories | Iterable[Event],
    plan: Plan,
    *,
    as_of: datetime | None = None,
    zone: tzinfo = timezone.utc,
) -> PlanFacts:
    """
    Compare every target of a plan with the facts, attributed to who acted at the time.

    A stage entry counts for the person who made the move, a win for who won it, a payment for
    who recorded it (Pipeliner's rule: not the current owner); a department target counts
    everyone. Only events in the target's period (in `zone`) and up to ``as_of`` count.
    """
    folded = _fold(data, as_of)
    totals: list[int | Decimal] = [
        Decimal(0) if target.measure.is_money else 0 for target in plan.targets
    ]
    bounds = [target.period.bounds(zone) for target in plan.targets]
    for event in folded._log:  # noqa: SLF001 - the events as given, for their actors
        if event.at > folded.as_of:
            continue
        for index, target in enumerate(plan.targets):
            start, end = bounds[index]
            if not start <= event.at < end:
                continue
            if target.owner is not None and event.actor != target.owner:
                continue
            totals[index] += _fact_of(event, target)
    items = []
    for target, total in zip(plan.targets, totals, strict=True):
        fact: int | Money
        if isinstance(target.value, Money):
            fact = Money(amount=Decimal(total), currency=target.value.currency)
        else:
            fact = int(total)
        items.append(PlanFact(target=target, fact=fact))
    return PlanFacts(as_of=folded.as_of, zone=zone, items=tuple(items))


# --- the task load -------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class TaskLoad:
    """
    Open and overdue tasks per manager.

    Attributes:
        as_of: The snapshot time.
        counts: ``(assignee, open, overdue)`` per manager, by assignee.
    """

    as_of: datetime
    counts: tuple[tuple[str, int, int], ...]

    def merge(self, other: TaskLoad) -> TaskLoad:
        """Two parts together."""
        _same("as_of", self.as_of, other.as_of)
        totals: dict[str, list[int]] = {}
        for who, opened, overdue in (*self.counts, *other.counts):
            total = totals.setdefault(who, [0, 0])
            total[0] += opened
            total[1] += overdue
        return attrs.evolve(
            self,
            counts=tuple((who, *totals[who]) for who in sorted(totals)),  # type: ignore[misc]
        )

    def rows(self) -> list[dict[str, Any]]:
        """One row per manager."""
        return [{"assignee": w, "open": o, "overdue": d} for w, o, d in self.counts]


def task_load(data: Histories | Iterable[Event], *, as_of: datetime | None = None) -> TaskLoad:
    """Count each manager's open tasks and those overdue at the snapshot."""
    folded = _fold(data, as_of)
    totals: dict[str, list[int]] = {}
    for task in folded.tasks.values():
        if task.status is not TaskStatus.OPEN or task.assignee is None or task.due_at is None:
            continue
        total = totals.setdefault(task.assignee, [0, 0])
        total[0] += 1
        total[1] += task.due_at < folded.as_of
    return TaskLoad(
        as_of=folded.as_of,
        counts=tuple((who, totals[who][0], totals[who][1]) for who in sorted(totals)),
    )


# --- stages held past their SLA ------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class SlaReport:
    """
    Open leads and deals held in their stage longer than its SLA, per owner and stage.

    Attributes:
        as_of: The snapshot time.
        counts: ``(owner, pipeline, stage, late)``, sorted; ``owner`` is ``None`` if unassigned.
    """

    as_of: datetime
    counts: tuple[tuple[str | None, str, str, int], ...]

    def merge(self, other: SlaReport) -> SlaReport:
        """Two parts together."""
        _same("as_of", self.as_of, other.as_of)
        total: Counter[tuple[str | None, str, str]] = Counter()
        for owner, pipeline, stage, late in (*self.counts, *other.counts):
            total[owner, pipeline, stage] += late
        return attrs.evolve(self, counts=_sla_counts(total))

    def rows(self) -> list[dict[str, Any]]:
        """One row per owner and stage."""
        return [{"owner": o, "pipeline": p, "stage": s, "late": n} for o, p, s, n in self.counts]


def _sla_counts(
    total: Counter[tuple[str | None, str, str]],
) -> tuple[tuple[str | None, str, str, int], ...]:
    ordered = sorted(total, key=lambda key: (key[0] is None, key[0] or "", key[1], key[2]))
    return tuple((*key, total[key]) for key in ordered)


def sla_report(
    data: Histories | Iterable[Event],
    pipelines: Iterable[Pipeline],
    *,
    as_of: datetime | None = None,
    filters: Filters = _EVERYTHING,
) -> SlaReport:
    """
    Count the open leads and deals held in their current stage past its SLA, per owner.

    Args:
        data: The events (then `as_of` is required) or their `Histories`.
        pipelines: The pipelines whose stages' SLAs apply (others are not counted).
        as_of: The snapshot time.
        filters: Which leads and deals count (owner, channel, period).
    """
    given = pipelines_given(pipelines)
    folded = _fold(data, as_of)
    limits = {(p.key, s.key): s.sla for p in given for s in p.stages if s.sla is not None}
    total: Counter[tuple[str | None, str, str]] = Counter()
    for history in _select(folded, None, None, filters):
        trail = history.trail
        if history.outcome is not None or not trail or history.pipeline is None:
            continue
        limit = limits.get((history.pipeline, trail[-2]))
        if limit is not None and folded.as_of - trail[-1] > limit:
            total[history.owner, history.pipeline, trail[-2]] += 1
    return SlaReport(as_of=folded.as_of, counts=_sla_counts(total))
