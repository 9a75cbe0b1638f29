"""The learned lead scorer: naive Bayes with smoothing, explanations and a time-split backtest."""

from __future__ import annotations

from datetime import timedelta

import pytest

import funnelkit as fk
from funnelkit.qualification import (
    LearnedScore,
    NaiveBayesScorer,
    QualificationContext,
    QualificationPolicy,
    backtest,
    lead_features,
)
from funnelkit.testing.contracts import T0, make_lead


def history(count=40):
    """Closed leads: site-form roofing requests converted; chat adverts were junk."""
    outcomes = []
    for n in range(count):
        good = n % 2 == 0
        lead = make_lead(
            f"Л-{n}",
            created_at=T0 + timedelta(hours=n),
            message="Нужна кровля на дом, металлочерепица"
            if good
            else "Продвижение сайтов, реклама",
            source=fk.LeadSource(channel="site_form" if good else "chat"),
            contact_data=fk.ContactData(phones=("89123456789",) if good else ()),
        )
        outcomes.append((lead, good))
    return outcomes


def test_features_describe_source_contact_data_and_words():
    """Default features: channel, site, contact data present, message length, folded words."""
    lead = make_lead(message="Нужна кровля")
    assert {
        "channel:site_form",
        "site:krovlya-spb.ru",
        "message:short",
        "word:nuzhna",
        "word:krovlia",
    } == set(lead_features(lead))


def test_the_scorer_learns_and_explains():
    """A roofing request scores high, an advert low; the strongest features explain why."""
    scorer = NaiveBayesScorer.train(history())
    good = scorer.score(make_lead(message="Кровля для дома"))
    junk = scorer.score(make_lead(message="Реклама", source=fk.LeadSource(channel="chat")))
    assert good.probability > 0.9
    assert junk.probability < 0.1
    assert good.contributions[0].log_odds > 0
    assert 0.001 <= junk.probability


def test_unseen_features_add_nothing_and_probabilities_stay_inside():
    """A lead of only unknown features gets the prior; no probability reaches 0 or 1."""
    scorer = NaiveBayesScorer.train(history())
    unknown = scorer.score(make_lead(message="", source=fk.LeadSource(channel="fax")))
    assert () == unknown.contributions
    assert 0.5 == pytest.approx(unknown.probability)


def test_backtest_trains_on_the_past_and_tests_on_the_future():
    """The split is by time; the measures are computed on the newer leads."""
    result = backtest(history(), train_share=0.75)
    assert (30, 10) == (result.trained_on, result.tested_on)
    assert (1.0, 1.0, 1.0) == (result.accuracy, result.precision, result.recall)
    assert result.brier < 0.05


def test_the_scorer_as_a_qualification_rule():
    """LearnedScore turns log-odds into points with the top features as the reason."""
    policy = QualificationPolicy(rules=(LearnedScore(scorer=NaiveBayesScorer.train(history())),))
    result = policy.qualify(make_lead(message="Кровля"), QualificationContext())
    (finding,) = result.findings
    assert finding.points > 0
    assert finding.reason.startswith("learned probability of a good lead")


@pytest.mark.parametrize(
    ("build", "rule"),
    [
        (lambda: NaiveBayesScorer.train([(make_lead(), True)]), "too_few"),
        (lambda: NaiveBayesScorer.train([("lead", True)]), "type"),  # type: ignore[list-item]
        (lambda: NaiveBayesScorer.train(history(), alpha=0), "range"),
        (lambda: backtest(history(4), train_share=1.0), "split"),
    ],
)
def test_bad_training_input_is_refused(build, rule):
    """One-class data, malformed pairs, zero smoothing and empty splits are refused."""
    with pytest.raises(fk.ValidationError) as caught:
        build()
    assert rule == caught.value.rule
