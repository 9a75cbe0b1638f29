"""
Duplicate matching: typo-proof blocking, explained Fellegi-Sunter scores, bands and clusters.

Candidate pairs come only from shared blocking keys, never from all pairs: the normalised
phones and e-mails, and keys that survive typing errors (windows of a phone's last digits,
an e-mail's local part with each letter left out in turn, a name's first letters with the
birth date, the address or the phone's last digits, the birth date with the address, and any
custom field you choose). Every block is capped, so the work never grows with the square of
the base.

Each pair is scored the Fellegi-Sunter way, as splink does: every field's comparison falls into
a level (exact, a typo away, near, far, else), and each level adds its match weight
``log2(m / u)`` (m: how often the level is seen when two records are one person, u: when they
are not) to the prior's; a phone or e-mail that several distinct people share weighs less
(term frequency). The total weight gives the probability that the two records are one
person; two thresholds on it split pairs into same, review and different, and a conflicting
birth date or office extension keeps a pair from "same". Clusters grow from "same" pairs only,
by a union-find in near-linear time, and never across a pair scored "different", so one shared
office phone cannot chain two customers together.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import gc
import itertools
import math
import operator
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, NamedTuple

import attrs

from funnelkit import _checks as check
from funnelkit._checks import describe, raise_for
from funnelkit.exceptions import ValidationError
from funnelkit.matching._compare import Comparator, similarity
from funnelkit.matching._normalise import Normaliser, _base
from funnelkit.model import Contact, ContactData, FieldValues, Lead


if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from funnelkit.storage import ContactRepository


__all__ = [
    "Band",
    "Comparator",
    "Contribution",
    "FieldRule",
    "Level",
    "MatchPolicy",
    "MatchRecord",
    "MatchResult",
    "PairScore",
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


@attrs.frozen(kw_only=True)
class MatchRecord:
    """
    One contact or lead, normalised for matching.

    Attributes:
        id: The id of the contact or lead.
        phones: Valid phones in E.164 (with ``;ext=`` for an extension).
        emails: Canonical e-mail keys.
        names: Each name as its sorted folded words (``"almaz stroitel"``).
        company: The company name without legal forms, if any.
        address: The address as its folded tokens, space-separated, if any.
        birth_date: The birth date in ISO form, if any.
        fields: Custom field values, compared by ``fields.<key>`` rules.
    """

    id: str
    phones: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    company: str | None = None
    address: str | None = None
    birth_date: str | None = None
    fields: FieldValues = attrs.field(factory=FieldValues)

    def values(self, field: str) -> tuple[str, ...]:
        """The comparable values of a field (empty when it has none)."""
        if field == "phones":
            return self.phones
        if field == "emails":
            return self.emails
        if field == "name":
            return self.names
        if field in ("company", "address", "birth_date"):
            value = getattr(self, field)
            return (value,) if value else ()
        value = self.fields.get(field.removeprefix("fields."))
        if value is None or value in ("", ()):
            return ()
        return value if isinstance(value, tuple) else (str(value),)


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


@attrs.frozen
class _Scoring:
    """What the pairs of one `MatchPolicy.match` (or one `score`) are explained from."""

    policy: MatchPolicy
    records: Sequence[MatchRecord]  # a pair ``a < b`` of them is the number a * len + b
    key_counts: Mapping[str, int] | None

    def records_of(self, code: int) -> tuple[MatchRecord, MatchRecord]:
        left, right = divmod(code, len(self.records))
        return self.records[left], self.records[right]


@attrs.frozen(kw_only=True, repr=False)
class PairScore:
    """
    A candidate pair, its score, its band and why.

    A pair found by `MatchPolicy.match` works out its `keys` and `contributions` when they
    are first read, from the records it was scored on: a base of a hundred thousand contacts
    scores some hundred thousand pairs, and most are never explained to anyone.

    Attributes:
        left: One record's id.
        right: The other's (``left < right`` for pairs within one set of records).
        score: The total match weight in bits: the prior's plus every contribution's.
        probability: The probability that the two records are one person.
        band: Same, review or different.
        conflicts: What keeps the pair from "same" whatever its probability: the fields whose
            values conflict, and ``"personal"`` when none of the policy's personal fields
            agrees.
        keys: The blocking keys the two records share (what brought them together).
        contributions: One per field rule, in the policy's order.
    """

    left: str
    right: str
    score: float
    probability: float
    band: Band
    conflicts: tuple[str, ...] = ()
    _keys: tuple[str, ...] | None = attrs.field(default=None, alias="keys", eq=False)
    _contributions: tuple[Contribution, ...] | None = attrs.field(
        default=None, alias="contributions", eq=False
    )
    # What the explanation is worked out from: the scoring shared by every pair of one
    # match, and this pair's number in it (no object of its own per pair: see `_candidates`).
    _scoring: _Scoring | None = attrs.field(default=None, alias="_scoring", eq=False)
    _code: int = attrs.field(default=0, alias="_code", eq=False)

    @property
    def keys(self) -> tuple[str, ...]:
        """The blocking keys the two records share (what brought them together)."""
        keys = self._keys
        if keys is None:
            scoring = self._scoring
            if scoring is None:
                keys = ()
            else:
                keys = scoring.policy._shared_keys(*scoring.records_of(self._code))  # noqa: SLF001
            object.__setattr__(self, "_keys", keys)  # a cache of what the fields determine
        return keys

    @property
    def contributions(self) -> tuple[Contribution, ...]:
        """One contribution per field rule, in the policy's order."""
        found = self._contributions
        if found is None:
            scoring = self._scoring
            if scoring is None:
                found = ()
            else:
                left, right = scoring.records_of(self._code)
                found = scoring.policy._explain(left, right, scoring.key_counts)  # noqa: SLF001
            object.__setattr__(self, "_contributions", found)
        return found

    def __repr__(self) -> str:
        return (
            f"PairScore(left={self.left!r}, right={self.right!r}, score={self.score!r}, "
            f"probability={self.probability!r}, band={self.band!r}, "
            f"conflicts={self.conflicts!r}, keys={self.keys!r}, "
            f"contributions={self.contributions!r})"
        )


