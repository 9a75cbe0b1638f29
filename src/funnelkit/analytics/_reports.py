"""
Reports over histories: conversion, stage flows, time in stage, outcomes, closing times, sources.

Every report takes the events themselves (with ``as_of``) or a `Histories` fold, and returns a
frozen result that holds its sufficient statistics (counts, the sorted durations), so that
`merge` of the results of parts of a log equals the result of the whole log when the parts
hold whole entities (split by entity, as a distributed engine partitions by key). Rates,
quantiles and curves are computed from them; `rows` turns a result into plain dicts.
"""

from __future__ import annotations

import enum
import itertools
from collections import Counter
from datetime import datetime, timezone, tzinfo
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import attrs

from funnelkit.analytics._history import Bucket, Histories, History, Outcome, histories
from funnelkit.analytics._stats import Curve, aalen_johansen, kaplan_meier, quantile
from funnelkit.model import EntityKind, FieldValues, Money, Period
from funnelkit.model._checks import raise_for
from funnelkit.pipelines import Pipeline, StageKind


if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from funnelkit.events import Event


__all__ = [
    "ClosingTimes",
    "ConversionReport",
    "Counting",
    "DateBasis",
    "Filters",
    "GroupOutcomes",
    "LostReasons",
    "Per",
    "Reach",
    "SourceRow",
    "Sources",
    "StageFlows",
    "StageTimes",
    "TimeInStage",
    "WinRate",
    "closing_times",
    "conversion",
    "lost_reasons",
    "sources",
    "stage_flows",
    "time_in_stage",
    "win_rate",
]

_DAY = 86_400.0
_HOUR = 3_600.0


class DateBasis(str, enum.Enum):
    """Which date of an entity a period filter looks at."""

    CREATED = "created"
    ENTERED = "entered"
    CLOSED = "closed"


class Counting(str, enum.Enum):
    """
    What a per-customer report counts.

    Members:
        JOURNEY: Customer journeys (`Journey`): a lead and every deal that follows from it
            count once. Seed 000's questions ("how many requests ended in a sale", "how many
            bought at once") are about journeys. Parts of a log merged must then hold whole
            journeys (split by customer, not by entity).
        DEAL: Deals, each on its own: a won meeting deal counts as a win.
    """

    JOURNEY = "journey"
    DEAL = "deal"


@attrs.frozen(kw_only=True)
class Filters:
    """
    Which leads and deals a report counts; every filter given must hold.

    Attributes:
        owner: Only this manager's (the owner as of the snapshot).
        channel: Only those from this source channel.
        period: Only those whose `basis` date falls in the period (in `zone`).
        basis: ``CREATED`` (created in the period, a cohort), ``ENTERED`` (entered any stage
            in the period: the period's activity) or ``CLOSED`` (closed in the period).
        zone: The time zone the period's days are in.
        fields: Only those whose custom fields hold these values as of the snapshot (from
            their events: a deal whose product was changed counts under its new product).
            ``{"product": "металлочерепица"}``.
    """

    owner: str | None = None
    channel: str | None = None
    period: Period | None = None
    basis: DateBasis = DateBasis.CREATED
    zone: tzinfo = timezone.utc
    fields: FieldValues = attrs.field(factory=FieldValues, converter=FieldValues)

    def keeps(self, history: History) -> bool:
        """Whether a history passes every filter."""
        return self._predicate()(history)

    def _predicate(self) -> Callable[[History], bool]:
        """`keeps` with the period's bounds worked out once, for a loop over many histories."""
        owner, channel, period = self.owner, self.channel, self.period
        start, end = period.bounds(self.zone) if period is not None else (None, None)
        basis = self.basis
        wanted = list(self.fields.items())

        def keeps(history: History) -> bool:
            if owner is not None and history.owner != owner:
                return False
            if wanted:
                values = history.fields
                if any(values.get(key, _MISSING) != value for key, value in wanted):
                    return False
            if channel is not None and (
                history.source is None or history.source.channel != channel
            ):
                return False
            if start is None or end is None:
                return True
            if basis is DateBasis.CREATED:
                moments = [history.created_at] if history.created_at is not None else []
            elif basis is DateBasis.CLOSED:
                moments = [history.closed_at] if history.closed_at is not None else []
            else:
                moments = history.entered
            return any(start <= moment < end for moment in moments)

        return keeps


_EVERYTHING = Filters()
_MISSING = object()


