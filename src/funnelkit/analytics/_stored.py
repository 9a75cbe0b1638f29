"""
A `StageLog` from a SQL store's event log: rows from a DB-API cursor, or Arrow columns (ADBC).

`SqlStore.stage_log` reads the event table's plain columns (`STORED`), never its JSON. The
two ways in differ only in how each column of text becomes integer codes and a table of the
values: a Python dictionary over the rows' values, or Arrow's dictionary encoding in C. The
rest is one numpy assembly (`_assemble`): each entity's rows put in time order, and state
carried forward as `from_events` does.
"""

from __future__ import annotations

import importlib
import json
from typing import TYPE_CHECKING, Any, NamedTuple

from funnelkit._checks import raise_for
from funnelkit._converter import event_from_data, from_data
from funnelkit.analytics._amounts import StoredAmounts
from funnelkit.analytics._codes import _NONE, VERDICTS, LogEvent, _numpy
from funnelkit.analytics._columnar import StageLog
from funnelkit.analytics._intake import _field_code, _forward_fill
from funnelkit.analytics._log_checks import _field_keys
from funnelkit.events import DealCreated, FieldChanged, LeadCreated
from funnelkit.exceptions import ValidationError
from funnelkit.model import FieldValues, Money
from funnelkit.model._values import is_plain_money


if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence


__all__ = [
    "STORED",
    "FieldSetters",
    "field_keys",
    "field_setters",
    "from_arrow_table",
    "from_log_rows",
]

_LOOKUPS = (
    "pipeline",
    "stage",
    "reason",
    "owner",
    "channel",
    "from_stage",
    "amount",
    "currency",
    "verdict",
)
STORED = ("entity_kind", "entity_id", "sequence", "type", "time", *_LOOKUPS)
"""The columns of the stage-log query, in order: stored text but for the sequence and
``time``, a creation's ``created_at`` or else the event's ``at``, in microseconds since 1970,
UTC. (Text is cheaper to read than a ``CASE`` mapping it to numbers in SQLite.) ``amount`` is
the exact decimal string of the amount a row sets, beside its ``currency``; ``verdict`` a
lead qualification's."""
_TEXT = ("entity_kind", "entity_id", "type", *_LOOKUPS)
_INTEGERS = ("sequence", "time")

TYPE_ROWS: dict[str, int] = {
    "lead_created": int(LogEvent.CREATED),
    "deal_created": int(LogEvent.CREATED),
    "stage_changed": int(LogEvent.MOVED),
    "deal_won": int(LogEvent.WON),
    "deal_lost": int(LogEvent.LOST),
    "lead_closed_as_junk": int(LogEvent.JUNK),
    "lead_converted": int(LogEvent.CONVERTED),
    "owner_changed": int(LogEvent.OWNER),
}
"""The `LogEvent` of each stored event type (other types: `OTHER_ROW`, or a move if staged)."""
OTHER_ROW = int(LogEvent.OTHER)
_VERDICT_CODES = {verdict.value: code for code, verdict in enumerate(VERDICTS)}
SETS_AMOUNT = frozenset({"deal_created", "amount_changed"})
"""The stored event types that set a deal's amount, to none if their amount is NULL (a win
sets it only if it has one)."""
KINDS = {"lead": 0, "deal": 1}
"""The `StageLog.kind` code of each entity kind the query reads."""
field_keys = _field_keys


class FieldSetters(NamedTuple):
    """
    The custom field keys a log holds, and the stored events that set them, a row per value.

    Each row is (kind code, the stored entity id, sequence, key, value): a creation gives one
    per key (``None`` for a field it was not made with), a field change one for its key.
    """

    keys: tuple[str, ...]
    rows: list[tuple[int, str, int, str, Any]]