@attrs.frozen(kw_only=True)
class MatchResult:
    """
    Everything `MatchPolicy.match` found.

    Attributes:
        pairs: Every scored candidate pair, best first.
        clusters: Groups of records that are the same client (two or more ids each), from
            "same" pairs, never joined across a pair scored "different".
        skipped_keys: Blocking keys shared by more records than the policy's block limit
            (a call centre's phone, a shared mailbox): under them, only records that also
            share a folded name were paired.
    """

    pairs: tuple[PairScore, ...]
    clusters: tuple[frozenset[str], ...]
    skipped_keys: tuple[str, ...]

    def band(self, band: Band) -> tuple[PairScore, ...]:
        """The pairs in one band."""
        return tuple(pair for pair in self.pairs if pair.band is band)


_LEFT = operator.attrgetter("left")
_RIGHT = operator.attrgetter("right")
_SCORE = operator.attrgetter("score")


class _Step(NamedTuple):
    """One rule as `MatchPolicy._judge` reads it (a tuple: unpacked once per rule and pair)."""

    rule: FieldRule
    bit: int  # the rule's field among the policy's fields, for the personal groups
    comparator: Comparator
    table: tuple[tuple[float, str, float], ...]
    below: float | None
    counted: str | None  # the key prefix of a term-frequency rule's values


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


