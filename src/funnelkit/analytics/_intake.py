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
from array import array
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from funnelkit._checks import raise_for
from funnelkit._collector import paused_gc
from funnelkit.analytics._columnar import (
    _EPOCH,
    _EVENT_NAMES,
    _KIND_NAMES,
    _MICROSECOND,
    _NONE,
    LogEvent,
    StageLog,
    _numpy,
    empty_log,
)
from funnelkit.events import (
    AmountChanged,
    DealCreated,
    DealLost,
    DealWon,
    FieldChanged,
    LeadClosedAsJunk,
    LeadConverted,
    LeadCreated,
    MoveEvent,
    OwnerChanged,
    StageChanged,
)
from funnelkit.exceptions import ValidationError
from funnelkit.model import EntityKind, Money
from funnelkit.model._fields import field_value_problem


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


def _code(table: dict[Any, int], value: str | Money | None) -> int:
    """The code of a value in a table being built (codes in order of first appearance)."""
    if value is None:
        return _NONE
    found = table.get(value)
    if found is None:
        found = table[value] = len(table)
    return found


class _Read:
    """
    A log read into typed arrays, one entry per event given, in the order given.

    Events of neither a lead nor a deal get entity -1 and are left out later. The bulk
    columns (entity, sequence, time, row kind, pipeline, stage, stage left) get one entry per
    event; what few events carry (a creation's owner and source, a new owner, a reason) is
    kept as positions beside codes and spread into columns with numpy afterwards. So is what
    sets a deal's amount: its creation, an `AmountChanged`, a `DealWon` with an amount.
    """

    def __init__(self, events: Iterable[Event], fields: tuple[str, ...] = ()) -> None:
        self.events: list[Event] = events if isinstance(events, list) else list(events)
        # Per custom field asked for: (position, value code) of what sets it, and its values.
        self.fields = {key: (array("q"), array("q")) for key in fields}
        self.field_values: dict[str, dict[tuple[type, str], tuple[int, Any]]] = {
            key: {} for key in fields
        }
        self.ids: list[str] = []
        self.kinds: list[int] = []  # per entity code
        self.pipelines: dict[str, int] = {}
        self.stages: dict[str, int] = {}
        self.owners: dict[str, int] = {}
        self.sources: dict[str, int] = {}
        self.reasons: dict[str, int] = {}
        self.amounts: dict[Money, int] = {}
        # Typed arrays: appending costs what a list's does, and numpy reads them without a copy.
        self.entity = array("q")
        self.sequence = array("q")
        self.seconds = array("d")
        self.row = array("b")
        self.pipeline = array("q")
        self.stage = array("q")
        self.left = array("q")
        self.created = (array("q"), array("q"), array("q"))  # position, owner, source
        self.owner = (array("q"), array("q"))  # position, new owner
        self.reason = (array("q"), array("q"))  # position, reason
        self.amount = (array("q"), array("q"))  # position, amount (-1: set to none)

    def read(self) -> None:  # noqa: C901, PLR0912, PLR0915 - one hot loop, inlined for speed
        """Read every event once."""
        leads: dict[str, int] = {}
        deals: dict[str, int] = {}
        deal_kind, lead_kind = EntityKind.DEAL, EntityKind.LEAD
        ids, kinds, pipelines, stages = self.ids, self.kinds, self.pipelines, self.stages
        add_entity, add_sequence = self.entity.append, self.sequence.append
        add_seconds, add_row = self.seconds.append, self.row.append
        add_pipeline, add_stage = self.pipeline.append, self.stage.append
        add_left = self.left.append
        row_of, created, owner_row = _ROW_OF, LogEvent.CREATED, LogEvent.OWNER
        lost, junk, won = LogEvent.LOST, LogEvent.JUNK, LogEvent.WON
        converted = LogEvent.CONVERTED
        amount_at, amount_code = self.amount
        last_pipeline, last_code = None, _NONE
        for position, given in enumerate(self.events):
            event: Any = given  # read by its row kind below
            row = row_of.get(type(event))
            if row is None:
                row = _row_of(type(event))
            ref = event.entity
            kind = ref.kind
            if kind is deal_kind:
                table = deals
            elif kind is lead_kind:
                table = leads
            else:  # a task or contact event: a placeholder, dropped later
                add_entity(_NONE)
                add_sequence(0)
                add_seconds(0.0)
                add_row(LogEvent.OTHER)
                add_pipeline(_NONE)
                add_stage(_NONE)
                add_left(_NONE)
                continue
            code = table.get(ref.id)
            if code is None:
                code = table[ref.id] = len(ids)
                ids.append(ref.id)
                kinds.append(1 if kind is deal_kind else 0)
            add_entity(code)
            add_sequence(event.sequence)
            add_row(row)
            if row is created:
                entity = event.deal if kind is deal_kind else event.lead
                add_seconds(entity.created_at.timestamp())
                found = pipelines.get(entity.pipeline)
                if found is None:
                    found = pipelines[entity.pipeline] = len(pipelines)
                add_pipeline(found)
                found = stages.get(entity.stage)
                if found is None:
                    found = stages[entity.stage] = len(stages)
                add_stage(found)
                add_left(_NONE)
                source = entity.source
                at, owner, channel = self.created
                at.append(position)
                owner.append(_code(self.owners, entity.owner))
                channel.append(_code(self.sources, source.channel if source else None))
                if kind is deal_kind:
                    amount_at.append(position)
                    amount_code.append(_code(self.amounts, entity.amount))
                if self.fields:
                    for key in self.fields:
                        self._set_field(key, position, entity.fields.get(key))
            elif row <= converted:  # a move: MOVED, WON, LOST, JUNK, CONVERTED
                add_seconds(event.at.timestamp())
                pipeline = event.pipeline
                if pipeline != last_pipeline:  # most moves stay in the pipeline of the last
                    known = pipelines.get(pipeline)
                    if known is None:
                        known = pipelines[pipeline] = len(pipelines)
                    last_pipeline, last_code = pipeline, known
                add_pipeline(last_code)
                found = stages.get(event.to_stage)
                if found is None:
                    found = stages[event.to_stage] = len(stages)
                add_stage(found)
                found = stages.get(event.from_stage)
                if found is None:
                    found = stages[event.from_stage] = len(stages)
                add_left(found)
                if row is lost or row is junk:
                    self.reason[0].append(position)
                    self.reason[1].append(_code(self.reasons, event.reason))
                elif row is won and event.amount is not None:
                    amount_at.append(position)
                    amount_code.append(_code(self.amounts, event.amount))
            else:
                add_seconds(event.at.timestamp())
                add_pipeline(_NONE)
                add_stage(_NONE)
                add_left(_NONE)
                if row is owner_row:
                    self.owner[0].append(position)
                    self.owner[1].append(_code(self.owners, event.new))
                elif isinstance(event, AmountChanged):
                    amount_at.append(position)
                    amount_code.append(_code(self.amounts, event.new))
                elif isinstance(event, FieldChanged) and event.field in self.fields:
                    self._set_field(event.field, position, event.new)

    def _set_field(self, key: str, position: int, value: Any) -> None:
        """A custom field set (to none if `value` is ``None``) by the event at `position`."""
        at, codes = self.fields[key]
        at.append(position)
        codes.append(_field_code(self.field_values[key], value))


