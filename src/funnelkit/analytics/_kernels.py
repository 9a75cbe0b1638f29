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
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from typing import TYPE_CHECKING, Any

from funnelkit._checks import aware_datetime_problem, raise_for
from funnelkit.analytics._codes import _CLOSING, _EPOCH, _MICROSECOND, LogEvent, _numpy
from funnelkit.analytics._common import _EVERYTHING, DateBasis, Filters, _check_filters
from funnelkit.model import Period


if TYPE_CHECKING:
    from funnelkit.analytics._columnar import StageLog
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
        self._chosen: dict[tuple[int | None, str | None, Filters], tuple[Any, _Rows]] = {}
        entities = len(log.ids)
        kept = None if not len(log) or int(log.time.max()) <= micros else log.time <= micros
        # Each entity's state is that of its last row as of the snapshot.
        codes = log.entity if kept is None else log.entity[kept]
        last = np.flatnonzero(_run_ends(np, codes))
        owners = codes[last]
        self.present = np.zeros(entities, dtype=bool)
        self.present[owners] = True
        self.kind = _per_entity(np, entities, owners, _column(log.kind, kept)[last])
        self.pipeline = _per_entity(np, entities, owners, _column(log.pipeline, kept)[last])
        self.owner = _per_entity(np, entities, owners, _column(log.owner, kept)[last])
        self.source = _per_entity(np, entities, owners, _column(log.source, kept)[last])
        self.amount = _per_entity(np, entities, owners, _column(log.amount, kept)[last])
        self._last = (owners, last if kept is None else np.flatnonzero(kept)[last])
        self.kept = kept  # the rows as of the snapshot (None: every row)
        self._fields: dict[str, Any] = {}
        # The stage table: every stage row as of the snapshot, by entity then time.
        staged = log.stage >= 0
        if kept is not None:
            staged &= kept
        every = bool(staged.all())
        self.rows = _Rows(
            np,
            *(
                column if every else column[staged]
                for column in (log.entity, log.stage, log.time, log.event, log.reason, log.left)
            ),
        )
        table = self.rows
        final = np.flatnonzero(_run_ends(np, table.entity))
        final_owners = table.entity[final]
        self.current = _per_entity(np, entities, final_owners, table.stage[final])
        self.outcome = _per_entity(
            np, entities, final_owners, np.asarray(_OUTCOMES, dtype=np.int8)[table.event[final]]
        )
        self.closed_at = _per_entity(np, entities, final_owners, table.time[final], 0)
        self.reason = _per_entity(np, entities, final_owners, table.reason[final])
        self.left = _per_entity(np, entities, final_owners, table.left[final])
        created = np.flatnonzero(table.event == int(LogEvent.CREATED))
        created = created[_run_ends(np, table.entity[created])]
        self.has_created = np.zeros(entities, dtype=bool)
        self.has_created[table.entity[created]] = True
        self.created_at = _per_entity(np, entities, table.entity[created], table.time[created], 0)

    def select(self, kind: int | None, pipeline: str | None, filters: Filters) -> Any:
        """Which entities count, as the event path's `_select` chooses them."""
        log = self.log
        chosen = self.present.copy()
        if kind is not None:
            chosen &= self.kind == kind
        if pipeline is not None:
            chosen &= _equals(self.pipeline, log.code("pipelines", pipeline), pipeline)
        _check_filters(filters)
        if filters == _EVERYTHING:
            return chosen
        for key, wanted in filters.fields.items():
            values = log.field_values.get(key, ())
            codes = [code for code, value in enumerate(values) if value == wanted]
            chosen &= self.np.isin(self.field(key, "filters.fields"), codes)
        if filters.owner is not None:
            chosen &= _equals(self.owner, log.code("owners", filters.owner), filters.owner)
        if filters.channel is not None:
            code = log.code("sources", filters.channel)
            chosen &= _equals(self.source, code, filters.channel)
        if filters.period is not None:
            chosen &= self._in_period(filters)
        return chosen

    def field(self, key: str, where: str) -> Any:
        """Each entity's code of custom field `key` (-1: not set), or an error naming `where`."""
        found = self._fields.get(key)
        if found is None:
            column = self.log.fields.get(key)
            if column is None:
                held = ", ".join(map(repr, self.log.fields)) or "none"
                raise_for(
                    where,
                    key,
                    f"the StageLog holds no column for the custom field {key!r} (it holds "
                    f"{held}); build it with StageLog.from_events(..., fields=[{key!r}]) or "
                    "from a frame with that column",
                    "columnar",
                )
            owners, rows = self._last
            found = self._fields[key] = _per_entity(
                self.np, len(self.log.ids), owners, column[rows]
            )
        return found

    def _in_period(self, filters: Filters) -> Any:
        """Entities whose date of the filters' basis falls in their period."""
        np, log = self.np, self.log
        assert filters.period is not None  # noqa: S101 - the caller checked
        start, end = (_micros(bound) for bound in filters.period.bounds(filters.zone))
        if filters.basis is DateBasis.CREATED:
            return self.has_created & (self.created_at >= start) & (self.created_at < end)
        if filters.basis is DateBasis.CLOSED:
            return (self.outcome >= 0) & (self.closed_at >= start) & (self.closed_at < end)
        table = self.rows
        hit = np.zeros(len(log.ids), dtype=bool)
        hit[table.entity[(table.time >= start) & (table.time < end)]] = True
        return hit

    def chosen_rows(
        self, kind: int | None, pipeline: str | None, filters: Filters
    ) -> tuple[Any, _Rows]:
        """`select`, and the stage table of the entities chosen (by entity then time)."""
        _check_filters(filters)
        key = (kind, pipeline, filters)
        found = self._chosen.get(key)
        if found is None:
            chosen = self.select(kind, pipeline, filters)
            table = self.rows
            keep = chosen[table.entity]
            rows = table if bool(keep.all()) else table.only(keep)
            found = self._chosen[key] = (chosen, rows)
        return found


