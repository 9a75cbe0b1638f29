"""
Qualification and intake: what a new request is worth, and the way it comes in.

`QualificationPolicy` runs ordered rules (spam patterns, blocked phones, missing contact data,
duplicates of open leads, your own predicates, a learned `NaiveBayesScorer`) into a verdict, a
score and a temperature, each rule's finding explained. `backtest` measures a learned scorer on
the newer part of a history. `Intake` runs the whole way in for a request, in one unit of work:
normalise, qualify, find who it is (`funnelkit.matching`), link or create the contact, place
the lead.
"""

from funnelkit._public import publish
from funnelkit.qualification._intake import Intake, IntakeResult, OnReview
from funnelkit.qualification._learned import (
    Backtest,
    FeatureWeight,
    LearnedScore,
    NaiveBayesScorer,
    Scored,
    backtest,
    lead_features,
)
from funnelkit.qualification._policy import (
    BlockedPhones,
    Finding,
    MissingContact,
    OpenDuplicate,
    Predicate,
    Qualification,
    QualificationContext,
    QualificationPolicy,
    QualificationRule,
    SpamPattern,
)


__all__ = [
    "Backtest",
    "BlockedPhones",
    "FeatureWeight",
    "Finding",
    "Intake",
    "IntakeResult",
    "LearnedScore",
    "MissingContact",
    "NaiveBayesScorer",
    "OnReview",
    "OpenDuplicate",
    "Predicate",
    "Qualification",
    "QualificationContext",
    "QualificationPolicy",
    "QualificationRule",
    "Scored",
    "SpamPattern",
    "backtest",
    "lead_features",
]

publish(__name__, globals())
