"""
The funnel: how far entities get, how they flow between stages, and how long they stay.

`conversion` counts reach under four definitions, `stage_flows` the from × to matrix of every
move, `time_in_stage` the durations of visits (open visits counted as censored).
"""

from __future__ import annotations

import enum
import itertools
from collections import Counter
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import attrs

from funnelkit._checks import raise_for
from funnelkit.analytics import _kernels
from funnelkit.analytics._columnar import StageLog
from funnelkit.analytics._common import (
    _EVERYTHING,
    _HOUR,
    Filters,
    _fold,
    _rate,
    _same,
    _select,
)
from funnelkit.analytics._stats import quantile
from funnelkit.pipelines import Pipeline, StageKind


if TYPE_CHECKING:
    from collections.abc import Iterable

    from funnelkit.analytics._history import Histories, History
    from funnelkit.events import Event
    from funnelkit.pipelines import Pipeline


__all__ = [
    "ConversionReport",
    "Per",
    "Reach",
    "StageFlows",
    "StageTimes",
    "TimeInStage",
    "conversion",
    "stage_flows",
    "time_in_stage",
]

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
    data: Histories | Iterable[Event] | StageLog,
    pipeline: Pipeline,
    *,
    as_of: datetime | None = None,
    reach: Reach = Reach.ENTERED,
    filters: Filters = _EVERYTHING,
) -> ConversionReport:
    """
    Count the leads or deals of `pipeline` that reached each funnel stage.

    Args:
        data: The events (then `as_of` is required), their `Histories`, or a `StageLog`
            (then `as_of` is required; computed in columns, with the same result).
        pipeline: The pipeline whose funnel is counted: its open stages in order, then its won
            stages. Lost and junk stages are not funnel steps (see `lost_reasons`).
        as_of: The snapshot time.
        reach: What counts as reaching a stage (`Reach`).
        filters: Which entities count.
    """
    stages = _funnel_stages(pipeline)
    if isinstance(data, StageLog):
        snap = _kernels.snapshot(data, as_of)
        counts, chosen = _kernels.reached(snap, pipeline, stages, Reach(reach).value, filters)
        return ConversionReport(
            pipeline=pipeline.key,
            reach=Reach(reach),
            as_of=snap.as_of,
            stages=stages,
            reached=tuple(counts),
            entities=chosen,
        )
    folded = _fold(data, as_of)
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
    data: Histories | Iterable[Event] | StageLog,
    pipeline: Pipeline,
    *,
    as_of: datetime | None = None,
    filters: Filters = _EVERYTHING,
) -> StageFlows:
    """
    Count every move between stages of `pipeline`, backward moves and re-entries included.

    `data` is the events (then `as_of` is required), their `Histories`, or a `StageLog`.
    """
    stages = tuple(stage.key for stage in pipeline.stages)
    if isinstance(data, StageLog):
        snap = _kernels.snapshot(data, as_of)
        return StageFlows(
            pipeline=pipeline.key,
            as_of=snap.as_of,
            stages=stages,
            counts=_ordered_counts(_kernels.flows(snap, pipeline, filters), stages),
        )
    folded = _fold(data, as_of)
    total: Counter[tuple[str, str]] = Counter()
    for history in _select(folded, None, pipeline.key, filters):
        total.update(itertools.pairwise(history.trail[0::2]))
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


_NO_TIME = timedelta(0)


def _per_entity(
    history: History, wanted: dict[str, list[float]], per: Per
) -> Iterable[tuple[str, float]]:
    """One entity's latest or cumulative completed time in each wanted stage."""
    found: dict[str, timedelta] = {}  # exact: whole microseconds summed, then seconds
    stages, entered = history.stages, history.entered
    for index in range(len(stages) - 1):
        stage = stages[index]
        if stage in wanted:
            spent = entered[index + 1] - entered[index]
            found[stage] = spent if per is Per.LATEST else found.get(stage, _NO_TIME) + spent
    if per is Per.CUMULATIVE and history.outcome is None:
        found.pop(stages[-1], None)
    return ((stage, spent.total_seconds()) for stage, spent in found.items())


def time_in_stage(
    data: Histories | Iterable[Event] | StageLog,
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

    `data` is the events (then `as_of` is required), their `Histories`, or a `StageLog`.
    """
    if isinstance(data, StageLog):
        snap = _kernels.snapshot(data, as_of)
        keys, durations, still = _kernels.visits(snap, pipeline, Per(per).value, filters)
        return TimeInStage(
            pipeline=pipeline.key,
            per=Per(per),
            as_of=snap.as_of,
            stages=tuple(
                StageTimes(stage=key, durations=tuple(found), open=count)
                for key, found, count in zip(keys, durations, still, strict=True)
            ),
        )
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
