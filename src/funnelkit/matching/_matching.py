"""
Duplicate matching: blocking keys, scored and explained pairs, bands, and guarded clusters.

Candidate pairs come only from shared blocking keys (normalised phones, e-mails and name
keys), never from all pairs. Each pair is scored by per-field rules (exact, Jaro-Winkler or
token-set similarity from `rapidfuzz`, with points for agreeing and disagreeing) and explained
field by field. Two thresholds split pairs into same, review and different; clusters grow
from "same" pairs only, by a union-find in near-linear time, and never across a pair scored
"different", so one shared office phone cannot chain two customers together.
"""

from __future__ import annotations

import enum
import itertools
import math
from typing import TYPE_CHECKING

import attrs
from rapidfuzz import fuzz
from rapidfuzz.distance import JaroWinkler

from funnelkit.exceptions import ValidationError
from funnelkit.matching._normalise import Normaliser
from funnelkit.model import Contact, ContactData, FieldValues, Lead
from funnelkit.model import _checks as check
from funnelkit.model._checks import describe, raise_for


if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from funnelkit.storage import ContactRepository


__all__ = [
    "Band",
    "Comparator",
    "Contribution",
    "FieldRule",
    "MatchPolicy",
    "MatchRecord",
    "MatchResult",
    "PairScore",
]

_OWN_FIELDS = ("phones", "emails", "name", "company")
_KEY_PREFIX = {"phones": "phone:", "emails": "email:"}


class Comparator(str, enum.Enum):
    """How two values of a field are compared."""

    EXACT = "exact"
    """Equal after normalisation (similarity 1 or 0)."""
    JARO_WINKLER = "jaro_winkler"
    """Jaro-Winkler similarity: short strings, typos at the end (names, codes)."""
    TOKEN_SET = "token_set"  # noqa: S105 - a comparator name, not a password
    """Token-set similarity: word order and extra words do not matter (full names, companies)."""
    NAME = "name"
    """For names: each word of the shorter name against its best Jaro-Winkler match in the
    other, averaged (``"almas"`` meets ``"almaz novskii"``; word order does not matter)."""


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


def _field_problem(value: object) -> check.Problem:
    if type(value) is not str:
        return f"expected a field name, got {describe(value)}", "type"
    if value in _OWN_FIELDS or (value.startswith("fields.") and len(value) > len("fields.")):
        return None
    known = list(_OWN_FIELDS)
    message = f"unknown field {value!r}; compare one of {known} or a custom field 'fields.<key>'"
    return message, "unknown_field"


@attrs.frozen(kw_only=True)
class FieldRule:
    """
    How one field contributes to a pair's score.

    Attributes:
        field: ``"phones"``, ``"emails"``, ``"name"``, ``"company"`` or ``"fields.<key>"`` for a
            custom field.
        comparator: How values are compared (multi-valued fields: the best pair of values).
        agree: Points added when the values agree, scaled by their similarity.
        disagree: Points taken away when both sides have values and they do not agree.
        min_similarity: The similarity from which values agree.
    """

    field: str = attrs.field(validator=check.field(_field_problem))
    comparator: Comparator = attrs.field(validator=check.is_enum(Comparator))
    agree: float = attrs.field(validator=check.field(_finite_problem))
    disagree: float = attrs.field(default=0.0, validator=check.field(_finite_problem))
    min_similarity: float = attrs.field(default=1.0, validator=check.field(_similarity_problem))


