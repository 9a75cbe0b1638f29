"""
The converter's hooks for scalars, collections and custom field values.

Strict: nothing is coerced, every digit is ASCII, times keep microseconds, and each problem
is raised as a `_DataError` that the converter reports with its path.
"""

from __future__ import annotations

import enum
import itertools
import math
import re
import zoneinfo
from datetime import date, datetime, timedelta, timezone, tzinfo
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, TypeVar, cast, get_args, get_origin

from cattrs.errors import (
    IterableValidationError,
    IterableValidationNote,
)

from funnelkit import model, pipelines, plans
from funnelkit._checks import MAX_INTEGER, describe, integer_problem
from funnelkit.model import FieldValue, FieldValues
from funnelkit.model._fields import field_value_problem


if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    import cattrs


__all__: list[str] = []

T = TypeVar("T")


_SHOWN = 60  # longest piece of input data quoted in a message


_DECIMAL = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")  # ASCII digits


class _DataError(ValueError):
    """One problem at one place in the data; its message is shown as is."""


def _short(value: object) -> str:
    """Show a piece of input data in a message, like JSON would."""
    if isinstance(value, int) and abs(value) >= 10**_SHOWN:  # repr may refuse a huge one
        return describe(value).removesuffix(" (int)")
    shown = repr(value)
    return shown if len(shown) <= _SHOWN else shown[: _SHOWN - 3] + "..."


def _structure_str(value: object, _: type) -> str:
    if type(value) is not str:
        raise _DataError(f"expected a string, got {_short(value)}")
    return value


def _structure_int(value: object, _: type) -> int:
    problem = integer_problem(value)
    if problem is not None:
        if problem[1] == "type":
            raise _DataError(f"expected an integer, got {_short(value)}")
        raise _DataError(problem[0])
    return value  # type: ignore[return-value]


def _structure_float(value: object, _: type) -> float:
    if type(value) is int and abs(value) <= MAX_INTEGER:
        return float(value)
    if type(value) is not float or not math.isfinite(value):
        raise _DataError(f"expected a finite number within ±(2**53 - 1), got {_short(value)}")
    return value


def _structure_bool(value: object, _: type) -> bool:
    if type(value) is not bool:
        raise _DataError(f"expected true or false, got {_short(value)}")
    return value


def _structure_decimal(value: object, _: type) -> Decimal:
    if type(value) is not str or not _DECIMAL.fullmatch(value):
        raise _DataError(f"expected a decimal string such as '125000.50', got {_short(value)}")
    try:
        return Decimal(value)
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid decimals
        raise _DataError(f"expected a decimal string, got {_short(value)}") from None


def _unstructure_decimal(value: Decimal) -> str:
    return format(value, "f")


_FRACTION_TOO_FINE = re.compile(r"[.,][0-9]{7,}")


def _parse_datetime(value: object) -> datetime:
    if type(value) is not str:
        raise _DataError(f"expected an ISO 8601 datetime string, got {_short(value)}")
    if not value.isascii():
        raise _DataError(f"datetimes are written with ASCII digits 0-9, got {_short(value)}")
    if _FRACTION_TOO_FINE.search(value):
        raise _DataError(
            f"funnelkit keeps times to the microsecond (6 digits after the second), got "
            f"{_short(value)}; round it first"
        )
    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        example = "'2020-01-19T09:30:00+03:00'"
        msg = f"expected an ISO 8601 datetime such as {example}, got {_short(value)}"
        raise _DataError(msg) from None
    if parsed.tzinfo is None:
        raise _DataError(
            f"got the naive datetime {_short(value)}; add a UTC offset such as '+03:00' or 'Z'"
        )
    return parsed


def _structure_datetime(value: object, _: type) -> datetime:
    return _parse_datetime(value)


_DURATION = re.compile(  # ASCII digits, at most nine a part
    r"P(?:([0-9]{1,9})D)?(?:T(?:([0-9]{1,9})H)?(?:([0-9]{1,9})M)?(?:([0-9]{1,9})(?:\.([0-9]{1,6}))?S)?)?"
)


def _structure_timedelta(value: object, _: type) -> timedelta:
    match = _DURATION.fullmatch(value) if type(value) is str else None
    if match is None or value in ("P", "PT") or str(value).endswith("T"):
        raise _DataError(
            f"expected an ISO 8601 duration such as 'PT4H', 'P1D' or 'P1DT30M', got {_short(value)}"
        )
    days, hours, minutes, seconds, fraction = (part or "0" for part in match.groups())
    try:
        return timedelta(
            days=int(days),
            hours=int(hours),
            minutes=int(minutes),
            seconds=int(seconds),
            microseconds=int(fraction.ljust(6, "0")),
        )
    except OverflowError:
        raise _DataError(f"the duration {_short(value)} is longer than a timedelta holds") from None