class _Rows:
    """Stage rows in parallel arrays (entity, stage, time, event...), by entity then time."""

    def __init__(  # noqa: PLR0917 - the columns, in order
        self, np: Any, entity: Any, stage: Any, time: Any, event: Any, reason: Any, left: Any
    ) -> None:
        self.np = np
        self.entity, self.stage, self.time, self.event = entity, stage, time, event
        self.reason, self.left = reason, left
        self._starts: Any = None
        self._same: Any = None
        self._lookups: dict[tuple[str, ...], Any] = {}

    def __len__(self) -> int:
        return len(self.entity)

    def only(self, keep: Any) -> _Rows:
        """The rows where `keep` is true."""
        columns = (self.entity, self.stage, self.time, self.event, self.reason, self.left)
        return _Rows(self.np, *(column[keep] for column in columns))

    @property
    def starts(self) -> Any:
        """The first row of each entity."""
        if self._starts is None:
            self._starts = _run_starts(self.np, self.entity)
        return self._starts

    @property
    def same(self) -> Any:
        """Whether each row but the last has the same entity as the next: the moves."""
        if self._same is None:
            self._same = self.entity[1:] == self.entity[:-1]
        return self._same

    def masks(self, log: StageLog, stages: tuple[str, ...]) -> Any:
        """Per entity, a bit mask of the `stages` it entered (at most `_BITS` of them)."""
        key = ("masks", *stages)
        found = self._lookups.get(key)
        if found is None:
            np = self.np
            bits = np.zeros(len(stages) + 1, dtype=np.int64)  # -1 reads the last: no bit
            bits[: len(stages)] = np.left_shift(1, np.arange(len(stages), dtype=np.int64))
            position = self.positions(log, stages)
            found = self._lookups[key] = np.bitwise_or.reduceat(bits[position], self.starts)
        return found

    def positions(self, log: StageLog, stages: tuple[str, ...]) -> Any:
        """Per row, the index of its stage in `stages` (-1: none of them), as int8 or wider."""
        found = self._lookups.get(stages)
        if found is None:
            lookup = _positions(self.np, log, stages)
            found = self._lookups[stages] = lookup[self.stage]
        return found


