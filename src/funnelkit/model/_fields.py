"""Custom fields: the values an entity carries beyond its built-in ones, and the schema for them."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Union, cast

import attrs

from funnelkit import _checks as check
from funnelkit._checks import describe, fail
from funnelkit.exceptions import ValidationError
from funnelkit.model._values import Violation


__all__ = [
    "CustomFieldSchema",
    "FieldDef",
    "FieldType",
    "FieldValue",
    "FieldValues",
]

FieldValue = Union[str, int, bool, Decimal, date, datetime, tuple[str, ...]]  # noqa: UP007
"""
The types a custom field value may have.

Floats are not among them: amounts and measures are `Decimal`, so they stay exact.
Datetimes must be timezone-aware.
A multi-choice value is a tuple of strings.
"""


def _is_finite_decimal(value: object) -> bool:
    return isinstance(value, Decimal) and value.is_finite()


def _is_aware_datetime(value: object) -> bool:
    return type(value) is datetime and check.aware_datetime_problem(value) is None


def _is_str_tuple(value: object) -> bool:
    return type(value) is tuple and all(
        type(item) is str and check.storable_text_problem(item) is None for item in value
    )


_SCALAR_TYPES = (bool, date)
_IS_FIELD_VALUE: tuple[Callable[[object], bool], ...] = (
    lambda value: type(value) in _SCALAR_TYPES,
    lambda value: type(value) is str and check.storable_text_problem(value) is None,
    lambda value: type(value) is int and check.integer_problem(value) is None,
    lambda value: type(value) is Decimal and check.decimal_problem(value) is None,
    _is_aware_datetime,
    _is_str_tuple,
)


def _tuple_problem(value: tuple[object, ...]) -> tuple[str, str] | None:
    for item in value:
        if type(item) is not str:
            return f"a multi-choice value holds strings only, got {describe(value)}", "type"
        problem = check.storable_text_problem(item)
        if problem is not None:
            return problem
    return None


_PROBLEMS: dict[type, Callable[[Any], tuple[str, str] | None]] = {
    str: check.storable_text_problem,
    Decimal: check.decimal_problem,
    int: check.integer_problem,
    datetime: check.aware_datetime_problem,
    tuple: _tuple_problem,
}


def field_value_problem(value: object) -> tuple[str, str] | None:
    """Return why `value` cannot be a custom field value, or ``None`` if it can."""
    if any(test(value) for test in _IS_FIELD_VALUE):
        return None
    kind = type(value)
    if kind in _PROBLEMS:
        return _PROBLEMS[kind](value)
    hint = "; use Decimal for fractional numbers" if kind is float else ""
    message = (
        "expected str, int, bool, Decimal, date, aware datetime or a tuple of str, "
        f"got {describe(value)}{hint}"
    )
    return message, "type"


class FieldValues(Mapping[str, FieldValue]):
    """
    An immutable, hashable mapping of custom field keys to values.

    Build it from any mapping: ``FieldValues({"builder": "Строитель", "houses": 4})``.
    Entities convert a plain dict given as their ``fields`` to this type.

    Raises:
        ValidationError: If a key is not a non-empty string or a value is not a `FieldValue`.
    """

    __slots__ = ("_data", "_hash")

    def __init__(self, values: Mapping[str, FieldValue] | None = None, /) -> None:
        self._data = self._checked(values, "fields")
        self._hash: int | None = None

    @staticmethod
    def _checked(values: object, name: str) -> dict[str, FieldValue]:
        data: dict[str, FieldValue] = {}
        if values is not None:
            if not isinstance(values, Mapping):
                msg = f"{name}: expected a mapping of field key to value, got {describe(values)}"
                raise ValidationError(msg, field=name, value=values, rule="type")
            for key, value in values.items():
                found = check.identifier_problem(key)
                if found is None:
                    found = field_value_problem(value)
                    where = f"{name}[{key!r}]"
                else:
                    where = name
                if found is not None:
                    message, rule = found
                    raise ValidationError(
                        f"{where}: {message}", field=where, value=value, rule=rule
                    )
                data[key] = value
        return data

    def __getitem__(self, key: str) -> FieldValue:
        return self._data[key]

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def get(self, key: str, default: Any = None) -> Any:
        """Return the value of `key`, or `default` if it has none."""
        return self._data.get(key, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset(self._data.items()))
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FieldValues):
            return self._data == other._data
        if isinstance(other, Mapping):
            return self._data == dict(other)
        return NotImplemented

    def __repr__(self) -> str:
        return f"FieldValues({self._data!r})"

    def set(self, key: str, value: FieldValue) -> FieldValues:
        """Return a copy with `key` set to `value`."""
        return FieldValues({**self._data, key: value})

    def remove(self, key: str) -> FieldValues:
        """Return a copy without `key` (no error if it is absent)."""
        return FieldValues({k: v for k, v in self._data.items() if k != key})


def _to_field_values(
    value: Mapping[str, FieldValue] | FieldValues, instance: object, attribute: attrs.Attribute[Any]
) -> FieldValues:
    if isinstance(value, FieldValues):
        return value
    values = FieldValues.__new__(FieldValues)
    values._data = FieldValues._checked(value, f"{type(instance).__name__}.{attribute.name}")  # noqa: SLF001
    values._hash = None  # noqa: SLF001
    return values


if TYPE_CHECKING:
    # mypy's attrs plugin reads converters from named functions only; this is the signature.
    def field_values_converter(value: Mapping[str, FieldValue] | FieldValues) -> FieldValues:
        """Convert any mapping to `FieldValues`."""

else:
    # At run time the converter also sees the instance, so errors name ``Class.fields``.
    field_values_converter = attrs.Converter(_to_field_values, takes_self=True, takes_field=True)


class FieldType(str, enum.Enum):
    """The type of a custom field."""

    TEXT = "text"
    INTEGER = "integer"
    DECIMAL = "decimal"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"
    CHOICE = "choice"
    MULTI_CHOICE = "multi_choice"


_FITS_TYPE: dict[FieldType, Callable[[object], bool]] = {
    FieldType.TEXT: lambda value: type(value) is str,
    FieldType.INTEGER: lambda value: type(value) is int,
    FieldType.DECIMAL: _is_finite_decimal,
    FieldType.BOOLEAN: lambda value: type(value) is bool,
    FieldType.DATE: lambda value: type(value) is date,
    FieldType.DATETIME: _is_aware_datetime,
    FieldType.CHOICE: lambda value: type(value) is str,
    FieldType.MULTI_CHOICE: _is_str_tuple,
}

_EXPECTED = {
    FieldType.TEXT: "a string",
    FieldType.INTEGER: "an integer",
    FieldType.DECIMAL: "a Decimal",
    FieldType.BOOLEAN: "True or False",
    FieldType.DATE: "a date",
    FieldType.DATETIME: "an aware datetime",
    FieldType.CHOICE: "one of the allowed values",
    FieldType.MULTI_CHOICE: "a tuple of allowed values",
}


def _choices_fit_type(instance: FieldDef, attribute: attrs.Attribute[Any], value: object) -> None:
    has_choices = bool(value)
    needs_choices = instance.type in (FieldType.CHOICE, FieldType.MULTI_CHOICE)
    if needs_choices and not has_choices:
        fail(
            instance,
            attribute,
            value,
            f"a {instance.type.value} field needs its allowed values; "
            "pass choices=('Строитель', 'Частник') for example",
            "choices",
        )
    if has_choices and not needs_choices:
        fail(
            instance,
            attribute,
            value,
            f"only choice and multi_choice fields take choices, this one is {instance.type.value}",
            "choices",
        )


@attrs.frozen(kw_only=True)
class FieldDef:
    """
    The definition of one custom field.

    Attributes:
        key: The key under which entities store the value (``"client_type"``).
        type: The value type.
        title: A human title in any language (``"Строитель/Частник"``); defaults to the key.
        choices: The allowed values of a choice or multi-choice field.
    """

    key: str = attrs.field(validator=check.identifier)
    type: FieldType = attrs.field(validator=check.is_enum(FieldType))
    title: str = attrs.field(default="", validator=check.text)
    choices: tuple[str, ...] = attrs.field(
        default=(),
        validator=[
            check.tuple_of(check.identifier_problem, "strings", unique=True),
            _choices_fit_type,
        ],
    )

    @property
    def label(self) -> str:
        """The title, or the key when there is no title."""
        return self.title or self.key

    def check(self, value: object) -> Violation | None:
        """Return the `Violation` if `value` does not fit this field, or ``None`` if it does."""
        if not _FITS_TYPE[self.type](value):
            return Violation(
                rule="type",
                field=self.key,
                message=f"{self.key}: expected {_EXPECTED[self.type]}, got {describe(value)}",
            )
        bounded = field_value_problem(value)  # the bounds of integers and decimals
        if bounded is not None:
            return Violation(rule=bounded[1], field=self.key, message=f"{self.key}: {bounded[0]}")
        if self.type is FieldType.CHOICE:
            return None if value in self.choices else self._not_allowed(value)
        if self.type is FieldType.MULTI_CHOICE:
            items = cast("tuple[str, ...]", value)
            unknown = [item for item in items if item not in self.choices]
            if unknown:
                return self._not_allowed(unknown[0])
            if len(set(items)) != len(items):
                return Violation(
                    rule="unique",
                    field=self.key,
                    message=f"{self.key}: lists a value more than once; list each value once",
                )
        return None

    def _not_allowed(self, value: object) -> Violation:
        allowed = ", ".join(repr(choice) for choice in self.choices)
        return Violation(
            rule="choice",
            field=self.key,
            message=f"{self.key}: {value!r} is not an allowed value; allowed: {allowed}",
        )


def _unique_keys(
    instance: CustomFieldSchema, attribute: attrs.Attribute[Any], value: tuple[FieldDef, ...]
) -> None:
    seen: set[str] = set()
    for definition in value:
        if definition.key in seen:
            fail(
                instance,
                attribute,
                value,
                f"the key {definition.key!r} is defined twice; give every field its own key",
                "unique",
            )
        seen.add(definition.key)


@attrs.frozen(kw_only=True)
class CustomFieldSchema:
    """
    The custom fields an entity kind may carry, with their types and allowed values.

    A host keeps one schema per entity kind (contacts, leads, deals) and checks values against it.

    Example:
        >>> from funnelkit import CustomFieldSchema, FieldDef, FieldType
        >>> schema = CustomFieldSchema(fields=(
        ...     FieldDef(key="client_type", type=FieldType.CHOICE,
        ...              choices=("Строитель", "Частник")),
        ...     FieldDef(key="houses", type=FieldType.INTEGER),
        ... ))
        >>> [v.message for v in schema.check({"client_type": "Подрядчик"})]
        ["client_type: 'Подрядчик' is not an allowed value; allowed: 'Строитель', 'Частник'"]
    """

    fields: tuple[FieldDef, ...] = attrs.field(
        default=(),
        validator=[
            check.tuple_of(check.instance_problem(FieldDef, "FieldDef"), "FieldDef"),
            _unique_keys,
        ],
    )
    _by_key: dict[str, FieldDef] = attrs.field(init=False, eq=False, repr=False, hash=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(
            self, "_by_key", {definition.key: definition for definition in self.fields}
        )

    def __getitem__(self, key: str) -> FieldDef:
        """Return the definition of `key`, or raise `KeyError`."""
        return self._by_key[key]

    def __contains__(self, key: object) -> bool:
        return key in self._by_key

    @property
    def keys(self) -> tuple[str, ...]:
        """The field keys, in definition order."""
        return tuple(self._by_key)

    def check(self, values: Mapping[str, object]) -> tuple[Violation, ...]:
        """
        Check custom field values against the schema, without raising.

        Returns:
            One `Violation` per unknown key or unfit value; empty if every value fits.
        """
        violations: list[Violation] = []
        for key, value in values.items():
            definition = self._by_key.get(key)
            if definition is None:
                known = ", ".join(repr(k) for k in self._by_key) or "none"
                violations.append(
                    Violation(
                        rule="unknown_field",
                        field=key,
                        message=f"{key}: no such custom field; known fields: {known}; "
                        "add it to the schema or fix the key",
                    )
                )
                continue
            violation = definition.check(value)
            if violation is not None:
                violations.append(violation)
        return tuple(violations)

    def validate(self, values: Mapping[str, object]) -> None:
        """
        Raise unless every value fits the schema.

        Raises:
            ValidationError: Listing every violation; its ``field`` is the first offending key.
        """
        violations = self.check(values)
        if violations:
            first = violations[0]
            listing = "; ".join(v.message for v in violations)
            raise ValidationError(
                f"Custom fields do not fit the schema: {listing}",
                field=first.field,
                value=values[first.field] if first.field is not None else None,
                rule=first.rule,
            )
