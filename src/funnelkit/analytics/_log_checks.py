"""
The checks and the order of a `StageLog`'s columns, as its constructor applies them.

Each check refuses with a `ValidationError` naming the column (``StageLog.<name>``) and the
first row at fault; `_sorted` puts the rows in entity then time order, and `_left` works out
the stage each move left.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from funnelkit._checks import raise_for
from funnelkit.analytics._amounts import StoredAmounts
from funnelkit.analytics._codes import _NONE, _STAGED, LogEvent
from funnelkit.model import Money


if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence


__all__: list[str] = []


def _arrays(np: Any, columns: dict[str, Any]) -> dict[str, Any]:
    """The columns as one-dimensional integer arrays of one length, or an error naming one."""
    arrays: dict[str, Any] = {}
    for name, given in columns.items():
        found = np.asarray(given)
        if found.ndim != 1 or (found.size and found.dtype.kind not in "iu"):
            raise_for(
                f"StageLog.{name}",
                str(found.dtype),
                f"expected a one-dimensional array of integers, got {found.ndim} "
                f"dimension(s) of {found.dtype}",
                "dtype",
            )
        arrays[name] = found
    size = len(arrays["entity"])
    for name, found in arrays.items():
        if len(found) != size:
            raise_for(
                f"StageLog.{name}",
                len(found),
                f"has {len(found)} rows but entity has {size}; every column needs one value "
                "per row",
                "length",
            )
    return arrays


def _check_staged(np: Any, arrays: dict[str, Any]) -> None:
    """Rows that enter a stage name it and its pipeline."""
    staged = np.isin(arrays["event"], [int(event) for event in _STAGED])
    for name, what in (("stage", "the stage it entered"), ("pipeline", "its pipeline")):
        missing = staged & (arrays[name] < 0)
        if bool(np.any(missing)):
            row = int(np.flatnonzero(missing)[0])
            raise_for(
                f"StageLog.{name}",
                row,
                f"row {row} is a {LogEvent(int(arrays['event'][row])).name} row without "
                f"{what}; give {what}",
                "required",
            )


def _sorted(np: Any, arrays: dict[str, Any]) -> dict[str, Any]:
    """The rows by entity then time (stably), unless they are so already."""
    entity, time = arrays["entity"], arrays["time"]
    if len(entity) < 2:  # noqa: PLR2004 - an order needs two rows
        return arrays
    after = entity[1:] > entity[:-1]
    same = entity[1:] == entity[:-1]
    if bool(np.all(after | (same & (time[1:] >= time[:-1])))):
        return arrays
    if bool(np.all(time[1:] >= time[:-1])):  # in time order, as logs are written: by entity
        keys = entity.astype(np.int64) * len(entity) + np.arange(len(entity))
        order = np.argsort(keys)  # unique keys: the stable order, faster than a stable sort
    else:
        order = np.lexsort((time, entity))
    return {name: found[order] for name, found in arrays.items()}


def _left(np: Any, arrays: dict[str, Any]) -> Any:
    """For each move, the stage of its entity's stage row before it (-1 if none)."""
    staged = np.flatnonzero(arrays["stage"] >= 0)
    left = np.full(len(arrays["stage"]), _NONE, dtype=np.int32)
    if len(staged) > 1:
        later, earlier = staged[1:], staged[:-1]
        same = arrays["entity"][later] == arrays["entity"][earlier]
        moves = np.isin(arrays["event"][later], [int(e) for e in _STAGED - {LogEvent.CREATED}])
        keep = same & moves
        left[later[keep]] = arrays["stage"][earlier[keep]]
    return left


def _check_one_kind(np: Any, arrays: dict[str, Any], ids: tuple[str, ...]) -> None:
    """An entity code is a lead or a deal, never both."""
    entity, kind = arrays["entity"], arrays["kind"]
    mixed = (entity[1:] == entity[:-1]) & (kind[1:] != kind[:-1])
    if bool(np.any(mixed)):
        code = int(entity[1:][mixed][0])
        raise_for(
            "StageLog.kind",
            ids[code],
            f"entity {ids[code]!r} has rows of both kinds; a lead and a deal with one id need "
            "two entity codes",
            "kind",
        )


def _table(name: str, table: Sequence[str]) -> tuple[str, ...]:
    found = tuple(table)
    if not set(map(type, found)) <= {str}:
        given: tuple[object, ...] = found
        value = next(value for value in given if not isinstance(value, str))
        raise_for(
            f"StageLog.{name}",
            value,
            f"expected strings, got {type(value).__name__}; codes index a table of strings",
            "type",
        )
    if name != "ids" and len(set(found)) != len(found):
        raise_for(f"StageLog.{name}", found, "holds a value twice; each value once", "unique")
    return found


def _objects(np: Any, values: Any) -> Any:
    """A column of values as a one-dimensional array of objects (tuples stay values)."""
    if hasattr(values, "dtype"):
        return values
    found = list(values)
    return np.fromiter(found, dtype=object, count=len(found))


def _field_keys(fields: Iterable[str]) -> tuple[str, ...]:
    """Custom field keys asked for, each once, or an error naming the one that is not text."""
    if isinstance(fields, str):
        raise_for(
            "fields",
            fields,
            f"expected field keys, got the string {fields!r}: write fields=({fields!r},)",
            "type",
        )
    given: tuple[object, ...] = tuple(dict.fromkeys(fields))
    for key in given:
        if not isinstance(key, str) or not key:
            raise_for("fields", key, "expected custom field keys (non-empty strings)", "type")
    return tuple(map(str, given))


def _check_field_keys(fields: dict[str, Any], values: dict[str, Any]) -> None:
    """The custom field columns and their tables name the same keys."""
    if set(fields) != set(values):
        raise_for(
            "StageLog.fields",
            sorted(set(fields) ^ set(values)),
            "fields and field_values must name the same field keys: give each column its "
            "table of values",
            "keys",
        )


def _money_table(table: Sequence[Money]) -> Sequence[Money]:
    """
    The amounts the codes point to, each a `Money`.

    An amount may be in the table twice (written otherwise: ``1500`` and ``1500.00``): no
    report looks an amount up by value, and checking them unique would hash every amount of
    a big log once more. A store's table (`StoredAmounts`) was checked as it was read.
    """
    if isinstance(table, StoredAmounts):
        return table
    found = tuple(table)
    for value in found:
        if not isinstance(value, Money):
            raise_for(
                "StageLog.amounts",
                value,
                f"expected Money values, got {type(value).__name__}; codes index a table of "
                "amounts such as Money.of('1500.00', 'RUB')",
                "type",
            )
    return found


def _check_codes(np: Any, name: str, codes: Any, size: int, *, nullable: bool) -> None:
    if not len(codes):
        return
    low = -1 if nullable else 0
    bad = (codes < low) | (codes >= size)
    if bool(np.any(bad)):
        row = int(np.flatnonzero(bad)[0])
        raise_for(
            f"StageLog.{name}",
            int(codes[row]),
            f"row {row} holds code {int(codes[row])}, outside its table of {size} values"
            + (" (-1 is none)" if nullable else ""),
            "range",
        )


def _check_values(np: Any, name: str, codes: Any, size: int, expected: str) -> None:
    if not len(codes):
        return
    bad = (codes < 0) | (codes >= size)
    if bool(np.any(bad)):
        row = int(np.flatnonzero(bad)[0])
        raise_for(
            f"StageLog.{name}",
            int(codes[row]),
            f"row {row} holds {int(codes[row])}; expected {expected}",
            "range",
        )