def field_setters(keys: tuple[str, ...], rows: Iterable[Sequence[Any]]) -> FieldSetters:
    """
    The field setters among stored rows: entity kind, entity id, sequence, type, version, text.

    The text of a creation stored at its class's version is its entity's ``fields`` object; of
    any other row, the event's JSON. Of a field change at its class's version only the value
    is built; other events are built whole, as the store builds them (upcast from an older
    version). Either way a value is what the event holds: a `Decimal`, a `date`.
    """
    wanted = frozenset(keys)
    found: list[tuple[int, str, int, str, Any]] = []
    current = {cls.TYPE: cls.VERSION for cls in (DealCreated, LeadCreated)}
    change = FieldChanged.TYPE, FieldChanged.VERSION
    # Many creations hold the same fields ({"product": "фальц"}): each text is read once.
    held: dict[str | None, tuple[Any, ...]] = {None: (None,) * len(keys)}
    for kind, ident, sequence, name, version, text in rows:
        code = KINDS.get(kind)
        if code is None:  # a contact's or a task's field change
            continue
        if current.get(name) == version:
            values = held.get(text)
            if values is None:
                made_with = from_data(json.loads(text), FieldValues)
                values = held[text] = tuple(made_with.get(key) for key in keys)
            found.extend(
                (code, ident, sequence, key, value) for key, value in zip(keys, values, strict=True)
            )
            continue
        data = json.loads(text)
        if (name, version) == change and data.get("field") in wanted:
            key, new = data["field"], data.get("new")
            value = None if new is None else from_data({key: new}, FieldValues)[key]
            found.append((code, ident, sequence, key, value))
            continue
        event = event_from_data(data)
        if isinstance(event, DealCreated | LeadCreated):
            made = event.deal if isinstance(event, DealCreated) else event.lead
            found.extend((code, ident, sequence, key, made.fields.get(key)) for key in keys)
        elif isinstance(event, FieldChanged) and event.field in wanted:
            found.append((code, ident, sequence, event.field, event.new))
    return FieldSetters(keys, found)


class _Coded(NamedTuple):
    """A column of stored text as codes (int32, -1 for NULL) into a table of the values."""

    codes: Any
    table: tuple[str, ...]


def _untext(value: str) -> str:
    r"""A look-up column's text as it was given (the store writes ``\\`` and ``\0`` escaped)."""
    if "\\" not in value:
        return value
    out, escaped = [], False
    for char in value:
        if escaped:
            out.append("\x00" if char == "0" else char)
            escaped = False
        elif char == "\\":
            escaped = True
        else:
            out.append(char)
    return "".join(out)


# --- the two ways in ----------------------------------------------------------------------------


def from_log_rows(
    batches: Iterable[Sequence[Sequence[Any]]],
    setters: Callable[[], FieldSetters] | None = None,
) -> StageLog:
    """
    A stage log from the rows of the stage-log query (`STORED`), in any order, batch by batch.

    Each batch is coded into arrays before the next is read, so that only one batch of Python
    objects is alive at a time; the codes of a column's values carry over from batch to batch.
    `setters`, called once every row is read, gives the custom fields to hold: read after the
    rows, it holds the setters of every row read (the log only grows), and any of later rows
    are left out.
    """
    np = _numpy()
    indexes: dict[str, dict[Any, int]] = {name: {None: _NONE} for name in _TEXT}
    parts: dict[str, list[Any]] = {name: [] for name in STORED}
    for rows in batches:
        size = len(rows)
        if not size:
            continue
        for name, values in zip(STORED, zip(*rows, strict=True), strict=True):
            if name in _INTEGERS:
                parts[name].append(np.fromiter(values, dtype=np.int64, count=size))
                continue
            index = indexes[name]
            for value in dict.fromkeys(values):
                index.setdefault(value, len(index) - 1)  # None holds -1: the next code
            parts[name].append(np.fromiter(map(index.__getitem__, values), np.int32, size))
    columns = {
        name: np.concatenate(found) if found else np.zeros(0, dtype=np.int64)
        for name, found in parts.items()
    }
    coded = {
        name: _Coded(
            columns[name].astype(np.int32, copy=False),
            tuple(value for value in indexes[name] if value is not None),
        )
        for name in _TEXT
    }
    integers = {name: columns[name] for name in _INTEGERS}
    return _assemble(np, coded, integers, None if setters is None else setters())