def _fold(data: Histories | Iterable[Event], as_of: datetime | None) -> Histories:
    if isinstance(data, Histories):
        if as_of is not None and as_of != data.as_of:
            raise_for(
                "as_of",
                as_of,
                f"the histories were folded as of {data.as_of.isoformat()}; pass the same "
                "as_of or none",
                "as_of",
            )
        return data
    if as_of is None:
        raise_for(
            "as_of",
            as_of,
            "reports over events need the snapshot time: pass as_of=... (an aware datetime)",
            "required",
        )
    return histories(data, as_of=as_of)


def _keeps(filters: Filters) -> Callable[[History], bool] | None:
    """The filters' predicate (``None`` when they keep everything); refuse anything else."""
    given: object = filters
    if not isinstance(given, Filters):
        raise_for(
            "filters",
            given,
            "pass a funnelkit.analytics.Filters, e.g. Filters(owner=..., channel=...)",
            "type",
        )
    return None if given == _EVERYTHING else given._predicate()  # noqa: SLF001


def _select(
    folded: Histories, kind: EntityKind | None, pipeline: str | None, filters: Filters
) -> Iterator[History]:
    if kind is EntityKind.LEAD:
        pool: Iterable[History] = folded.leads.values()
    elif kind is EntityKind.DEAL:
        pool = folded.deals.values()
    else:
        pool = folded
    keeps = _keeps(filters)
    for history in pool:
        if pipeline is not None and history.pipeline != pipeline:
            continue
        if keeps is None or keeps(history):
            yield history


def _same(kind: str, mine: object, theirs: object) -> None:
    if mine != theirs:
        raise_for(
            kind,
            theirs,
            f"cannot merge results with different {kind} ({mine!r} and {theirs!r}); compute "
            "every part with the same arguments",
            "merge",
        )


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


# --- conversion ----------------------------------------------------------------------------------


class Reach(str, enum.Enum):
    """
    When a lead or deal counts as having reached a funnel stage.

    Members:
        ENTERED: It entered the stage at least once (HubSpot "any stages", Bitrix standard).
        IMPLIED: It entered that stage or a later one: skipped stages count as passed, a won
            deal passed every stage (amoCRM, Bitrix "with conversions").
        ALL_PREVIOUS: It entered the stage and every stage before it, in any order
            (Watermark "all stage").
        IN_ORDER: It entered the stage and every stage before it, first entries in the
            funnel's order (HubSpot "all stages").
    """

    ENTERED = "entered"
    IMPLIED = "implied"
    ALL_PREVIOUS = "all_previous"
    IN_ORDER = "in_order"


def _funnel_stages(pipeline: Pipeline) -> tuple[str, ...]:
    opened = [s.key for s in pipeline.stages if not s.closed]
    won = [s.key for s in pipeline.stages if s.kind is StageKind.WON]
    return (*opened, *won)


@attrs.frozen(kw_only=True)
class ConversionReport:
    """
    How many leads or deals reached each funnel stage (the open stages, then the won ones).

    Attributes:
        pipeline: The pipeline.
        reach: The definition of "reached".
        as_of: The snapshot time.
        stages: The funnel's stages in order.
        reached: How many reached each stage.
        entities: How many leads or deals were counted.
    """

    pipeline: str
    reach: Reach
    as_of: datetime
    stages: tuple[str, ...]
    reached: tuple[int, ...]
    entities: int

    @property
    def step_rates(self) -> tuple[float | None, ...]:
        """Reached each stage of those that reached the stage before (``None`` first)."""
        pairs = itertools.pairwise(self.reached)
        return (None, *(_rate(here, before) for before, here in pairs))

    @property
    def cumulative_rates(self) -> tuple[float | None, ...]:
        """Reached each stage of those that reached the first stage."""
        first = self.reached[0] if self.reached else 0
        return tuple(_rate(here, first) for here in self.reached)

    def merge(self, other: ConversionReport) -> ConversionReport:
        """The conversion of two parts together (parts hold whole entities)."""
        for name in ("pipeline", "reach", "as_of", "stages"):
            _same(name, getattr(self, name), getattr(other, name))
        return attrs.evolve(
            self,
            reached=tuple(a + b for a, b in zip(self.reached, other.reached, strict=True)),
            entities=self.entities + other.entities,
        )

    def rows(self) -> list[dict[str, Any]]:
        """One row per stage: position, stage, reached, step and cumulative rates."""
        return [
            {
                "position": index,
                "stage": stage,
                "reached": reached,
                "step_rate": step,
                "cumulative_rate": cumulative,
            }
            for index, (stage, reached, step, cumulative) in enumerate(
                zip(self.stages, self.reached, self.step_rates, self.cumulative_rates, strict=True),
                start=1,
            )
        ]


