"""
What a match policy compares: field rules, their levels (m and u), the bands, the defaults.

Each `FieldRule` names a field, a comparator and its `Level` table; the default rules compare
phones, e-mails, names, company, address and birth date as splink's Fellegi-Sunter model does.
"""

from __future__ import annotations

import enum
import functools
import itertools
import math

import attrs

from funnelkit import _checks as check
from funnelkit._checks import describe
from funnelkit.matching._compare import Comparator


__all__ = [
    "Band",
    "Contribution",
    "FieldRule",
    "Level",
]

_OWN_FIELDS = ("phones", "emails", "name", "company", "address", "birth_date")


_KEY_PREFIX = {"phones": "phone:", "emails": "email:"}


_NULL = "null"


class Band(str, enum.Enum):
    """What a pair's score says."""

    SAME = "same"
    """Safe to merge automatically."""
    REVIEW = "review"
    """A person should look."""
    DIFFERENT = "different"
    """Not the same client."""


def _finite_problem(value: object) -> check.Problem:
    if type(value) not in (int, float) or not math.isfinite(value):  # type: ignore[arg-type]
        return f"expected a finite number, got {describe(value)}", "type"
    return None


def _similarity_problem(value: object) -> check.Problem:
    problem = _finite_problem(value)
    if problem is None and not 0 <= value <= 1:  # type: ignore[operator]
        return f"expected a similarity between 0 and 1, got {value}", "range"
    return problem


def _probability_problem(value: object) -> check.Problem:
    problem = _finite_problem(value)
    if problem is None and not 0 < value < 1:  # type: ignore[operator]
        return f"expected a probability above 0 and below 1, got {value}", "range"
    return problem


def _field_problem(value: object) -> check.Problem:
    if type(value) is not str:
        return f"expected a field name, got {describe(value)}", "type"
    if value in _OWN_FIELDS or (value.startswith("fields.") and len(value) > len("fields.")):
        return None
    known = list(_OWN_FIELDS)
    message = f"unknown field {value!r}; compare one of {known} or a custom field 'fields.<key>'"
    return message, "unknown_field"


@attrs.frozen(kw_only=True)
class Contribution:
    """
    What one field added to a pair's score.

    Attributes:
        field: The field.
        level: The level the comparison fell into (``"null"`` if a side had no value).
        similarity: The best similarity between the two sides' values (``None`` if a side had
            no value: the field is neutral).
        weight: The bits it added (negative against one person), term frequency included.
        term_frequency: The bits the term-frequency adjustment took away (0 or negative).
        left: The left value that was compared.
        right: The right value that was compared.
    """

    field: str
    level: str
    similarity: float | None
    weight: float
    term_frequency: float
    left: str | None
    right: str | None


@attrs.frozen(kw_only=True)
class Level:
    """
    One level of a field's comparison, with its m and u probabilities.

    Attributes:
        label: What the level means (``"exact"``, ``"typo"``, ``"near"``, ``"else"``).
        min_similarity: Pairs whose best similarity is at least this (and below the levels
            before) are at this level; the last level of a rule starts at 0.
        m: How often two records of one person are at this level.
        u: How often two records of different people are at this level.
    """

    label: str = attrs.field(validator=check.identifier)
    min_similarity: float = attrs.field(validator=check.field(_similarity_problem))
    m: float = attrs.field(validator=check.field(_probability_problem))
    u: float = attrs.field(validator=check.field(_probability_problem))

    @property
    def weight(self) -> float:
        """The match weight in bits, ``log2(m / u)``: positive for evidence of one person."""
        return math.log2(self.m / self.u)


def _levels_problem(value: object) -> check.Problem:
    if type(value) is not tuple or not value or not all(isinstance(v, Level) for v in value):
        return f"expected a non-empty tuple of Level, got {describe(value)}", "type"
    thresholds = [level.min_similarity for level in value]
    if any(a <= b for a, b in itertools.pairwise(thresholds)) or thresholds[-1] != 0:
        message = (
            "levels must go from the highest similarity down to a last level from 0, got "
            f"{thresholds}"
        )
        return message, "levels"
    labels = [level.label for level in value]
    if len(set(labels)) != len(labels) or _NULL in labels:
        return f"level labels must be unique and not {_NULL!r}, got {labels}", "levels"
    return None