_OUTCOMES = [-1] * len(LogEvent)
for _closing in _CLOSING:
    _OUTCOMES[int(_closing)] = int(_closing)


def _column(column: Any, kept: Any) -> Any:
    return column if kept is None else column[kept]


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


def _per_entity(np: Any, size: int, codes: Any, values: Any, missing: int = -1) -> Any:
    found = np.full(size, missing, dtype=values.dtype)
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
    dtype = np.int8 if len(stages) < 127 else np.int32  # noqa: PLR2004 - int8's range
    found = np.full(len(log.stages) + 1, -1, dtype=dtype)  # code -1 reads the last slot
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
    chosen, rows = snap.chosen_rows(None, pipeline.key, filters)
    size = len(stages)
    entities = int(np.count_nonzero(chosen))
    if not len(rows):
        return [0] * size, entities
    position = rows.positions(log, stages)
    if reach == "implied":
        furthest = np.maximum.reduceat(position, rows.starts).astype(np.intp)
        counts = np.bincount(furthest + 1, minlength=size + 1)[1:]
        implied: list[int] = np.cumsum(counts[::-1])[::-1].tolist()
        return implied, entities
    if reach == "in_order":
        return _in_order(np, rows.entity, position, size, len(log.ids)), entities
    if size > _BITS:
        return _reached_wide(np, rows.entity, position, size, reach), entities
    masks = rows.masks(log, stages)
    if reach == "entered":
        return [int(np.count_nonzero(masks & (1 << index))) for index in range(size)], entities
    leading = np.zeros(len(masks), dtype=np.int8)  # how many stages from the first entered
    for index in range(size):
        leading += (masks & ((2 << index) - 1)) == (2 << index) - 1
    counts = np.bincount(leading, minlength=size + 1)
    return np.cumsum(counts[::-1])[::-1][1:].tolist(), entities


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
    rows = snap.chosen_rows(None, pipeline.key, filters)[1]
    total: Counter[tuple[str, str]] = Counter()
    if len(rows) < 2:  # noqa: PLR2004 - a move needs two rows
        return total
    width = len(log.stages)
    pairs = (rows.stage[:-1].astype(np.int64) * width + rows.stage[1:])[rows.same]
    if width * width <= 4 * len(pairs):  # a dense table is cheaper than sorting the moves
        counts = np.bincount(pairs, minlength=width * width)
        found = np.flatnonzero(counts)
        counts = counts[found]
    else:  # many stages (many pipelines): count the pairs that occur, never width²
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
    keys = tuple(stage.key for stage in pipeline.stages if not stage.closed)
    size = len(keys)
    chosen, rows = snap.chosen_rows(None, pipeline.key, filters)
    lookup = _positions(np, log, keys)
    open_now = chosen & (snap.outcome < 0) & (snap.current >= 0)
    still_open = np.bincount(lookup[snap.current[open_now]] + 1, minlength=size + 1)[1:].tolist()
    if len(rows) < 2:  # noqa: PLR2004 - a visit needs two rows
        return list(keys), [[] for _ in keys], still_open
    slots = rows.positions(log, keys)[:-1]
    wanted = rows.same & (slots >= 0)
    if per == "cumulative":  # an open entity's current stage is not over: none of its visits
        owners = rows.entity[:-1]
        wanted &= ~(open_now[owners] & (rows.stage[:-1] == snap.current[owners]))
    moves = np.flatnonzero(wanted)
    slots = slots[moves]
    micros = rows.time[moves + 1] - rows.time[moves]
    if per == "visit":
        return list(keys), _durations(np, slots, micros, size), still_open
    group = rows.entity[moves].astype(np.int64) * size + slots
    order = np.argsort(group, kind="stable")  # each entity's visits of a stage, in time order
    group, micros = group[order], micros[order]
    ends = _run_ends(np, group)
    if per == "latest":
        totals = micros[ends]
    else:  # exact: whole microseconds summed, then seconds
        totals = np.add.reduceat(micros, _run_starts(np, group)) if len(group) else micros
    return list(keys), _durations(np, group[ends] % size, totals, size), still_open


