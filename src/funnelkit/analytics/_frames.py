"""
Ways into a `StageLog` from values: plain columns of Python values, and frames.

`from_values` codes columns of Python values (ids, names, datetimes, amounts, custom field
values) into the log's tables. `from_frame` reads a frame through narwhals, for interchange
only: each column comes out as a numpy array, and no dataframe library is imported that the
caller did not pass.
"""

from __future__ import annotations

import importlib
from datetime import datetime
from decimal import Decimal
from typing import Any

from funnelkit._checks import raise_for
from funnelkit.analytics._codes import (
    _EPOCH,
    _EVENT_NAMES,
    _KIND_NAMES,
    _MICROSECOND,
    _NONE,
    VERDICTS,
    LogEvent,
    _numpy,
)
from funnelkit.analytics._columnar import StageLog, empty_log
from funnelkit.exceptions import ValidationError
from funnelkit.model import Money
from funnelkit.model._fields import field_value_problem


__all__ = ["from_frame", "from_values"]


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


_VERDICT_NAMES: dict[Any, int] = {}
for _code_of, _verdict in enumerate(VERDICTS):
    _VERDICT_NAMES[_verdict.value] = _VERDICT_NAMES[_verdict] = _code_of


def _verdicts(np: Any, values: Any) -> Any:
    """The verdict codes of a column of verdicts (``"good"``, ``"junk"``, ``"review"``)."""
    given = values.tolist()
    codes_of: dict[Any, int] = {}
    for value in dict.fromkeys(given):
        if _is_missing(value):
            codes_of[value] = _NONE
            continue
        found = _VERDICT_NAMES.get(value) if isinstance(value, str) else None
        if found is None:
            raise_for(
                "StageLog.verdict",
                value,
                f"row {given.index(value)} holds {value!r}; expected good, junk, review or none",
                "unknown",
            )
        codes_of[value] = found
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
    verdict = _verdicts(np, values["verdict"])
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
        verdict=verdict,
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
    table: list[Money] = []
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
        codes_of[pair] = len(table)
        table.append(value)
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
    "verdict",
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