def _reached_positions(stages: list[str], position: dict[str, int], reach: Reach, size: int) -> int:
    """How many leading funnel stages count as reached (for the monotone definitions)."""
    if reach is Reach.IMPLIED:
        return max((position.get(stage, -1) for stage in stages), default=-1) + 1
    first: dict[int, int] = {}
    for order, stage in enumerate(stages):
        index = position.get(stage)
        if index is not None and index not in first:
            first[index] = order
    count = 0
    previous = -1
    while count < size and count in first:
        if reach is Reach.IN_ORDER:
            if first[count] < previous:
                break
            previous = first[count]
        count += 1
    return count


def conversion(
    data: Histories | Iterable[Event],
    pipeline: Pipeline,
    *,
    as_of: datetime | None = None,
    reach: Reach = Reach.ENTERED,
    filters: Filters = _EVERYTHING,
) -> ConversionReport:
    """
    Count the leads or deals of `pipeline` that reached each funnel stage.

    Args:
        data: The events (then `as_of` is required) or their `Histories`.
        pipeline: The pipeline whose funnel is counted: its open stages in order, then its won
            stages. Lost and junk stages are not funnel steps (see `lost_reasons`).
        as_of: The snapshot time.
        reach: What counts as reaching a stage (`Reach`).
        filters: Which entities count.
    """
    folded = _fold(data, as_of)
    stages = _funnel_stages(pipeline)
    position = {stage: index for index, stage in enumerate(stages)}
    size = len(stages)
    reached = [0] * size
    entities = 0
    for history in _select(folded, None, pipeline.key, filters):
        entities += 1
        if reach is Reach.ENTERED:
            for stage in set(history.trail[0::2]):
                index = position.get(stage)
                if index is not None:
                    reached[index] += 1
            continue
        for index in range(_reached_positions(history.stages, position, reach, size)):
            reached[index] += 1
    return ConversionReport(
        pipeline=pipeline.key,
        reach=reach,
        as_of=folded.as_of,
        stages=stages,
        reached=tuple(reached),
        entities=entities,
    )


# --- stage flows ---------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class StageFlows:
    """
    Every move between two stages of a pipeline, counted: the from × to matrix.

    Attributes:
        pipeline: The pipeline.
        as_of: The snapshot time.
        stages: Its stages in order (open stages first, as defined).
        counts: ``(from_stage, to_stage, moves)``, sorted by the stages' order.
    """

    pipeline: str
    as_of: datetime
    stages: tuple[str, ...]
    counts: tuple[tuple[str, str, int], ...]

    def count(self, from_stage: str, to_stage: str) -> int:
        """How many moves went from one stage to the other."""
        return next((n for a, b, n in self.counts if (a, b) == (from_stage, to_stage)), 0)

    def is_backward(self, from_stage: str, to_stage: str) -> bool:
        """Whether a move goes back to an earlier open stage."""
        order = {stage: index for index, stage in enumerate(self.stages)}
        return order.get(to_stage, 0) < order.get(from_stage, 0)

    def merge(self, other: StageFlows) -> StageFlows:
        """The moves of two parts together."""
        for name in ("pipeline", "as_of", "stages"):
            _same(name, getattr(self, name), getattr(other, name))
        total: Counter[tuple[str, str]] = Counter()
        for a, b, n in (*self.counts, *other.counts):
            total[a, b] += n
        return attrs.evolve(self, counts=_ordered_counts(total, self.stages))

    def rows(self) -> list[dict[str, Any]]:
        """One row per pair of stages with moves: from, to, moves, direction."""
        return [
            {
                "from_stage": a,
                "to_stage": b,
                "moves": n,
                "direction": "backward" if self.is_backward(a, b) else "forward",
            }
            for a, b, n in self.counts
        ]


def _ordered_counts(
    total: Counter[tuple[str, str]], stages: tuple[str, ...]
) -> tuple[tuple[str, str, int], ...]:
    order = {stage: index for index, stage in enumerate(stages)}
    unknown = len(stages)
    return tuple(
        (a, b, n)
        for (a, b), n in sorted(
            total.items(),
            key=lambda item: (
                order.get(item[0][0], unknown),
                order.get(item[0][1], unknown),
                item[0],
            ),
        )
    )


