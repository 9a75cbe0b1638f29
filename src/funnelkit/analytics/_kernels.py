"""
The reports over a `StageLog`: numpy kernels that give the results the event path gives.

Each kernel reads the log as of a snapshot (`_Snapshot`, worked out once per log and
``as_of``): which entities exist, their state at the snapshot (kind, pipeline, owner, source,
outcome, creation and closing times) and their stage rows. It then selects entities as the
event path's `_select` does and computes with grouping by sorted entity runs, ``bincount``,
``reduceat`` and sorts. The definitions are those of the event path (`_funnel`, `_outcomes`);
``tests/test_columnar.py`` holds the two paths equal on generated logs.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from funnelkit._checks import aware_datetime_problem, raise_for
from funnelkit.analytics._columnar import _CLOSING, _EPOCH, _MICROSECOND, LogEvent, StageLog, _numpy
from funnelkit.analytics._common import _EVERYTHING, DateBasis, Filters


if TYPE_CHECKING:
    from datetime import datetime

    from funnelkit.pipelines import Pipeline


__all__: list[str] = []

_WON, _LOST = int(LogEvent.WON), int(LogEvent.LOST)
_BITS = 62  # funnels up to this many stages count reach with one int64 bit mask per entity
_GROUPINGS = ("all", "channel", "owner", "pipeline")


class _Snapshot:
    """A log as of one time: the entities that exist then, their state, their stage rows."""

    def __init__(self, log: StageLog, as_of: datetime, micros: int) -> None:
        np = _numpy()
        self.np = np
        self.log = log
        self.as_of = as_of
        entities = len(log.ids)
        rows = np.flatnonzero(log.time <= micros)  # rows are sorted by entity, then time
        codes = log.entity[rows]
        last = rows[_run_ends(np, codes)]
        self.present = np.zeros(entities, dtype=bool)
        self.present[log.entity[last]] = True
        self.kind = _per_entity(np, entities, log.entity[last], log.kind[last], -1)
        self.pipeline = _per_entity(np, entities, log.entity[last], log.pipeline[last], -1)
        self.owner = _per_entity(np, entities, log.entity[last], log.owner[last], -1)
        self.source = _per_entity(np, entities, log.entity[last], log.source[last], -1)
        staged = rows[log.stage[rows] >= 0]
        self.staged = staged  # every stage row as of the snapshot, by entity then time
        staged_codes = log.entity[staged]
        final = staged[_run_ends(np, staged_codes)]
        final_codes = log.entity[final]
        self.current = _per_entity(np, entities, final_codes, log.stage[final], -1)
        closing = np.isin(log.event[final], [int(event) for event in _CLOSING])
        self.outcome = _per_entity(
            np, entities, final_codes, np.where(closing, log.event[final], -1), -1
        )
        self.closed_at = _per_entity(np, entities, final_codes, log.time[final], 0)
        created = rows[log.event[rows] == int(LogEvent.CREATED)]
        created = created[_run_ends(np, log.entity[created])]
        self.has_created = np.zeros(entities, dtype=bool)
        self.has_created[log.entity[created]] = True
        self.created_at = _per_entity(np, entities, log.entity[created], log.time[created], 0)

    def select(self, kind: int | None, pipeline: str | None, filters: Filters) -> Any:
        """Which entities count, as the event path's `_select` chooses them."""
        log = self.log
        chosen = self.present.copy()
        if kind is not None:
            chosen &= self.kind == kind
        if pipeline is not None:
            chosen &= _equals(self.pipeline, log.code("pipelines", pipeline), pipeline)
        given: object = filters
        if not isinstance(given, Filters):
            raise_for(
                "filters",
                given,
                "pass a funnelkit.analytics.Filters, e.g. Filters(owner=..., channel=...)",
                "type",
            )
        if filters == _EVERYTHING:
            return chosen
        if filters.fields:
            raise_for(
                "filters.fields",
                dict(filters.fields),
                "a StageLog holds no custom fields; filter its rows before building it, or "
                "report on the events",
                "columnar",
            )
        if filters.owner is not None:
            chosen &= _equals(self.owner, log.code("owners", filters.owner), filters.owner)
        if filters.channel is not None:
            code = log.code("sources", filters.channel)
            chosen &= _equals(self.source, code, filters.channel)
        if filters.period is not None:
            chosen &= self._in_period(filters)
        return chosen

    def _in_period(self, filters: Filters) -> Any:
        """Entities whose date of the filters' basis falls in their period."""
        np, log = self.np, self.log
        assert filters.period is not None  # noqa: S101 - the caller checked
        start, end = (_micros(bound) for bound in filters.period.bounds(filters.zone))
        if filters.basis is DateBasis.CREATED:
            return self.has_created & (self.created_at >= start) & (self.created_at < end)
        if filters.basis is DateBasis.CLOSED:
            return (self.outcome >= 0) & (self.closed_at >= start) & (self.closed_at < end)
        times = log.time[self.staged]
        inside = self.staged[(times >= start) & (times < end)]
        hit = np.zeros(len(log.ids), dtype=bool)
        hit[log.entity[inside]] = True
        return hit

    def rows_of(self, chosen: Any) -> Any:
        """The stage rows of the chosen entities, by entity then time."""
        return self.staged[chosen[self.log.entity[self.staged]]]


