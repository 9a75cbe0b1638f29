"""
What matching finds: the records compared, each scored pair and its explanation, the result.

A `PairScore` works its explanation out only when read, from the scoring its match shares.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, NamedTuple

import attrs

from funnelkit.matching._rules import Band, Contribution, FieldRule
from funnelkit.model import FieldValues


if TYPE_CHECKING:
    from funnelkit.matching._compare import Comparator
    from funnelkit.matching._matching import MatchPolicy  # noqa: TC004 - attrs never resolves it


__all__ = [
    "MatchRecord",
    "MatchResult",
    "PairScore",
]


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