def stage_flows(
    data: Histories | Iterable[Event],
    pipeline: Pipeline,
    *,
    as_of: datetime | None = None,
    filters: Filters = _EVERYTHING,
) -> StageFlows:
    """Count every move between stages of `pipeline`, backward moves and re-entries included."""
    folded = _fold(data, as_of)
    total: Counter[tuple[str, str]] = Counter()
    for history in _select(folded, None, pipeline.key, filters):
        total.update(itertools.pairwise(history.trail[0::2]))
    stages = tuple(stage.key for stage in pipeline.stages)
    return StageFlows(
        pipeline=pipeline.key,
        as_of=folded.as_of,
        stages=stages,
        counts=_ordered_counts(total, stages),
    )


# --- time in stage -------------------------------------------------------------------------------


class Per(str, enum.Enum):
    """
    What one duration of time in stage is.

    Members:
        VISIT: Every completed visit (a stage entered twice gives two durations).
        LATEST: Per lead or deal, its latest completed visit of the stage (HubSpot "latest").
        CUMULATIVE: Per lead or deal, the sum of its completed visits of the stage, counted
            only once it is no longer in the stage (HubSpot "cumulative").
    """

    VISIT = "visit"
    LATEST = "latest"
    CUMULATIVE = "cumulative"


@attrs.frozen(kw_only=True)
class StageTimes:
    """
    The time spent in one stage.

    Attributes:
        stage: The stage.
        durations: The completed durations in seconds, sorted.
        open: Visits still under way at the snapshot (censored: not in `durations`).
    """

    stage: str
    durations: tuple[float, ...]
    open: int

    def quantile(self, q: float) -> float | None:
        """The `q` quantile in seconds, by linear interpolation (type 7)."""
        return quantile(self.durations, q)

    @property
    def median(self) -> float | None:
        """The median duration in seconds."""
        return quantile(self.durations, 0.5)

    @property
    def p90(self) -> float | None:
        """The 90th percentile in seconds."""
        return quantile(self.durations, 0.9)

    @property
    def mean(self) -> float | None:
        """The mean duration in seconds."""
        return sum(self.durations) / len(self.durations) if self.durations else None


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else seconds / _HOUR


@attrs.frozen(kw_only=True)
class TimeInStage:
    """
    Time in each open stage of a pipeline.

    Attributes:
        pipeline: The pipeline.
        per: What one duration is.
        as_of: The snapshot time.
        stages: One `StageTimes` per open stage, in order.
    """

    pipeline: str
    per: Per
    as_of: datetime
    stages: tuple[StageTimes, ...]

    def stage(self, key: str) -> StageTimes:
        """The times of one stage."""
        found = next((times for times in self.stages if times.stage == key), None)
        if found is None:
            raise_for(
                "stage", key, f"no open stage {key!r} in pipeline {self.pipeline!r}", "unknown"
            )
        return found

    def merge(self, other: TimeInStage) -> TimeInStage:
        """The times of two parts together."""
        for name in ("pipeline", "per", "as_of"):
            _same(name, getattr(self, name), getattr(other, name))
        _same("stages", [s.stage for s in self.stages], [s.stage for s in other.stages])
        return attrs.evolve(
            self,
            stages=tuple(
                StageTimes(
                    stage=a.stage,
                    durations=tuple(sorted(a.durations + b.durations)),
                    open=a.open + b.open,
                )
                for a, b in zip(self.stages, other.stages, strict=True)
            ),
        )

    def rows(self) -> list[dict[str, Any]]:
        """One row per stage: durations counted, still open, median, p90 and mean in hours."""
        return [
            {
                "stage": times.stage,
                "count": len(times.durations),
                "open": times.open,
                "median_hours": _hours(times.median),
                "p90_hours": _hours(times.p90),
                "mean_hours": _hours(times.mean),
            }
            for times in self.stages
        ]


def _per_entity(
    history: History, wanted: dict[str, list[float]], per: Per
) -> Iterable[tuple[str, float]]:
    """One entity's latest or cumulative completed time in each wanted stage."""
    found: dict[str, float] = {}
    stages, entered = history.stages, history.entered
    for index in range(len(stages) - 1):
        stage = stages[index]
        if stage in wanted:
            seconds = (entered[index + 1] - entered[index]).total_seconds()
            found[stage] = seconds if per is Per.LATEST else found.get(stage, 0.0) + seconds
    if per is Per.CUMULATIVE and history.outcome is None:
        found.pop(stages[-1], None)
    return found.items()


