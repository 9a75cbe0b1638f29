"""
Matching: normalise contact data, find duplicates, and answer "who is this?" for a new lead.

`Normaliser` turns phones, e-mails, names and company names into comparable forms and look-up
keys; `MatchPolicy` finds candidate pairs by shared keys, scores and explains them, splits them
into same / review / different and groups the same ones into clusters; `MatchPolicy.who_is`
finds the stored contacts a new lead may be through the store's key look-up.
"""

from funnelkit.matching._matching import (
    Band,
    Comparator,
    Contribution,
    FieldRule,
    MatchPolicy,
    MatchRecord,
    MatchResult,
    PairScore,
)
from funnelkit.matching._normalise import Normaliser, fold_name


__all__ = [
    "Band",
    "Comparator",
    "Contribution",
    "FieldRule",
    "MatchPolicy",
    "MatchRecord",
    "MatchResult",
    "Normaliser",
    "PairScore",
    "fold_name",
]
