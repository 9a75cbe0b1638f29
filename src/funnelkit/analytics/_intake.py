"""
The ways into a `StageLog`: funnelkit's events, plain columns of values, and frames.

`from_events` reads each event once into lists of small integers (no object per event beyond
the events), then orders and fills the columns with numpy. `from_values` codes columns of
Python values (ids, names, datetimes) into the log's tables. `from_frame` reads a frame
through narwhals, for interchange only: each column comes out as a numpy array, and no
dataframe library is imported that the caller did not pass.
"""

from __future__ import annotations

import importlib
from datetime import datetime
from typing import TYPE_CHECKING, Any

from funnelkit._checks import raise_for
from funnelkit.analytics._columnar import (
    _CLOSING,
    _EPOCH,
    _EVENT_NAMES,
    _KIND_NAMES,
    _MICROSECOND,
    _NONE,
    LogEvent,
    StageLog,
    _numpy,
)
from funnelkit.events import (
    DealCreated,
    DealLost,
    DealWon,
    LeadClosedAsJunk,
    LeadConverted,
    LeadCreated,
    MoveEvent,
    OwnerChanged,
    StageChanged,
)
from funnelkit.model import EntityKind


if TYPE_CHECKING:
    from collections.abc import Iterable

    from funnelkit.events import Event


__all__ = ["from_events", "from_frame", "from_values"]

_EXACT_SECONDS = 4.0e9  # |timestamp()| below this, round(seconds * 1e6) is its exact µs


# --- from events ---------------------------------------------------------------------------------


_ROW_OF: dict[type[Any], LogEvent] = {
    StageChanged: LogEvent.MOVED,
    DealWon: LogEvent.WON,
    DealLost: LogEvent.LOST,
    LeadClosedAsJunk: LogEvent.JUNK,
    LeadConverted: LogEvent.CONVERTED,
    LeadCreated: LogEvent.CREATED,
    DealCreated: LogEvent.CREATED,
    OwnerChanged: LogEvent.OWNER,
}


def _row_of(event_type: type[Any]) -> LogEvent:
    """The row kind of a subclass of a known event, or OTHER."""
    found = next(
        (row for cls, row in _ROW_OF.items() if issubclass(event_type, cls)),
        LogEvent.MOVED if issubclass(event_type, MoveEvent) else LogEvent.OTHER,
    )
    _ROW_OF[event_type] = found
    return found


class _Codes(dict[str, int]):
    """A code table being built: value → code, in order of first appearance."""

    def code(self, value: str | None) -> int:
        if value is None:
            return _NONE
        found = self.get(value)
        if found is None:
            found = self[value] = len(self)
        return found