@attrs.frozen(kw_only=True)
class MatchPolicy:
    """
    How records are brought together, scored, banded and clustered.

    The defaults suit a CRM's contacts: a phone nobody else holds, or an e-mail nobody else
    holds with an agreeing name, is "same"; a phone that two people share (a family's, an
    office's), with no name to tell them apart, is "review"; two clearly different names on
    one phone or e-mail are never "same"; a typo in a phone or an e-mail still meets, through
    keys that survive it, and counts nearly as much as an exact agreement. The page "Find and
    merge duplicates" shows the levels, weights and guards.

    Attributes:
        normaliser: Normalises phones, e-mails, names, companies and addresses.
        rules: How each field is compared and weighs.
        prior: The probability that two records picked at random are one person (its weight
            starts every score). The default suits a base of about a hundred thousand
            records; a smaller base has a larger prior.
        same_at: Pairs this likely to be one person, or more, are "same".
        review_at: Pairs this likely, or more (below `same_at`), are "review".
        personal: What a "same" pair needs besides its probability: one of these groups of
            fields must all agree (with a positive weight, on a value no other person holds).
            By default a phone, a birth date, or an e-mail with the name: a name and an
            address alone may be a father's and his son's, an e-mail and an address without
            a name a household's, an office line and an ``info@`` mailbox a company's.
        key_fields: Custom fields whose values are blocking keys of their own, in `match`
            and in `who_is` (a device or visitor id, a loyalty card): ``("fields.device",)``.
            Build the store with `contact_keys` so that it indexes them.
        typo_keys: Also block on keys that survive typing errors (windows of a phone's last
            nine digits, an e-mail's local part with each letter left out in turn, a name's
            first letters with the birth date, the address or the phone's last digits, the
            birth date with the address).
        max_block_size: Under a key shared by more records than this (a call centre's phone,
            an ``info@`` mailbox), only records that also share a folded name are paired, so
            a block never costs more than this squared; such keys are reported.
        max_holders: `who_is` reads at most this many holders of each key, so it answers in
            bounded time however many contacts share a phone.

    Raises:
        ValidationError: If `review_at` exceeds `same_at` or a rule names an unknown field.
    """

    normaliser: Normaliser = attrs.field(
        factory=Normaliser, validator=check.instance_of(Normaliser, "a Normaliser")
    )
    rules: tuple[FieldRule, ...] = attrs.field(
        factory=_default_rules,
        validator=check.tuple_of(
            check.instance_problem(FieldRule, "a FieldRule"), "rules", min_size=1
        ),
    )
    prior: float = attrs.field(default=1e-4, validator=check.field(_probability_problem))
    same_at: float = attrs.field(default=0.95, validator=check.field(_probability_problem))
    review_at: float = attrs.field(default=0.3, validator=check.field(_probability_problem))
    personal: tuple[tuple[str, ...], ...] = attrs.field(
        default=(("phones",), ("birth_date",), ("emails", "name")),
        validator=check.field(_personal_problem),
    )
    key_fields: tuple[str, ...] = attrs.field(
        default=(), validator=check.field(_key_fields_problem)
    )
    typo_keys: bool = attrs.field(default=True, validator=check.boolean)
    max_block_size: int = attrs.field(default=50, validator=check.positive_int)
    max_holders: int = attrs.field(default=50, validator=check.field(check.integer_at_least(2)))

    def __attrs_post_init__(self) -> None:
        if self.review_at > self.same_at:
            raise_for(
                "MatchPolicy.review_at",
                self.review_at,
                f"the review threshold {self.review_at} is above the same threshold "
                f"{self.same_at}; review_at must be at most same_at",
                "thresholds",
            )

    @functools.cached_property
    def _prior_weight(self) -> float:
        return math.log2(self.prior / (1 - self.prior))

    @functools.cached_property
    def _plan(self) -> tuple[_Step, ...]:
        """What `_judge` reads for every pair, rule by rule, worked out once."""
        bits = {field: 1 << n for n, field in enumerate(dict.fromkeys(r.field for r in self.rules))}
        return tuple(
            _Step(
                rule=rule,
                bit=bits[rule.field],
                comparator=rule.comparator,
                table=rule._table,  # noqa: SLF001 - the rule's own cache
                below=rule.conflict_below,
                counted=(
                    _KEY_PREFIX.get(rule.field, f"{rule.field}:") if rule.term_frequency else None
                ),
            )
            for rule in self.rules
        )

    @functools.cached_property
    def _personal_masks(self) -> tuple[int, ...]:
        """Each personal group as the bits of its fields (a group of an unruled field: never)."""
        bits = {step.rule.field: step.bit for step in self._plan}
        return tuple(
            sum(bits[field] for field in group) if all(f in bits for f in group) else -1
            for group in self.personal
        )

    # --- records and keys ------------------------------------------------------------------

    def record(self, subject: Contact | Lead) -> MatchRecord:
        """
        Normalise a contact or a lead for matching.

        Invalid phones and e-mails are dropped, and so is a contact's name that is one of its
        own phones or e-mails (the name of a contact made from a request without one).
        """
        given: object = subject
        data: Contact | ContactData
        if isinstance(given, Contact):
            # A contact made from a request without a name is named by its phone or e-mail
            # (see `contact_from_lead`): that is no name to compare.
            own = {*given.phones, *given.emails}
            names = tuple(name for name in given.names if name not in own)
            data, fields = given, given.fields
        elif isinstance(given, Lead):
            data = given.contact_data
            names = (data.name,) if data.name else ()
            fields = given.fields
        else:
            msg = f"match: expected a Contact or a Lead, got {describe(given)}"
            raise ValidationError(msg, field="subject", value=given, rule="type")
        normaliser = self.normaliser
        phones, _ = normaliser.phones(data.phones)
        emails, _ = normaliser.emails(data.emails)
        folded = {" ".join(tokens) for name in names if (tokens := normaliser.name_tokens(name))}
        address = " ".join(normaliser.address(data.address)) if data.address else None
        return MatchRecord(
            id=subject.id,
            phones=phones,
            emails=emails,
            names=tuple(sorted(folded)),
            company=normaliser.company(data.company) or None if data.company else None,
            address=address or None,
            birth_date=data.birth_date.isoformat() if data.birth_date else None,
            fields=fields,
        )

    @functools.cached_property
    def _counted(self) -> tuple[str, ...]:
        """The key prefixes whose holders are counted for term-frequency adjustments."""
        return ("phone:", "email:", *(f"{field}:" for field in self.key_fields))

    def lookup_keys(self, record: MatchRecord) -> tuple[str, ...]:
        """
        The keys `who_is` looks up: phones (and an extension's line), e-mails, key fields.

        These are the keys `contact_keys` gives a store to index.
        """
        keys: dict[str, None] = {}
        for phone in record.phones:
            keys[f"phone:{phone}"] = None
            keys[f"phone:{_base(phone)}"] = None
        keys.update(dict.fromkeys(f"email:{email}" for email in record.emails))
        for field in self.key_fields:
            for value in record.values(field):
                keys[f"{field}:{str(value).strip().casefold()}"] = None
        return tuple(keys)

    def contact_keys(self, contact: Contact) -> list[str]:
        """
        The look-up keys of a contact: pass this method to a store as its `ContactKeys`.

        The same as `Normaliser.keys` when the policy has no `key_fields`.
        """
        return list(self.lookup_keys(self.record(contact)))

    def keys(self, record: MatchRecord) -> tuple[str, ...]:
        """The blocking keys of a record: its look-up keys and (optionally) its typo keys."""
        lookup = self.lookup_keys(record)
        if not self.typo_keys:
            return lookup
        return tuple(dict.fromkeys(itertools.chain(lookup, _typo_keys(record))))

    # --- scoring ---------------------------------------------------------------------------

    def score(
        self,
        left: MatchRecord,
        right: MatchRecord,
        keys: Sequence[str] = (),
        key_counts: Mapping[str, int] | None = None,
    ) -> PairScore:
        """
        Score and explain one pair of records.

        Args:
            left: One record.
            right: The other.
            keys: The blocking keys they share (recorded in the explanation).
            key_counts: How many distinct people hold each key (see `people`). An exact
                agreement on a phone or an e-mail held by k > 1 people weighs ``2·log2(k)``
                bits less (the pairs of strangers a shared value brings together grow as
                k²): the term-frequency adjustment of record linkage.
        """
        scoring = _Scoring(self, (left, right), key_counts)
        found = self._pair(scoring, 1, self._values(left), self._values(right))
        object.__setattr__(found, "_keys", tuple(sorted(keys)))
        return found

    def _values(self, record: MatchRecord) -> tuple[tuple[str, ...], ...]:
        """A record's values for each rule, in the policy's order."""
        return tuple(record.values(step.rule.field) for step in self._plan)

    def _pair(
        self,
        scoring: _Scoring,
        code: int,
        left_values: tuple[tuple[str, ...], ...],
        right_values: tuple[tuple[str, ...], ...],
    ) -> PairScore:
        """Pair `code` of `scoring`: its score and band (its explanation: when first read)."""
        total, conflicts = self._judge(left_values, right_values, scoring.key_counts, None)
        left, right = scoring.records_of(code)
        probability = 1.0 / (1.0 + 2.0 ** -max(min(total, 60.0), -60.0))
        if probability >= self.same_at and not conflicts:
            band = Band.SAME
        elif probability >= self.review_at:
            band = Band.REVIEW
        else:
            band = Band.DIFFERENT
        return PairScore(
            left=left.id,
            right=right.id,
            score=round(total, 6),
            probability=probability,
            band=band,
            conflicts=conflicts,
            _scoring=scoring,
            _code=code,
        )

    def _judge(  # noqa: C901, PLR0912 - the hot loop, kept in one function on purpose
        self,
        left_values: tuple[tuple[str, ...], ...],
        right_values: tuple[tuple[str, ...], ...],
        key_counts: Mapping[str, int] | None,
        explain: list[Contribution] | None,
    ) -> tuple[float, tuple[str, ...]]:
        """
        The total weight and the conflicts of a pair; each rule's contribution into `explain`.

        The one place a pair is scored: `match` runs it for every candidate without
        `explain`, and a pair's `contributions` run it again with it.
        """
        total = self._prior_weight
        conflicts = []
        agreeing = 0
        # Run for every candidate pair: written for speed (no generator, one call per rule).
        for (rule, bit, comparator, table, below, counted), lefts, rights in zip(
            self._plan, left_values, right_values, strict=True
        ):
            if not lefts or not rights:
                if explain is not None:
                    explain.append(rule._null)  # noqa: SLF001 - the rule's own cache
                continue
            if len(lefts) == 1 and len(rights) == 1:  # the usual case
                best_left, best_right = lefts[0], rights[0]
                best = similarity(comparator, best_left, best_right)
            else:
                best, best_left, best_right = _best_pair(comparator, lefts, rights)
            for row in table:
                if best >= row[0]:
                    break
            weight = row[2]
            adjustment = 0.0
            if counted is not None and key_counts and row is table[0]:
                people = key_counts.get(counted + best_left, 1)
                if people > 1:  # the pairs of strangers a shared value brings together: ~people²
                    adjustment = round(-2 * math.log2(people), 6)
                    weight += adjustment
            total += weight
            if below is not None and best < below:
                conflicts.append(rule.field)
            if weight > 0 and not adjustment:
                agreeing |= bit
            if explain is not None:
                explain.append(
                    Contribution(
                        field=rule.field,
                        level=row[1],
                        similarity=best,
                        weight=weight,
                        term_frequency=adjustment,
                        left=best_left,
                        right=best_right,
                    )
                )
        masks = self._personal_masks
        if masks and not any(mask >= 0 and (agreeing & mask) == mask for mask in masks):
            conflicts.append("personal")
        return total, tuple(conflicts)

    def _explain(
        self, left: MatchRecord, right: MatchRecord, key_counts: Mapping[str, int] | None
    ) -> tuple[Contribution, ...]:
        """Every rule's contribution to a pair's score."""
        found: list[Contribution] = []
        self._judge(self._values(left), self._values(right), key_counts, found)
        return tuple(found)

    def _shared_keys(self, left: MatchRecord, right: MatchRecord) -> tuple[str, ...]:
        """The blocking keys two records share."""
        return tuple(sorted(set(self.keys(left)).intersection(self.keys(right))))

    def match(self, subjects: Iterable[Contact | Lead]) -> MatchResult:
        """
        Find the duplicates among contacts or leads: candidate pairs, bands and clusters.

        Python's cyclic garbage collector is paused while the pairs are built (they make no
        reference cycles; on a large base, its rounds would otherwise walk the whole heap
        again and again and take about half of the time). It runs as before afterwards.

        Raises:
            ValidationError: If two records share an id.
        """
        with _paused_gc():
            return self._match(subjects)

    def _match(self, subjects: Iterable[Contact | Lead]) -> MatchResult:
        by_id: dict[str, MatchRecord] = {}
        for subject in subjects:
            record = self.record(subject)
            if record.id in by_id:
                raise_for("subjects", record.id, f"id {record.id!r} appears twice", "unique")
            by_id[record.id] = record
        records = [by_id[record_id] for record_id in sorted(by_id)]
        del by_id
        codes, counts, oversized = self._candidates(records)
        values = [self._values(record) for record in records]
        size = len(records)
        scoring = _Scoring(self, records, counts)
        pairs = []
        for code in codes:
            left, right = divmod(code, size)
            pairs.append(self._pair(scoring, code, values[left], values[right]))
        # Best first, then by ids: three stable sorts on one field each build no key tuples.
        pairs.sort(key=_RIGHT)
        pairs.sort(key=_LEFT)
        pairs.sort(key=_SCORE, reverse=True)
        return MatchResult(
            pairs=tuple(pairs), clusters=_clusters(pairs), skipped_keys=tuple(sorted(oversized))
        )

    def _candidates(
        self, records: Sequence[MatchRecord]
    ) -> tuple[set[int], dict[str, int], list[str]]:
        """
        The candidate pairs, people per counted key, and the keys over the block limit.

        Records are numbered in id order; a pair of records ``a < b`` is the number
        ``a * len(records) + b``: a plain number, not an object of its own.
        """
        blocks = _blocks(self, records)
        size = len(records)
        codes: set[int] = set()
        oversized = []
        counts: dict[str, int] = {}
        counted = self._counted
        for key, held in blocks.items():
            if key.startswith(counted):  # in id order: the count is order-free
                counts[key] = self.people(records[i] for i in held)
            groups: Iterable[Sequence[int]] = (held,)
            if len(held) > self.max_block_size:
                oversized.append(key)
                groups = _by_name(records, held, self.max_block_size)
            for group in groups:
                codes.update(
                    left * size + right for left, right in itertools.combinations(group, 2)
                )
        return codes, counts, oversized

    def who_is(
        self,
        subject: Contact | Lead,
        contacts: ContactRepository,
        *,
        keep_different: bool = False,
    ) -> tuple[PairScore, ...]:
        """
        Find the stored contacts a new lead (or contact) may be, best first.

        Candidates come from the store's key look-up (``find_by_key``) on the subject's
        `lookup_keys`, at most `max_holders` per key, so the time taken grows neither with
        the number of contacts nor with the number sharing one phone; build the store with
        `contact_keys` (or `Normaliser.keys`, the same without `key_fields`).

        Args:
            subject: The new lead or contact.
            contacts: The store's contacts (``uow.contacts``).
            keep_different: Also return the candidates scored "different" (a relative on the
                family phone, a colleague on the office line), last; they are left out by
                default.
        """
        record = self.record(subject)
        found: dict[str, tuple[MatchRecord, list[str]]] = {}
        counts: dict[str, int] = {}
        for key in self.lookup_keys(record):
            holders = [
                self.record(c)
                for c in contacts.find_by_key(key, limit=self.max_holders)
                if c.id != record.id
            ]
            people = self.people([record, *holders])
            # Past the limit the key may have more holders than were read: it is common.
            counts[key] = max(people, 2) if len(holders) >= self.max_holders else people
            for holder in holders:
                found.setdefault(holder.id, (holder, []))[1].append(key)
        scored = [self.score(record, holder, keys, counts) for holder, keys in found.values()]
        scored.sort(key=lambda pair: (pair.band is Band.DIFFERENT, -pair.score, pair.right))
        return tuple(pair for pair in scored if keep_different or pair.band is not Band.DIFFERENT)

    def estimate(
        self,
        subjects: Iterable[Contact | Lead],
        *,
        seed: int,
        random_pairs: int = 50_000,
        iterations: int = 30,
    ) -> MatchPolicy:
        """
        Estimate every level's m and u, and the prior, from your own records, as splink does.

        u comes from random pairs (chosen with `seed`, so the estimate is repeatable); m and
        the prior by expectation maximisation over the blocked candidate pairs. Rules,
        levels, thresholds and blocking are kept.

        Args:
            subjects: The contacts (or leads) of your base: a few thousand at least.
            seed: Seeds the choice of random pairs.
            random_pairs: How many random pairs estimate u.
            iterations: Rounds of expectation maximisation.

        Raises:
            ValidationError: If fewer than 100 records are given, or an argument is malformed.
        """
        from funnelkit.matching._estimate import estimate  # noqa: PLC0415 - it imports this

        return estimate(self, subjects, seed=seed, random_pairs=random_pairs, iterations=iterations)

    def people(self, records: Iterable[MatchRecord]) -> int:
        """
        How many distinct people the records sharing one key are, as far as they tell (at least 1).

        Two named records are one person unless their names conflict (under the name rule's
        `conflict_below`, else its last level; without a name rule, unless they share no
        folded name), so "Алмаз" and "Almaz Gareev" are one. A record without a name is
        someone else only when it and the others each hold other phones or e-mails and share
        none of them, not even within a typo (a colleague on the office line with a mobile of
        their own); otherwise it adds nobody. Term-frequency adjustments use this count, so a
        client's own duplicates never make the client's phone look shared.
        """
        rules = {rule.field: rule for rule in reversed(self.rules)}  # the first rule per field
        # Named records first, so that a record without a name meets the people, not a blank.
        ordered = sorted(records, key=lambda record: not record.names)
        people: list[tuple[tuple[str, ...], set[str]]] = []
        for record in ordered:
            names, held = record.names, {*record.phones, *record.emails}
            for other_names, other_held in people:
                if _may_be_one(rules, (names, held), (other_names, other_held)):
                    other_held.update(held)
                    break
            else:
                people.append((names, held))
        return max(len(people), 1)


