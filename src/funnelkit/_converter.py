"""
Plain data at the edges: every public value, event and definition to JSON-ready data and back.

funnelkit uses one private, preconfigured cattrs converter (never cattrs' global one).
It is strict where cattrs is lenient by default:

- no coercion: ``5`` is not a string, ``"5"`` is not an int, ``"abc"`` is not a list;
- unknown keys are refused;
- Decimals travel as exact decimal strings (``"125000.50"``), never floats;
- datetimes travel as ISO 8601 strings and must carry a UTC offset; dates as ``"2020-01-19"``;
  durations (a stage's SLA) as ISO 8601 durations such as ``"PT4H"`` or ``"P1DT30M"``;
- enums travel as their values; tuples and frozensets as lists (frozensets sorted);
- events carry a ``"type"`` key with their stable wire name (`funnelkit.events.EVENT_TYPES`),
  and so do a stage's entry actions (``"create_task"``, ``"set_field"``);
- events carry a ``"version"`` key too, their schema version; data of an earlier version (or
  without one: version 1) is upcast by `funnelkit.events.UPCASTERS`, and a later version is
  refused, naming it;
- custom field values keep their type: Decimals, dates and datetimes are wrapped as
  ``{"decimal": "12.5"}``, ``{"date": "2020-01-19"}``, ``{"datetime": "..."}``.

Every problem in the data is reported with its path in one `StructureError`.
"""

from __future__ import annotations

import enum
import itertools
import math
import re
import types
import typing
import zoneinfo
from datetime import date, datetime, timedelta, timezone, tzinfo
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, TypeVar, cast, get_args, get_origin

import attrs
import cattrs
from cattrs.errors import (
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
    IterableValidationNote,
)
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from funnelkit import model, pipelines, plans
from funnelkit._checks import MAX_INTEGER, describe, integer_problem
from funnelkit.events import (
    EVENT_TYPES,
    UPCASTERS,
    Event,
)
from funnelkit.exceptions import StructureError, ValidationError
from funnelkit.model import FieldValue, FieldValues
from funnelkit.model._fields import field_value_problem
from funnelkit.pipelines import CreateTask, EntryAction, SetField


if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping


__all__ = [
    "Converter",
    "configure_converter",
    "event_from_data",
    "events_from_data",
    "from_data",
    "to_data",
]

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


# --- scalars -----------------------------------------------------------------------------------


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


# --- collections -------------------------------------------------------------------------------


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


# --- custom field values -----------------------------------------------------------------------

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


# --- attrs classes and events ------------------------------------------------------------------


def _class_hook(
    cls: type, converter: cattrs.Converter, **overrides: Any
) -> Callable[[object, type], Any]:
    generated: Callable[[Any, type], Any] = make_dict_structure_fn(
        cls, converter, _cattrs_forbid_extra_keys=True, **overrides
    )

    def structure(value: object, _: type) -> Any:
        if type(value) is not dict:
            raise _DataError(
                f"expected an object with the fields of {cls.__name__}, got {_short(value)}"
            )
        return generated(value, cls)

    return structure


def _code_fields(cls: type) -> tuple[str, ...]:
    """The fields of a definition that hold code (your conditions and callbacks)."""
    return tuple(a.name for a in attrs.fields(cls) if a.metadata.get("code"))


def _code_structure_hook(cls: type, converter: cattrs.Converter) -> Callable[[object, type], Any]:
    """A definition from data: code cannot be data, so its code fields keep their defaults."""
    omitted: dict[str, Any] = {name: override(omit=True) for name in _code_fields(cls)}
    return _class_hook(cls, converter, **omitted)


def _code_unstructure_hook(cls: type, converter: cattrs.Converter) -> Callable[[Any], Any]:
    """A definition as data, refused while it holds code (data would silently lose it)."""
    names = _code_fields(cls)
    omitted: dict[str, Any] = {name: override(omit=True) for name in names}
    generated: Callable[[Any], Any] = make_dict_unstructure_fn(cls, converter, **omitted)

    def unstructure(value: Any) -> Any:
        for name in names:
            if getattr(value, name):
                _refuse_code(value, name)
        return generated(value)

    return unstructure