class _Read:
    """Lead and deal events read into lists, one entry per event, in the order given."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.pipelines, self.stages, self.owners = _Codes(), _Codes(), _Codes()
        self.sources, self.reasons = _Codes(), _Codes()
        self.entity: list[int] = []
        self.kind: list[int] = []
        self.sequence: list[int] = []
        self.seconds: list[float] = []
        self.row: list[int] = []
        self.pipeline: list[int] = []
        self.stage: list[int] = []
        self.owner: list[int] = []
        self.owner_set: list[bool] = []
        self.source: list[int] = []
        self.reason: list[int] = []
        self.events: list[Event] = []  # for the messages of refused logs

    def read(self, events: Iterable[Event]) -> None:
        """Read every lead and deal event; task and contact events are skipped."""
        codes: dict[EntityKind, tuple[dict[str, int], int]] = {
            EntityKind.LEAD: ({}, 0),
            EntityKind.DEAL: ({}, 1),
        }
        moved, created, owner_row = LogEvent.MOVED, LogEvent.CREATED, LogEvent.OWNER
        for given in events:
            event: Any = given  # read by its row kind below
            ref = event.entity
            found = codes.get(ref.kind)
            if found is None:
                continue
            table, kind = found
            code = table.get(ref.id)
            if code is None:
                code = table[ref.id] = len(self.ids)
                self.ids.append(ref.id)
            row = _ROW_OF.get(type(event)) or _row_of(type(event))
            self.entity.append(code)
            self.kind.append(kind)
            self.sequence.append(event.sequence)
            self.row.append(row)
            self.events.append(event)
            if row is moved or row in _CLOSING:
                self._moved(event)
            elif row is created:
                self._created(event.deal if kind else event.lead)
            else:
                self._other(event, row is owner_row)

    def _moved(self, event: Any) -> None:
        self.seconds.append(event.at.timestamp())
        self.pipeline.append(self.pipelines.code(event.pipeline))
        self.stage.append(self.stages.code(event.to_stage))
        self.owner.append(_NONE)
        self.owner_set.append(False)
        self.source.append(_NONE)
        self.reason.append(self.reasons.code(getattr(event, "reason", None)))

    def _created(self, entity: Any) -> None:
        self.seconds.append(entity.created_at.timestamp())
        self.pipeline.append(self.pipelines.code(entity.pipeline))
        self.stage.append(self.stages.code(entity.stage))
        self.owner.append(self.owners.code(entity.owner))
        self.owner_set.append(True)
        source = entity.source
        self.source.append(self.sources.code(source.channel if source is not None else None))
        self.reason.append(_NONE)

    def _other(self, event: Any, owner: bool) -> None:
        self.seconds.append(event.at.timestamp())
        self.pipeline.append(_NONE)
        self.stage.append(_NONE)
        self.owner.append(self.owners.code(event.new) if owner else _NONE)
        self.owner_set.append(owner)
        self.source.append(_NONE)
        self.reason.append(_NONE)


def from_events(events: Iterable[Event]) -> StageLog:
    """`StageLog.from_events`: read the events, order the rows, fill the state columns."""
    np = _numpy()
    read = _Read()
    read.read(events)
    order, times = _ordered(np, read)
    entity = np.asarray(read.entity, dtype=np.int64)[order]
    rows = np.asarray(read.row, dtype=np.int8)[order]
    starts = np.ones(len(order), dtype=bool)
    starts[1:] = entity[1:] != entity[:-1]
    pipeline = np.asarray(read.pipeline, dtype=np.int32)[order]
    owner_set = np.asarray(read.owner_set, dtype=bool)[order]
    owner = np.asarray(read.owner, dtype=np.int32)[order]
    source = np.asarray(read.source, dtype=np.int32)[order]
    return StageLog(
        entity=entity,
        kind=np.asarray(read.kind, dtype=np.int8)[order],
        event=rows,
        time=times,
        pipeline=_forward_fill(np, pipeline, pipeline >= 0, starts),
        stage=np.asarray(read.stage, dtype=np.int32)[order],
        owner=_forward_fill(np, owner, owner_set, starts),
        source=_forward_fill(np, source, rows == int(LogEvent.CREATED), starts),
        reason=np.asarray(read.reason, dtype=np.int32)[order],
        ids=read.ids,
        pipelines=tuple(read.pipelines),
        stages=tuple(read.stages),
        owners=tuple(read.owners),
        sources=tuple(read.sources),
        reasons=tuple(read.reasons),
    )


def _exact_times(np: Any, read: _Read, order: Any) -> Any:
    """int64 microseconds of the rows in `order` (worked out exactly for far-off times)."""
    seconds = np.asarray(read.seconds, dtype=np.float64)[order]
    times = np.rint(seconds * 1e6).astype(np.int64)
    for at in np.flatnonzero(np.abs(seconds) >= _EXACT_SECONDS).tolist():
        times[at] = _micros(read.events[int(order[at])])
    return times


def _ordered(np: Any, read: _Read) -> tuple[Any, Any]:
    """
    The order of the rows (by entity, then time; each entity's in sequence order), and times.

    One event given twice is kept once. Refused: two different events with one sequence, and
    stage or owner events that go back in time in sequence order. Other events (a note, a
    payment) recorded later about an earlier moment take their place in time.
    """
    entity = np.asarray(read.entity, dtype=np.int64)
    sequence = np.asarray(read.sequence, dtype=np.int64)
    order = np.lexsort((sequence, entity))
    entity, sequence = entity[order], sequence[order]
    twice = np.flatnonzero((entity[1:] == entity[:-1]) & (sequence[1:] == sequence[:-1]))
    if len(twice):
        keep = np.ones(len(order), dtype=bool)
        for at in twice.tolist():
            first, second = read.events[int(order[at])], read.events[int(order[at + 1])]
            if first != second:
                raise_for(
                    "events",
                    second,
                    f"{second.entity} has two different events with sequence "
                    f"{second.sequence}; a log holds one event per entity and sequence",
                    "duplicate_sequence",
                )
            keep[at + 1] = False
        order, entity = order[keep], entity[keep]
    times = _exact_times(np, read, order)
    rows = np.asarray(read.row, dtype=np.int8)[order]
    _check_state_order(np, entity, times, rows, order, read.events)
    if bool(np.any((entity[1:] == entity[:-1]) & (times[1:] < times[:-1]))):
        by_time = np.lexsort((times, entity))  # stable: sequence order within a time
        order, times = order[by_time], times[by_time]
    return order, times


def _check_state_order(  # noqa: PLR0917 - private
    np: Any, codes: Any, times: Any, rows: Any, order: Any, events: list[Event]
) -> None:
    """Refuse an entity whose stage or owner events go back in time in sequence order."""
    state = np.flatnonzero(rows != int(LogEvent.OTHER))
    if len(state) < 2:  # noqa: PLR2004 - an order needs two rows
        return
    owners, moments = codes[state], times[state]
    back = np.flatnonzero((owners[1:] == owners[:-1]) & (moments[1:] < moments[:-1]))
    if len(back):
        later = events[int(order[state[int(back[0]) + 1]])]
        raise_for(
            "events",
            later,
            f"{later.entity}: event {later.sequence} ({type(later).__name__}) is earlier than "
            "the stage or owner event before it in sequence order; a StageLog orders each "
            "entity's rows by time: fix the times, or report on the events themselves",
            "order",
        )


def _micros(event: Event) -> int:
    """The exact microseconds of a row's time (a creation row's is the entity's created_at)."""
    moment = event.at
    if isinstance(event, DealCreated):
        moment = event.deal.created_at
    elif isinstance(event, LeadCreated):
        moment = event.lead.created_at
    return (moment - _EPOCH) // _MICROSECOND


def _forward_fill(np: Any, values: Any, sets: Any, starts: Any) -> Any:
    """Each row's value: that of the last row of its entity that set it (-1 before any)."""
    if not len(values):
        return values
    index = np.where(sets | starts, np.arange(len(values)), 0)
    np.maximum.accumulate(index, out=index)
    return np.where(sets, values, _NONE)[index].astype(np.int32, copy=False)


# --- from values and frames ----------------------------------------------------------------------


def _factorize(np: Any, name: str, values: Any, *, nullable: bool) -> tuple[Any, tuple[str, ...]]:
    """Codes of a column of strings (``None`` as -1) and its table, in order of appearance."""
    table: dict[str, int] = {}
    codes = np.empty(len(values), dtype=np.int32)
    for row, value in enumerate(values.tolist()):
        if value is None or (isinstance(value, float) and value != value):  # noqa: PLR0124 - NaN
            if not nullable:
                raise_for(
                    f"StageLog.{name}",
                    row,
                    f"row {row} has no {name}; every row needs one",
                    "required",
                )
            codes[row] = _NONE
            continue
        if not isinstance(value, str):
            raise_for(
                f"StageLog.{name}",
                value,
                f"row {row} holds {type(value).__name__} {value!r}; expected text (a string "
                "column): cast the column to strings first",
                "dtype",
            )
        found = table.get(value)
        if found is None:
            found = table[value] = len(table)
        codes[row] = found
    return codes, tuple(table)


def _times(np: Any, values: Any) -> Any:
    """int64 microseconds since the epoch from aware datetimes or integers."""
    if values.dtype.kind in "iu":
        return values.astype(np.int64)
    if values.dtype.kind == "M":
        raise_for(
            "StageLog.time",
            str(values.dtype),
            "holds naive timestamps; give timezone-aware ones (or UTC microseconds as int64)",
            "naive",
        )
    micros = np.empty(len(values), dtype=np.int64)
    for row, value in enumerate(values.tolist()):
        if not isinstance(value, datetime):
            raise_for(
                "StageLog.time",
                value,
                f"row {row} holds {type(value).__name__}; expected a timezone-aware datetime "
                "or int64 microseconds since the epoch (UTC)",
                "dtype",
            )
        if value.utcoffset() is None:
            raise_for(
                "StageLog.time",
                value,
                f"row {row} is a naive datetime; give timezone-aware times",
                "naive",
            )
        micros[row] = (value - _EPOCH) // _MICROSECOND
    return micros


def _events(np: Any, values: Any) -> Any:
    codes = np.empty(len(values), dtype=np.int8)
    for row, value in enumerate(values.tolist()):
        found = _EVENT_NAMES.get(value) if isinstance(value, str) else None
        if found is None and isinstance(value, int) and not isinstance(value, bool):
            found = LogEvent(value) if 0 <= value < len(LogEvent) else None
        if found is None:
            raise_for(
                "StageLog.event",
                value,
                f"row {row} holds {value!r}; expected one of {', '.join(_EVENT_NAMES)}",
                "unknown",
            )
        codes[row] = int(found)
    return codes


def from_values(np: Any, values: dict[str, Any]) -> StageLog:
    kinds_given = values["kind"]
    kind = np.empty(len(kinds_given), dtype=np.int8)
    for row, value in enumerate(kinds_given.tolist()):
        found = _KIND_NAMES.get(value) if isinstance(value, str) else None
        if found is None:
            raise_for(
                "StageLog.kind",
                value,
                f"row {row} holds {value!r}; expected 'lead' or 'deal'",
                "unknown",
            )
        kind[row] = found
    raw_ids = values["entity"]
    if raw_ids.dtype.kind in "iu":  # integer ids: their text
        raw_ids = raw_ids.astype(str).astype(object)
    keyed = np.empty(len(raw_ids), dtype=object)
    for row, (value, kind_code) in enumerate(zip(raw_ids.tolist(), kind.tolist(), strict=True)):
        keyed[row] = (kind_code, value) if isinstance(value, str) else value
    entity, keys = _factorize_keys(np, keyed)
    event = _events(np, values["event"])
    time = _times(np, values["time"])
    pipeline, pipelines = _factorize(np, "pipeline", values["pipeline"], nullable=True)
    stage, stages = _factorize(np, "stage", values["stage"], nullable=True)
    owner, owners = _factorize(np, "owner", values["owner"], nullable=True)
    source, sources = _factorize(np, "source", values["source"], nullable=True)
    reason, reasons = _factorize(np, "reason", values["reason"], nullable=True)
    return StageLog(
        entity=entity,
        kind=kind,
        event=event,
        time=time,
        pipeline=pipeline,
        stage=stage,
        owner=owner,
        source=source,
        reason=reason,
        ids=keys,
        pipelines=pipelines,
        stages=stages,
        owners=owners,
        sources=sources,
        reasons=reasons,
    )


def _factorize_keys(np: Any, keyed: Any) -> tuple[Any, tuple[str, ...]]:
    table: dict[tuple[int, str], int] = {}
    ids: list[str] = []
    codes = np.empty(len(keyed), dtype=np.int32)
    for row, key in enumerate(keyed.tolist()):
        if not isinstance(key, tuple):
            raise_for(
                "StageLog.entity",
                key,
                f"row {row} holds {type(key).__name__} {key!r}; expected an id (text or an "
                "integer) on every row",
                "required" if key is None else "dtype",
            )
        found = table.get(key)
        if found is None:
            found = table[key] = len(ids)
            ids.append(key[1])
        codes[row] = found
    return codes, tuple(ids)


_FRAME_COLUMNS = (
    "entity",
    "time",
    "event",
    "stage",
    "pipeline",
    "kind",
    "owner",
    "source",
    "reason",
)
_REQUIRED = frozenset({"entity", "time", "event", "stage"})


def from_frame(frame: Any, names: dict[str, str], kind: str, pipeline: str | None) -> StageLog:
    np = _numpy()
    unknown = sorted(set(names) - set(_FRAME_COLUMNS))
    if unknown:
        raise_for(
            "columns",
            unknown,
            f"unknown funnelkit column(s) {unknown}; map these: {', '.join(_FRAME_COLUMNS)}",
            "unknown",
        )
    try:
        nw = importlib.import_module("narwhals")
    except ImportError:  # pragma: no cover - the extra is installed where the tests run
        raise_for(
            "frame",
            type(frame).__name__,
            "reading a frame needs narwhals: pip install 'funnelkit[columnar]'",
            "missing_extra",
        )
    try:
        found = nw.from_native(frame)
    except TypeError:
        raise_for(
            "frame",
            type(frame).__name__,
            "is not a dataframe narwhals can read (pandas, polars, pyarrow, DuckDB...); pass "
            "one, or plain columns to StageLog.from_columns",
            "type",
        )
    if isinstance(found, nw.LazyFrame):
        found = found.collect()
    present = set(found.columns)
    values: dict[str, Any] = {}
    for name in _FRAME_COLUMNS:
        column = names.get(name, name)
        if column not in present:
            if name in _REQUIRED or (name == "pipeline" and pipeline is None):
                hint = " or pass pipeline=..." if name == "pipeline" else ""
                raise_for(
                    f"frame.{column}",
                    sorted(present),
                    f"the frame has no column {column!r} for {name}; name it in "
                    f"columns={{{name!r}: ...}}{hint}",
                    "missing",
                )
            default = kind if name == "kind" else pipeline if name == "pipeline" else None
            values[name] = np.full(len(found), default, dtype=object)
            continue
        series = found.get_column(column)
        if name == "time":
            values[name] = _frame_times(nw, series, column)
        else:
            values[name] = series.to_numpy()
    return from_values(np, values)


def _frame_times(nw: Any, series: Any, column: str) -> Any:
    dtype = series.dtype
    if isinstance(dtype, nw.Datetime):
        if dtype.time_zone is None:
            raise_for(
                f"frame.{column}",
                str(dtype),
                "holds naive timestamps; give timezone-aware ones (convert with your frame "
                "library, e.g. .dt.replace_time_zone('UTC') in polars)",
                "naive",
            )
        if series.null_count():
            raise_for(
                f"frame.{column}", column, "has missing times; every row needs one", "required"
            )
        return series.dt.timestamp("us").to_numpy()
    if not dtype.is_integer():
        raise_for(
            f"frame.{column}",
            str(dtype),
            "expected a timezone-aware timestamp column (or int64 microseconds since the epoch)",
            "dtype",
        )
    return series.to_numpy()
