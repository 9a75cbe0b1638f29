"""funnelkit's own default policies obey the laws of the testing kit, and the kit bites."""

from __future__ import annotations

import pytest
from hypothesis import settings

from funnelkit.matching import FieldMerge, MatchPolicy, MergePolicy, SurvivorRule
from funnelkit.qualification import MissingContact, OpenDuplicate, QualificationPolicy, SpamPattern
from funnelkit.testing.laws import (
    check_matching_laws,
    check_merge_laws,
    check_qualification_laws,
)


FEW = settings(max_examples=30)


def test_the_default_match_policy_obeys_the_laws():
    """Matching is symmetric and deterministic."""
    check_matching_laws(MatchPolicy(), settings=FEW)


@pytest.mark.parametrize(
    "policy",
    [
        MergePolicy(),
        MergePolicy(survivor=(SurvivorRule.MOST_COMPLETE,), default_field=FieldMerge.NEWEST),
        MergePolicy(company=FieldMerge.CONCATENATE, default_field=FieldMerge.KEEP_SURVIVOR),
    ],
    ids=["defaults", "most-complete-newest", "concatenate-keep"],
)
def test_merge_policies_obey_the_laws(policy):
    """Merges lose nothing, are idempotent, and apply-then-undo is the identity."""
    check_merge_laws(policy, settings=FEW)


def test_a_merge_that_drops_phones_breaks_a_law():
    """Keeping only the survivor's phones loses data, and the kit says so."""
    with pytest.raises(AssertionError, match="lost phones"):
        check_merge_laws(
            MergePolicy(phones=FieldMerge.KEEP_SURVIVOR),
            settings=settings(max_examples=200, database=None, derandomize=True),
        )


def test_a_qualification_policy_obeys_the_laws():
    """Qualification is deterministic and explains every junk verdict."""
    policy = QualificationPolicy(
        rules=(SpamPattern(patterns=(r"казино",)), OpenDuplicate(), MissingContact())
    )
    check_qualification_laws(policy, settings=FEW)