def _refuse_code(value: object, name: str) -> None:
    key = (
        getattr(value, "key", None)
        or f"{getattr(value, 'source', '?')} → {getattr(value, 'dest', '?')}"
    )
    msg = (
        f"{type(value).__name__} {key!r} has {name} written in code, which data cannot hold; "
        "keep this pipeline in code, or write it to data without its conditions and callbacks"
    )
    raise ValidationError(msg, field=f"{type(value).__name__}.{name}", value=value, rule="code")


def _is_action(type_: object) -> bool:
    """Whether a type is `Action` (as written, or with its forward references resolved)."""
    members = typing.get_args(type_)
    return CreateTask in members and SetField in members and len(members) == 3  # noqa: PLR2004


def _unstructure_action(value: object, converter: cattrs.Converter) -> Any:
    if not isinstance(value, CreateTask | SetField):
        msg = (
            f"the entry action {describe(value)} is code, which data cannot hold; keep this "
            "pipeline in code, or use CreateTask and SetField"
        )
        raise ValidationError(msg, field="Stage.on_enter", value=value, rule="code")
    return converter.unstructure(value)


def _event_unstructure_hook(
    cls: type, converter: cattrs.Converter
) -> Callable[[Any], dict[str, Any]]:
    generated: Callable[[Any], dict[str, Any]] = make_dict_unstructure_fn(cls, converter)
    head: dict[str, Any] = {"type": cls.TYPE}  # type: ignore[attr-defined]
    if cls in _EVENT_CLASSES:
        head["version"] = cls.VERSION

    def unstructure(event: Any) -> dict[str, Any]:
        return {**head, **generated(event)}

    return unstructure


_EVENT_CLASSES = frozenset(EVENT_TYPES.values())


def _current_fields(value: dict[str, Any], cls: Any) -> dict[str, Any]:
    """An event's fields (its data without ``"version"``) upcast to `cls`'s current version."""
    fields = {key: item for key, item in value.items() if key != "version"}
    version = value.get("version", 1)  # written before versions existed: version 1
    if type(version) is not int or version < 1:
        msg = f"'version' is an event's schema version, a positive integer; got {_short(version)}"
        raise _DataError(msg)
    if version > cls.VERSION:
        msg = (
            f"this is version {_short(version)} of {cls.TYPE!r}, written by a newer funnelkit; "
            f"this one reads versions 1 to {cls.VERSION}: upgrade funnelkit before reading this log"
        )
        raise _DataError(msg)
    for step in range(version, cls.VERSION):
        try:
            fields = UPCASTERS[cls.TYPE, step](fields)
        except Exception as error:
            msg = f"cannot read version {step} of {cls.TYPE!r} as version {step + 1}: {error!r}"
            raise _DataError(msg) from error
    return fields


_ACTION_TYPES: dict[str, type[Any]] = {cls.TYPE: cls for cls in (CreateTask, SetField)}


def _wire_named_hook(cls: type, converter: cattrs.Converter) -> Callable[[object, Any], Any]:
    """
    An event or entry action read as its own class: its ``"type"`` key, if any, must match.

    An event's data of an earlier ``"version"`` is upcast first (`funnelkit.events.UPCASTERS`).
    """
    inner = _class_hook(cls, converter)
    wire_name: str = cls.TYPE  # type: ignore[attr-defined]
    versioned = cls in _EVENT_CLASSES

    def structure(value: object, type_: Any) -> Any:
        if type(value) is dict and "type" in value:
            if value["type"] != wire_name:
                msg = f"this is {_short(value['type'])} data, not {wire_name!r} ({cls.__name__})"
                raise _DataError(msg)
            value = {key: item for key, item in value.items() if key != "type"}
        if versioned and type(value) is dict:
            value = _current_fields(value, cls)
        return inner(value, type_)

    return structure