def _durations(np: Any, slots: Any, micros: Any, size: int) -> list[list[float]]:
    """Per slot, the durations in seconds, sorted (µs sorted, then divided: the same order)."""
    return [(np.sort(micros[slots == index]) / 1e6).tolist() for index in range(size)]


# --- win rate ------------------------------------------------------------------------------------


def outcomes(
    snap: _Snapshot, by: str, pipeline: Pipeline | None, filters: Filters
) -> dict[str | None, list[int]]:
    """Per group, the deals counted, won and lost."""
    np, log = snap.np, snap.log
    field = by.removeprefix("fields.") if by.startswith("fields.") and by != "fields." else None
    if by not in _GROUPINGS and field is None:
        raise_for(
            "by",
            by,
            f"a StageLog groups by {', '.join(_GROUPINGS)} or 'fields.<key>'; for a site, a "
            "campaign or a function, report on the events",
            "columnar",
        )
    chosen = snap.select(1, pipeline.key if pipeline is not None else None, filters)
    names: tuple[str, ...]
    if field is not None:
        group, names = _field_groups(np, snap.field(field, "by"), log.field_values[field])
    elif by == "all":
        group = np.zeros(len(chosen), dtype=np.int64)
        names = ("all",)
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


def _field_groups(np: Any, codes: Any, values: tuple[Any, ...]) -> tuple[Any, tuple[str, ...]]:
    """Each entity's group by a custom field: the text of its value (values of one text, one)."""
    labels: dict[str, int] = {}
    slot = [labels.setdefault(str(value), len(labels)) for value in values]
    regroup = np.asarray([*slot, -1], dtype=np.int64)  # -1 (not set) reads the last: none
    return regroup[codes], tuple(labels)


# --- lost reasons and closing times ------------------------------------------------------------


_LOSSES = (int(LogEvent.LOST), int(LogEvent.JUNK))


def losses(
    snap: _Snapshot, pipeline: Pipeline | None, filters: Filters
) -> Counter[tuple[int, str, str]]:
    """Lost deals and junk leads by outcome (its `LogEvent`), the stage left and the reason."""
    np, log = snap.np, snap.log
    chosen, _ = snap.chosen_rows(None, pipeline.key if pipeline is not None else None, filters)
    closed = chosen & np.isin(snap.outcome, _LOSSES) & (snap.reason >= 0)
    total: Counter[tuple[int, str, str]] = Counter()
    if not closed.any():
        return total
    width_left, width_reason = len(log.stages) + 1, len(log.reasons)
    keys = (
        snap.outcome[closed].astype(np.int64) * width_left + snap.left[closed] + 1
    ) * width_reason + snap.reason[closed]
    found, counts = np.unique(keys, return_counts=True)
    for key, count in zip(found.tolist(), counts.tolist(), strict=True):
        rest, reason = divmod(key, width_reason)
        outcome, left = divmod(rest, width_left)
        stage = log.stages[left - 1] if left else ""
        total[outcome, stage, log.reasons[reason]] = count
    return total


_OUTCOME_NAMES = {int(LogEvent.WON): "won", int(LogEvent.LOST): "lost"}
_OUTCOME_NAMES |= {int(LogEvent.JUNK): "junk", int(LogEvent.CONVERTED): "converted"}


def closings(
    snap: _Snapshot, pipeline: Pipeline | None, filters: Filters
) -> tuple[list[float], list[str | None]]:
    """Per deal with a creation, days from creation to closing (or to the snapshot), sorted."""
    np = snap.np
    chosen, _ = snap.chosen_rows(1, pipeline.key if pipeline is not None else None, filters)
    chosen = chosen & snap.has_created
    outcome = snap.outcome[chosen]
    end = np.where(outcome >= 0, snap.closed_at[chosen], _micros(snap.as_of))
    days = (end - snap.created_at[chosen]) / 1e6 / 86_400.0  # as timedelta.total_seconds()
    names = [None, *sorted(set(_OUTCOME_NAMES.values()))]  # sorted as the event path sorts
    rank = np.zeros(len(LogEvent) + 1, dtype=np.int8)  # -1 (open) reads the last: rank 0
    for code, name in _OUTCOME_NAMES.items():
        rank[code] = names.index(name)
    ranks = rank[outcome]
    order = np.lexsort((ranks, days))
    return days[order].tolist(), [names[index] for index in ranks[order].tolist()]


