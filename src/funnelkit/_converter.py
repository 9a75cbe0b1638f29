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
from datetime import date, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Any, cast

import attrs
import cattrs
from cattrs.errors import (
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
)

from funnelkit import model
from funnelkit._class_hooks import (
    _ACTION_TYPES,
    _class_hook,
    _code_fields,
    _code_structure_hook,
    _code_unstructure_hook,
    _entity_union,
    _entity_union_structure_hook,
    _entity_union_unstructure_hook,
    _event_unstructure_hook,
    _is_action,
    _pair_hooks,
    _rule_hooks,
    _structure_action,
    _structure_event,
    _unstructure_action,
    _wire_named_hook,
)
from funnelkit._scalar_hooks import (
    T,
    _collection_hook,
    _DataError,
    _enum_hook,
    _enum_types,
    _enum_value,
    _frozenset_unstructure_hook,
    _is_collection,
    _is_frozenset,
    _is_tuple,
    _structure_bool,
    _structure_checked_field_value,
    _structure_date,
    _structure_datetime,
    _structure_decimal,
    _structure_field_values,
    _structure_float,
    _structure_int,
    _structure_optional_field_value,
    _structure_str,
    _structure_target_value,
    _structure_timedelta,
    _structure_zone,
    _tuple_unstructure_hook,
    _unstructure_decimal,
    _unstructure_field_value,
    _unstructure_field_values,
    _unstructure_optional_field_value,
    _unstructure_timedelta,
    _unstructure_zone,
)
from funnelkit.events import (
    EVENT_TYPES,
    Event,
)
from funnelkit.exceptions import StructureError, ValidationError
from funnelkit.model import FieldValue, FieldValues
from funnelkit.pipelines import EntryAction


__all__ = [
    "Converter",
    "configure_converter",
    "event_from_data",
    "events_from_data",
    "from_data",
    "to_data",
]


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