def from_arrow_table(table: Any, setters: Callable[[], FieldSetters] | None = None) -> StageLog:
    """
    A stage log from the stage-log query's result as a pyarrow ``Table`` (`STORED` columns).

    Each text column is dictionary-encoded by Arrow in C: no Python object is made per value.
    pyarrow is imported here only because the caller's ADBC driver already returned its table.
    `setters` is as for `from_log_rows`.
    """
    np = _numpy()
    compute = importlib.import_module("pyarrow.compute")
    coded = {}
    for name in _TEXT:
        encoded = compute.dictionary_encode(table.column(name).combine_chunks())
        values = encoded.dictionary
        if len(values) and str(values.type) not in {"string", "large_string", "string_view"}:
            raise_for(
                f"funnelkit_events.{name}",
                str(values.type),
                "holds values that are not text; the column was changed outside funnelkit: "
                "read it with driver='dbapi', or restore the column's type",
                "dtype",
            )
        codes = encoded.indices.fill_null(_NONE).to_numpy().astype(np.int32, copy=False)
        coded[name] = _Coded(codes, tuple(values.to_pylist()))
    integers = {
        name: table.column(name).to_numpy().astype(np.int64, copy=False) for name in _INTEGERS
    }
    return _assemble(np, coded, integers, None if setters is None else setters())


# --- one assembly -------------------------------------------------------------------------------


def _assemble(
    np: Any, coded: dict[str, _Coded], integers: dict[str, Any], setters: FieldSetters | None
) -> StageLog:
    """The `StageLog` of the stored columns, coded: rows ordered, state carried forward."""
    sequence, time = integers["sequence"], integers["time"]
    kind_of = np.asarray([KINDS[value] for value in coded["entity_kind"].table], dtype=np.int8)
    entity, ids, kinds = _entities(np, coded["entity_id"], kind_of[coded["entity_kind"].codes])
    by_sequence = _by_sequence(np, entity, sequence)  # matches field setters, then orders
    fields = _fields(np, setters, by_sequence, (ids, kinds))
    types = coded["type"].table
    event_of = np.asarray([TYPE_ROWS.get(name, OTHER_ROW) for name in types], dtype=np.int8)
    event = event_of[coded["type"].codes]
    texts = {name: tuple(map(_untext, coded[name].table)) for name in _LOOKUPS}
    # The stage a move left, coded into the table of the stages entered (extended).
    stage_table = {value: code for code, value in enumerate(texts["stage"])}
    for value in texts["from_stage"]:
        stage_table.setdefault(value, len(stage_table))
    recode = np.asarray(
        [stage_table[value] for value in texts["from_stage"]] + [_NONE], dtype=np.int32
    )
    left = recode[coded["from_stage"].codes]  # -1 reads the last: none
    stage = coded["stage"].codes
    event[(event == OTHER_ROW) & (stage >= 0)] = LogEvent.MOVED  # a move of another type
    amount, amounts = _amounts(np, coded, texts)
    sets = np.asarray([name in SETS_AMOUNT for name in types] + [False], dtype=bool)
    sets_amount = sets[coded["type"].codes] | (amount >= 0)
    verdict = _verdicts(np, coded["verdict"], texts["verdict"])
    setting = (event != OTHER_ROW) | sets_amount | (verdict >= 0)
    for _, sets, _ in fields.values():
        setting |= sets
    order = _stored_order(np, (entity, sequence, time), setting, ids, by_sequence[1])
    entity, time, event = entity[order], time[order], event[order]
    starts = np.ones(len(entity), dtype=bool)
    starts[1:] = entity[1:] != entity[:-1]
    pipeline = coded["pipeline"].codes[order]
    sets_owner = (event == LogEvent.CREATED) | (event == LogEvent.OWNER)
    return StageLog(
        entity=entity,
        kind=kinds[entity],
        event=event,
        time=time,
        pipeline=_forward_fill(np, pipeline, pipeline >= 0, starts),
        stage=stage[order],
        owner=_forward_fill(np, coded["owner"].codes[order], sets_owner, starts),
        source=_forward_fill(np, coded["channel"].codes[order], event == LogEvent.CREATED, starts),
        reason=coded["reason"].codes[order],
        left=left[order],
        amount=_forward_fill(np, amount[order], sets_amount[order], starts),
        verdict=verdict[order],
        fields={
            key: _forward_fill(np, codes[order], sets[order], starts)
            for key, (codes, sets, _) in fields.items()
        },
        field_values={key: values for key, (_, _, values) in fields.items()},
        ids=ids,
        pipelines=texts["pipeline"],
        stages=tuple(stage_table),
        owners=texts["owner"],
        sources=texts["channel"],
        reasons=texts["reason"],
        amounts=amounts,
    )