def time_in_stage(
    data: Histories | Iterable[Event],
    pipeline: Pipeline,
    *,
    as_of: datetime | None = None,
    per: Per = Per.VISIT,
    filters: Filters = _EVERYTHING,
) -> TimeInStage:
    """
    Measure the time leads or deals spent in each open stage of `pipeline`.

    A visit lasts from entering a stage to entering the next. A visit still under way at the
    snapshot is never silently dropped: it is counted in `StageTimes.open` (censored) and left
    out of the durations; `closing_times` handles open deals as censored times.
    """
    folded = _fold(data, as_of)
    keys = [s.key for s in pipeline.stages if not s.closed]
    collected: dict[str, list[float]] = {key: [] for key in keys}
    still_open: dict[str, int] = dict.fromkeys(keys, 0)
    for history in _select(folded, None, pipeline.key, filters):
        trail = history.trail
        if not trail:
            continue
        if history.outcome is None:
            current = trail[-2]
            if current in still_open:
                still_open[current] += 1
        if per is Per.VISIT:
            # trail is stage, time, stage, time...: a visit of trail[i] lasts to trail[i + 3]
            for index in range(0, len(trail) - 2, 2):
                bucket = collected.get(trail[index])
                if bucket is not None:
                    bucket.append((trail[index + 3] - trail[index + 1]).total_seconds())
            continue
        for stage, seconds in _per_entity(history, collected, per):
            collected[stage].append(seconds)
    return TimeInStage(
        pipeline=pipeline.key,
        per=per,
        as_of=folded.as_of,
        stages=tuple(
            StageTimes(stage=key, durations=tuple(sorted(collected[key])), open=still_open[key])
            for key in keys
        ),
    )


# --- outcomes ------------------------------------------------------------------------------------


_GROUPS: dict[str, Callable[[History], str | None]] = {
    "all": lambda _: "all",
    "channel": lambda h: h.source.channel if h.source is not None else None,
    "site": lambda h: h.source.site if h.source is not None else None,
    "campaign": lambda h: h.source.campaign if h.source is not None else None,
    "owner": lambda h: h.owner,
    "pipeline": lambda h: h.pipeline,
}


def _field_group(key: str) -> Callable[[History], str | None]:
    def group(history: History) -> str | None:
        value = history.fields.get(key)
        return None if value is None else str(value)

    return group


def _grouping(by: str | Callable[[History], str | None]) -> Callable[[History], str | None]:
    if callable(by):
        return by
    given: object = by  # a bad value gets a funnelkit error below, not an AttributeError
    if isinstance(given, str) and given.startswith("fields.") and len(given) > len("fields."):
        return _field_group(by.removeprefix("fields."))
    found = _GROUPS.get(by)
    if found is None:
        raise_for(
            "by",
            by,
            f"unknown grouping; use one of {', '.join(sorted(_GROUPS))}, 'fields.<key>' for a "
            "custom field, or a function of a History",
            "unknown",
        )
    return found


@attrs.frozen(kw_only=True)
class GroupOutcomes:
    """
    The outcomes of the deals of one group.

    Attributes:
        group: The group (``None``: deals without one, e.g. without a source).
        created: Deals counted.
        won: Deals won.
        lost: Deals lost.
    """

    group: str | None
    created: int
    won: int
    lost: int

    @property
    def open(self) -> int:
        """Deals still open."""
        return self.created - self.won - self.lost

    @property
    def win_rate(self) -> float | None:
        """The usual win rate: won of closed (won or lost) deals."""
        return _rate(self.won, self.won + self.lost)

    @property
    def won_of_created(self) -> float | None:
        """Won of every deal counted, open ones included (biased low for young deals)."""
        return _rate(self.won, self.created)


@attrs.frozen(kw_only=True)
class WinRate:
    """
    Win rates per group.

    Attributes:
        by: The grouping's name (``"channel"``, ``"owner"``... or ``"custom"``).
        as_of: The snapshot time.
        groups: One entry per group, sorted by group (``None`` last).
    """

    by: str
    as_of: datetime
    groups: tuple[GroupOutcomes, ...]

    @property
    def total(self) -> GroupOutcomes:
        """Every group together."""
        return GroupOutcomes(
            group=None,
            created=sum(g.created for g in self.groups),
            won=sum(g.won for g in self.groups),
            lost=sum(g.lost for g in self.groups),
        )

    def group(self, key: str | None) -> GroupOutcomes:
        """The outcomes of one group (zeros if it has no deals)."""
        for found in self.groups:
            if found.group == key:
                return found
        return GroupOutcomes(group=key, created=0, won=0, lost=0)

    def merge(self, other: WinRate) -> WinRate:
        """The win rates of two parts together."""
        _same("by", self.by, other.by)
        _same("as_of", self.as_of, other.as_of)
        counts: dict[str | None, list[int]] = {}
        for found in (*self.groups, *other.groups):
            total = counts.setdefault(found.group, [0, 0, 0])
            total[0] += found.created
            total[1] += found.won
            total[2] += found.lost
        return attrs.evolve(self, groups=_groups_from(counts))

    def rows(self) -> list[dict[str, Any]]:
        """One row per group: created, won, lost, open, win rate, won of created."""
        return [
            {
                self.by: found.group,
                "created": found.created,
                "won": found.won,
                "lost": found.lost,
                "open": found.open,
                "win_rate": found.win_rate,
                "won_of_created": found.won_of_created,
            }
            for found in self.groups
        ]