def dropped(
    snap: _Snapshot, pipeline: Pipeline, keys: tuple[str, ...], filters: Filters
) -> list[int]:
    """Per stage of `keys`, the chosen entities lost or closed as junk from it."""
    np, log = snap.np, snap.log
    chosen, _ = snap.chosen_rows(None, pipeline.key, filters)
    closed = chosen & np.isin(snap.outcome, _LOSSES)
    slots = _positions(np, log, keys)[snap.left[closed]]
    found: list[int] = np.bincount(slots.astype(np.intp) + 1, minlength=len(keys) + 1)[1:].tolist()
    return found


# --- cohorts -----------------------------------------------------------------------------------


_NEAR = timedelta(hours=26)  # beyond any UTC offset, so beyond any change of one


def cohorts(
    snap: _Snapshot, window: timedelta, zone: tzinfo, pipeline: Pipeline | None, filters: Filters
) -> list[tuple[date, int, int]]:
    """Per creation week in `zone`, in order: the deals created, and those won within `window`."""
    np = snap.np
    chosen = snap.select(1, pipeline.key if pipeline is not None else None, filters)
    chosen &= snap.has_created
    created = snap.created_at[chosen]
    if not len(created):
        return []
    won = (snap.outcome[chosen] == _WON) & (
        snap.closed_at[chosen] - created <= window // _MICROSECOND
    )
    weeks, slots = _weeks(np, created, zone)
    made = np.bincount(slots, minlength=len(weeks)).tolist()
    wins = np.bincount(slots[won], minlength=len(weeks)).tolist()
    return [(week, made[n], wins[n]) for n, week in enumerate(weeks) if made[n]]


def _weeks(np: Any, micros: Any, zone: tzinfo) -> tuple[list[date], Any]:
    """
    The weeks (Mondays) around the local dates of `micros` in `zone`, and each one's week index.

    Instants are placed between the weeks' first instants (local midnight on Monday) by binary
    search. Where a zone's offset changes near a Monday, local dates may go back (clocks set
    back over midnight): those instants are placed one by one, as the event path does.
    """
    low, high = _local_day(int(micros.min()), zone), _local_day(int(micros.max()), zone)
    first = Period.week(low - timedelta(days=1) if low > date.min else low).start  # a day's
    last = Period.week(high + timedelta(days=1) if high < date.max else high).start  # margin
    weeks = [first + timedelta(weeks=n) for n in range((last - first).days // 7 + 1)]
    starts = [datetime.combine(week, time(0), tzinfo=zone) for week in weeks[1:]]
    slots = np.searchsorted(
        np.asarray([_micros(s) for s in starts], dtype=np.int64), micros, "right"
    )
    if isinstance(zone, timezone):  # one offset: local dates follow the instants
        return weeks, slots
    near = np.zeros(len(micros), dtype=bool)  # instants near an offset change at a week's start
    margin = _NEAR // _MICROSECOND
    for start in starts:
        before, after = (start - _NEAR).utcoffset(), (start + _NEAR).utcoffset()
        if before != after or start.utcoffset() != before:
            moment = _micros(start)
            near |= (micros >= moment - margin) & (micros <= moment + margin)
    for row in np.flatnonzero(near).tolist():
        day = _local_day(int(micros[row]), zone)
        slots[row] = (Period.week(day).start - first).days // 7
    return weeks, slots


def _local_day(micros: int, zone: tzinfo) -> date:
    return (_EPOCH + timedelta(microseconds=micros)).astimezone(zone).date()