def _may_be_one(
    rules: Mapping[str, FieldRule],
    left: tuple[tuple[str, ...], set[str]],
    right: tuple[tuple[str, ...], set[str]],
) -> bool:
    """Whether two holders of one key may be one person (see `MatchPolicy.people`)."""
    (left_names, left_held), (right_names, right_held) = left, right
    if left_names and right_names:
        return _names_agree(rules.get("name"), left_names, right_names)
    # Without a name on one side: two people only if both hold more than the shared key and
    # share nothing else, not even a phone or an e-mail a typo apart.
    if len(left_held) < 2 or len(right_held) < 2 or len(left_held & right_held) >= 2:  # noqa: PLR2004
        return True
    return any(_near(rules, a, b) for a in left_held - right_held for b in right_held - left_held)


def _near(rules: Mapping[str, FieldRule], left: str, right: str) -> bool:
    """Whether a phone or e-mail and another agree with a positive weight (a typo apart)."""
    field = "emails" if "@" in left else "phones"
    rule = rules.get(field)
    if rule is None or ("@" in right) != (field == "emails"):
        return False
    found = similarity(rule.comparator, left, right)
    return next(weight for least, _, weight in rule._table if found >= least) > 0  # noqa: SLF001


def _typo_keys(record: MatchRecord) -> list[str]:
    """Blocking keys that survive one typing error in a phone, an e-mail or a name."""
    keys = []
    tails = []
    for phone in record.phones:
        digits = _base(phone)[-9:]
        if len(digits) == 9:  # noqa: PLR2004 - three windows of three digits
            first, middle, last = digits[:3], digits[3:6], digits[6:]
            keys += [f"p12:{first}{middle}", f"p23:{middle}{last}", f"p13:{first}{last}"]
        tails.append(digits[-4:])
    for email in record.emails:
        local, _, domain = email.rpartition("@")
        # The local part with each letter left out in turn (a deletion neighbourhood): two
        # addresses one letter apart (dropped, added, replaced or two swapped) share one.
        # Digits are never left out: petrov5 and petrov are two mailboxes, most often two
        # people (the comparator says so too).
        if len(local) >= 5:  # noqa: PLR2004 - shorter locals would block strangers together
            keys.append(f"ed:{local}@{domain}")  # meets the other side's letter left out
            keys.extend(
                f"ed:{local[:i]}{local[i + 1 :]}@{domain}"
                for i in range(len(local))
                if not local[i].isdigit()
            )
    starts = {token[:3] for name in record.names for token in name.split() if len(token) > 1}
    place = _place(record.address)
    for start in starts:
        if record.birth_date:
            keys.append(f"nb:{start}|{record.birth_date}")
        if place:
            keys.append(f"na:{start}|{place}")
        keys.extend(f"np:{start}|{tail}" for tail in tails)
    if record.birth_date and place:
        keys.append(f"ba:{record.birth_date}|{place}")
    return keys