def _structure_tagged(
    value: object, converter: cattrs.Converter, types: Mapping[str, type[Any]], what: str
) -> Any:
    """Structure a member of a tagged union: the ``"type"`` key names its class in `types`."""
    if type(value) is not dict:
        raise _DataError(f"expected an {what} object with a 'type' key, got {_short(value)}")
    wire_name = value.get("type")
    cls = types.get(wire_name) if type(wire_name) is str else None
    if cls is None:
        known = ", ".join(repr(name) for name in types)
        raise _DataError(f"unknown {what} type {_short(wire_name)}; known types: {known}")
    return converter.structure({key: item for key, item in value.items() if key != "type"}, cls)


def _pair_hooks(
    converter: cattrs.Converter,
) -> tuple[Callable[[object, Any], Any], Callable[[Any], Any]]:
    """A scored pair with its explanation (worked out when first read), and back."""
    from funnelkit.matching import PairScore  # noqa: PLC0415 - it imports the model

    private = {"_scoring": override(omit=True), "_code": override(omit=True)}
    structure = _class_hook(PairScore, converter, _cattrs_use_alias=True, **private)

    def unstructure(pair: Any) -> dict[str, Any]:
        return {
            "left": pair.left,
            "right": pair.right,
            "score": pair.score,
            "probability": pair.probability,
            "band": pair.band.value,
            "conflicts": list(pair.conflicts),
            "keys": list(pair.keys),
            "contributions": converter.unstructure(pair.contributions),
        }

    return structure, unstructure


def _rule_types() -> dict[str, type[Any]]:
    """The qualification rules written as data, by wire name; rules of code are not."""
    from funnelkit import qualification  # noqa: PLC0415 - it imports the model

    return {
        "spam_pattern": qualification.SpamPattern,
        "blocked_phones": qualification.BlockedPhones,
        "missing_contact": qualification.MissingContact,
        "open_duplicate": qualification.OpenDuplicate,
    }


def _rule_hooks(
    converter: cattrs.Converter,
) -> tuple[Callable[[object, Any], Any], Callable[[Any], Any]]:
    types_ = _rule_types()
    names = {cls: name for name, cls in types_.items()}

    def structure(value: object, _: Any) -> Any:
        return _structure_tagged(value, converter, types_, "qualification rule")

    def unstructure(value: Any) -> Any:
        name = names.get(type(value))
        if name is None:
            msg = (
                f"to_data: the qualification rule {describe(value)} is code of yours, which data "
                f"cannot hold; write policies with the built-in rules ({', '.join(types_)}) "
                "as data, and add your own rules in code after from_data"
            )
            raise ValidationError(msg, field="rules", value=value, rule="code")
        return {"type": name, **converter.unstructure(value, type(value))}

    return structure, unstructure


def _structure_action(value: object, converter: cattrs.Converter) -> EntryAction:
    action: EntryAction = _structure_tagged(value, converter, _ACTION_TYPES, "entry action")
    return action


def _structure_event(value: object, converter: cattrs.Converter) -> Event:
    event: Event = _structure_tagged(value, converter, EVENT_TYPES, "event")
    return event


_ENTITY_CLASSES: dict[type[Any], str] = {
    cls: cls.KIND.value for cls in (model.Contact, model.Lead, model.Deal, model.Task)
}


def _entity_union(type_: Any) -> tuple[dict[str, type[Any]], bool] | None:
    """For a union of entity classes (``Lead | Deal``, maybe optional): its tags, and if None."""
    if get_origin(type_) not in (typing.Union, types.UnionType):
        return None
    members = [arg for arg in get_args(type_) if arg is not type(None)]
    if len(members) < 2 or not all(arg in _ENTITY_CLASSES for arg in members):  # noqa: PLR2004
        return None
    return {_ENTITY_CLASSES[arg]: arg for arg in members}, len(members) < len(get_args(type_))


