"""
The way into a `StageLog` from funnelkit's events (`from_events`).

`from_events` reads each event once into lists of small integers (no object per event beyond
the events), then orders and fills the columns with numpy. The other ways in, from plain
columns and frames, are in `_frames`.
"""

from __future__ import annotations

from array import array
from typing import TYPE_CHECKING, Any

from funnelkit._checks import raise_for
from funnelkit._collector import paused_gc
from funnelkit.analytics._codes import _EPOCH, _MICROSECOND, _NONE, VERDICTS, LogEvent, _numpy
from funnelkit.analytics._columnar import StageLog
from funnelkit.events import (
    AmountChanged,
    DealCreated,
    DealLost,
    DealWon,
    FieldChanged,
    LeadClosedAsJunk,
    LeadConverted,
    LeadCreated,
    LeadQualified,
    MoveEvent,
    OwnerChanged,
    StageChanged,
)
from funnelkit.model import EntityKind, Money


if TYPE_CHECKING:
    from collections.abc import Iterable

    from funnelkit.events import Event


__all__ = ["from_events"]

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


_VERDICT_CODES = {verdict: code for code, verdict in enumerate(VERDICTS)}


def _row_of(event_type: type[Any]) -> LogEvent:
    """The row kind of a subclass of a known event, or OTHER."""
    found = next(
        (row for cls, row in _ROW_OF.items() if issubclass(event_type, cls)),
        LogEvent.MOVED if issubclass(event_type, MoveEvent) else LogEvent.OTHER,
    )
    _ROW_OF[event_type] = found
    return found


def _code(table: dict[Any, int], value: str | None) -> int:
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
        # The amounts by the identity of their Money: one deal's creation and win usually
        # share one object, and ids are cheap to hash where a Decimal is not. The events
        # (kept in self.events) hold every Money, so no id is reused while reading.
        self.amounts: dict[int, int] = {}
        self.money: list[Money] = []
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
        self.verdict = (array("q"), array("q"))  # position, verdict of a qualification

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
                    amount_code.append(self._amount_code(entity.amount))
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
                    amount_code.append(self._amount_code(event.amount))
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
                    amount_code.append(self._amount_code(event.new))
                elif isinstance(event, LeadQualified):
                    self.verdict[0].append(position)
                    self.verdict[1].append(_VERDICT_CODES[event.verdict])
                elif isinstance(event, FieldChanged) and event.field in self.fields:
                    self._set_field(event.field, position, event.new)

    def _amount_code(self, money: Money | None) -> int:
        """The code of an amount in the table being built (-1 for none)."""
        if money is None:
            return _NONE
        found = self.amounts.get(id(money))
        if found is None:
            found = self.amounts[id(money)] = len(self.money)
            self.money.append(money)
        return found

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
    verdict = np.full(size, _NONE, dtype=np.int8)
    at, verdicts = (np.frombuffer(part, dtype=np.int64) for part in read.verdict)
    verdict[at] = verdicts
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
        verdict=verdict[order],
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
        amounts=tuple(read.money),
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
    # Events that set an amount, a verdict or a custom field held: state, as stage moves are.
    setters = np.zeros(len(read.events), dtype=bool)
    for at, _ in (read.amount, read.verdict, *read.fields.values()):
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
            "the stage, owner, amount, verdict or field event before it in sequence order; a "
            "StageLog orders each entity's rows by time: fix the times, or report on the "
            "events themselves",
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
    # int32 positions where they fit: half the memory traffic of int64, no temporaries.
    index = np.arange(len(values), dtype=np.int32 if len(values) < 2**31 else np.int64)
    index[~(sets | starts)] = 0
    np.maximum.accumulate(index, out=index)
    held = values.astype(np.int32)  # a copy: the value of each row that sets it, else none
    held[~sets] = _NONE
    return held[index]
