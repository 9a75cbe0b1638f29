"""
Estimating a match policy's m and u probabilities and its prior from the user's own records.

As splink does: u, how often two records of different people fall into each level, from
random pairs (nearly all of which are different people); m, how often two records of one
person do, and the share of candidate pairs that are one person, by expectation maximisation
over the blocked candidate pairs, under the Fellegi-Sunter assumption that fields agree
independently given the truth. The prior follows from that share. Randomness comes from a
seed you pass, so an estimate is repeatable.
"""

from __future__ import annotations

import itertools
import math
import random
from collections import Counter, defaultdict
from typing import TYPE_CHECKING

import attrs

from funnelkit import _checks as check
from funnelkit._checks import raise_for
from funnelkit.matching._blocking import (
    _blocks,
)
from funnelkit.matching._compare import similarity


if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from funnelkit.matching._matching import (
        MatchPolicy,
    )
    from funnelkit.matching._scores import (
        MatchRecord,
    )
    from funnelkit.model import Contact, Lead


__all__ = ["estimate"]

_FLOOR = 1e-9  # no level is ever impossible: a probability of 0 would veto for ever
Pattern = tuple[str, ...]


def estimate(
    policy: MatchPolicy,
    subjects: Iterable[Contact | Lead],
    *,
    seed: int,
    random_pairs: int = 50_000,
    iterations: int = 30,
) -> MatchPolicy:
    """
    Estimate `policy`'s m and u probabilities and its prior from records, as splink does.

    Args:
        policy: The policy whose rules, levels and blocking are kept.
        subjects: The contacts (or leads) of your base: a few thousand at least.
        seed: Seeds the choice of random pairs, so the estimate is repeatable.
        random_pairs: How many random pairs estimate u.
        iterations: Rounds of expectation maximisation for m and the prior.

    Returns:
        The policy with every level's m and u and the prior replaced by the estimates.

    Raises:
        ValidationError: If fewer than 100 records are given, or an argument is malformed.
    """
    for name, value, least in (("random_pairs", random_pairs, 1), ("iterations", iterations, 1)):
        problem = check.integer_at_least(least)(value)
        if problem is not None:
            raise_for(name, value, problem[0], problem[1])
    if type(seed) is not int:
        raise_for("seed", seed, "expected an integer seed", "type")
    records = [policy.record(subject) for subject in subjects]
    if len(records) < 100:  # noqa: PLR2004 - too few to estimate anything
        raise_for(
            "subjects",
            len(records),
            f"got {len(records)} records; estimating needs 100 or more (a few thousand is "
            "better); keep the defaults until then",
            "too_few",
        )
    rng = random.Random(seed)  # noqa: S311 - choosing pairs to count, not secrets
    u = _u_from_random_pairs(policy, records, rng, random_pairs)
    for index, rule in enumerate(policy.rules):
        _exact_u_from_values(policy, index, rule.levels[0].label, records, u)
    candidates = _candidate_patterns(policy, records)
    if not candidates:
        raise_for(
            "subjects",
            len(records),
            "no two records share a blocking key, so there is nothing to learn m from; keep "
            "the defaults, or estimate on a base that has duplicates",
            "no_candidates",
        )
    m, share = _expectation_maximisation(policy, candidates, iterations)
    total = len(records) * (len(records) - 1) / 2
    matches = share * sum(candidates.values())
    prior = min(max(matches / total, _FLOOR), 0.5)
    rules = []
    for index, rule in enumerate(policy.rules):
        levels = tuple(
            attrs.evolve(level, m=_clip(m[index][level.label]), u=_clip(u[index][level.label]))
            for level in rule.levels
        )
        rules.append(attrs.evolve(rule, levels=levels))
    return attrs.evolve(policy, rules=tuple(rules), prior=prior)


def _clip(probability: float) -> float:
    return min(max(probability, _FLOOR), 1 - _FLOOR)


def _pattern(policy: MatchPolicy, left: MatchRecord, right: MatchRecord) -> Pattern:
    return tuple(found.level for found in policy._explain(left, right, None))  # noqa: SLF001


def _shares(policy: MatchPolicy, counts: Sequence[Counter[str]]) -> list[dict[str, float]]:
    """Per rule, each level's share of the pairs where both sides had a value (smoothed)."""
    found = []
    for rule, counter in zip(policy.rules, counts, strict=True):
        labels = [level.label for level in rule.levels]
        seen = sum(counter[label] for label in labels) + len(labels) / 2
        found.append({label: (counter[label] + 0.5) / seen for label in labels})
    return found