def _field_code(table: dict[tuple[type, str], tuple[int, Any]], value: Any) -> int:
    """
    The code of a custom field value (-1 for none).

    Values are told apart by type and text, as reports group them by text: ``True`` and ``1``,
    or ``Decimal("1.0")`` and ``Decimal("1.00")``, get codes of their own.
    """
    if value is None:
        return _NONE
    key = (type(value), str(value))
    found = table.get(key)
    if found is None:
        found = table[key] = (len(table), value)
    return found[0]


def from_events(events: Iterable[Event], fields: tuple[str, ...] = ()) -> StageLog:
    """`StageLog.from_events`: read the events, order the rows, fill the state columns."""
    np = _numpy()
    read = _Read(events, fields)
    with paused_gc():  # no cycles made: no collector rounds over the caller's whole heap
        read.read()
    size = len(read.events)
    owner = np.full(size, _NONE, dtype=np.int32)
    owner_set = np.zeros(size, dtype=bool)
    source = np.full(size, _NONE, dtype=np.int32)
    reason = np.full(size, _NONE, dtype=np.int32)
    at, owners, sources = (np.frombuffer(part, dtype=np.int64) for part in read.created)
    owner[at], owner_set[at], source[at] = owners, True, sources
    at, owners = (np.frombuffer(part, dtype=np.int64) for part in read.owner)
    owner[at], owner_set[at] = owners, True
    at, reasons = (np.frombuffer(part, dtype=np.int64) for part in read.reason)
    reason[at] = reasons
    amount = np.full(size, _NONE, dtype=np.int32)
    amount_set = np.zeros(size, dtype=bool)
    at, amounts = (np.frombuffer(part, dtype=np.int64) for part in read.amount)
    amount[at], amount_set[at] = amounts, True
    order, times = _ordered(np, read)
    field_codes = {}
    for key, (at_list, code_list) in read.fields.items():
        codes = np.full(size, _NONE, dtype=np.int32)
        sets = np.zeros(size, dtype=bool)
        at = np.frombuffer(at_list, dtype=np.int64)
        codes[at], sets[at] = np.frombuffer(code_list, dtype=np.int64), True
        field_codes[key] = (codes[order], sets[order])
    entity = np.frombuffer(read.entity, dtype=np.int64)[order]
    rows = np.frombuffer(read.row, dtype=np.int8)[order]
    starts = np.ones(len(order), dtype=bool)
    starts[1:] = entity[1:] != entity[:-1]
    pipeline = np.frombuffer(read.pipeline, dtype=np.int64)[order]
    return StageLog(
        entity=entity,
        kind=np.asarray(read.kinds, dtype=np.int8)[entity],
        event=rows,
        time=times,
        pipeline=_forward_fill(np, pipeline, pipeline >= 0, starts),
        stage=np.frombuffer(read.stage, dtype=np.int64)[order],
        owner=_forward_fill(np, owner[order], owner_set[order], starts),
        source=_forward_fill(np, source[order], rows == int(LogEvent.CREATED), starts),
        reason=reason[order],
        left=np.frombuffer(read.left, dtype=np.int64)[order],
        amount=_forward_fill(np, amount[order], amount_set[order], starts),
        fields={
            key: _forward_fill(np, codes, sets, starts)
            for key, (codes, sets) in field_codes.items()
        },
        field_values={
            key: tuple(value for _, value in table.values())
            for key, table in read.field_values.items()
        },
        ids=read.ids,
        pipelines=tuple(read.pipelines),
        stages=tuple(read.stages),
        owners=tuple(read.owners),
        sources=tuple(read.sources),
        reasons=tuple(read.reasons),
        amounts=tuple(read.amounts),
    )