def _place(address: str | None) -> str | None:
    """An address's house number and its first word's start: what survives most typos."""
    if not address:
        return None
    tokens = address.split()
    numbers = sorted(token for token in tokens if token.isdigit())
    words = [token for token in tokens if not token.isdigit()]
    if not numbers and not words:
        return None
    return f"{words[0][:4] if words else ''}#{'.'.join(numbers)}"


@contextlib.contextmanager
def _paused_gc() -> Iterator[None]:
    """
    Pause the cyclic garbage collector for a bulk step that makes no reference cycles.

    Each round of the collector walks every live object; building a few hundred thousand
    pairs would start several full rounds over the caller's whole heap. Memory is still freed
    by reference counting; a collector that was already off stays off.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _best_pair(
    comparator: Comparator, lefts: tuple[str, ...], rights: tuple[str, ...]
) -> tuple[float, str, str]:
    """The best similarity between two non-empty sets of values, and the two values."""
    best_left, best_right = lefts[0], rights[0]
    if len(lefts) == 1 and len(rights) == 1:  # the usual case, without the loops
        return similarity(comparator, best_left, best_right), best_left, best_right
    best = -1.0
    for left in lefts:
        for right in rights:
            found = similarity(comparator, left, right)
            if found > best:
                best, best_left, best_right = found, left, right
    return best, best_left, best_right


def _names_agree(rule: FieldRule | None, left: tuple[str, ...], right: tuple[str, ...]) -> bool:
    """Whether two records' names may be one person's: they do not conflict."""
    if rule is None or len(rule.levels) < 2:  # noqa: PLR2004 - some level above "else"
        return not set(left).isdisjoint(right)
    if not left or not right:
        return False
    found = _best_pair(rule.comparator, left, right)[0]
    least = rule.levels[-2].min_similarity if rule.conflict_below is None else rule.conflict_below
    return found >= least


def _blocks(policy: MatchPolicy, records: Sequence[MatchRecord]) -> dict[str, list[int]]:
    """The blocking keys held by two records or more, with their holders' numbers, ascending."""
    # Most keys belong to one record: keep only its number, and make a list from the second
    # holder on.
    first: dict[str, int] = {}
    blocks: dict[str, list[int]] = {}
    for number, record in enumerate(records):
        for key in policy.keys(record):
            holder = first.setdefault(key, number)
            if holder != number:
                held = blocks.get(key)
                if held is None:
                    blocks[key] = [holder, number]
                else:
                    held.append(number)
    return blocks