def _groups_from(counts: dict[str | None, list[int]]) -> tuple[GroupOutcomes, ...]:
    ordered = sorted(counts, key=lambda key: (key is None, key or ""))
    return tuple(
        GroupOutcomes(group=key, created=counts[key][0], won=counts[key][1], lost=counts[key][2])
        for key in ordered
    )


def win_rate(
    data: Histories | Iterable[Event],
    *,
    as_of: datetime | None = None,
    by: str | Callable[[History], str | None] = "all",
    pipeline: Pipeline | None = None,
    filters: Filters = _EVERYTHING,
) -> WinRate:
    """
    Count won, lost and open deals per group: win rate = won / (won + lost).

    Args:
        data: The events (then `as_of` is required) or their `Histories`.
        as_of: The snapshot time.
        by: ``"all"``, ``"channel"``, ``"site"``, ``"campaign"``, ``"owner"``, ``"pipeline"``
            or a function of a `History` returning its group.
        pipeline: Only this pipeline's deals.
        filters: Which deals count.
    """
    folded = _fold(data, as_of)
    key_of = _grouping(by)
    counts: dict[str | None, list[int]] = {}
    won_outcome, lost_outcome = Outcome.WON, Outcome.LOST
    for history in _select(folded, EntityKind.DEAL, pipeline.key if pipeline else None, filters):
        key = key_of(history)
        total = counts.get(key)
        if total is None:
            total = counts[key] = [0, 0, 0]
        total[0] += 1
        outcome = history.outcome
        if outcome is won_outcome:
            total[1] += 1
        elif outcome is lost_outcome:
            total[2] += 1
    return WinRate(
        by=by if isinstance(by, str) else "custom",
        as_of=folded.as_of,
        groups=_groups_from(counts),
    )


@attrs.frozen(kw_only=True)
class LostReasons:
    """
    Why deals were lost and leads closed as junk, by the stage they left.

    Attributes:
        as_of: The snapshot time.
        counts: ``(outcome, stage left, reason, how many)``, most frequent first.
    """

    as_of: datetime
    counts: tuple[tuple[Outcome, str, str, int], ...]

    def merge(self, other: LostReasons) -> LostReasons:
        """The reasons of two parts together."""
        _same("as_of", self.as_of, other.as_of)
        total: Counter[tuple[Outcome, str, str]] = Counter()
        for outcome, stage, reason, n in (*self.counts, *other.counts):
            total[outcome, stage, reason] += n
        return attrs.evolve(self, counts=_reason_counts(total))

    def rows(self) -> list[dict[str, Any]]:
        """One row per outcome, stage and reason."""
        return [
            {"outcome": outcome.value, "stage": stage, "reason": reason, "count": n}
            for outcome, stage, reason, n in self.counts
        ]


def _reason_counts(
    total: Counter[tuple[Outcome, str, str]],
) -> tuple[tuple[Outcome, str, str, int], ...]:
    return tuple(
        (*key, n)
        for key, n in sorted(
            total.items(), key=lambda item: (-item[1], item[0][0].value, item[0][1:])
        )
    )


def lost_reasons(
    data: Histories | Iterable[Event],
    *,
    as_of: datetime | None = None,
    pipeline: Pipeline | None = None,
    filters: Filters = _EVERYTHING,
) -> LostReasons:
    """Count lost deals and junk leads by the stage they were closed from and the reason."""
    folded = _fold(data, as_of)
    total: Counter[tuple[Outcome, str, str]] = Counter()
    for history in _select(folded, None, pipeline.key if pipeline else None, filters):
        if history.outcome in {Outcome.LOST, Outcome.JUNK} and history.reason is not None:
            total[history.outcome, history.closed_from or "", history.reason] += 1
    return LostReasons(as_of=folded.as_of, counts=_reason_counts(total))