def _exact_times(np: Any, read: _Read, order: Any) -> Any:
    """int64 microseconds of the rows in `order` (worked out exactly for far-off times)."""
    seconds = np.frombuffer(read.seconds, dtype=np.float64)[order]
    times = np.rint(seconds * 1e6).astype(np.int64)
    for at in np.flatnonzero(np.abs(seconds) >= _EXACT_SECONDS).tolist():
        times[at] = _micros(read.events[int(order[at])])
    return times


def _ordered(np: Any, read: _Read) -> tuple[Any, Any]:
    """
    The order of the rows (by entity, then time; each entity's in sequence order), and times.

    Task and contact events are left out. One event given twice is kept once. Refused: two
    different events with one sequence, and events that set state (a stage, the owner, the
    amount, a custom field held) going back in time in sequence order. Other events (a note, a
    payment) recorded later about an earlier moment take their place in time.
    """
    entity = np.frombuffer(read.entity, dtype=np.int64)
    sequence = np.frombuffer(read.sequence, dtype=np.int64)
    order = np.lexsort((sequence, entity))
    order = order[entity[order] >= 0]
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
    rows = np.frombuffer(read.row, dtype=np.int8)[order]
    setters = np.zeros(len(read.events), dtype=bool)  # events that set an amount or a field
    for at, _ in (read.amount, *read.fields.values()):
        setters[np.frombuffer(at, dtype=np.int64)] = True
    state = (rows != int(LogEvent.OTHER)) | setters[order]
    _check_state_order(np, entity, times, state, order, read.events)
    if bool(np.any((entity[1:] == entity[:-1]) & (times[1:] < times[:-1]))):
        by_time = np.lexsort((times, entity))  # stable: sequence order within a time
        order, times = order[by_time], times[by_time]
    return order, times