def _entity_union_structure_hook(
    type_: Any, converter: cattrs.Converter
) -> Callable[[object, Any], Any]:
    found = _entity_union(type_)
    assert found is not None  # noqa: S101 - the predicate said so
    tags, optional = found

    def structure(value: object, _: Any) -> Any:
        if value is None and optional:
            return None
        return _structure_tagged(value, converter, tags, "entity")

    return structure


def _entity_union_unstructure_hook(_type: Any, converter: cattrs.Converter) -> Callable[[Any], Any]:
    def unstructure(value: Any) -> Any:
        if value is None:
            return None
        data = converter.unstructure(value, type(value))
        return {"type": _ENTITY_CLASSES[type(value)], **data}

    return unstructure


def _make_cattrs() -> cattrs.Converter:
    converter = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
    _register_scalars(converter)  # first: the strategies below fetch these hooks when built
    _register_values(converter)
    return converter


def _register_scalars(converter: cattrs.Converter) -> None:
    converter.register_structure_hook(str, _structure_str)
    converter.register_structure_hook(int, _structure_int)
    converter.register_structure_hook(bool, _structure_bool)
    converter.register_structure_hook(float, _structure_float)
    converter.register_structure_hook(Decimal, _structure_decimal)
    converter.register_unstructure_hook(Decimal, _unstructure_decimal)
    converter.register_structure_hook(datetime, _structure_datetime)
    converter.register_unstructure_hook(datetime, datetime.isoformat)
    converter.register_structure_hook(date, _structure_date)
    converter.register_unstructure_hook(date, date.isoformat)
    converter.register_structure_hook(timedelta, _structure_timedelta)
    converter.register_unstructure_hook(timedelta, _unstructure_timedelta)
    converter.register_structure_hook(tzinfo, _structure_zone)
    converter.register_unstructure_hook_func(lambda t: t is tzinfo, _unstructure_zone)


def _register_values(converter: cattrs.Converter) -> None:
    # funnelkit's enums subclass str, and cattrs consults hooks registered by class (with the
    # MRO) before predicates, so each enum is registered by its exact class to beat `str`.
    for enum_type in _enum_types():
        converter.register_structure_hook(enum_type, _enum_hook(enum_type))
        converter.register_unstructure_hook(enum_type, _enum_value)
    converter.register_structure_hook_factory(_is_collection, _collection_hook)
    converter.register_unstructure_hook_factory(_is_frozenset, _frozenset_unstructure_hook)
    converter.register_unstructure_hook_factory(_is_tuple, _tuple_unstructure_hook)
    converter.register_structure_hook(FieldValues, _structure_field_values)
    converter.register_unstructure_hook(FieldValues, _unstructure_field_values)
    optional_field_value = FieldValue | None
    converter.register_structure_hook_func(
        lambda t: t == FieldValue, lambda raw, _: _structure_checked_field_value(raw)
    )
    converter.register_unstructure_hook_func(lambda t: t == FieldValue, _unstructure_field_value)
    converter.register_structure_hook_func(
        lambda t: t == optional_field_value, _structure_optional_field_value
    )
    converter.register_unstructure_hook_func(
        lambda t: t == optional_field_value, _unstructure_optional_field_value
    )
    event_classes = frozenset(EVENT_TYPES.values())
    converter.register_unstructure_hook_factory(
        lambda t: t in event_classes, _event_unstructure_hook
    )
    converter.register_structure_hook_func(
        lambda t: t == Event, lambda value, _: _structure_event(value, converter)
    )
    converter.register_unstructure_hook_func(lambda t: t == Event, converter.unstructure)
    action_classes = frozenset(_ACTION_TYPES.values())
    converter.register_unstructure_hook_factory(
        lambda t: t in action_classes, _event_unstructure_hook
    )
    converter.register_structure_hook_func(
        lambda t: t == EntryAction, lambda value, _: _structure_action(value, converter)
    )
    converter.register_unstructure_hook_func(lambda t: t == EntryAction, converter.unstructure)
    converter.register_structure_hook_func(
        _is_action, lambda value, _: _structure_action(value, converter)
    )
    converter.register_unstructure_hook_func(
        _is_action, lambda value: _unstructure_action(value, converter)
    )
    target_value = int | model.Money
    converter.register_structure_hook_func(
        lambda t: t == target_value, lambda value, _: _structure_target_value(value, converter)
    )
    # A union of entities (a merge's children: leads, deals, tasks) is tagged by its kind.
    is_entity_union = lambda t: _entity_union(t) is not None  # noqa: E731
    converter.register_structure_hook_factory(is_entity_union, _entity_union_structure_hook)
    converter.register_unstructure_hook_factory(is_entity_union, _entity_union_unstructure_hook)
    from funnelkit.matching import PairScore  # noqa: PLC0415 - imports model
    from funnelkit.qualification import QualificationRule  # noqa: PLC0415 - imports model

    pair_structure, pair_unstructure = _pair_hooks(converter)
    converter.register_structure_hook(PairScore, pair_structure)
    converter.register_unstructure_hook(PairScore, pair_unstructure)
    rule_structure, rule_unstructure = _rule_hooks(converter)
    converter.register_structure_hook_func(lambda t: t is QualificationRule, rule_structure)
    converter.register_unstructure_hook_func(lambda t: t is QualificationRule, rule_unstructure)
    converter.register_structure_hook_factory(attrs.has, _class_hook)
    has_code = lambda t: attrs.has(t) and bool(_code_fields(t))  # noqa: E731
    converter.register_structure_hook_factory(has_code, _code_structure_hook)
    converter.register_unstructure_hook_factory(has_code, _code_unstructure_hook)
    wire_named = event_classes | action_classes
    converter.register_structure_hook_factory(lambda t: t in wire_named, _wire_named_hook)