@attrs.frozen(kw_only=True)
class FieldRule:
    """
    How one field is compared and what each level of agreement weighs.

    Attributes:
        field: ``"phones"``, ``"emails"``, ``"name"``, ``"company"``, ``"address"``,
            ``"birth_date"`` or ``"fields.<key>"`` for a custom field.
        comparator: How values are compared (multi-valued fields: the best pair of values).
        levels: The levels, from the most similar down; the last one starts at similarity 0.
            A field missing on either side is neutral (level ``"null"``, weight 0).
        term_frequency: Whether an exact agreement on a value held by several distinct
            people (an office phone, a family e-mail) weighs ``2·log2(people)`` bits less.
        conflict_below: Values whose similarity is below this conflict (two different birth
            dates, two other phone numbers, two extensions of one office line): such a pair
            is never "same", whatever the other fields say. ``None``: values never conflict.
    """

    field: str = attrs.field(validator=check.field(_field_problem))
    comparator: Comparator = attrs.field(validator=check.is_enum(Comparator))
    levels: tuple[Level, ...] = attrs.field(validator=check.field(_levels_problem))
    term_frequency: bool = attrs.field(default=False, validator=check.boolean)
    conflict_below: float | None = attrs.field(
        default=None, validator=check.field(_similarity_problem, optional=True)
    )

    @functools.cached_property
    def _table(self) -> tuple[tuple[float, str, float], ...]:
        """(min similarity, label, weight) per level, worked out once."""
        return tuple((lv.min_similarity, lv.label, round(lv.weight, 6)) for lv in self.levels)

    @functools.cached_property
    def _null(self) -> Contribution:
        """The contribution of a field missing on either side."""
        return Contribution(
            field=self.field,
            level=_NULL,
            similarity=None,
            weight=0.0,
            term_frequency=0.0,
            left=None,
            right=None,
        )


def _levels(*levels: tuple[str, float, float, float]) -> tuple[Level, ...]:
    return tuple(Level(label=lb, min_similarity=s, m=m, u=u) for lb, s, m, u in levels)


def _default_rules() -> tuple[FieldRule, ...]:
    """
    The default field rules: phones, e-mails, name, address, birth date and company.

    m and u were estimated with `MatchPolicy.estimate` on a generated base of 20,000 contacts
    with the errors people make (the benchmark's generator, a seed it does not measure on),
    rounded; levels the generated data never shows (the same office line with and without an
    extension, a far address, a company written differently) were set by hand. Estimate your
    own from your base for the best results.
    """
    return (
        FieldRule(
            field="phones",
            comparator=Comparator.PHONE,
            levels=_levels(
                ("exact", 1.0, 0.89, 2.5e-6),
                ("same_line", 0.95, 0.02, 0.02),
                ("typo", 0.85, 0.078, 1e-6),
                ("other", 0.05, 0.028, 0.99996),
                ("other_extension", 0.0, 1e-4, 1.4e-5),
            ),
            term_frequency=True,
            conflict_below=0.05,
        ),
        FieldRule(
            field="emails",
            comparator=Comparator.EMAIL,
            levels=_levels(
                ("exact", 1.0, 0.88, 7e-6),
                ("typo", 0.9, 0.096, 1.5e-4),
                ("other_domain", 0.85, 0.005, 2.1e-4),
                ("else", 0.0, 0.01, 0.9996),
            ),
            term_frequency=True,
        ),
        FieldRule(
            field="name",
            comparator=Comparator.NAME,
            levels=_levels(
                ("exact", 1.0, 0.47, 2.1e-3),
                ("near", 0.95, 0.17, 6.5e-4),
                ("first_name", 0.9, 0.355, 0.019),
                ("far", 0.6, 0.005, 0.015),
                ("else", 0.0, 0.003, 0.96),
            ),
            conflict_below=0.6,
        ),
        FieldRule(
            field="address",
            comparator=Comparator.ADDRESS,
            levels=_levels(
                ("exact", 1.0, 0.91, 5.7e-5),
                ("near", 0.9, 0.087, 8.2e-5),
                ("far", 0.7, 0.002, 8.2e-5),
                ("else", 0.0, 0.001, 0.9998),
            ),
        ),
        FieldRule(
            field="birth_date",
            comparator=Comparator.DATE,
            levels=_levels(
                ("exact", 1.0, 0.918, 1.2e-4),
                ("day_month_swapped", 0.9, 0.01, 1.6e-4),
                ("typo", 0.8, 0.057, 1.8e-3),
                ("else", 0.0, 0.005, 0.998),
            ),
            conflict_below=0.8,
        ),
        FieldRule(
            field="company",
            comparator=Comparator.TOKEN_SET,
            levels=_levels(
                ("exact", 1.0, 0.6, 0.02),
                ("near", 0.9, 0.2, 0.02),
                ("else", 0.0, 0.2, 0.96),
            ),
        ),
    )


def _personal_problem(value: object) -> check.Problem:
    if type(value) is not tuple or not all(type(group) is tuple and group for group in value):
        return f"expected a tuple of tuples of field names, got {describe(value)}", "type"
    for group in value:
        for name in group:
            problem = _field_problem(name)
            if problem is not None:
                return problem
    return None


def _key_fields_problem(value: object) -> check.Problem:
    if type(value) is not tuple:
        return f"expected a tuple of custom field names, got {describe(value)}", "type"
    for item in value:
        if type(item) is not str or not item.startswith("fields.") or item == "fields.":
            return f"expected custom fields as 'fields.<key>', got {describe(item)}", "type"
    return None