def _check_state_order(  # noqa: PLR0917 - private
    np: Any, codes: Any, times: Any, setting: Any, order: Any, events: list[Event]
) -> None:
    """Refuse an entity whose events that set its state go back in time in sequence order."""
    state = np.flatnonzero(setting)
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
            "the stage, owner, amount or field event before it in sequence order; a StageLog "
            "orders each entity's rows by time: fix the times, or report on the events "
            "themselves",
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


def _is_missing(value: object) -> bool:
    """None, or a float NaN (what a frame holds for a missing value)."""
    return value is None or (isinstance(value, float) and value != value)  # noqa: PLR0124


def _factorize(
    np: Any, name: str, values: Any, *, nullable: bool, table: tuple[str, ...] = ()
) -> tuple[Any, tuple[str, ...]]:
    """
    Codes of a column of strings (missing as -1) and its table (`table`, then new values).

    The distinct values are checked, then every row is coded with C-level passes
    (``dict.fromkeys`` and ``map``): a column of millions of rows costs one look-up a row.
    """
    given = values.tolist()
    distinct = dict.fromkeys(given)
    codes_of: dict[Any, int] = {value: code for code, value in enumerate(table)}
    for value in distinct:
        if _is_missing(value):
            if not nullable:
                row = next(row for row, found in enumerate(given) if _is_missing(found))
                raise_for(
                    f"StageLog.{name}",
                    row,
                    f"row {row} has no {name}; every row needs one",
                    "required",
                )
            continue
        if not isinstance(value, str):
            row = given.index(value)
            raise_for(
                f"StageLog.{name}",
                value,
                f"row {row} holds {type(value).__name__} {value!r}; expected text (a string "
                "column): cast the column to strings first",
                "dtype",
            )
        codes_of.setdefault(value, len(codes_of))
    texts = tuple(codes_of)
    for value in distinct:
        if _is_missing(value):
            codes_of[value] = _NONE
    codes = np.fromiter(map(codes_of.__getitem__, given), dtype=np.int32, count=len(given))
    return codes, texts


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
    """The `LogEvent` codes of a column of names or values (checked once per distinct one)."""
    given = values.tolist()
    codes_of: dict[Any, int] = {}
    for value in dict.fromkeys(given):
        found = _EVENT_NAMES.get(value) if isinstance(value, str) else None
        if found is None and isinstance(value, int) and not isinstance(value, bool):
            found = LogEvent(value) if 0 <= value < len(LogEvent) else None
        if found is None:
            row = given.index(value) if not _is_missing(value) else 0
            raise_for(
                "StageLog.event",
                value,
                f"row {row} holds {value!r}; expected one of {', '.join(_EVENT_NAMES)}",
                "unknown",
            )
        codes_of[value] = int(found)
    return np.fromiter(map(codes_of.__getitem__, given), dtype=np.int8, count=len(given))


def from_values(np: Any, values: dict[str, Any]) -> StageLog:
    """`StageLog.from_columns`: code columns of Python values (one array per column)."""
    sequence = values.pop("sequence", None)
    if sequence is not None:  # rows at one instant go in sequence order: put them so first
        if sequence.dtype.kind not in "iu":
            raise_for(
                "StageLog.sequence",
                str(sequence.dtype),
                "expected integers (each entity's event sequence numbers), without gaps in "
                "the column",
                "dtype",
            )
        first = np.argsort(sequence, kind="stable")
        values = {name: column[first] for name, column in values.items()}
    kinds_given = values["kind"].tolist()
    kind_of: dict[Any, int] = {}
    for value in dict.fromkeys(kinds_given):
        found = _KIND_NAMES.get(value) if isinstance(value, str) else None
        if found is None:
            row = kinds_given.index(value) if not _is_missing(value) else 0
            raise_for(
                "StageLog.kind",
                value,
                f"row {row} holds {value!r}; expected 'lead' or 'deal'",
                "unknown",
            )
        kind_of[value] = found
    kind = np.fromiter(map(kind_of.__getitem__, kinds_given), dtype=np.int8, count=len(kinds_given))
    raw_ids = values["entity"]
    if raw_ids.dtype.kind in "iu":  # integer ids: their text
        raw_ids = raw_ids.astype(str).astype(object)
    entity, keys = _factorize_keys(np, list(zip(kind.tolist(), raw_ids.tolist(), strict=True)))
    event = _events(np, values["event"])
    time = _times(np, values["time"])
    pipeline, pipelines = _factorize(np, "pipeline", values["pipeline"], nullable=True)
    stage, stages = _factorize(np, "stage", values["stage"], nullable=True)
    left = None
    if "from_stage" in values:
        left, stages = _factorize(
            np, "from_stage", values["from_stage"], nullable=True, table=stages
        )
    owner, owners = _factorize(np, "owner", values["owner"], nullable=True)
    source, sources = _factorize(np, "source", values["source"], nullable=True)
    reason, reasons = _factorize(np, "reason", values["reason"], nullable=True)
    amount, amounts = _amounts(np, values["amount"], values["currency"])
    fields = {
        name.removeprefix("fields."): _field_column(np, name, column)
        for name, column in values.items()
        if name.startswith("fields.")
    }
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
        left=left,
        amount=amount,
        ids=keys,
        pipelines=pipelines,
        stages=stages,
        owners=owners,
        sources=sources,
        reasons=reasons,
        amounts=amounts,
        fields={key: codes for key, (codes, _) in fields.items()},
        field_values={key: table for key, (_, table) in fields.items()},
    )