def _run_ends(np: Any, codes: Any) -> Any:
    """A mask of the last row of each run of equal codes."""
    ends = np.ones(len(codes), dtype=bool)
    if len(codes) > 1:
        ends[:-1] = codes[1:] != codes[:-1]
    return ends


def _run_starts(np: Any, codes: Any) -> Any:
    """The index of the first row of each run of equal codes."""
    if not len(codes):
        return np.zeros(0, dtype=np.intp)
    starts = np.ones(len(codes), dtype=bool)
    starts[1:] = codes[1:] != codes[:-1]
    return np.flatnonzero(starts)


def _per_entity(np: Any, size: int, codes: Any, values: Any, missing: int) -> Any:
    found = np.full(size, missing, dtype=np.int64)
    found[codes] = values
    return found


def _equals(values: Any, code: int, wanted: str) -> Any:
    """Entities whose value is `wanted` (none, if `wanted` is not in the log at all)."""
    del wanted  # a value absent from the log's table has code -1: nobody holds it
    if code < 0:
        return values != values  # noqa: PLR0124 - all false, of the right shape
    return values == code


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // _MICROSECOND


def snapshot(log: StageLog, as_of: datetime | None) -> _Snapshot:
    """The log as of `as_of` (worked out once per log and time)."""
    if as_of is None:
        raise_for(
            "as_of",
            as_of,
            "reports over a StageLog need the snapshot time: pass as_of=... (an aware datetime)",
            "required",
        )
    problem = aware_datetime_problem(as_of)
    if problem is not None:
        raise_for("as_of", as_of, *problem)
    micros = _micros(as_of)
    cached = log._snapshot  # noqa: SLF001 - the log's cache slot
    if cached is not None and cached[0] == micros:
        found: _Snapshot = cached[1]
    else:
        found = _Snapshot(log, as_of, micros)
        object.__setattr__(log, "_snapshot", (micros, found))
    found.as_of = as_of
    return found


def _positions(np: Any, log: StageLog, stages: tuple[str, ...]) -> Any:
    """Per stage code of the log, its index in `stages` (-1: not one of them)."""
    found = np.full(len(log.stages) + 1, -1, dtype=np.int64)  # code -1 reads the last slot
    for index, stage in enumerate(stages):
        code = log.code("stages", stage)
        if code >= 0:
            found[code] = index
    return found


# --- conversion ----------------------------------------------------------------------------------