def _u_from_random_pairs(
    policy: MatchPolicy, records: list[MatchRecord], rng: random.Random, pairs: int
) -> list[dict[str, float]]:
    counts: list[Counter[str]] = [Counter() for _ in policy.rules]
    for _ in range(pairs):
        left, right = rng.sample(records, 2)
        for counter, label in zip(counts, _pattern(policy, left, right), strict=True):
            counter[label] += 1
    return _shares(policy, counts)


def _exact_u_from_values(
    policy: MatchPolicy,
    index: int,
    exact: str,
    records: list[MatchRecord],
    u: list[dict[str, float]],
) -> None:
    """
    The exact level's u from how values repeat, instead of from the random pairs.

    Two random records of different people share a value as often as the sum, over values,
    of the squared share of records holding it, counting only the holders that are other
    people (`MatchPolicy.people`): a phone held by one client's three copies adds nothing.
    Random pairs would need millions of draws to see one shared phone.
    """
    rule = policy.rules[index]
    field = rule.field
    holders: dict[str, list[MatchRecord]] = {}
    having = 0
    for record in records:
        values = record.values(field)
        having += bool(values)
        for value in set(values):
            # Only values whose agreement is the exact level (one first name alone is not).
            if similarity(rule.comparator, value, value) >= rule.levels[0].min_similarity:
                holders.setdefault(value, []).append(record)
    if having < 2:  # noqa: PLR2004 - no pair to speak of
        return
    shared = 0.0
    for group in holders.values():
        if len(group) > 1:
            people = policy.people(group) if field in ("phones", "emails") else len(group)
            shared += (len(group) / having) ** 2 * (people - 1) / people
    exact_u = max(shared, 1 / (having * having))
    others = 1 - u[index][exact]
    u[index] = {
        label: exact_u if label == exact else share * (1 - exact_u) / others
        for label, share in u[index].items()
    }


def _candidate_patterns(policy: MatchPolicy, records: list[MatchRecord]) -> Counter[Pattern]:
    seen: set[tuple[int, int]] = set()
    for members in _blocks(policy, records).values():
        if len(members) <= policy.max_block_size:
            seen.update(itertools.combinations(members, 2))
    return Counter(_pattern(policy, records[a], records[b]) for a, b in seen)


def _expectation_maximisation(
    policy: MatchPolicy, candidates: Counter[Pattern], iterations: int
) -> tuple[list[dict[str, float]], float]:
    """M per rule and level, and the share of candidate pairs that are one person."""
    m = [{level.label: level.m for level in rule.levels} for rule in policy.rules]
    u = [{level.label: level.u for level in rule.levels} for rule in policy.rules]
    share = 0.1
    total = sum(candidates.values())
    for _ in range(iterations):
        m_counts: list[defaultdict[str, float]] = [defaultdict(float) for _ in policy.rules]
        u_counts: list[defaultdict[str, float]] = [defaultdict(float) for _ in policy.rules]
        matched = 0.0
        for pattern, count in candidates.items():
            log_m = math.log(share) + sum(
                math.log(m[i][label]) for i, label in enumerate(pattern) if label in m[i]
            )
            log_u = math.log(1 - share) + sum(
                math.log(u[i][label]) for i, label in enumerate(pattern) if label in u[i]
            )
            posterior = 1 / (1 + math.exp(max(min(log_u - log_m, 700), -700)))
            matched += posterior * count
            for i, label in enumerate(pattern):
                m_counts[i][label] += posterior * count
                u_counts[i][label] += (1 - posterior) * count
        share = min(max(matched / total, 1e-6), 1 - 1e-6)
        m = _weighted_shares(policy, m_counts)
        u = _weighted_shares(policy, u_counts)
    return m, share


def _weighted_shares(
    policy: MatchPolicy, counts: Sequence[Mapping[str, float]]
) -> list[dict[str, float]]:
    found = []
    for rule, counter in zip(policy.rules, counts, strict=True):
        labels = [level.label for level in rule.levels]
        seen = sum(counter.get(label, 0.0) for label in labels)
        smoothing = 1e-3
        found.append(
            {
                label: (counter.get(label, 0.0) + smoothing) / (seen + smoothing * len(labels))
                for label in labels
            }
        )
    return found