_TEXT_MAY_DIFFER = (Decimal, datetime)  # equal values of these types may be written otherwise


def _field_column(np: Any, name: str, column: Any) -> tuple[Any, tuple[Any, ...]]:
    """
    Codes of a custom field's column (missing as -1) and its table of values.

    Values are told apart by type and by text, as `from_events` tells them apart. A column
    without decimals or datetimes is coded by (type, value), one look-up per row; one with
    them by (type, text).
    """
    given = column.tolist()
    if any(isinstance(value, list | np.ndarray) for value in given):  # a multi-select, as a list
        given = [
            tuple(value.tolist() if isinstance(value, np.ndarray) else value)
            if isinstance(value, list | np.ndarray)
            else value
            for value in given
        ]
    keys: list[Any] = list(zip(map(type, given), given, strict=True))
    distinct = dict.fromkeys(keys)
    if any(isinstance(value, _TEXT_MAY_DIFFER) for _, value in distinct):
        keys = [(kind, str(value), value) for kind, value in keys]
        distinct = dict.fromkeys(keys)
    codes_of: dict[Any, int] = {}
    table: list[Any] = []
    for key in distinct:
        value = key[-1]
        if _is_missing(value):
            codes_of[key] = _NONE
            continue
        problem = field_value_problem(value)
        if problem is not None:
            row = keys.index(key)
            raise_for(
                f"StageLog.{name}",
                value,
                f"row {row}: {problem[0]}; give custom field values of the types fields hold "
                "(text, integers, decimals, dates...)",
                "dtype",
            )
        codes_of[key] = len(table)
        table.append(value)
    codes = np.fromiter(map(codes_of.__getitem__, keys), dtype=np.int32, count=len(keys))
    return codes, tuple(table)


def _amounts(np: Any, amounts: Any, currencies: Any) -> tuple[Any, tuple[Money, ...]]:
    """
    Codes of a column of amounts (`Money`, or numbers beside a currency) and their table.

    Each distinct (amount, currency) pair is made a `Money` once, then every row is coded with
    one look-up. A float is refused (it is not an exact amount), as `Money.of` refuses it.
    """
    pairs = list(zip(amounts.tolist(), currencies.tolist(), strict=True))
    codes_of: dict[tuple[Any, Any], int] = {}
    table: dict[Money, int] = {}
    for pair in dict.fromkeys(pairs):
        value, currency = pair
        if _is_missing(value):
            codes_of[pair] = _NONE
            continue
        if not isinstance(value, Money):
            row = pairs.index(pair)
            if isinstance(value, float):
                raise_for(
                    "StageLog.amount",
                    value,
                    f"row {row} holds the float {value!r}; a float is not an exact amount: "
                    "give Decimal, int or decimal-string amounts (cast the column to a "
                    "decimal or string type)",
                    "dtype",
                )
            if not isinstance(currency, str):
                raise_for(
                    "StageLog.currency",
                    currency,
                    f"row {row} has an amount but no currency; give a currency column (or "
                    "one currency for every row), or Money amounts",
                    "required",
                )
            value = _money(value, currency, row)
        codes_of[pair] = _code(table, value)
    codes = np.fromiter(map(codes_of.__getitem__, pairs), dtype=np.int32, count=len(pairs))
    return codes, tuple(table)


