"""
Deals on their way: the steps of negotiations, where they get stuck, and cohorts.

`deal_steps` counts meetings and proposal versions before the contract and the cycle to a
sale, `bottlenecks` ranks stages by loss and time, `cohorts` follows deals by creation date.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import TYPE_CHECKING, Any

import attrs

from funnelkit._checks import raise_for
from funnelkit.analytics import _kernels
from funnelkit.analytics._columnar import StageLog
from funnelkit.analytics._common import (
    _DAY,
    _EVERYTHING,
    Counting,
    Filters,
    _fold,
    _frozen_counts,
    _plus,
    _rate,
    _same,
    _select,
)
from funnelkit.analytics._history import Histories, Outcome
from funnelkit.analytics._leads import _journeys
from funnelkit.analytics._stats import quantile
from funnelkit.model import (
    DocumentKind,
    EntityKind,
    Period,
    TaskKind,
)
from funnelkit.pipelines import Pipeline


if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from funnelkit.events import Event
    from funnelkit.pipelines import Pipeline


__all__ = [
    "Bottleneck",
    "Bottlenecks",
    "Cohort",
    "Cohorts",
    "DealSteps",
    "bottlenecks",
    "cohorts",
    "deal_steps",
]

# --- negotiations --------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class DealSteps:
    """
    The meeting → proposal → contract chain of seed 000, from tasks and documents.

    Counting journeys (the default), a customer's meeting deal, proposal deal, contract deal
    and main sale are one unit: its meetings, proposal versions and contract are gathered
    from all of them, and it is won when the journey ends in a sale (`Journey.sale`).
    Counting deals, each deal is a unit on its own.

    Attributes:
        as_of: The snapshot time.
        counting: What is counted (`Counting`).
        won: Journeys that ended in a sale (or deals won).
        won_without_meeting: Of them, won without a completed meeting.
        bought_at_once: Of them, won without a meeting and with at most one proposal version
            ("how many clients buy at once, without negotiations").
        meetings_before_proposal: ``(meetings, units)``: of those that were sent a proposal,
            how many had 0, 1, 2... meetings completed before the first one.
        versions_before_contract: ``(versions, units)``: of those that were sent a contract,
            how many proposal versions they were sent before it.
        rework_days: For those with a proposal before the contract, days from the first
            proposal version to the last one before the contract, sorted.
        cycle_days: For the won, days from the first request (the journey's start, or the
            deal's creation) to the sale, sorted.
    """

    as_of: datetime
    counting: Counting = Counting.JOURNEY
    won: int
    won_without_meeting: int
    bought_at_once: int
    meetings_before_proposal: tuple[tuple[int, int], ...]
    versions_before_contract: tuple[tuple[int, int], ...]
    rework_days: tuple[float, ...]
    cycle_days: tuple[float, ...] = ()

    @property
    def won_without_meeting_share(self) -> float | None:
        """Won without a meeting, of all won."""
        return _rate(self.won_without_meeting, self.won)

    @property
    def median_cycle_days(self) -> float | None:
        """The median days from the first request to the sale."""
        return quantile(self.cycle_days, 0.5)

    def merge(self, other: DealSteps) -> DealSteps:
        """Two parts together."""
        _same("as_of", self.as_of, other.as_of)
        _same("counting", self.counting, other.counting)
        return attrs.evolve(
            self,
            won=self.won + other.won,
            won_without_meeting=self.won_without_meeting + other.won_without_meeting,
            bought_at_once=self.bought_at_once + other.bought_at_once,
            meetings_before_proposal=_frozen_counts(
                _plus(self.meetings_before_proposal, other.meetings_before_proposal)
            ),
            versions_before_contract=_frozen_counts(
                _plus(self.versions_before_contract, other.versions_before_contract)
            ),
            rework_days=tuple(sorted(self.rework_days + other.rework_days)),
            cycle_days=tuple(sorted(self.cycle_days + other.cycle_days)),
        )

    def rows(self) -> list[dict[str, Any]]:
        """One row per measure (distributions as ``count=units`` pairs)."""
        return [
            {"measure": "won", "value": self.won},
            {"measure": "won_without_meeting", "value": self.won_without_meeting},
            {"measure": "bought_at_once", "value": self.bought_at_once},
            *(
                {"measure": f"meetings_before_proposal={n}", "value": units}
                for n, units in self.meetings_before_proposal
            ),
            *(
                {"measure": f"versions_before_contract={n}", "value": units}
                for n, units in self.versions_before_contract
            ),
            {"measure": "median_rework_days", "value": quantile(self.rework_days, 0.5)},
            {"measure": "median_cycle_days", "value": self.median_cycle_days},
        ]


@attrs.frozen
class _Steps:
    """What `deal_steps` reads of one unit (a journey, or a deal)."""

    started_at: datetime | None
    won_at: datetime | None
    meetings: list[datetime]
    documents: list[tuple[DocumentKind, int, datetime]]


def _units(folded: Histories, filters: Filters, counting: Counting) -> Iterator[_Steps]:
    if counting is Counting.DEAL:
        for deal in _select(folded, EntityKind.DEAL, None, filters):
            yield _Steps(
                deal.created_at,
                deal.closed_at if deal.outcome is Outcome.WON else None,
                [at for kind, at in deal.completed if kind is TaskKind.MEETING],
                list(deal.documents),
            )
        return
    for journey in _journeys(folded, filters):
        if not journey.deals:
            continue
        sale = journey.sale
        yield _Steps(
            journey.started_at,
            sale.closed_at if sale is not None else None,
            [at for kind, at in journey.completed if kind is TaskKind.MEETING],
            journey.documents,
        )


def deal_steps(
    data: Histories | Iterable[Event],
    *,
    as_of: datetime | None = None,
    filters: Filters = _EVERYTHING,
    counting: Counting = Counting.JOURNEY,
) -> DealSteps:
    """
    Count meetings before proposals, proposal versions before contracts, sales made at once.

    By customer journey (the default; the filters apply to its request) or by deal.
    """
    if not isinstance(counting, Counting):
        raise_for("counting", counting, "pass Counting.JOURNEY or Counting.DEAL", "type")
    folded = _fold(data, as_of)
    won = without_meeting = at_once = 0
    meetings: Counter[int] = Counter()
    versions: Counter[int] = Counter()
    rework: list[float] = []
    cycle: list[float] = []
    for unit in _units(folded, filters, counting):
        met = unit.meetings
        proposals = sorted(sent for k, _, sent in unit.documents if k is DocumentKind.PROPOSAL)
        if unit.won_at is not None:
            won += 1
            if not any(at <= unit.won_at for at in met):
                without_meeting += 1
                at_once += len(proposals) <= 1
            if unit.started_at is not None:
                cycle.append((unit.won_at - unit.started_at).total_seconds() / _DAY)
        if proposals:
            meetings[sum(at < proposals[0] for at in met)] += 1
        contract = min(
            (sent for k, _, sent in unit.documents if k is DocumentKind.CONTRACT), default=None
        )
        if contract is not None:
            before = [sent for sent in proposals if sent < contract]
            versions[len(before)] += 1
            if before:
                rework.append((before[-1] - before[0]).total_seconds() / _DAY)
    return DealSteps(
        as_of=folded.as_of,
        counting=counting,
        won=won,
        won_without_meeting=without_meeting,
        bought_at_once=at_once,
        meetings_before_proposal=_frozen_counts(meetings),
        versions_before_contract=_frozen_counts(versions),
        rework_days=tuple(sorted(rework)),
        cycle_days=tuple(sorted(cycle)),
    )


# --- bottlenecks ---------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Bottleneck:
    """
    One open stage seen as a queue.

    Attributes:
        stage: The stage.
        entered: Leads or deals that entered it.
        dropped: Lost or closed as junk from it.
        in_stage: Open ones in it now (work in progress).
        durations: Completed visits in seconds, sorted.
    """

    stage: str
    entered: int
    dropped: int
    in_stage: int
    durations: tuple[float, ...]

    @property
    def drop_rate(self) -> float | None:
        """Dropped from the stage of those that entered it."""
        return _rate(self.dropped, self.entered)

    @property
    def median_days(self) -> float | None:
        """Median completed visit in days."""
        found = quantile(self.durations, 0.5)
        return None if found is None else found / _DAY

    @property
    def queue_days(self) -> float | None:
        """Work in progress × median days; the days of work waiting in the stage."""
        median = self.median_days
        return None if median is None else self.in_stage * median


@attrs.frozen(kw_only=True)
class Bottlenecks:
    """
    Every open stage of a pipeline as a queue, to find where deals stall or drop out.

    Attributes:
        pipeline: The pipeline.
        as_of: The snapshot time.
        stages: One `Bottleneck` per open stage, in order.
    """

    pipeline: str
    as_of: datetime
    stages: tuple[Bottleneck, ...]

    def worst(self, by: str = "dropped") -> Bottleneck:
        """
        The worst stage by ``"dropped"``, ``"drop_rate"``, ``"median_days"`` or ``"queue_days"``.

        Raises:
            ValidationError: If `by` is none of these, or the pipeline has no open stage.
        """
        if by not in {"dropped", "drop_rate", "median_days", "queue_days"}:
            raise_for(
                "by",
                by,
                "rank by 'dropped', 'drop_rate', 'median_days' or 'queue_days'",
                "unknown",
            )
        if not self.stages:
            raise_for("stages", self.stages, "the pipeline has no open stage", "empty")
        return max(self.stages, key=lambda b: getattr(b, by) or 0)

    def merge(self, other: Bottlenecks) -> Bottlenecks:
        """Two parts together."""
        for name in ("pipeline", "as_of"):
            _same(name, getattr(self, name), getattr(other, name))
        _same("stages", [b.stage for b in self.stages], [b.stage for b in other.stages])
        return attrs.evolve(
            self,
            stages=tuple(
                Bottleneck(
                    stage=a.stage,
                    entered=a.entered + b.entered,
                    dropped=a.dropped + b.dropped,
                    in_stage=a.in_stage + b.in_stage,
                    durations=tuple(sorted(a.durations + b.durations)),
                )
                for a, b in zip(self.stages, other.stages, strict=True)
            ),
        )

    def rows(self) -> list[dict[str, Any]]:
        """One row per open stage."""
        return [
            {
                "stage": b.stage,
                "entered": b.entered,
                "dropped": b.dropped,
                "drop_rate": b.drop_rate,
                "in_stage": b.in_stage,
                "median_days": b.median_days,
                "queue_days": b.queue_days,
            }
            for b in self.stages
        ]


def bottlenecks(
    data: Histories | Iterable[Event] | StageLog,
    pipeline: Pipeline,
    *,
    as_of: datetime | None = None,
    filters: Filters = _EVERYTHING,
) -> Bottlenecks:
    """
    Measure each open stage's entries, drop-outs, work in progress and dwell time.

    `data` is the events (then `as_of` is required), their `Histories`, or a `StageLog`.
    """
    keys = [s.key for s in pipeline.stages if not s.closed]
    if isinstance(data, StageLog):
        snap = _kernels.snapshot(data, as_of)
        counts, _ = _kernels.reached(snap, pipeline, tuple(keys), "entered", filters)
        _, spent, still = _kernels.visits(snap, pipeline, "visit", filters)
        lost = _kernels.dropped(snap, pipeline, tuple(keys), filters)
        return Bottlenecks(
            pipeline=pipeline.key,
            as_of=snap.as_of,
            stages=tuple(
                Bottleneck(
                    stage=key,
                    entered=counts[index],
                    dropped=lost[index],
                    in_stage=still[index],
                    durations=tuple(spent[index]),
                )
                for index, key in enumerate(keys)
            ),
        )
    folded = _fold(data, as_of)
    entered = dict.fromkeys(keys, 0)
    dropped = dict.fromkeys(keys, 0)
    in_stage = dict.fromkeys(keys, 0)
    durations: dict[str, list[float]] = {key: [] for key in keys}
    for history in _select(folded, None, pipeline.key, filters):
        stages, times = history.stages, history.entered
        for stage in set(stages):
            if stage in entered:
                entered[stage] += 1
        for index in range(len(stages) - 1):
            bucket = durations.get(stages[index])
            if bucket is not None:
                bucket.append((times[index + 1] - times[index]).total_seconds())
        if history.outcome in {Outcome.LOST, Outcome.JUNK} and history.closed_from in dropped:
            dropped[history.closed_from] += 1
        elif history.outcome is None and stages and stages[-1] in in_stage:
            in_stage[stages[-1]] += 1
    return Bottlenecks(
        pipeline=pipeline.key,
        as_of=folded.as_of,
        stages=tuple(
            Bottleneck(
                stage=key,
                entered=entered[key],
                dropped=dropped[key],
                in_stage=in_stage[key],
                durations=tuple(sorted(durations[key])),
            )
            for key in keys
        ),
    )


# --- cohorts -------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Cohort:
    """
    The deals created in one week and how many were won within the window.

    Attributes:
        week: The Monday the week starts on.
        created: Deals created that week.
        won: Of them, won within the window after their creation.
        complete: Whether every deal of the week has had the whole window by the snapshot
            (a young cohort's rate is still growing).
    """

    week: date
    created: int
    won: int
    complete: bool

    @property
    def rate(self) -> float | None:
        """Won within the window of created."""
        return _rate(self.won, self.created)


@attrs.frozen(kw_only=True)
class Cohorts:
    """
    ConversionReport by creation week with a conversion window.

    Attributes:
        as_of: The snapshot time.
        window: How long after its creation a deal has to be won.
        zone: The time zone of the weeks.
        cohorts: One `Cohort` per week with deals, in order.
    """

    as_of: datetime
    window: timedelta
    zone: tzinfo
    cohorts: tuple[Cohort, ...]

    def merge(self, other: Cohorts) -> Cohorts:
        """Two parts together."""
        for name in ("as_of", "window", "zone"):
            _same(name, getattr(self, name), getattr(other, name))
        found: dict[date, Cohort] = {c.week: c for c in self.cohorts}
        for cohort in other.cohorts:
            mine = found.get(cohort.week)
            found[cohort.week] = (
                cohort
                if mine is None
                else attrs.evolve(
                    mine, created=mine.created + cohort.created, won=mine.won + cohort.won
                )
            )
        return attrs.evolve(self, cohorts=tuple(found[week] for week in sorted(found)))

    def rows(self) -> list[dict[str, Any]]:
        """One row per week."""
        return [
            {
                "week": c.week.isoformat(),
                "created": c.created,
                "won": c.won,
                "rate": c.rate,
                "complete": c.complete,
            }
            for c in self.cohorts
        ]


def cohorts(
    data: Histories | Iterable[Event] | StageLog,
    *,
    window: timedelta,
    as_of: datetime | None = None,
    zone: tzinfo = timezone.utc,
    pipeline: Pipeline | None = None,
    filters: Filters = _EVERYTHING,
) -> Cohorts:
    """
    Group deals by the week they were created and count those won within `window`.

    Args:
        data: The events (then `as_of` is required), their `Histories`, or a `StageLog`
            (then `as_of` is required).
        window: How long after its creation a deal has to be won to count.
        as_of: The snapshot time.
        zone: The time zone of the weeks.
        pipeline: Only this pipeline's deals.
        filters: Which deals count (owner, channel, period).

    Raises:
        ValidationError: If `window` is not positive.
    """
    if window <= timedelta(0):
        raise_for("window", window, "the conversion window must be positive", "range")
    if isinstance(data, StageLog):
        snap = _kernels.snapshot(data, as_of)
        weeks = _kernels.cohorts(snap, window, zone, pipeline, filters)
        return _cohorts(snap.as_of, window, zone, {week: [made, won] for week, made, won in weeks})
    folded = _fold(data, as_of)
    counts: dict[date, list[int]] = {}
    for deal in _select(folded, EntityKind.DEAL, pipeline.key if pipeline else None, filters):
        if deal.created_at is None:
            continue
        week = Period.week(deal.created_at.astimezone(zone).date()).start
        tally = counts.setdefault(week, [0, 0])
        tally[0] += 1
        if (
            deal.outcome is Outcome.WON
            and deal.closed_at is not None
            and deal.closed_at - deal.created_at <= window
        ):
            tally[1] += 1
    return _cohorts(folded.as_of, window, zone, counts)


def _cohorts(
    as_of: datetime, window: timedelta, zone: tzinfo, counts: dict[date, list[int]]
) -> Cohorts:
    return Cohorts(
        as_of=as_of,
        window=window,
        zone=zone,
        cohorts=tuple(
            Cohort(
                week=week,
                created=counts[week][0],
                won=counts[week][1],
                complete=Period.week(week).bounds(zone)[1] + window <= as_of,
            )
            for week in sorted(counts)
        ),
    )