def _amounts(
    np: Any, coded: dict[str, _Coded], texts: dict[str, tuple[str, ...]]
) -> tuple[Any, Sequence[Money]]:
    """
    Codes of the rows' amounts into their table (one per text and currency), -1: none.

    Each pair is checked here, by its form (`plain_money`) or else by `Money.of`, which refuses
    what is not valid; the table makes the `Money` of a plain one when a report reads it.
    """
    amount, currency = coded["amount"].codes, coded["currency"].codes
    codes = np.full(len(amount), _NONE, dtype=np.int32)
    rows = np.flatnonzero(amount >= 0)
    if not len(rows):
        return codes, ()
    width = len(texts["currency"]) + 1
    pairs, inverse = np.unique(
        amount[rows].astype(np.int64) * width + currency[rows] + 1, return_inverse=True
    )
    amounts, currencies, built = [], [], {}
    for at, pair in enumerate(pairs.tolist()):
        value, slot = divmod(pair, width)
        amount, currency = texts["amount"][value], texts["currency"][slot - 1] if slot else None
        if currency is None or not is_plain_money(amount, currency):
            built[at] = _stored_money(amount, currency)  # refused here if it is not valid
            amount, currency = format(built[at].amount, "f"), built[at].currency
        amounts.append(amount)
        currencies.append(currency)
    codes[rows] = inverse.reshape(-1).astype(np.int32)
    return codes, StoredAmounts(amounts, currencies, built)


def _verdicts(np: Any, coded: _Coded, texts: tuple[str, ...]) -> Any:
    """The `StageLog.verdict` codes of the stored verdicts, or an error naming a strange one."""
    recode = []
    for text in texts:
        found = _VERDICT_CODES.get(text)
        if found is None:
            raise_for(
                "funnelkit_events.verdict",
                text,
                f"holds {text!r}, not a verdict (good, junk, review); the row was written "
                "outside funnelkit: fix or clear it",
                "unknown",
            )
        recode.append(found)
    return np.asarray([*recode, _NONE], dtype=np.int8)[coded.codes]  # -1 reads the last: none


def _stored_money(amount: str, currency: str | None) -> Money:
    """A stored amount as `Money`, or an error naming the column that holds what is wrong."""
    if currency is None:
        raise_for(
            "funnelkit_events.currency",
            amount,
            f"an amount of {amount} is stored without its currency; the row was written "
            "outside funnelkit: store its currency, or clear the amount",
            "required",
        )
    try:
        return Money.of(amount, currency)
    except ValidationError as error:
        column = "currency" if error.field == "Money.currency" else "amount"
        raise_for(
            f"funnelkit_events.{column}",
            currency if column == "currency" else amount,
            f"a stored {column} is not valid ({error}); the row was written outside funnelkit: "
            "fix or clear it",
            error.rule,
        )