def _unstructure_timedelta(value: timedelta) -> str:
    if value < timedelta(0):
        msg = f"cannot write the negative duration {value} as ISO 8601"
        raise ValueError(msg)
    minutes, seconds = divmod(value.seconds, 60)
    hours, minutes = divmod(minutes, 60)
    time = "".join(f"{amount}{unit}" for amount, unit in ((hours, "H"), (minutes, "M")) if amount)
    if seconds or value.microseconds:
        fraction = f".{value.microseconds:06d}".rstrip("0") if value.microseconds else ""
        time += f"{seconds}{fraction}S"
    date_part = f"{value.days}D" if value.days else ""
    if not date_part and not time:
        return "PT0S"
    return f"P{date_part}{'T' + time if time else ''}"


def _parse_date(value: object) -> date:
    if type(value) is not str:
        raise _DataError(f"expected an ISO 8601 date string, got {_short(value)}")
    if not value.isascii():
        raise _DataError(f"dates are written with ASCII digits 0-9, got {_short(value)}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _DataError(
            f"expected an ISO 8601 date such as '2020-01-19', got {_short(value)}"
        ) from None


def _structure_date(value: object, _: type) -> date:
    return _parse_date(value)


def _enum_hook(enum_type: type[enum.Enum]) -> Callable[[object, type], enum.Enum]:
    by_value = {member.value: member for member in enum_type}
    allowed = ", ".join(repr(v) for v in by_value)

    def structure(value: object, _: type) -> enum.Enum:
        member = by_value.get(value) if type(value) is str else None
        if member is None:
            raise _DataError(f"expected one of {allowed}, got {_short(value)}")
        return member

    return structure


def _enum_value(member: enum.Enum) -> Any:
    return member.value


def _enum_types() -> list[type[enum.Enum]]:
    """Every enum of funnelkit's public values, definitions, policies and reports."""
    from funnelkit import (  # noqa: PLC0415 - they import the model
        analytics,
        events,
        matching,
        qualification,
        tasks,
    )

    return [
        item
        for module in (model, events, pipelines, plans, matching, qualification, tasks, analytics)
        for name in module.__all__
        if isinstance(item := vars(module)[name], type) and issubclass(item, enum.Enum)
    ]


def _structure_zone(value: object, _: type) -> tzinfo:
    """A time zone: an IANA name (``"Europe/Moscow"``) or a fixed UTC offset (``"+03:00"``)."""
    if type(value) is not str:
        raise _DataError(f"expected a time zone name or UTC offset, got {_short(value)}")
    offset = _OFFSET.fullmatch(value)
    if offset is not None:
        sign, hours, minutes = offset.groups()
        delta = timedelta(hours=int(hours), minutes=int(minutes))
        return timezone(-delta if sign == "-" else delta)
    try:
        return zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        msg = f"expected an IANA time zone such as 'Europe/Moscow' or '+03:00', got {_short(value)}"
        raise _DataError(msg) from None


def _unstructure_zone(value: tzinfo) -> str:
    if isinstance(value, zoneinfo.ZoneInfo):
        return value.key
    offset = value.utcoffset(None)
    if offset is None:
        msg = f"cannot write the time zone {value!r}: give a ZoneInfo or a fixed offset"
        raise ValueError(msg)
    sign = "-" if offset < timedelta(0) else "+"
    hours, rest = divmod(abs(offset), timedelta(hours=1))
    return f"{sign}{hours:02d}:{rest // timedelta(minutes=1):02d}"


_OFFSET = re.compile(r"([+-])([0-9]{2}):([0-9]{2})")


def _add_note(exc: BaseException, note: str) -> None:
    """Attach a note the way cattrs does, so error paths can be rebuilt (Python 3.10 too)."""
    setattr(exc, "__notes__", [*getattr(exc, "__notes__", []), note])  # noqa: B010


def _is_frozenset(type_: Any) -> bool:
    return type_ is frozenset or get_origin(type_) is frozenset


def _is_collection(type_: Any) -> bool:
    return get_origin(type_) in (tuple, frozenset)


def _structured_items(
    type_: Any, value: list[Any], typed: Iterable[tuple[Any, Callable[[Any, Any], Any]]]
) -> list[Any]:
    """Structure each item with its type's hook, collecting every problem with its index."""
    items: list[Any] = []
    errors: list[Exception] = []
    for index, (item, (item_type, hook)) in enumerate(zip(value, typed, strict=False)):
        try:
            items.append(hook(item, item_type))
        except Exception as exc:  # noqa: BLE001 - every problem is collected and reported
            _add_note(exc, IterableValidationNote(f"Structuring item {index}", index, item_type))
            errors.append(exc)
    if errors:
        msg = f"While structuring {type_!r}"
        raise IterableValidationError(msg, errors, type_)
    return items


def _record_hook(type_: Any, converter: cattrs.Converter) -> Callable[[object, type], Any]:
    """A fixed-length tuple of typed items (a report's row, ``tuple[str, str, int]``)."""
    typed = [(item, converter.get_structure_hook(item)) for item in get_args(type_)]

    def structure(value: object, _: type) -> Any:
        if type(value) is not list or len(value) != len(typed):
            raise _DataError(f"expected a list of {len(typed)} items, got {_short(value)}")
        return tuple(_structured_items(type_, value, typed))

    return structure