def reached(
    snap: _Snapshot, pipeline: Pipeline, stages: tuple[str, ...], reach: str, filters: Filters
) -> tuple[list[int], int]:
    """How many chosen entities reached each funnel stage, and how many were chosen."""
    np, log = snap.np, snap.log
    chosen = snap.select(None, pipeline.key, filters)
    size = len(stages)
    rows = snap.rows_of(chosen)
    position = _positions(np, log, stages)[log.stage[rows]]
    codes = log.entity[rows]
    entities = int(np.count_nonzero(chosen))
    if not len(rows):
        return [0] * size, entities
    starts = _run_starts(np, codes)
    if reach == "implied":
        furthest = np.maximum.reduceat(position, starts)
        counts = np.bincount(furthest + 1, minlength=size + 1)[1:]
        implied: list[int] = np.cumsum(counts[::-1])[::-1].tolist()
        return implied, entities
    if reach == "in_order":
        return _in_order(np, codes, position, size, len(log.ids)), entities
    if size <= _BITS:
        bits = np.where(position >= 0, np.left_shift(1, np.maximum(position, 0)), 0)
        masks = np.bitwise_or.reduceat(bits.astype(np.int64), starts)
        if reach == "entered":
            return [int(np.count_nonzero(masks & (1 << index))) for index in range(size)], entities
        return [
            int(np.count_nonzero((masks & ((2 << index) - 1)) == (2 << index) - 1))
            for index in range(size)
        ], entities
    return _reached_wide(np, codes, position, size, reach), entities