def _by_name(records: Sequence[MatchRecord], held: Sequence[int], limit: int) -> list[list[int]]:
    """The records of an oversized block grouped by folded name, groups over `limit` dropped."""
    groups: dict[str, list[int]] = {}
    for number in held:
        for name in records[number].names:
            groups.setdefault(name, []).append(number)
    return [group for group in groups.values() if 1 < len(group) <= limit]


class _Groups:
    """A union-find over record ids that never joins two groups holding a "different" pair."""

    def __init__(self, apart: Mapping[str, list[str]]) -> None:
        self._apart = apart
        self._parent: dict[str, str] = {}
        self._members: dict[str, list[str]] = {}

    def find(self, record_id: str) -> str:
        parent = self._parent
        root = parent.setdefault(record_id, record_id)
        while root != parent[root]:
            root = parent[root]
        while parent[record_id] != root:  # path compression
            parent[record_id], record_id = root, parent[record_id]
        return root

    def join(self, left: str, right: str) -> None:
        """Join the groups of two records, unless a member of one is apart from the other."""
        roots = [self.find(left), self.find(right)]
        if roots[0] == roots[1]:
            return
        for root in roots:
            self._members.setdefault(root, [root])
        small, large = sorted(roots, key=lambda root: len(self._members[root]))
        members, apart = self._members, self._apart
        if any(self.find(other) == large for m in members[small] for other in apart.get(m, ())):
            return
        self._parent[small] = large
        members[large].extend(members.pop(small))

    def clusters(self) -> tuple[frozenset[str], ...]:
        groups = (frozenset(group) for group in self._members.values() if len(group) > 1)
        return tuple(sorted(groups, key=sorted))


def _clusters(pairs: Sequence[PairScore]) -> tuple[frozenset[str], ...]:
    """
    Union "same" pairs, best first, never joining two groups across a "different" pair.

    A union-find with union by size: before two groups join, the "different" partners of the
    smaller group's members are looked up, so each record is checked O(log n) times and the
    whole costs O((pairs + different pairs) log n).
    """
    apart: dict[str, list[str]] = {}
    for pair in pairs:
        if pair.band is Band.DIFFERENT:
            apart.setdefault(pair.left, []).append(pair.right)
            apart.setdefault(pair.right, []).append(pair.left)
    groups = _Groups(apart)
    for pair in pairs:
        if pair.band is Band.SAME:
            groups.join(pair.left, pair.right)
    return groups.clusters()