@attrs.frozen(kw_only=True)
class MatchRecord:
    """
    One contact or lead, normalised for matching.

    Attributes:
        id: The id of the contact or lead.
        phones: Valid phones in E.164.
        emails: Canonical e-mail keys.
        names: Each name as its sorted folded words (``"almaz stroitel"``).
        company: The company name without legal forms, if any.
        fields: Custom field values, compared by ``fields.<key>`` rules.
    """

    id: str
    phones: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    company: str | None = None
    fields: FieldValues = attrs.field(factory=FieldValues)

    def values(self, field: str) -> tuple[str, ...]:
        """The comparable values of a field (empty when it has none)."""
        if field == "phones":
            return self.phones
        if field == "emails":
            return self.emails
        if field == "name":
            return self.names
        if field == "company":
            return (self.company,) if self.company else ()
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
        similarity: The best similarity between the two sides' values (``None`` if a side
            had no value: the field is neutral).
        points: Points added (negative when the values disagree).
        left: The left value that was compared.
        right: The right value that was compared.
    """

    field: str
    similarity: float | None
    points: float
    left: str | None
    right: str | None


@attrs.frozen(kw_only=True)
class PairScore:
    """
    A candidate pair, its score, its band and why.

    Attributes:
        left: One record's id.
        right: The other's (``left < right`` for pairs within one set of records).
        score: The sum of the contributions.
        band: Same, review or different.
        keys: The blocking keys the two records share (what brought them together).
        contributions: One per field rule, in the policy's order.
    """

    left: str
    right: str
    score: float
    band: Band
    keys: tuple[str, ...]
    contributions: tuple[Contribution, ...]


@attrs.frozen(kw_only=True)
class MatchResult:
    """
    Everything `MatchPolicy.match` found.

    Attributes:
        pairs: Every scored candidate pair, best first.
        clusters: Groups of records that are the same client (two or more ids each), from
            "same" pairs, never joined across a pair scored "different".
        skipped_keys: Blocking keys shared by more records than the policy's block limit
            (a call centre's phone, a shared mailbox): their pairs were not formed.
    """

    pairs: tuple[PairScore, ...]
    clusters: tuple[frozenset[str], ...]
    skipped_keys: tuple[str, ...]

    def band(self, band: Band) -> tuple[PairScore, ...]:
        """The pairs in one band."""
        return tuple(pair for pair in self.pairs if pair.band is band)


def _similarity(comparator: Comparator, left: str, right: str) -> float:
    if comparator is Comparator.EXACT:
        return 1.0 if left == right else 0.0
    if comparator is Comparator.JARO_WINKLER:
        return float(JaroWinkler.similarity(left, right))
    if comparator is Comparator.NAME:
        shorter, longer = sorted((left.split(), right.split()), key=len)
        if not shorter:
            return 0.0
        best = [max(JaroWinkler.similarity(word, other) for other in longer) for word in shorter]
        return float(sum(best) / len(best))
    return float(fuzz.token_set_ratio(left, right)) / 100.0


def _default_rules() -> tuple[FieldRule, ...]:
    return (
        FieldRule(field="phones", comparator=Comparator.EXACT, agree=6.0, disagree=1.0),
        FieldRule(field="emails", comparator=Comparator.EXACT, agree=6.0, disagree=0.5),
        FieldRule(
            field="name", comparator=Comparator.NAME, agree=3.0, disagree=4.0, min_similarity=0.9
        ),
        FieldRule(field="company", comparator=Comparator.TOKEN_SET, agree=1.0, min_similarity=0.9),
    )


@attrs.frozen(kw_only=True)
class MatchPolicy:
    """
    How records are brought together, scored, banded and clustered.

    The defaults suit contacts of a small business: a shared valid phone or e-mail plus an
    agreeing name is "same"; a shared phone or e-mail alone, with no name to compare, is
    "review"; a shared phone with clearly different names (an office phone, a family e-mail)
    is "different".

    Attributes:
        normaliser: Normalises phones, e-mails, names and companies.
        rules: How each field scores.
        same_at: Scores from here up are "same".
        review_at: Scores from here up (below `same_at`) are "review".
        name_keys: Also block on name keys (each folded name), to find pairs that share no
            phone or e-mail. Off by default: with the default rules a name alone scores below
            "review", and common names make large blocks; turn it on with rules that give
            names (or custom fields) enough weight.
        max_block_size: Under a key shared by more records than this (a call centre's phone,
            an ``info@`` mailbox), only records that also share a folded name are paired, so
            a block never costs more than this squared; such keys are reported.
        common_from: A phone or e-mail held by this many distinct people or more is common (an
            office phone, a family e-mail): its agreement counts ``(common_from - 1) / people``
            of its points. Records whose names agree count as one person, so a client's own
            duplicates never make their phone look common.
        max_holders: `who_is` reads at most this many holders of each key, so it answers in
            bounded time however many contacts share a phone; a key with this many holders
            or more is common.

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
    same_at: float = attrs.field(default=8.0, validator=check.field(_finite_problem))
    review_at: float = attrs.field(default=5.0, validator=check.field(_finite_problem))
    name_keys: bool = attrs.field(default=False, validator=check.boolean)
    max_block_size: int = attrs.field(default=50, validator=check.positive_int)
    common_from: int = attrs.field(default=4, validator=check.field(check.integer_at_least(2)))
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

    # --- records and keys ------------------------------------------------------------------

    def record(self, subject: Contact | Lead) -> MatchRecord:
        """
        Normalise a contact or a lead for matching.

        Invalid phones and e-mails are dropped, and so is a contact's name that is one of its
        own phones or e-mails (the name of a contact made from a request without one).
        """
        normaliser = self.normaliser
        given: object = subject
        if isinstance(given, Contact):
            # A contact made from a request without a name is named by its phone or e-mail
            # (see `contact_from_lead`): that is no name to compare.
            own = {*given.phones, *given.emails}
            names = tuple(name for name in given.names if name not in own)
            company, fields = given.company, given.fields
            raw_phones, raw_emails = given.phones, given.emails
        elif isinstance(given, Lead):
            data: ContactData = given.contact_data
            names = (data.name,) if data.name else ()
            company, fields = data.company, given.fields
            raw_phones, raw_emails = data.phones, data.emails
        else:
            msg = f"match: expected a Contact or a Lead, got {describe(given)}"
            raise ValidationError(msg, field="subject", value=given, rule="type")
        phones, _ = normaliser.phones(raw_phones)
        emails, _ = normaliser.emails(raw_emails)
        folded = {" ".join(tokens) for name in names if (tokens := normaliser.name_tokens(name))}
        return MatchRecord(
            id=subject.id,
            phones=phones,
            emails=emails,
            names=tuple(sorted(folded)),
            company=normaliser.company(company) or None if company else None,
            fields=fields,
        )

    def keys(self, record: MatchRecord) -> tuple[str, ...]:
        """The blocking keys of a record: its phones, e-mails and (optionally) names."""
        keys = [f"phone:{p}" for p in record.phones] + [f"email:{e}" for e in record.emails]
        if self.name_keys:
            keys.extend(f"name:{name}" for name in record.names)
        return tuple(keys)

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
            key_counts: How many distinct people hold each key (see `people`). An exact phone
                or e-mail agreement counts fully when at most `common_from` - 1 people hold
                it, and less the more share it (an office phone, a shared mailbox): the
                term-frequency adjustment of record linkage.
        """
        contributions = []
        total = 0.0
        for rule in self.rules:
            contribution = _contribute(rule, left.values(rule.field), right.values(rule.field))
            prefix = _KEY_PREFIX.get(rule.field)
            if key_counts and prefix and contribution.points > 0 and contribution.left is not None:
                count = key_counts.get(prefix + contribution.left, 0)
                if count >= self.common_from:
                    points = round(contribution.points * (self.common_from - 1) / count, 6)
                    contribution = attrs.evolve(contribution, points=points)
            contributions.append(contribution)
            total += contribution.points
        if total >= self.same_at:
            band = Band.SAME
        elif total >= self.review_at:
            band = Band.REVIEW
        else:
            band = Band.DIFFERENT
        return PairScore(
            left=left.id,
            right=right.id,
            score=round(total, 6),
            band=band,
            keys=tuple(sorted(keys)),
            contributions=tuple(contributions),
        )

    def match(self, subjects: Iterable[Contact | Lead]) -> MatchResult:
        """
        Find the duplicates among contacts or leads: candidate pairs, bands and clusters.

        Raises:
            ValidationError: If two records share an id.
        """
        records: dict[str, MatchRecord] = {}
        for subject in subjects:
            record = self.record(subject)
            if record.id in records:
                raise_for("subjects", record.id, f"id {record.id!r} appears twice", "unique")
            records[record.id] = record
        blocks: dict[str, list[str]] = {}
        for record in records.values():
            for key in self.keys(record):
                blocks.setdefault(key, []).append(record.id)
        shared: dict[tuple[str, str], list[str]] = {}
        oversized = []
        counts: dict[str, int] = {}
        for key, ids in blocks.items():
            counts[key] = (
                len(ids) if len(ids) < self.common_from else self.people(records[i] for i in ids)
            )
            groups: Iterable[list[str]] = (ids,)
            if len(ids) > self.max_block_size:
                oversized.append(key)
                groups = _by_name(records, ids, self.max_block_size)
            for group in groups:
                for left, right in itertools.combinations(sorted(group), 2):
                    shared.setdefault((left, right), []).append(key)
        pairs = [
            self.score(records[left], records[right], keys, counts)
            for (left, right), keys in shared.items()
        ]
        pairs.sort(key=lambda pair: (-pair.score, pair.left, pair.right))
        return MatchResult(
            pairs=tuple(pairs), clusters=_clusters(pairs), skipped_keys=tuple(sorted(oversized))
        )

    def who_is(
        self,
        subject: Contact | Lead,
        contacts: ContactRepository,
        *,
        keep_different: bool = False,
    ) -> tuple[PairScore, ...]:
        """
        Find the stored contacts a new lead (or contact) may be, best first.

        Candidates come from the store's key look-up (``find_by_key``) on the subject's phone
        and e-mail keys, at most `max_holders` per key, so the time taken grows neither with
        the number of contacts nor with the number sharing one phone; build the store with
        `Normaliser.keys` as its `ContactKeys`.

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
        for key in self.keys(record):
            if key.startswith("name:"):
                continue
            holders = [
                self.record(c)
                for c in contacts.find_by_key(key, limit=self.max_holders)
                if c.id != record.id
            ]
            counts[key] = (
                max(self.people([record, *holders]), self.common_from)
                if len(holders) >= self.max_holders
                else self.people([record, *holders])
            )
            for holder in holders:
                found.setdefault(holder.id, (holder, []))[1].append(key)
        scored = [self.score(record, holder, keys, counts) for holder, keys in found.values()]
        scored.sort(key=lambda pair: (pair.band is Band.DIFFERENT, -pair.score, pair.right))
        return tuple(pair for pair in scored if keep_different or pair.band is not Band.DIFFERENT)

    def people(self, records: Iterable[MatchRecord]) -> int:
        """
        How many distinct people the records are, as far as their names tell (at least 1).

        Records whose names agree under the policy's name rule (or, without one, share a
        folded name) count once; records without a name add nobody. Term-frequency discounts
        use this count, so a client's own duplicates never make the client's phone look
        shared.
        """
        rule = next((r for r in self.rules if r.field == "name"), None)
        people: list[tuple[str, ...]] = []
        for record in records:
            names = record.names
            if names and not any(_names_agree(rule, names, other) for other in people):
                people.append(names)
        return max(len(people), 1)


def _contribute(rule: FieldRule, lefts: tuple[str, ...], rights: tuple[str, ...]) -> Contribution:
    if not lefts or not rights:
        return Contribution(field=rule.field, similarity=None, points=0.0, left=None, right=None)
    best, best_left, best_right = -1.0, lefts[0], rights[0]
    for left in lefts:
        for right in rights:
            similarity = _similarity(rule.comparator, left, right)
            if similarity > best:
                best, best_left, best_right = similarity, left, right
    points = rule.agree * best if best >= rule.min_similarity else -rule.disagree
    return Contribution(
        field=rule.field,
        similarity=round(best, 6),
        points=round(points, 6),
        left=best_left,
        right=best_right,
    )


def _names_agree(rule: FieldRule | None, left: tuple[str, ...], right: tuple[str, ...]) -> bool:
    if rule is None:
        return not set(left).isdisjoint(right)
    similarity = _contribute(rule, left, right).similarity
    return similarity is not None and similarity >= rule.min_similarity


def _by_name(records: Mapping[str, MatchRecord], ids: Sequence[str], limit: int) -> list[list[str]]:
    """The records of an oversized block grouped by folded name, groups over `limit` dropped."""
    groups: dict[str, list[str]] = {}
    for record_id in ids:
        for name in records[record_id].names:
            groups.setdefault(name, []).append(record_id)
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