# --- error reporting ---------------------------------------------------------------------------


def _problems(exc: BaseException, path: str) -> list[str]:
    if isinstance(exc, IterableValidationError):
        with_notes, without = exc.group_exceptions()
        found = [
            problem
            for inner, note in with_notes
            for problem in _problems(inner, f"{path}[{note.index!r}]")
        ]
        return found + [problem for inner in without for problem in _problems(inner, path)]
    if isinstance(exc, ClassValidationError):
        with_notes_c, without_c = exc.group_exceptions()
        found = [
            problem
            for inner, note in with_notes_c
            for problem in _problems(inner, f"{path}.{note.name}")
        ]
        return found + [problem for inner in without_c for problem in _problems(inner, path)]
    return [_describe(exc, path)]


def _describe(exc: BaseException, path: str) -> str:
    if isinstance(exc, _DataError):
        return f"{path}: {exc}"
    if isinstance(exc, ValidationError):
        # Raised by a validator inside the class being built: its field names the attribute.
        message = str(exc)
        if exc.field and "." in exc.field and message.startswith(exc.field + ": "):
            attribute = exc.field.split(".", 1)[1]
            separator = "" if attribute.startswith("[") else "."
            return f"{path}{separator}{attribute}: {message[len(exc.field) + 2 :]}"
        return f"{path}: {message}"
    if isinstance(exc, ForbiddenExtraKeysError):
        aliases = (a.alias for a in attrs.fields(exc.cl))
        allowed = ", ".join(sorted(alias for alias in aliases if not alias.startswith("_")))
        extra = ", ".join(repr(key) for key in sorted(exc.extra_fields))
        return f"{path}: unknown key {extra} for {exc.cl.__name__}; allowed keys: {allowed}"
    if isinstance(exc, KeyError):
        return f"{path}: required field missing; add it"
    return f"{path}: {type(exc).__name__}: {exc}"


