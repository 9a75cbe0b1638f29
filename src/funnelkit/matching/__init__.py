"""
Matching: normalise contact data, find duplicates, and answer "who is this?" for a new lead.

`Normaliser` turns phones, e-mails, names and company names into comparable forms and look-up
keys; `MatchPolicy` finds candidate pairs by shared keys, scores and explains them, splits them
into same / review / different and groups the same ones into clusters; `MatchPolicy.who_is`
finds the stored contacts a new lead may be through the store's key look-up; `link_lead` links
it and marks a repeat request; `CustomerPolicy` tells returning customers, repeat requests and
client categories for repeat and cross sales; `MergePolicy` plans merges a person can review,
`apply_merge` writes them with events and `undo_merge` restores exactly what was there;
`claim_contact` keeps links and merges apart under concurrency;
`QualificationPolicy` runs ordered rules (spam patterns, blocked phones, missing contact data,
duplicates of open leads, your own predicates, a learned `NaiveBayesScorer`) into a verdict, a
score and a temperature; `Intake` runs the whole flow for a new request in one unit of work.
"""

from funnelkit._public import publish
from funnelkit.matching._customers import (
    ClientCategory,
    ClientKind,
    CustomerPolicy,
    CustomerProfile,
    RequestKind,
    link_lead,
)
from funnelkit.matching._intake import Intake, IntakeResult, OnReview
from funnelkit.matching._learned import (
    Backtest,
    FeatureWeight,
    LearnedScore,
    NaiveBayesScorer,
    Scored,
    backtest,
    lead_features,
)
from funnelkit.matching._matching import (
    Band,
    Comparator,
    Contribution,
    FieldRule,
    Level,
    MatchPolicy,
    MatchRecord,
    MatchResult,
    PairScore,
)
from funnelkit.matching._merge import (
    FieldDecision,
    FieldMerge,
    MergePlan,
    MergePolicy,
    SurvivorRule,
    UndoRecord,
    apply_merge,
    claim_contact,
    undo_merge,
)
from funnelkit.matching._normalise import Normaliser, fold_name
from funnelkit.matching._qualify import (
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
    "Band",
    "BlockedPhones",
    "ClientCategory",
    "ClientKind",
    "Comparator",
    "Contribution",
    "CustomerPolicy",
    "CustomerProfile",
    "FeatureWeight",
    "FieldDecision",
    "FieldMerge",
    "FieldRule",
    "Finding",
    "Intake",
    "IntakeResult",
    "LearnedScore",
    "Level",
    "MatchPolicy",
    "MatchRecord",
    "MatchResult",
    "MergePlan",
    "MergePolicy",
    "MissingContact",
    "NaiveBayesScorer",
    "Normaliser",
    "OnReview",
    "OpenDuplicate",
    "PairScore",
    "Predicate",
    "Qualification",
    "QualificationContext",
    "QualificationPolicy",
    "QualificationRule",
    "RequestKind",
    "Scored",
    "SpamPattern",
    "SurvivorRule",
    "UndoRecord",
    "apply_merge",
    "backtest",
    "claim_contact",
    "fold_name",
    "lead_features",
    "link_lead",
    "undo_merge",
]

publish(__name__, globals())
