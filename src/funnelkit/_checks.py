"""
Validators for funnelkit's attrs classes.

Every failure raises `funnelkit.exceptions.ValidationError` whose message names the field as
``Class.field`` (``Class.field[2]`` for an item of a tuple), says what was got and what is
expected, and whose ``rule`` is a stable short name.
The checks are cheap ``isinstance`` tests, because attrs runs them on every construction and
every ``attrs.evolve``.

Each check is first written as a *problem function*: it takes a value and returns ``None`` when
the value is fine, or ``(message, rule)``.
`field` turns one into an attrs validator, `tuple_of` and `frozenset_of` check every item of a
collection with one.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar


if TYPE_CHECKING:
    from collections.abc import Callable

    import attrs

    Validator = Callable[[Any, "attrs.Attribute[Any]", Any], None]
    Problem = tuple[str, str] | None
    ProblemFn = Callable[[Any], Problem]

from funnelkit.exceptions import ValidationError


_E = TypeVar("_E", bound=enum.Enum)
_SHOWN = 80  # longest repr shown in a message


def _digits(value: int) -> int:
    """How many decimal digits an integer has, without writing it out (huge ones cannot be)."""
    return max(1, int(abs(value).bit_length() * 0.30103) + 1)


def describe(value: object) -> str:
    """Return ``repr(value)`` with its type, for messages: ``12.5 (float)``."""
    if isinstance(value, int) and abs(value) >= 10**_SHOWN:
        return f"an integer of about {_digits(value)} digits ({type(value).__name__})"
    shown = repr(value)
    if len(shown) > _SHOWN:
        shown = shown[: _SHOWN - 3] + "..."
    return f"{shown} ({type(value).__name__})"


def raise_for(where: str, value: object, message: str, rule: str) -> NoReturn:
    """Raise a `ValidationError` about the field `where` (``Class.field``)."""
    raise ValidationError(f"{where}: {message}", field=where, value=value, rule=rule)


def fail(
    instance: object,
    attribute: attrs.Attribute[Any],
    value: object,
    message: str,
    rule: str,
) -> NoReturn:
    """Raise a `ValidationError` for one field of an instance being built."""
    raise_for(f"{type(instance).__name__}.{attribute.name}", value, message, rule)


# --- problem functions -------------------------------------------------------------------------


KEY_MAX = 200
"""The longest id or key (ids, stage and pipeline keys, owners, roles...), in characters."""


def storable_text_problem(value: str) -> Problem:
    """
    Text every store can keep: no lone surrogate (what a browser leaves of a cut emoji), no NUL.

    A lone surrogate cannot be written as UTF-8, and PostgreSQL keeps no NUL character in
    text, so no store takes them; every store refuses them alike, at the edge.
    """
    if "\x00" in value:
        message = (
            f"holds a NUL character (\\x00) at position {value.index(chr(0))}; no store can "
            "keep it: remove it"
        )
        return message, "nul"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        code = ord(value[error.start])
        message = (
            f"holds a lone surrogate \\u{code:04x} at position {error.start} (what is left of "
            "a cut emoji); no store can keep it: remove it or repair the text"
        )
        return message, "surrogate"
    return None


def identifier_problem(value: object) -> Problem:
    """Ids and keys: a non-empty string without surrounding whitespace, `KEY_MAX` at most."""
    if type(value) is not str:
        return f"expected an id string, got {describe(value)}", "type"
    if not value or value.strip() != value:
        return f"expected a non-empty id without surrounding spaces, got {value!r}", "identifier"
    if len(value) > KEY_MAX:
        message = (
            f"an id or key of {len(value)} characters is longer than {KEY_MAX} (stores index "
            f"them); got {value[:_SHOWN]!r}..."
        )
        return message, "too_long"
    return storable_text_problem(value)


def text_problem(value: object) -> Problem:
    """Free text: any string, empty included, that a store can keep."""
    if type(value) is not str:
        return f"expected a string, got {describe(value)}", "type"
    return storable_text_problem(value)


def nonblank_problem(value: object) -> Problem:
    """Required text: a string with at least one non-space character, that a store can keep."""
    if type(value) is not str:
        return f"expected a string, got {describe(value)}", "type"
    if not value.strip():
        return f"must not be empty or blank, got {value!r}; write the text out", "required"
    return storable_text_problem(value)


def aware_datetime_problem(value: object) -> Problem:
    """A timezone-aware `datetime`."""
    if not isinstance(value, datetime):
        return f"expected a datetime, got {describe(value)}", "type"
    if value.tzinfo is None or value.utcoffset() is None:
        message = (
            f"got the naive datetime {value.isoformat()!r}; funnelkit needs timezone-aware "
            "datetimes: pass tzinfo (e.g. datetime(..., tzinfo=timezone.utc)) or a UTC offset"
        )
        return message, "aware_datetime"
    return None


def date_problem(value: object) -> Problem:
    """A calendar `date` that is not a `datetime`."""
    if not isinstance(value, date) or isinstance(value, datetime):
        return f"expected a date, got {describe(value)}", "type"
    return None


ADDRESS_MAX = 500
"""The longest address a contact keeps, in characters."""
_EARLIEST_BIRTH = date(1900, 1, 1)


def address_problem(value: object) -> Problem:
    """A postal address: non-blank text of at most `ADDRESS_MAX` characters."""
    problem = nonblank_problem(value)
    if problem is None and len(value) > ADDRESS_MAX:  # type: ignore[arg-type]
        message = (
            f"an address of {len(value)} characters is longer than {ADDRESS_MAX}; keep "  # type: ignore[arg-type]
            "the settlement, street and house, and put the rest in a note"
        )
        return message, "too_long"
    return problem


def birth_date_problem(value: object) -> Problem:
    """A birth date: a `date` (not a datetime) from 1900 on."""
    problem = date_problem(value)
    if problem is not None:
        hint = " (parse text with funnelkit.matching.Normaliser().birth_date)"
        return problem[0] + (hint if isinstance(value, str) else ""), problem[1]
    if value < _EARLIEST_BIRTH:  # type: ignore[operator]
        return f"{value} is before 1900: not a birth date of a living client", "impossible_date"
    return None


def boolean_problem(value: object) -> Problem:
    """A `bool`."""
    if type(value) is not bool:
        return f"expected True or False, got {describe(value)}", "type"
    return None


MAX_INTEGER = 2**53 - 1
"""The largest integer funnelkit keeps; every JSON reader (JavaScript's too) reads it exactly."""
MAX_DECIMAL = Decimal(10) ** 15
"""Decimals (money amounts, decimal custom fields) are below this in absolute value."""
DECIMAL_PLACES = 12
"""Decimals have at most this many digits after the point (trailing zeros aside)."""
_QUANTUM = Decimal(1).scaleb(-DECIMAL_PLACES)


def _too_big(value: int) -> Problem:
    if -MAX_INTEGER <= value <= MAX_INTEGER:
        return None
    huge = abs(value) >= 10**_SHOWN
    shown = f"an integer of about {_digits(value)} digits" if huge else f"{value}"
    return f"must be within ±{MAX_INTEGER} (2**53 - 1), got {shown}", "range"


def integer_problem(value: object) -> Problem:
    """An `int` that is not a `bool`, within ±`MAX_INTEGER`."""
    if type(value) is not int:
        return f"expected an integer, got {describe(value)}", "type"
    return _too_big(value)


def integer_at_least(minimum: int) -> ProblemFn:
    """An `int` (not a `bool`) that is at least `minimum` (and at most `MAX_INTEGER`)."""

    def problem(value: object) -> Problem:
        if type(value) is not int:
            return f"expected an integer, got {describe(value)}", "type"
        if value < minimum:
            return f"must be at least {minimum}, got {value}", "range"
        return _too_big(value)

    return problem


def decimal_problem(value: object) -> Problem:
    """
    A finite `Decimal` below `MAX_DECIMAL` in absolute value, with at most `DECIMAL_PLACES`.

    Within these bounds sums and differences of two amounts are exact in Python's default
    decimal context, and nothing a host stores grows without bound.
    """
    if type(value) is not Decimal:
        return f"expected a Decimal, got {describe(value)}", "type"
    if not value.is_finite():
        return f"must be a finite number, got {value}", "finite"
    if value and value.adjusted() >= len(str(MAX_DECIMAL)) - 1:
        return f"must be below 10**15 in absolute value, got {_short_decimal(value)}", "range"
    if value != value.quantize(_QUANTUM):
        shown = _short_decimal(value)
        return f"has more than {DECIMAL_PLACES} digits after the point: {shown}; round it", "range"
    return None


def _short_decimal(value: Decimal) -> str:
    text = f"{value:E}" if abs(value.adjusted()) > _SHOWN else f"{value:f}"
    return text if len(text) <= _SHOWN else f"{text[:_SHOWN]}…"


def ascii_digits_problem(value: str, what: str) -> Problem:
    """Text read as a number, date or duration holds ASCII digits only (not '١٢٣', not '１２')."""
    if value.isascii():
        return None
    return f"{what} are written with ASCII digits 0-9, got {value[:_SHOWN]!r}", "ascii_digits"


def member_of(enum_type: type[_E]) -> ProblemFn:
    """A member of `enum_type` (its plain value is refused: pass the member)."""
    allowed = ", ".join(repr(member.value) for member in enum_type)

    def problem(value: object) -> Problem:
        if not isinstance(value, enum_type):
            return f"expected a {enum_type.__name__} ({allowed}), got {describe(value)}", "type"
        return None

    return problem


def instance_problem(cls: type[Any] | tuple[type[Any], ...], what: str) -> ProblemFn:
    """An instance of `cls`; `what` names it in the message."""

    def problem(value: object) -> Problem:
        if not isinstance(value, cls):
            return f"expected {what}, got {describe(value)}", "type"
        return None

    return problem


# --- attrs validators --------------------------------------------------------------------------


def field(problem: ProblemFn, *, optional: bool = False) -> Validator:
    """Turn a problem function into an attrs validator (``None`` passes if `optional`)."""

    def check(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if optional and value is None:
            return
        found = problem(value)
        if found is not None:
            message, rule = found
            if optional and rule == "type":
                message = message.replace("expected ", "expected None or ", 1)
            fail(instance, attribute, value, message, rule)

    return check


def tuple_of(
    problem: ProblemFn,
    what: str,
    *,
    min_size: int = 0,
    unique: bool = False,
) -> Validator:
    """
    Require a tuple whose every item passes `problem`.

    A list is refused on purpose: values are immutable, so pass ``tuple(items)``.
    """

    def check(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if type(value) is not tuple:
            fail(
                instance,
                attribute,
                value,
                f"expected a tuple of {what}, got {describe(value)}; pass tuple(...)",
                "type",
            )
        if len(value) < min_size:
            fail(
                instance,
                attribute,
                value,
                f"needs at least {min_size} item{'s' if min_size != 1 else ''}, got {len(value)}",
                "required",
            )
        _check_items(instance, attribute, enumerate(value), problem)
        if unique and len(set(value)) != len(value):
            seen: set[object] = set()
            for item in value:
                if item in seen:
                    fail(
                        instance,
                        attribute,
                        value,
                        f"{item!r} appears more than once; list each item once",
                        "unique",
                    )
                seen.add(item)

    return check


def frozenset_of(problem: ProblemFn, what: str) -> Validator:
    """Require a frozenset whose every item passes `problem`."""

    def check(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if type(value) is not frozenset:
            fail(
                instance,
                attribute,
                value,
                f"expected a frozenset of {what}, got {describe(value)}; pass frozenset(...)",
                "type",
            )
        _check_items(instance, attribute, ((None, item) for item in value), problem)

    return check


def _check_items(
    instance: object,
    attribute: attrs.Attribute[Any],
    items: Any,
    problem: ProblemFn,
) -> None:
    for index, item in items:
        found = problem(item)
        if found is not None:
            message, rule = found
            where = f"{type(instance).__name__}.{attribute.name}"
            if index is not None:
                where += f"[{index}]"
            raise_for(where, item, message, rule)


identifier = field(identifier_problem)
optional_identifier = field(identifier_problem, optional=True)
text = field(text_problem)
nonblank = field(nonblank_problem)
optional_nonblank = field(nonblank_problem, optional=True)
optional_address = field(address_problem, optional=True)
optional_birth_date = field(birth_date_problem, optional=True)
aware_datetime = field(aware_datetime_problem)
optional_aware_datetime = field(aware_datetime_problem, optional=True)
boolean = field(boolean_problem)
optional_boolean = field(boolean_problem, optional=True)
non_negative_int = field(integer_at_least(0))
positive_int = field(integer_at_least(1))
optional_int = field(integer_problem, optional=True)


def is_enum(enum_type: type[_E], *, optional: bool = False) -> Validator:
    """Require a member of `enum_type` (``None`` passes if `optional`)."""
    return field(member_of(enum_type), optional=optional)


def instance_of(cls: type[Any], what: str, *, optional: bool = False) -> Validator:
    """Require an instance of `cls` (``None`` passes if `optional`)."""
    return field(instance_problem(cls, what), optional=optional)
