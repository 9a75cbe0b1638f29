"""
The coded stage log of schema revision 0005: written with every append, read packed.

Every lead and deal event has a row in `STAGE_LOG`: its position (SQLite's rowid), entity,
sequence and time as integers, and each of its text columns as a code of a value table
(`STAGE_LABELS`, `STAGE_AMOUNTS`, `STAGE_ENTITIES`). The event table keeps the same values as
text (and ADBC reads those). Reading the coded rows does not make a Python object per value:
the database packs several codes of a row into one 64-bit integer and joins a range of rows
into one text (`group_concat`, `string_agg`), which numpy parses (`read_packed`).

Writers of the log take turns at the log's counter (`SqlStore`'s module notes), so a writer
that finds a value missing from a value table adds it with no race: nobody else appends until
it commits. `rebuild` makes the coded tables again from the event table's columns.
"""

from __future__ import annotations

import json
import queue
import warnings
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any, NamedTuple

import sqlalchemy as sa

from funnelkit._checks import raise_for
from funnelkit.model import EntityKind
from funnelkit.storage._sql_schema import (
    EVENTS,
    LABELLED,
    LOG,
    STAGE_AMOUNTS,
    STAGE_ENTITIES,
    STAGE_LABELS,
    STAGE_LOG,
)


if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from contextlib import AbstractContextManager


__all__ = ["Packed", "append", "read_packed", "rebuild"]

FUNNEL_KINDS = (EntityKind.LEAD.value, EntityKind.DEAL.value)
_WORD = 63  # bits of a packed integer: SQL's BIGINT, never negative
_TEXTS_BATCH = 100_000  # codes of a value table read as one JSON text
_LOOKUP = 5_000  # values looked up in one statement
_KIND_NUMBER = "CASE kind WHEN 'lead' THEN 0 WHEN 'deal' THEN 1 ELSE -1 END"  # KINDS' codes


# --- writing -------------------------------------------------------------------------------------