def _money(value: Any, currency: str, row: int) -> Money:
    """`Money.of`, with its refusal naming the column and the row."""
    try:
        return Money.of(value, currency)
    except ValidationError as error:
        column = "currency" if error.field == "Money.currency" else "amount"
        raise_for(
            f"StageLog.{column}",
            currency if column == "currency" else value,
            f"row {row}: {error}",
            error.rule,
        )


def _factorize_keys(np: Any, keyed: list[tuple[int, Any]]) -> tuple[Any, tuple[str, ...]]:
    """Entity codes of ``(kind, id)`` pairs in order of first appearance, and the ids."""
    index: dict[tuple[int, Any], int] = {}
    for key in dict.fromkeys(keyed):
        if not isinstance(key[1], str):
            row = keyed.index(key)
            raise_for(
                "StageLog.entity",
                key[1],
                f"row {row} holds {type(key[1]).__name__} {key[1]!r}; expected an id (text or "
                "an integer) on every row",
                "required" if _is_missing(key[1]) else "dtype",
            )
        index[key] = len(index)
    codes = np.fromiter(map(index.__getitem__, keyed), dtype=np.int32, count=len(keyed))
    return codes, tuple(key[1] for key in index)


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
    "sequence",
    "from_stage",
    "amount",
    "currency",
)
_REQUIRED = frozenset({"entity", "time", "event", "stage"})


def from_frame(
    frame: Any,
    names: dict[str, str],
    defaults: dict[str, str | None],
    fields: dict[str, str] | None = None,
) -> StageLog:
    """`StageLog.from_frame`: each column out of the frame as a numpy array, then coded."""
    np = _numpy()
    unknown = sorted(set(names) - set(_FRAME_COLUMNS))
    if unknown:
        raise_for(
            "columns",
            unknown,
            f"unknown funnelkit column(s) {unknown}; map these: {', '.join(_FRAME_COLUMNS)}",
            "unknown",
        )
    nw, found = _narwhals_frame(frame)
    present = set(found.columns)
    values: dict[str, Any] = {}
    for name in _FRAME_COLUMNS:
        column = names.get(name, name)
        if column in present:
            if len(found):  # without rows, only that the columns are there is checked
                series = found.get_column(column)
                values[name] = (
                    _frame_times(nw, series, column) if name == "time" else _frame_values(series)
                )
        elif name in _REQUIRED or (name == "pipeline" and defaults["pipeline"] is None):
            hint = " or pass pipeline=..." if name == "pipeline" else ""
            raise_for(
                f"frame.{column}",
                sorted(present),
                f"the frame has no column {column!r} for {name}; name it in "
                f"columns={{{name!r}: ...}}{hint}",
                "missing",
            )
        elif name not in {"sequence", "from_stage"}:
            values[name] = np.full(len(found), defaults.get(name), dtype=object)
    values |= _frame_fields(found, fields or {})
    if not len(found):
        return empty_log()
    return from_values(np, values)


def _frame_fields(found: Any, fields: dict[str, str]) -> dict[str, Any]:
    """The custom field columns of a frame, as ``fields.<key>`` columns of values."""
    present = set(found.columns)
    values: dict[str, Any] = {}
    for key, column in fields.items():
        if column not in present:
            raise_for(
                f"frame.{column}",
                sorted(present),
                f"the frame has no column {column!r} for the custom field {key!r}; name it in "
                f"fields={{{key!r}: ...}}",
                "missing",
            )
        if len(found):
            values[f"fields.{key}"] = _frame_values(found.get_column(column))
    return values


def _narwhals_frame(frame: Any) -> tuple[Any, Any]:
    """narwhals, and the frame as its eager DataFrame (a lazy one collected)."""
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
    return nw, found


def _frame_values(series: Any) -> Any:
    """A column's values as a numpy array, its missing values (null, NA, NaN) as ``None``."""
    found = series.to_numpy()
    missing = series.is_null().to_numpy()
    if found.dtype.kind in "iub" or not missing.any():
        return found
    found = found.astype(object)
    found[missing] = None
    return found


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