# --- closing times -------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ClosingTimes:
    """
    How long deals took to close, open deals included as censored times.

    Attributes:
        as_of: The snapshot time.
        times: Per deal, days from creation to closing, or to `as_of` if still open.
        outcomes: Per deal, ``"won"``, ``"lost"`` or ``None`` if still open.
    """

    as_of: datetime
    times: tuple[float, ...]
    outcomes: tuple[str | None, ...]

    @property
    def open(self) -> int:
        """Deals still open (censored)."""
        return self.outcomes.count(None)

    def cycle(self) -> tuple[float, ...]:
        """The sales cycle in days of the won deals, sorted (open deals excluded)."""
        pairs = zip(self.times, self.outcomes, strict=True)
        return tuple(sorted(t for t, o in pairs if o == "won"))

    def cycle_quantile(self, q: float) -> float | None:
        """A quantile of the won deals' cycle in days (type 7); open deals excluded."""
        return quantile(self.cycle(), q)

    def time_to_close(self) -> Curve:
        """Kaplan–Meier: the share of deals still open after each number of days."""
        return kaplan_meier(self.times, [o is not None for o in self.outcomes])

    def win_probability(self) -> Curve:
        """Aalen–Johansen: the probability a deal is won within each number of days."""
        return aalen_johansen(self.times, self.outcomes, "won")

    def merge(self, other: ClosingTimes) -> ClosingTimes:
        """The deals of two parts together."""
        _same("as_of", self.as_of, other.as_of)
        pairs = sorted(
            zip(self.times + other.times, self.outcomes + other.outcomes, strict=True),
            key=lambda pair: (pair[0], pair[1] or ""),
        )
        return attrs.evolve(
            self, times=tuple(t for t, _ in pairs), outcomes=tuple(o for _, o in pairs)
        )


def closing_times(
    data: Histories | Iterable[Event],
    *,
    as_of: datetime | None = None,
    pipeline: Pipeline | None = None,
    filters: Filters = _EVERYTHING,
) -> ClosingTimes:
    """Collect every deal's days to close (or days open so far) and its outcome."""
    folded = _fold(data, as_of)
    snapshot = folded.as_of
    pairs: list[tuple[float, str | None]] = []
    for history in _select(folded, EntityKind.DEAL, pipeline.key if pipeline else None, filters):
        if history.created_at is None:
            continue
        end = history.closed_at if history.closed_at is not None else snapshot
        outcome = history.outcome.value if history.outcome is not None else None
        pairs.append(((end - history.created_at).total_seconds() / _DAY, outcome))
    pairs.sort(key=lambda pair: (pair[0], pair[1] or ""))
    return ClosingTimes(
        as_of=snapshot, times=tuple(t for t, _ in pairs), outcomes=tuple(o for _, o in pairs)
    )


# --- sources -------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class SourceRow:
    """
    The quality of one source's inbound flow.

    Attributes:
        source: The channel, site or campaign (``None``: unknown).
        leads: Leads from it.
        junk: Of them, those whose last verdict is junk (`Bucket`).
        good: Of them, those whose last verdict is good (qualified good, or converted).
        deals: Deals from it.
        won: Of them won.
        lost: Of them lost.
        revenue: The won deals' amounts, one `Money` per currency.
        cycle_days: The won deals' days from creation to winning, sorted.
    """

    source: str | None
    leads: int
    junk: int
    good: int
    deals: int
    won: int
    lost: int
    revenue: tuple[Money, ...]
    cycle_days: tuple[float, ...]

    @property
    def waiting(self) -> int:
        """Leads still waiting for a verdict: neither junk nor good."""
        return self.leads - self.junk - self.good

    @property
    def junk_share(self) -> float | None:
        """Junk of leads."""
        return _rate(self.junk, self.leads)

    @property
    def win_rate(self) -> float | None:
        """Won of closed deals."""
        return _rate(self.won, self.won + self.lost)

    @property
    def median_cycle_days(self) -> float | None:
        """The median sales cycle of the won deals in days."""
        return quantile(self.cycle_days, 0.5)

    def plus(self, other: SourceRow) -> SourceRow:
        """Two parts' counts of the same source together."""
        amounts: dict[str, Decimal] = {}
        for money in (*self.revenue, *other.revenue):
            amounts[money.currency] = amounts.get(money.currency, Decimal(0)) + money.amount
        return SourceRow(
            source=self.source,
            leads=self.leads + other.leads,
            junk=self.junk + other.junk,
            good=self.good + other.good,
            deals=self.deals + other.deals,
            won=self.won + other.won,
            lost=self.lost + other.lost,
            revenue=tuple(Money(amount=a, currency=c) for c, a in sorted(amounts.items())),
            cycle_days=tuple(sorted(self.cycle_days + other.cycle_days)),
        )


