"""
A learned lead scorer: naive Bayes over closed leads, explained feature by feature.

Trained on leads whose outcome is known (converted = good, junk = bad), it gives a new lead a
probability of being good and the log-odds each of its features added. Laplace smoothing keeps
every probability away from 0 and 1, so one unseen word never decides alone. `backtest` trains
on the older part of a history and measures the newer part. `LearnedScore` makes the scorer a
qualification rule.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import attrs

from funnelkit import _checks as check
from funnelkit._checks import describe, raise_for
from funnelkit.exceptions import ValidationError
from funnelkit.matching._normalise import fold_name
from funnelkit.model import Lead
from funnelkit.qualification._policy import Finding, QualificationContext


if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence


__all__ = [
    "Backtest",
    "FeatureWeight",
    "LearnedScore",
    "NaiveBayesScorer",
    "Scored",
    "backtest",
    "lead_features",
]

_WORDS = re.compile(r"[^\W\d_]{4,}", re.UNICODE)
_FLOOR = 0.001


_SHORT_MESSAGE = 40  # characters: "сколько стоит?" is short, a described roof is not


def _is_outcome(pair: object) -> bool:
    return (
        type(pair) is tuple
        and len(pair) == 2  # noqa: PLR2004 - a pair
        and isinstance(pair[0], Lead)
        and type(pair[1]) is bool
    )


def lead_features(lead: Lead) -> frozenset[str]:
    """
    The default features of a lead: where it came from, what contact data it has, its words.

    ``channel:site_form``, ``site:krovlya-spb.ru``, ``campaign:весна``, ``has:phone``,
    ``has:email``, ``has:name``, ``message:empty|short|long`` and ``word:<folded word>`` for each
    word of four letters or more.
    """
    source, data = lead.source, lead.contact_data
    features = {f"channel:{source.channel}"}
    if source.site:
        features.add(f"site:{source.site}")
    if source.campaign:
        features.add(f"campaign:{source.campaign}")
    features.update(
        f"has:{what}"
        for what, present in (("phone", data.phones), ("email", data.emails), ("name", data.name))
        if present
    )
    message = lead.message.strip()
    features.add(
        "message:empty"
        if not message
        else "message:short"
        if len(message) < _SHORT_MESSAGE
        else "message:long"
    )
    features.update(f"word:{fold_name(word)}" for word in _WORDS.findall(message))
    return frozenset(features)


@attrs.frozen(kw_only=True)
class FeatureWeight:
    """
    What one feature says: the log-odds it adds for "good" (negative: for "junk").

    Attributes:
        feature: The feature.
        log_odds: Natural log of P(feature | good) / P(feature | junk).
    """

    feature: str
    log_odds: float


@attrs.frozen(kw_only=True)
class Scored:
    """
    A lead's learned score.

    Attributes:
        probability: The probability that the lead is good, between 0.001 and 0.999.
        log_odds: The prior log-odds plus every known feature's.
        contributions: The features the scorer knows, strongest first.
    """

    probability: float
    log_odds: float
    contributions: tuple[FeatureWeight, ...]


def _positive_problem(value: object) -> check.Problem:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return f"expected a positive number, got {describe(value)}", "type"
    if not (value > 0 and math.isfinite(value)):
        return f"expected a positive number, got {value}", "range"
    return None


@attrs.frozen(kw_only=True)
class NaiveBayesScorer:
    """
    A trained naive Bayes model of good and junk leads. Build one with `train`.

    Attributes:
        prior_log_odds: Log-odds of "good" before looking at features.
        weights: Log-odds per known feature.
        features: Turns a lead into its features (must be the one it was trained with).
    """

    prior_log_odds: float
    weights: Mapping[str, float]
    features: Callable[[Lead], frozenset[str]] = attrs.field(default=lead_features, eq=False)

    @classmethod
    def train(
        cls,
        outcomes: Iterable[tuple[Lead, bool]],
        *,
        features: Callable[[Lead], frozenset[str]] = lead_features,
        alpha: float = 1.0,
    ) -> NaiveBayesScorer:
        """
        Learn from leads with known outcomes (``True`` for good, ``False`` for junk).

        Args:
            outcomes: ``(lead, good)`` pairs, e.g. converted and junk leads of the last year.
            features: The feature function.
            alpha: Laplace smoothing: pseudo-counts added to every feature in both classes.

        Raises:
            ValidationError: If there is not at least one good and one junk lead, or `alpha`
                is not positive.
        """
        problem = _positive_problem(alpha)
        if problem is not None:
            raise_for("alpha", alpha, problem[0], problem[1])
        counts = {True: 0, False: 0}
        seen: dict[str, list[int]] = {}
        for index, pair in enumerate(outcomes):
            if not _is_outcome(pair):
                raise_for(
                    f"outcomes[{index}]",
                    pair,
                    f"expected a (Lead, bool) pair, got {describe(pair)}",
                    "type",
                )
            lead, good = pair
            counts[good] += 1
            for feature in features(lead):
                seen.setdefault(feature, [0, 0])[0 if good else 1] += 1
        if not counts[True] or not counts[False]:
            raise_for(
                "outcomes",
                counts,
                f"training needs good and junk leads; got {counts[True]} good and "
                f"{counts[False]} junk",
                "too_few",
            )
        good_total, junk_total = counts[True], counts[False]
        weights = {
            feature: math.log((good + alpha) / (good_total + 2 * alpha))
            - math.log((junk + alpha) / (junk_total + 2 * alpha))
            for feature, (good, junk) in seen.items()
        }
        prior = math.log((good_total + alpha) / (junk_total + alpha))
        return cls(prior_log_odds=prior, weights=weights, features=features)

    def score(self, lead: Lead) -> Scored:
        """Score a lead; features never seen in training add nothing."""
        given: object = lead
        if not isinstance(given, Lead):
            msg = f"score(lead): expected a Lead, got {describe(given)}"
            raise ValidationError(msg, field="lead", value=given, rule="type")
        known = [
            FeatureWeight(feature=f, log_odds=self.weights[f])
            for f in self.features(given)
            if f in self.weights
        ]
        known.sort(key=lambda weight: (-abs(weight.log_odds), weight.feature))
        log_odds = self.prior_log_odds + sum(weight.log_odds for weight in known)
        probability = 1.0 / (1.0 + math.exp(-max(min(log_odds, 50.0), -50.0)))
        return Scored(
            probability=min(max(probability, _FLOOR), 1.0 - _FLOOR),
            log_odds=log_odds,
            contributions=tuple(known),
        )


@attrs.frozen(kw_only=True)
class Backtest:
    """
    How a scorer trained on older leads did on newer ones.

    Attributes:
        trained_on: Leads trained on.
        tested_on: Leads tested on.
        accuracy: Share of test leads classified right at the threshold.
        precision: Of leads called good, the share that were good (1.0 if none was called).
        recall: Of good leads, the share called good (1.0 if there were none).
        brier: Mean squared error of the probabilities (0 is perfect, 0.25 is a coin).
    """

    trained_on: int
    tested_on: int
    accuracy: float
    precision: float
    recall: float
    brier: float


def backtest(
    outcomes: Sequence[tuple[Lead, bool]],
    *,
    train_share: float = 0.7,
    threshold: float = 0.5,
    features: Callable[[Lead], frozenset[str]] = lead_features,
    alpha: float = 1.0,
) -> Backtest:
    """
    Train on the oldest `train_share` of the leads (by creation time) and test on the rest.

    Raises:
        ValidationError: If the split leaves no test leads, or training is impossible.
    """
    ordered = sorted(outcomes, key=lambda pair: (pair[0].created_at, pair[0].id))
    cut = int(len(ordered) * train_share)
    if not 0 < cut < len(ordered):
        raise_for(
            "train_share",
            train_share,
            f"{len(ordered)} leads split at {train_share} leave nothing to train or test on",
            "split",
        )
    scorer = NaiveBayesScorer.train(ordered[:cut], features=features, alpha=alpha)
    tested = ordered[cut:]
    results = [(scorer.score(lead).probability, good) for lead, good in tested]
    called = [(p >= threshold, good) for p, good in results]
    true_positive = sum(1 for call, good in called if call and good)
    called_good = sum(1 for call, _ in called if call)
    actual_good = sum(1 for _, good in called if good)
    return Backtest(
        trained_on=cut,
        tested_on=len(tested),
        accuracy=sum(1 for call, good in called if call == good) / len(tested),
        precision=true_positive / called_good if called_good else 1.0,
        recall=true_positive / actual_good if actual_good else 1.0,
        brier=sum((p - good) ** 2 for p, good in results) / len(tested),
    )


@attrs.frozen(kw_only=True)
class LearnedScore:
    """
    A qualification rule from a learned scorer: points proportional to its log-odds.

    Attributes:
        scorer: The trained scorer.
        points_per_log_odds: Points per unit of log-odds (10: a lead twice as likely good as
            junk gets about +7).
        key: The rule's key.
    """

    scorer: NaiveBayesScorer = attrs.field(
        validator=check.instance_of(NaiveBayesScorer, "a NaiveBayesScorer")
    )
    points_per_log_odds: float = attrs.field(default=10.0, validator=check.field(_positive_problem))
    key: str = attrs.field(default="learned", validator=check.identifier)

    def evaluate(self, lead: Lead, context: QualificationContext) -> Finding | None:  # noqa: ARG002 - the rule protocol
        """Report the scorer's verdict with its three strongest features."""
        scored = self.scorer.score(lead)
        top = (
            ", ".join(f"{w.feature} {w.log_odds:+.2f}" for w in scored.contributions[:3])
            or "no known features"
        )
        return Finding(
            rule=self.key,
            points=round(scored.log_odds * self.points_per_log_odds),
            reason=f"learned probability of a good lead {scored.probability:.0%} ({top})",
        )