def _reached_wide(np: Any, codes: Any, position: Any, size: int, reach: str) -> list[int]:
    """ENTERED and ALL_PREVIOUS for funnels too long for a bit mask: unique pairs."""
    keep = position >= 0
    pairs = np.unique(codes[keep].astype(np.int64) * size + position[keep])
    positions = pairs % size
    if reach == "entered":
        found: list[int] = np.bincount(positions, minlength=size).tolist()
        return found
    # Sorted unique positions per entity: its leading run 0, 1, 2... is where position = rank.
    starts = _run_starts(np, pairs // size)
    lengths = np.diff(np.append(starts, len(pairs)))
    rank = np.arange(len(pairs)) - np.repeat(starts, lengths)
    leading: list[int] = np.bincount(positions[positions == rank], minlength=size).tolist()
    return leading


def _in_order(np: Any, codes: Any, position: Any, size: int, entities: int) -> list[int]:
    """IN_ORDER: every stage before entered, first entries in the funnel's order."""
    never = np.iinfo(np.int64).max
    ok = None
    before = None
    counts = []
    for index in range(size):
        rows = np.flatnonzero(position == index)
        first = np.full(entities, never, dtype=np.int64)
        if len(rows):
            owners = codes[rows]
            leading = np.ones(len(rows), dtype=bool)
            leading[1:] = owners[1:] != owners[:-1]
            first[owners[leading]] = rows[leading]
        entered = first != never
        ok = entered if ok is None else ok & entered & (first > before)
        before = first
        counts.append(int(np.count_nonzero(ok)))
    return counts


# --- stage flows ---------------------------------------------------------------------------------


def flows(snap: _Snapshot, pipeline: Pipeline, filters: Filters) -> Counter[tuple[str, str]]:
    """Every move between consecutive stages of the chosen entities, counted."""
    np, log = snap.np, snap.log
    rows = snap.rows_of(snap.select(None, pipeline.key, filters))
    total: Counter[tuple[str, str]] = Counter()
    if len(rows) < 2:  # noqa: PLR2004 - a move needs two rows
        return total
    codes = log.entity[rows]
    same = codes[1:] == codes[:-1]
    width = len(log.stages)
    pairs = log.stage[rows[:-1]][same].astype(np.int64) * width + log.stage[rows[1:]][same]
    found, counts = np.unique(pairs, return_counts=True)
    for pair, count in zip(found.tolist(), counts.tolist(), strict=True):
        total[log.stages[pair // width], log.stages[pair % width]] = count
    return total


# --- time in stage -------------------------------------------------------------------------------


def visits(
    snap: _Snapshot, pipeline: Pipeline, per: str, filters: Filters
) -> tuple[list[str], list[list[float]], list[int]]:
    """The open stages, the completed durations (seconds, sorted) and open visits of each."""
    np, log = snap.np, snap.log
    keys = [stage.key for stage in pipeline.stages if not stage.closed]
    chosen = snap.select(None, pipeline.key, filters)
    rows = snap.rows_of(chosen)
    slot_of = _positions(np, log, tuple(keys))
    open_now = chosen & (snap.outcome < 0) & (snap.current >= 0)
    still_open = np.bincount(slot_of[snap.current[open_now]] + 1, minlength=len(keys) + 1)[
        1:
    ].tolist()
    if len(rows) < 2:  # noqa: PLR2004 - a visit needs two rows
        return keys, [[] for _ in keys], still_open
    codes = log.entity[rows]
    same = codes[1:] == codes[:-1]
    left, right = rows[:-1][same], rows[1:][same]
    slots = slot_of[log.stage[left]]
    micros = log.time[right] - log.time[left]
    owners = codes[:-1][same]
    if per == "visit":
        wanted = slots >= 0
        return keys, _durations(np, slots[wanted], micros[wanted], len(keys)), still_open
    wanted = slots >= 0
    if per == "cumulative":  # an open entity's current stage is not over: none of its visits
        wanted &= ~(open_now[owners] & (log.stage[left] == snap.current[owners]))
    slots, micros, owners = slots[wanted], micros[wanted], owners[wanted]
    group = owners.astype(np.int64) * len(keys) + slots
    order = np.argsort(group, kind="stable")  # each entity's visits of a stage, in time order
    group, micros = group[order], micros[order]
    ends = _run_ends(np, group)
    if per == "latest":
        totals = micros[ends]
    else:  # exact: whole microseconds summed, then seconds
        totals = np.add.reduceat(micros, _run_starts(np, group)) if len(group) else micros
    return keys, _durations(np, group[ends] % len(keys), totals, len(keys)), still_open


def _durations(np: Any, slots: Any, micros: Any, size: int) -> list[list[float]]:
    """Per slot, the durations in seconds, sorted (µs sorted, then divided: same order)."""
    order = np.lexsort((micros, slots))
    slots, micros = slots[order], micros[order]
    bounds = np.searchsorted(slots, np.arange(size + 1))
    seconds = (micros / 1e6).tolist()
    return [seconds[bounds[index] : bounds[index + 1]] for index in range(size)]


# --- win rate ------------------------------------------------------------------------------------


def outcomes(
    snap: _Snapshot, by: str, pipeline: Pipeline | None, filters: Filters
) -> dict[str | None, list[int]]:
    """Per group, the deals counted, won and lost."""
    np, log = snap.np, snap.log
    if by not in _GROUPINGS:
        raise_for(
            "by",
            by,
            f"a StageLog groups by {', '.join(_GROUPINGS)}; for a site, a campaign, a custom "
            "field or a function, report on the events",
            "columnar",
        )
    chosen = snap.select(1, pipeline.key if pipeline is not None else None, filters)
    if by == "all":
        group = np.zeros(len(chosen), dtype=np.int64)
        names: tuple[str, ...] = ("all",)
    else:
        group = {"channel": snap.source, "owner": snap.owner, "pipeline": snap.pipeline}[by]
        names = {"channel": log.sources, "owner": log.owners, "pipeline": log.pipelines}[by]
    slots = group[chosen] + 1  # 0: none
    outcome = snap.outcome[chosen]
    width = len(names) + 1
    created = np.bincount(slots, minlength=width).tolist()
    won = np.bincount(slots[outcome == _WON], minlength=width).tolist()
    lost = np.bincount(slots[outcome == _LOST], minlength=width).tolist()
    keys: list[str | None] = [None, *names]
    return {
        keys[slot]: [created[slot], won[slot], lost[slot]] for slot in range(width) if created[slot]
    }