class Converter:
    """
    Turns every funnelkit value, event and definition into JSON-ready data and back.

    The data is made of dicts, lists, strings, integers, booleans and ``None`` only, so
    ``json.dumps`` takes it as is.
    The round trip is exact: ``from_data(to_data(x), type(x)) == x``.

    One instance can be shared by threads once created.
    """

    def __init__(self) -> None:
        self._cattrs = _make_cattrs()

    def to_data(self, value: object) -> Any:
        """
        Return the JSON-ready form of a funnelkit value (or a list/tuple of them).

        Events include their ``"type"`` wire name.
        """
        return self._cattrs.unstructure(value)

    def from_data(self, data: Any, cls: type[T]) -> T:
        """
        Build a funnelkit value of type `cls` from its JSON-ready form.

        Raises:
            StructureError: Listing every problem with its path, such as
                ``$.payments[2].amount: expected a decimal string such as '125000.50', got 12.5``.
        """
        return cast("T", self._structure(data, cls, cls.__name__))

    def event_from_data(self, data: Any) -> Event:
        """
        Build an event from its JSON-ready form, choosing the class by its ``"type"`` key.

        Raises:
            StructureError: If the type is unknown or any field is wrong.
        """
        result: Event = self._structure(data, Event, "an event")
        return result

    def events_from_data(self, data: Any) -> list[Event]:
        """
        Build a list of events from a JSON-ready list.

        Raises:
            StructureError: Listing the problems of every bad event, with its index.
        """
        result: list[Event] = self._structure(data, tuple[Event, ...], "a list of events")
        return list(result)

    def _structure(self, data: Any, cls: Any, target: str) -> Any:
        try:
            return self._cattrs.structure(data, cls)
        except (ClassValidationError, IterableValidationError, _DataError, ValidationError) as exc:
            raise StructureError(target, _problems(exc, "$")) from exc


_DEFAULT: Converter | None = None


def _default() -> Converter:
    global _DEFAULT  # noqa: PLW0603 - one lazily built, shared, stateless instance
    if _DEFAULT is None:
        _DEFAULT = Converter()
    return _DEFAULT


def to_data(value: object) -> Any:
    """Return the JSON-ready form of a funnelkit value (see `Converter.to_data`)."""
    return _default().to_data(value)


def from_data(data: Any, cls: type[T]) -> T:
    """
    Build a funnelkit value of type `cls` from JSON-ready data (see `Converter.from_data`).

    Raises:
        StructureError: Listing every problem with its path.
    """
    return _default().from_data(data, cls)


def event_from_data(data: Any) -> Event:
    """
    Build an event from JSON-ready data (see `Converter.event_from_data`).

    Raises:
        StructureError: If the type is unknown or any field is wrong.
    """
    return _default().event_from_data(data)


def events_from_data(data: Any) -> list[Event]:
    """
    Build events from a JSON-ready list (see `Converter.events_from_data`).

    Raises:
        StructureError: Listing the problems of every bad event, with its index.
    """
    return _default().events_from_data(data)


def _is_funnelkit_type(type_: Any) -> bool:
    """Whether `type_` is one of funnelkit's: a value, an enum, the event or action union."""
    if type_ in (Event, EntryAction, FieldValue):
        return True
    if not isinstance(type_, type) or type_.__module__.split(".")[0] != "funnelkit":
        return False
    return attrs.has(type_) or issubclass(type_, enum.Enum) or type_ is FieldValues


def configure_converter(converter: cattrs.BaseConverter) -> None:
    """
    Teach a cattrs converter of yours to read and write funnelkit's values.

    A value of yours that holds funnelkit's (an order with its `Deal`, a message with its
    events) then goes through your converter, and the funnelkit parts are written and read
    exactly as `to_data` and `from_data` do. Only funnelkit's own types get the hooks: how
    your converter handles strings, numbers and your own classes does not change.

    Reading bad data raises funnelkit's `StructureError` (its problems' paths start at the
    funnelkit value), inside whatever error your converter raises around it.

    Example::

        converter = cattrs.Converter()
        funnelkit.configure_converter(converter)
        converter.structure(converter.unstructure(order), Order) == order
    """
    ours = _default()

    def structure(data: Any, type_: Any) -> Any:
        return ours._structure(data, type_, getattr(type_, "__name__", "a funnelkit value"))  # noqa: SLF001

    converter.register_structure_hook_func(_is_funnelkit_type, structure)
    converter.register_unstructure_hook_func(_is_funnelkit_type, ours.to_data)