def _fields(
    np: Any,
    setters: FieldSetters | None,
    by_sequence: tuple[Any, Any, int],
    entities: tuple[Any, Any],
) -> dict[str, tuple[Any, Any, tuple[Any, ...]]]:
    """
    Each custom field held: the code a row sets it to (-1: none), which rows set it, its values.

    A setter is matched to its row by entity and sequence (`by_sequence`, from
    `_by_sequence`); one of a row appended after the stage-log rows were read matches none and
    is left out.
    """
    if setters is None:
        return {}
    ids, kinds = entities
    code_of = {pair: code for code, pair in enumerate(zip(kinds.tolist(), ids, strict=True))}
    rows = setters.rows
    codes = np.fromiter(
        (code_of.get((kind, _untext(ident)), _NONE) for kind, ident, *_ in rows),
        np.int64,
        len(rows),
    )
    numbers = np.fromiter((row[2] for row in rows), np.int64, len(rows))
    keys, sorter, top = by_sequence
    wanted = codes * top + numbers
    at = np.minimum(np.searchsorted(keys, wanted), max(len(keys) - 1, 0))
    hit = (codes >= 0) & (numbers < top) & (keys[at] == wanted if len(keys) else False)
    found = {}
    for key in setters.keys:
        table: dict[tuple[type, str], tuple[int, Any]] = {}
        mine = np.flatnonzero(hit & np.fromiter((row[3] == key for row in rows), bool, len(rows)))
        values = [_field_code(table, rows[index][4]) for index in mine.tolist()]
        column = np.full(len(keys), _NONE, dtype=np.int32)
        sets = np.zeros(len(keys), dtype=bool)
        column[sorter[at[mine]]], sets[sorter[at[mine]]] = values, True
        found[key] = (column, sets, tuple(value for _, value in table.values()))
    return found


def _by_sequence(np: Any, entity: Any, sequence: Any) -> tuple[Any, Any, int]:
    """The rows' (entity, sequence) keys in order, the order, and the keys' sequence base."""
    top = int(sequence.max(initial=0)) + 1
    keys = entity.astype(np.int64) * top + sequence
    order = np.argsort(keys)  # unique (entity, sequence) keys: by entity, then sequence
    return keys[order], order, top


def _entities(np: Any, ident: _Coded, kind: Any) -> tuple[Any, tuple[str, ...], Any]:
    """
    Entity codes of the (id, kind) pairs, their ids and kinds: a lead and a deal may share an id.

    The pairs are coded through a table of every possible pair, in linear time (no sort).
    """
    pair = ident.codes.astype(np.int64) * len(KINDS) + kind
    present = np.zeros(len(ident.table) * len(KINDS), dtype=bool)
    present[pair] = True
    dense = (np.cumsum(present) - 1).astype(np.int32)
    pairs = np.flatnonzero(present)
    ids = tuple(map(_untext, map(ident.table.__getitem__, (pairs // len(KINDS)).tolist())))
    return dense[pair], ids, (pairs % len(KINDS)).astype(np.int8)


def _stored_order(
    np: Any, rows: tuple[Any, Any, Any], setting: Any, ids: tuple[str, ...], order: Any
) -> Any:
    """
    The order of the rows: by entity, then time; each entity's in sequence order.

    Rows that set state (stage, owner, amount, verdict, a field held: `setting`) must be in
    time order in sequence order; other rows (a note recorded later about an earlier moment)
    take their place in time. `rows` are the rows' entity, sequence and time; `order` puts
    them in (entity, sequence) order (`_by_sequence`).
    """
    entity, sequence, times = rows
    entity, times = entity[order], times[order]
    state = np.flatnonzero(setting[order])
    owners, moments = entity[state], times[state]
    back = np.flatnonzero((owners[1:] == owners[:-1]) & (moments[1:] < moments[:-1]))
    if len(back):
        row = int(order[state[int(back[0]) + 1]])
        name = ids[int(entity[state[int(back[0]) + 1]])]
        raise_for(
            "events",
            name,
            f"{name!r}: event {int(sequence[row])} is earlier than the stage, owner, amount, "
            "verdict or custom field event before it in sequence order; a StageLog orders each "
            "entity's rows by time: fix the times, or report on the events themselves",
            "order",
        )
    if bool(np.any((entity[1:] == entity[:-1]) & (times[1:] < times[:-1]))):
        return order[np.lexsort((times, entity))]  # stable: sequence order within a time
    return order
