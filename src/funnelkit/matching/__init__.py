"""
Matching: normalise contact data, find duplicates, and answer "who is this?" for a new lead.

`Normaliser` turns phones, e-mails, names and company names into comparable forms and look-up
keys; `MatchPolicy` finds candidate pairs by shared keys, scores and explains them, splits them
into same / review / different and groups the same ones into clusters; `MatchPolicy.who_is`
finds the stored contacts a new lead may be through the store's key look-up; `link_lead` links
it and marks a repeat request; `CustomerPolicy` tells returning customers, repeat requests and
client categories for repeat and cross sales; `MergePolicy` plans merges a person can review,
`apply_merge` writes them with events and `undo_merge` restores exactly what was there;
`claim_contact` keeps links and merges apart under concurrency.

Qualifying a lead and the whole intake of a request are in `funnelkit.qualification`.
"""

from funnelkit._public import publish
from funnelkit.matching._compare import (
    Comparator,
)
from funnelkit.matching._customers import (
    ClientCategory,
    ClientKind,
    CustomerPolicy,
    CustomerProfile,
    RequestKind,
    link_lead,
)
from funnelkit.matching._matching import (
    MatchPolicy,
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
from funnelkit.matching._rules import (
    Band,
    Contribution,
    FieldRule,
    Level,
)
from funnelkit.matching._scores import (
    MatchRecord,
    MatchResult,
    PairScore,
)


__all__ = [
    "Band",
    "ClientCategory",
    "ClientKind",
    "Comparator",
    "Contribution",
    "CustomerPolicy",
    "CustomerProfile",
    "FieldDecision",
    "FieldMerge",
    "FieldRule",
    "Level",
    "MatchPolicy",
    "MatchRecord",
    "MatchResult",
    "MergePlan",
    "MergePolicy",
    "Normaliser",
    "PairScore",
    "RequestKind",
    "SurvivorRule",
    "UndoRecord",
    "apply_merge",
    "claim_contact",
    "fold_name",
    "link_lead",
    "undo_merge",
]

publish(__name__, globals())
