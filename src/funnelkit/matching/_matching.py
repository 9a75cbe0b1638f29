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

import functools
import itertools
import math
from collections.abc import Sized
from typing import TYPE_CHECKING

import attrs

from funnelkit import _checks as check
from funnelkit._checks import describe, raise_for
from funnelkit._collector import paused_gc
from funnelkit.exceptions import ValidationError
from funnelkit.matching._blocking import (
    _best_pair,
    _blocks,
    _by_name,
    _clusters,
    _may_be_one,
    _typo_keys,
)
from funnelkit.matching._compare import similarity
from funnelkit.matching._normalise import Normaliser, _base
from funnelkit.matching._rules import (
    _KEY_PREFIX,
    Band,
    Contribution,
    FieldRule,
    _default_rules,
    _key_fields_problem,
    _personal_problem,
    _probability_problem,
)
from funnelkit.matching._scores import (
    _LEFT,
    _RIGHT,
    _SCORE,
    MatchRecord,
    MatchResult,
    PairScore,
    _Scoring,
    _Step,
)
from funnelkit.model import PROGRESS_EVERY, Contact, ContactData, Lead, Progress


if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from funnelkit.storage import ContactRepository


__all__ = [
    "MatchPolicy",
]


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

    def match(
        self, subjects: Iterable[Contact | Lead], *, progress: Progress | None = None
    ) -> MatchResult:
        """
        Find the duplicates among contacts or leads: candidate pairs, bands and clusters.

        Python's cyclic garbage collector is paused while the pairs are built (they make no
        reference cycles; on a large base, its rounds would otherwise walk the whole heap
        again and again and take about half of the time). It runs as before afterwards.

        `progress`, if given, is told how the ``"records"`` (normalised) and the ``"pairs"``
        (scored) are going, every `funnelkit.model.PROGRESS_EVERY` of them.

        Raises:
            ValidationError: If two records share an id.
        """
        with paused_gc():
            return self._match(subjects, progress)

    def _match(self, subjects: Iterable[Contact | Lead], progress: Progress | None) -> MatchResult:
        by_id: dict[str, MatchRecord] = {}
        total = len(subjects) if isinstance(subjects, Sized) else None
        for subject in subjects:
            record = self.record(subject)
            if record.id in by_id:
                raise_for("subjects", record.id, f"id {record.id!r} appears twice", "unique")
            by_id[record.id] = record
            if progress is not None and len(by_id) % PROGRESS_EVERY == 0:
                progress("records", len(by_id), total)
        if progress is not None:
            progress("records", len(by_id), len(by_id))
        records = [by_id[record_id] for record_id in sorted(by_id)]
        del by_id
        codes, counts, oversized = self._candidates(records)
        values = [self._values(record) for record in records]
        size = len(records)
        scoring = _Scoring(self, records, counts)
        pairs = []
        if progress is None:
            for code in codes:
                left, right = divmod(code, size)
                pairs.append(self._pair(scoring, code, values[left], values[right]))
        else:
            for code in codes:
                left, right = divmod(code, size)
                pairs.append(self._pair(scoring, code, values[left], values[right]))
                if len(pairs) % PROGRESS_EVERY == 0:
                    progress("pairs", len(pairs), len(codes))
            progress("pairs", len(pairs), len(codes))
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
