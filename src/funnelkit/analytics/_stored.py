"""
A `StageLog` from a SQL store: its coded stage log (revision 0005), or Arrow columns (ADBC).

`SqlStore.stage_log` never parses an event's JSON. Through the standard driver it reads the
coded stage log, integer codes packed by the database (`from_packed`); through ADBC on
PostgreSQL, the event table's plain text columns (`STORED`) as Arrow columns, coded by
Arrow's dictionary encoding in C (`from_arrow_table`). The rest is one numpy assembly
(`_assemble`): each entity's rows put in time order, and state carried forward as
`from_events` does.
"""

from __future__ import annotations

import importlib
import json
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn, cast

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
from funnelkit.model._values import all_plain_money, is_plain_money


if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from funnelkit.storage._stage_tables import Packed


__all__ = [
    "STORED",
    "FieldSetters",
    "field_keys",
    "field_setters",
    "from_arrow_table",
    "from_packed",
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
"""The columns of the text stage-log query that ``driver="adbc"`` reads, in order: stored text
but for the sequence and ``time``, a creation's ``created_at`` or else the event's ``at``, in
microseconds since 1970, UTC. ``amount`` is the exact decimal string of the amount a row
sets, beside its ``currency``; ``verdict`` a lead qualification's."""
_TEXT = ("entity_kind", "entity_id", "type", *_LOOKUPS)
_LABELLED = ("type", *(name for name in _LOOKUPS if name != "amount"))  # coded as labels
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


def _untexts(values: Sequence[str]) -> tuple[str, ...]:
    r"""Look-up columns' texts as given (`_untext`), at C speed when none holds a ``\``."""
    if "\\" not in "".join(values):
        return tuple(values)
    return tuple(map(_untext, values))


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


def from_arrow_table(table: Any, setters: Callable[[], FieldSetters] | None = None) -> StageLog:
    """
    A stage log from the stage-log query's result as a pyarrow ``Table`` (`STORED` columns).

    Each text column is dictionary-encoded by Arrow in C: no Python object is made per value.
    pyarrow is imported here only because the caller's ADBC driver already returned its table.
    `setters` is as for `from_packed`.
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
    entities = _kind_and_id(np, coded)
    return _assemble(np, entities, coded, integers, None if setters is None else setters())


def _kind_and_id(np: Any, coded: dict[str, _Coded]) -> tuple[Any, tuple[str, ...], Any]:
    """The entities of rows read with their kind and id as text (`_entities`)."""
    kind_of = np.asarray([KINDS[value] for value in coded["entity_kind"].table], dtype=np.int8)
    return _entities(np, coded["entity_id"], kind_of[coded["entity_kind"].codes])


def from_packed(
    read: Callable[[Any], Packed], setters: Callable[[], FieldSetters] | None = None
) -> StageLog:
    """
    A stage log from the coded stage log of schema revision 0005, which `read` returns.

    `read` is given numpy and returns the log's arrays (`_stage_tables.read_packed`). Each
    coded column keeps only the values its rows use, in code order; an entity's code becomes
    its place among the entities the log holds. `setters`, called once the rows are read,
    gives the custom fields to hold: read after the rows, it holds the setters of every row
    read (the log only grows), and any of later rows are left out (they match no row).
    """
    np = _numpy()
    packed = read(np)
    columns = packed.columns
    entity_codes, kind_codes, id_texts = packed.entities
    entity, used = _dense(np, columns["entity"], entity_codes, "entity")
    ids = _untexts(list(map(id_texts.__getitem__, used)))
    kinds = kind_codes[np.asarray(used, dtype=np.int64)].astype(np.int8)
    if len(kinds) and int(kinds.min()) < 0:  # a kind written outside funnelkit
        _changed_outside("entity")
    coded = {}
    for name, (codes, values) in (
        *((name, packed.labels) for name in _LABELLED),
        ("amount", packed.amounts),
    ):
        dense, used = _dense(np, columns[name], codes, name)
        coded[name] = _Coded(dense, tuple(map(values.__getitem__, used)))
    if len(coded["type"].codes) and int(coded["type"].codes.min()) < 0:
        _changed_outside("type")
    integers = {name: columns[name] for name in _INTEGERS}
    return _assemble(
        np, (entity, ids, kinds), coded, integers, None if setters is None else setters()
    )


def _dense(np: Any, codes: Any, table: Any, column: str) -> tuple[Any, list[int]]:
    """
    A coded column's codes (0: none) renumbered over the codes it uses, in order (-1: none).

    Also where the codes used are in `table` (a value table's codes, in order); an error
    naming `column` if a code is not there. Linear when the table's codes have no gap.
    """
    if len(table) and int(table[-1]) != len(table):  # gaps: each code's place, plus one
        held = codes > 0
        places = np.minimum(np.searchsorted(table, codes), len(table) - 1)
        if bool(np.any(held & (table[places] != codes))):
            _changed_outside(column)
        codes = np.where(held, places + 1, 0)
    elif len(codes) and int(codes.max()) > len(table):
        _changed_outside(column)
    present = np.zeros(len(table) + 1, dtype=bool)  # by code 1..n, 0 for none
    present[codes] = True
    present[0] = False
    renumber = (np.cumsum(present) - 1).astype(np.int32)
    renumber[0] = _NONE
    return renumber[codes], (np.flatnonzero(present) - 1).tolist()


def _changed_outside(column: str) -> NoReturn:
    raise_for(
        f"funnelkit_stage_log.{column}",
        None,
        "holds a code with no value; the coded stage log was changed outside funnelkit: "
        "call store.rebuild_stage_log() to make it again from the events",
        "unknown",
    )


# --- one assembly -------------------------------------------------------------------------------


def _assemble(
    np: Any,
    entities: tuple[Any, tuple[str, ...], Any],
    coded: dict[str, _Coded],
    integers: dict[str, Any],
    setters: FieldSetters | None,
) -> StageLog:
    """
    The `StageLog` of the stored columns, coded: rows ordered, state carried forward.

    `entities` are each row's entity code, and each entity's id and kind code (`_entities`).
    """
    sequence, time = integers["sequence"], integers["time"]
    entity, ids, kinds = entities
    by_sequence = _by_sequence(np, entity, sequence)  # matches field setters, then orders
    fields = _fields(np, setters, by_sequence, (ids, kinds))
    types = coded["type"].table
    event_of = np.asarray([TYPE_ROWS.get(name, OTHER_ROW) for name in types], dtype=np.int8)
    event = event_of[coded["type"].codes]
    texts = {name: _untexts(coded[name].table) for name in _LOOKUPS}
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
    values, slots = np.divmod(pairs, width)
    amounts = list(map(texts["amount"].__getitem__, values.tolist()))
    currencies = list(map((None, *texts["currency"]).__getitem__, slots.tolist()))
    built = {}
    if not all_plain_money(amounts, currencies):  # else: each pair
        for at, (amount, currency) in enumerate(zip(amounts, currencies, strict=True)):
            if currency is None or not is_plain_money(amount, currency):
                built[at] = _stored_money(amount, currency)  # refused here if not valid
                amounts[at], currencies[at] = format(built[at].amount, "f"), built[at].currency
    codes[rows] = inverse.reshape(-1).astype(np.int32)
    return codes, StoredAmounts(amounts, cast("list[str]", currencies), built)  # no None left


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
    ids = _untexts(list(map(ident.table.__getitem__, (pairs // len(KINDS)).tolist())))
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