@attrs.frozen(kw_only=True)
class Sources:
    """
    Leads, junk, good leads, deals, wins, revenue and cycle per source.

    Attributes:
        by: ``"channel"``, ``"site"`` or ``"campaign"``.
        as_of: The snapshot time.
        sources: One row per source, sorted (unknown last).
    """

    by: str
    as_of: datetime
    sources: tuple[SourceRow, ...]

    def merge(self, other: Sources) -> Sources:
        """The sources of two parts together."""
        _same("by", self.by, other.by)
        _same("as_of", self.as_of, other.as_of)
        rows: dict[str | None, SourceRow] = {}
        for row in (*self.sources, *other.sources):
            rows[row.source] = rows[row.source].plus(row) if row.source in rows else row
        return attrs.evolve(self, sources=_sorted_sources(rows))

    def rows(self) -> list[dict[str, Any]]:
        """One plain row per source."""
        return [
            {
                self.by: row.source,
                "leads": row.leads,
                "junk": row.junk,
                "junk_share": row.junk_share,
                "good": row.good,
                "waiting": row.waiting,
                "deals": row.deals,
                "won": row.won,
                "lost": row.lost,
                "win_rate": row.win_rate,
                "revenue": ", ".join(str(money) for money in row.revenue),
                "median_cycle_days": row.median_cycle_days,
            }
            for row in self.sources
        ]


def _sorted_sources(rows: dict[str | None, SourceRow]) -> tuple[SourceRow, ...]:
    return tuple(rows[key] for key in sorted(rows, key=lambda key: (key is None, key or "")))


def _tally_lead(counts: dict[str, Any], history: History) -> None:
    counts["leads"] += 1
    if history.bucket is Bucket.JUNK:
        counts["junk"] += 1
    elif history.bucket is Bucket.GOOD:
        counts["good"] += 1


def _tally_deal(counts: dict[str, Any], history: History) -> None:
    counts["deals"] += 1
    if history.outcome is Outcome.LOST:
        counts["lost"] += 1
    if history.outcome is not Outcome.WON:
        return
    counts["won"] += 1
    if history.amount is not None:
        revenue = counts["revenue"]
        currency = history.amount.currency
        revenue[currency] = revenue.get(currency, Decimal(0)) + history.amount.amount
    if history.created_at is not None and history.closed_at is not None:
        counts["cycle"].append((history.closed_at - history.created_at).total_seconds() / _DAY)


def sources(
    data: Histories | Iterable[Event],
    *,
    as_of: datetime | None = None,
    by: str = "channel",
    filters: Filters = _EVERYTHING,
) -> Sources:
    """Measure each source's inbound flow: its leads, how many were junk or good, its deals."""
    if by not in {"channel", "site", "campaign"}:
        raise_for("by", by, "sources are grouped by 'channel', 'site' or 'campaign'", "unknown")
    folded = _fold(data, as_of)
    key_of = _GROUPS[by]
    tallies: dict[str | None, dict[str, Any]] = {}

    def tally(key: str | None) -> dict[str, Any]:
        found = tallies.get(key)
        if found is None:
            found = tallies[key] = {
                "leads": 0,
                "junk": 0,
                "good": 0,
                "deals": 0,
                "won": 0,
                "lost": 0,
                "revenue": {},
                "cycle": [],
            }
        return found

    for history in _select(folded, EntityKind.LEAD, None, filters):
        _tally_lead(tally(key_of(history)), history)
    for history in _select(folded, EntityKind.DEAL, None, filters):
        _tally_deal(tally(key_of(history)), history)
    rows = {
        key: SourceRow(
            source=key,
            leads=c["leads"],
            junk=c["junk"],
            good=c["good"],
            deals=c["deals"],
            won=c["won"],
            lost=c["lost"],
            revenue=tuple(Money(amount=a, currency=cur) for cur, a in sorted(c["revenue"].items())),
            cycle_days=tuple(sorted(c["cycle"])),
        )
        for key, c in tallies.items()
    }
    return Sources(by=by, as_of=folded.as_of, sources=_sorted_sources(rows))