def _is_tuple(type_: Any) -> bool:
    return type_ is tuple or get_origin(type_) is tuple


def _tuple_unstructure_hook(
    type_: Any, converter: cattrs.Converter
) -> Callable[[tuple[Any, ...]], list[Any]]:
    """Tuples as lists of their items' data (a tuple of enums gives their values)."""
    args = get_args(type_)
    if not args:
        return lambda value: [converter.unstructure(item) for item in value]
    if args[1:] == (Ellipsis,):
        item = converter.get_unstructure_hook(args[0])
        return lambda value: [item(member) for member in value]
    hooks = [converter.get_unstructure_hook(arg) for arg in args]
    return lambda value: [hook(member) for hook, member in zip(hooks, value, strict=True)]


def _collection_hook(type_: Any, converter: cattrs.Converter) -> Callable[[object, type], Any]:
    origin = get_origin(type_)
    args = get_args(type_)
    if origin is tuple and args[1:] != (Ellipsis,):
        return _record_hook(type_, converter)
    item_type = args[0]
    typed = itertools.repeat((item_type, converter.get_structure_hook(item_type)))
    build: Callable[[list[Any]], Any] = tuple if origin is tuple else frozenset

    def structure(value: object, _: type) -> Any:
        if type(value) is not list:
            raise _DataError(f"expected a list, got {_short(value)}")
        return build(_structured_items(type_, value, typed))

    return structure


def _frozenset_unstructure_hook(
    type_: Any, converter: cattrs.Converter
) -> Callable[[frozenset[Any]], list[Any]]:
    """Frozensets as sorted lists of their items' data (a set of enums gives their values)."""
    args = get_args(type_)
    item = converter.get_unstructure_hook(args[0]) if args else None

    def unstructure(value: frozenset[Any]) -> list[Any]:
        return sorted(value if item is None else (item(member) for member in value))

    return unstructure


_WRAPPED: dict[str, Callable[[object], FieldValue]] = {
    "decimal": lambda raw: _structure_decimal(raw, Decimal),
    "date": _parse_date,
    "datetime": _parse_datetime,
}


def _unstructure_field_value(value: FieldValue) -> Any:
    if isinstance(value, datetime):
        return {"datetime": value.isoformat()}
    if isinstance(value, date):
        return {"date": value.isoformat()}
    if isinstance(value, Decimal):
        return {"decimal": _unstructure_decimal(value)}
    if isinstance(value, tuple):
        return list(value)
    return value


def _structure_field_value(raw: object) -> FieldValue:
    kind = type(raw)
    if kind in (str, int, bool):
        return raw  # type: ignore[return-value]
    if kind is list:
        if not all(type(item) is str for item in raw):  # type: ignore[attr-defined]
            raise _DataError(f"a multi-choice value is a list of strings, got {_short(raw)}")
        return tuple(cast("list[str]", raw))
    if kind is dict and len(raw) == 1:  # type: ignore[arg-type]
        ((tag, inner),) = raw.items()  # type: ignore[attr-defined]
        parse = _WRAPPED.get(tag)
        if parse is not None:
            return parse(inner)
    raise _DataError(
        "expected a string, integer, boolean, list of strings, or one of "
        f'{{"decimal": "..."}}, {{"date": "..."}}, {{"datetime": "..."}}, got {_short(raw)}'
    )


def _structure_checked_field_value(raw: object) -> FieldValue:
    value = _structure_field_value(raw)
    problem = field_value_problem(value)
    if problem is not None:
        raise _DataError(problem[0])
    return value


def _structure_optional_field_value(raw: object, _: Any) -> FieldValue | None:
    return None if raw is None else _structure_checked_field_value(raw)


def _unstructure_optional_field_value(value: FieldValue | None) -> Any:
    return None if value is None else _unstructure_field_value(value)


def _structure_field_values(raw: object, _: type) -> FieldValues:
    if type(raw) is not dict:
        raise _DataError(f"expected an object of field values, got {_short(raw)}")
    values: dict[str, FieldValue] = {}
    errors: list[Exception] = []
    for key, item in raw.items():
        try:
            values[key] = _structure_checked_field_value(item)
        except _DataError as exc:
            _add_note(exc, IterableValidationNote(f"Structuring field {key!r}", key, FieldValue))
            errors.append(exc)
    if errors:
        msg = "While structuring custom field values"
        raise IterableValidationError(msg, errors, FieldValues)
    return FieldValues(values)


def _unstructure_field_values(values: FieldValues) -> dict[str, Any]:
    return {key: _unstructure_field_value(value) for key, value in values.items()}


def _structure_target_value(value: object, converter: cattrs.Converter) -> int | model.Money:
    """A plan's target: a count (an int) or an amount (a Money object)."""
    if type(value) is dict:
        return converter.structure(value, model.Money)
    if type(value) is int:
        return value
    raise _DataError(
        "expected a count (an int) or money such as "
        f'{{"amount": "1500000", "currency": "RUB"}}, got {_short(value)}'
    )