def append(connection: sa.Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """
    Write the coded stage-log rows of appended event rows (as `EVENTS` takes them).

    Called after the writer took its positions, so no other writer appends meanwhile: the
    values missing from the value tables are added here, one statement per table, and every
    code is known before the rows are written.
    """
    rows = [row for row in rows if row["entity_kind"] in FUNNEL_KINDS]
    if not rows:
        return
    labels = {row[name] for row in rows for name in LABELLED} - {None}
    amounts = {row["amount"] for row in rows} - {None}
    entities = {(row["entity_kind"], row["entity_id"]) for row in rows}
    label_code, amount_code, entity_code = _codes(connection, labels, amounts, entities)
    new_labels = sorted(labels - label_code.keys())
    if new_labels:
        added = connection.execute(_ADD_LABELS, [{"name": name} for name in new_labels])
        label_code |= {name: code for code, name in added}
    new_amounts = sorted(amounts - amount_code.keys())
    if new_amounts:
        added = connection.execute(_ADD_AMOUNTS, [{"amount": text} for text in new_amounts])
        amount_code |= {text: code for code, text in added}
    new_entities = sorted(entities - entity_code.keys())
    if new_entities:
        added = connection.execute(
            _ADD_ENTITIES, [{"kind": kind, "id": ident} for kind, ident in new_entities]
        )
        entity_code |= {(kind, ident): code for code, kind, ident in added}
    label_code[None] = amount_code[None] = 0  # none
    connection.execute(
        _ADD_ROWS,
        [
            {
                "position": row["position"],
                "entity": entity_code[row["entity_kind"], row["entity_id"]],
                "sequence": row["sequence"],
                "time": row["at"] if row["created_at"] is None else row["created_at"],
                **{name: label_code[row[name]] for name in LABELLED},
                "amount": amount_code[row["amount"]],
            }
            for row in rows
        ],
    )


def _codes(
    connection: sa.Connection,
    labels: set[str],
    amounts: set[str],
    entities: set[tuple[str, str]],
) -> tuple[dict[Any, Any], dict[Any, Any], dict[Any, Any]]:
    """The codes the value tables already hold for these values (one statement, if few)."""
    wanted = {
        "labels": sorted(labels),
        "amounts": sorted(amounts),
        **{kind: sorted(ident for of, ident in entities if of == kind) for kind in FUNNEL_KINDS},
    }
    found: tuple[dict[Any, Any], dict[Any, Any], dict[Any, Any]] = ({}, {}, {})
    for start in range(0, max(map(len, wanted.values())), _LOOKUP):
        chunk = {name: values[start : start + _LOOKUP] for name, values in wanted.items()}
        for table, code, value, ident in connection.execute(_CODES, chunk):
            found[table][value if ident is None else (value, ident)] = code
    return found


_CODES = sa.text(
    f"SELECT 0, code, name, NULL FROM {STAGE_LABELS.name} WHERE name IN :labels "  # noqa: S608
    f"UNION ALL SELECT 1, code, amount, NULL FROM {STAGE_AMOUNTS.name} WHERE amount IN :amounts "
    f"UNION ALL SELECT 2, code, kind, id FROM {STAGE_ENTITIES.name} "
    "WHERE kind = 'lead' AND id IN :lead "
    f"UNION ALL SELECT 2, code, kind, id FROM {STAGE_ENTITIES.name} "
    "WHERE kind = 'deal' AND id IN :deal"
).bindparams(
    *(
        sa.bindparam(name, expanding=True, type_=sa.Text())
        for name in ("labels", "amounts", *FUNNEL_KINDS)
    )
)
"""The codes of the values looked up, as (table, code, value, id): 0 labels, 1 amounts, 2
entities (the value their kind). Prepared once: a statement built a call costs more than its
round trip."""


_ADD_LABELS = STAGE_LABELS.insert().returning(STAGE_LABELS.c.code, STAGE_LABELS.c.name)
_ADD_AMOUNTS = STAGE_AMOUNTS.insert().returning(STAGE_AMOUNTS.c.code, STAGE_AMOUNTS.c.amount)
_ADD_ENTITIES = STAGE_ENTITIES.insert().returning(
    STAGE_ENTITIES.c.code, STAGE_ENTITIES.c.kind, STAGE_ENTITIES.c.id
)
_ADD_ROWS = STAGE_LOG.insert()


def rebuild(connection: sa.Connection) -> int:
    """
    Make the coded stage log again from the event table's columns, in the caller's transaction.

    The log's counter is taken first, so writers wait for it. Returns the rows written.
    """
    connection.execute(LOG.update().values(generation=LOG.c.generation + 1))  # writers wait
    for table in (STAGE_LOG, STAGE_ENTITIES, STAGE_AMOUNTS, STAGE_LABELS):
        connection.execute(table.delete())
    funnel = EVENTS.c.entity_kind.in_(FUNNEL_KINDS)
    names = sa.union(
        *(sa.select(EVENTS.c[name].label("name")).where(funnel) for name in LABELLED)
    ).subquery()
    connection.execute(
        STAGE_LABELS.insert().from_select(
            ["name"], sa.select(names.c.name).where(names.c.name.is_not(None))
        )
    )
    connection.execute(
        STAGE_AMOUNTS.insert().from_select(
            ["amount"],
            sa.select(EVENTS.c.amount).distinct().where(funnel, EVENTS.c.amount.is_not(None)),
        )
    )
    connection.execute(
        STAGE_ENTITIES.insert().from_select(
            ["kind", "id"],
            sa.select(EVENTS.c.entity_kind, EVENTS.c.entity_id).distinct().where(funnel),
        )
    )
    entity = STAGE_ENTITIES.alias("entity")
    amount = STAGE_AMOUNTS.alias("amount_code")
    labels = {name: STAGE_LABELS.alias(f"{name}_code") for name in LABELLED}
    joined = EVENTS.join(
        entity, (entity.c.kind == EVENTS.c.entity_kind) & (entity.c.id == EVENTS.c.entity_id)
    ).outerjoin(amount, amount.c.amount == EVENTS.c.amount)
    for name, label in labels.items():
        joined = joined.outerjoin(label, label.c.name == EVENTS.c[name])
    columns = ["position", "entity", "sequence", "time", *LABELLED, "amount"]
    coded = sa.select(
        EVENTS.c.position,
        entity.c.code,
        EVENTS.c.sequence,
        sa.func.coalesce(EVENTS.c.created_at, EVENTS.c.at),
        *(sa.func.coalesce(labels[name].c.code, 0) for name in LABELLED),
        sa.func.coalesce(amount.c.code, 0),
    ).select_from(joined)
    connection.execute(STAGE_LOG.insert().from_select(columns, coded))
    top = sa.select(sa.func.coalesce(sa.func.max(EVENTS.c.sequence), 0)).scalar_subquery()
    connection.execute(LOG.update().values(max_sequence=top))
    return int(connection.execute(sa.select(sa.func.count()).select_from(STAGE_LOG)).scalar_one())


# --- reading -------------------------------------------------------------------------------------


class Packed(NamedTuple):
    """
    The coded stage log as integer arrays, and the value tables its codes index.

    ``columns`` holds ``entity``, ``sequence``, ``time`` and each coded column (`LABELLED`,
    ``amount``) as int64 arrays, a row per lead or deal event, a code of 0 meaning none. Each
    value table is its codes in order (an int64 array) and its values in that order:
    ``labels`` and ``amounts`` a list of text, ``entities`` the kinds (an int64 array: 0 a
    lead, 1 a deal, -1 anything else) and the ids.
    """

    columns: dict[str, Any]
    labels: tuple[Any, list[str]]
    amounts: tuple[Any, list[str]]
    entities: tuple[Any, Any, list[str]]


class _Plan(NamedTuple):
    """How a read packs the coded stage log: the columns of each integer, and what to read."""

    widths: dict[str, int]
    words: list[list[tuple[str, int]]]
    first: int
    last: int
    generation: int
    top_sequence: int


def read_packed(
    np: Any,
    connection: sa.Connection,
    batch: int,
    helper: Callable[[], AbstractContextManager[sa.Connection]] | None = None,
) -> Packed:
    """
    Read the coded stage log, `batch` positions at a time, as numpy arrays.

    The codes of a row are packed into as few 63-bit integers as their widths allow (the
    widths are those of the largest code of each value table and of the log's
    ``max_sequence``), and each packed column of a range of positions comes as one text of
    decimal numbers.

    `connection` must be in a read transaction (a snapshot). `helper`, if given, opens
    another connection in a read transaction, which takes ranges of positions from the same
    queue in a thread meanwhile (the database works without holding Python's lock), up to the
    last position `connection` sees. Appends commit in position order, so it reads the same
    rows, unless the coded log was made again in between: then the generations differ and
    `connection` reads every range itself.
    """
    plan = _plan(connection)
    query = _query(connection.dialect.name, plan.words)
    pending: queue.SimpleQueue[tuple[int, int]] = queue.SimpleQueue()
    for low in range(plan.first, plan.last + 1, batch):
        pending.put((low, min(low + batch, plan.last + 1)))
    if helper is not None and pending.qsize() > 1:
        # The second connection takes ranges while the first reads the value tables, then
        # both take the ranges left, one at a time, until none is left.
        with ThreadPoolExecutor(max_workers=1) as pool:
            beside = pool.submit(_read_beside, np, helper, plan, query, pending)
            tables = _tables(np, connection)
            chunks = _read(np, connection, plan, query, pending)
            chunks |= beside.result() or _read(np, connection, plan, query, pending)
    else:
        tables = _tables(np, connection)
        chunks = _read(np, connection, plan, query, pending)
    return Packed(_unpack(np, plan, chunks), *tables)


def _tables(
    np: Any, connection: sa.Connection
) -> tuple[tuple[Any, list[str]], tuple[Any, list[str]], tuple[Any, Any, list[str]]]:
    """The value tables: labels, amounts and entities (`Packed`)."""
    label_codes, labels, _ = _texts(np, connection, STAGE_LABELS, "name")
    amount_codes, amounts, _ = _texts(np, connection, STAGE_AMOUNTS, "amount")
    entity_codes, ids, kinds = _texts(np, connection, STAGE_ENTITIES, "id", _KIND_NUMBER)
    return (label_codes, labels), (amount_codes, amounts), (entity_codes, kinds, ids)


def _plan(connection: sa.Connection) -> _Plan:
    """The widths of the codes, the packing, the positions and the generation, as read now."""
    summary = connection.execute(  # one aggregate a subquery, each a seek
        sa.select(
            *(
                sa.select(aggregate).scalar_subquery()
                for aggregate in (
                    sa.func.max(STAGE_LABELS.c.code),
                    sa.func.max(STAGE_AMOUNTS.c.code),
                    sa.func.max(STAGE_ENTITIES.c.code),
                    sa.func.max(LOG.c.max_sequence),
                    sa.func.min(STAGE_LOG.c.position),
                    sa.func.max(STAGE_LOG.c.position),
                    sa.func.max(LOG.c.generation),
                )
            )
        )
    ).one()
    top_label, top_amount, top_entity, top_sequence, first, last, generation = (
        int(value or 0) for value in summary
    )
    widths = {
        "entity": top_entity.bit_length(),
        "sequence": top_sequence.bit_length(),
        **{name: top_label.bit_length() for name in LABELLED},
        "amount": top_amount.bit_length(),
    }
    return _Plan(widths, _words(widths), first, last, generation, top_sequence)


def _query(dialect: str, words: list[list[tuple[str, int]]]) -> sa.TextClause:
    """The count, largest sequence, packed integers and times of a range of positions' rows."""
    packed = (_joined(dialect, _word_sql(word)) for word in words)
    selected = ["count(*)", "max(sequence)", *packed]
    return sa.text(
        f"SELECT {', '.join(selected)}, {_joined(dialect, 'time')} "  # noqa: S608 - this module's
        f"FROM {STAGE_LOG.name} WHERE position >= :low AND position < :high"
    )


def _read(
    np: Any,
    connection: sa.Connection,
    plan: _Plan,
    query: sa.TextClause,
    pending: queue.SimpleQueue[tuple[int, int]],
) -> dict[int, list[Any]]:
    """The packed columns of each range of positions taken from `pending`, by its start."""
    found: dict[int, list[Any]] = {}
    while True:
        try:
            low, high = pending.get_nowait()
        except queue.Empty:
            return found
        count, top, *texts = connection.execute(query, {"low": low, "high": high}).one()
        if not count:
            continue
        if int(top) > plan.top_sequence:
            raise_for(
                f"{STAGE_LOG.name}.sequence",
                top,
                f"holds sequence {top}, beyond {LOG.name}.max_sequence ({plan.top_sequence}); "
                "the table was changed outside funnelkit: call store.rebuild_stage_log()",
                "range",
            )
        found[low] = [_integers(np, text, int(count), STAGE_LOG.name) for text in texts]


def _read_beside(
    np: Any,
    helper: Callable[[], AbstractContextManager[sa.Connection]],
    plan: _Plan,
    query: sa.TextClause,
    pending: queue.SimpleQueue[tuple[int, int]],
) -> dict[int, list[Any]] | None:
    """
    `_read` on a connection of its own, or ``None``: the first connection reads them all.

    ``None`` if the log was made again since `plan`, or if no connection could be had.
    """
    with ExitStack() as stack:
        try:
            other = stack.enter_context(helper())
        except sa.exc.SQLAlchemyError:  # too many connections, say: one reader is enough
            return None
        if other.execute(sa.select(LOG.c.generation)).scalar() != plan.generation:
            return None  # not the same codes
        return _read(np, other, plan, query, pending)


def _unpack(np: Any, plan: _Plan, chunks: dict[int, list[Any]]) -> dict[str, Any]:
    """Each column of the rows read, in position order, from the packed integers."""
    parts = [[chunks[low][at] for low in sorted(chunks)] for at in range(len(plan.words) + 1)]
    packed = [np.concatenate(part) if part else np.zeros(0, np.int64) for part in parts]
    columns = {"time": packed[-1]}
    for word, values in zip(plan.words, packed, strict=False):
        shift = 0
        for name, width in word:
            columns[name] = (values >> shift) & ((1 << width) - 1)
            shift += width
    for name, width in plan.widths.items():
        if not width:  # a table with no code yet: every row holds none
            columns[name] = np.zeros(len(columns["time"]), np.int64)
    return columns


def _words(widths: dict[str, int]) -> list[list[tuple[str, int]]]:
    """The columns packed into each integer, in order, with their widths in bits."""
    words: list[list[tuple[str, int]]] = [[]]
    used = 0
    for name, width in widths.items():
        if not width:
            continue
        if used + width > _WORD:
            words.append([])
            used = 0
        words[-1].append((name, width))
        used += width
    return [word for word in words if word]


def _word_sql(word: list[tuple[str, int]]) -> str:
    """The SQL of one packed integer: each column's code (0 for none) shifted into its bits."""
    terms, shift = [], 0
    for name, width in word:  # every column an integer, none NULL: plain arithmetic
        if name == "sequence":  # never wider than its width, though changed outside funnelkit
            cap = (1 << width) - 1
            name = f"(CASE WHEN sequence > {cap} THEN {cap} ELSE sequence END)"  # noqa: PLW2901
        terms.append(f"{name} * {1 << shift}" if shift else name)
        shift += width
    return " + ".join(terms)


def _joined(dialect: str, expression: str) -> str:
    """The SQL joining a column's values over the rows into one comma-separated text."""
    if dialect == "postgresql":
        return f"string_agg(CAST({expression} AS TEXT), ',')"
    return f"group_concat({expression})"


def _integers(np: Any, text: str | None, count: int, table: str) -> Any:
    """The numbers of one packed text, or an error naming `table` if it has not `count`."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy warns, and stops, at what is not a number
        try:
            values = np.fromstring(text or "", dtype=np.int64, sep=",")
        except (ValueError, DeprecationWarning):
            values = None
    if values is None or len(values) != count:
        raise_for(
            table,
            count,
            "holds values that are not integers; the table was changed outside funnelkit: "
            "call store.rebuild_stage_log() to make it again from the events",
            "type",
        )
    return values


def _texts(
    np: Any, connection: sa.Connection, table: sa.Table, column: str, number: str | None = None
) -> tuple[Any, list[str], Any]:
    """
    A value table's codes in order (int64), its `column` in that order, and `number` in it.

    `number`, an SQL expression of a row, is read as int64 (``None``: not read). Read
    `_TEXTS_BATCH` codes at a time: the codes and `number` as texts of numbers, the column as
    a JSON array. Codes may have gaps (a rolled-back writer's): batches follow the codes.
    """
    dialect = connection.dialect.name
    values_json = (
        "CAST(json_agg(value) AS TEXT)" if dialect == "postgresql" else ("json_group_array(value)")
    )
    numbers_joined = [_joined(dialect, "number")] if number else []
    selected = ", ".join(["count(*)", _joined(dialect, "code"), *numbers_joined, values_json])
    batch = (
        f"SELECT code, {number or 0} AS number, {column} AS value FROM {table.name} "  # noqa: S608 - our names
        f"WHERE code > :after ORDER BY code LIMIT {_TEXTS_BATCH}"
    )
    query = sa.text(f"SELECT {selected} FROM ({batch}) AS b")  # noqa: S608 - our names
    codes: list[Any] = []
    numbers: list[Any] = []
    values: list[str] = []
    after = 0
    while True:
        count, code_text, *number_text, text = connection.execute(query, {"after": after}).one()
        if not count:
            break
        codes.append(_integers(np, code_text, int(count), table.name))
        numbers.extend(_integers(np, found, int(count), table.name) for found in number_text)
        values.extend(json.loads(text))
        after = int(codes[-1].max())
    found = np.concatenate(codes) if codes else np.zeros(0, np.int64)
    extra = np.concatenate(numbers) if numbers else np.zeros(0, np.int64)
    order = np.argsort(found, kind="stable")  # a batch's aggregates agree on an order
    if bool(np.any(order != np.arange(len(found)))):
        found, extra = found[order], extra[order] if number else extra
        values = [values[at] for at in order.tolist()]
    return found, values, extra if number else None
