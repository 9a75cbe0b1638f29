"""
Laws for your own matching, merge and qualification policies, checked with Hypothesis.

Each ``check_*`` function draws many inputs and asserts a law every sound policy obeys:

- `check_matching_laws`: matching is symmetric (the score of a pair does not depend on which
  record is left) and deterministic (the same records in any order give the same result);
- `check_merge_laws`: a merge loses nothing (every phone, e-mail and name of every contact
  survives in the merged contact), is idempotent (merging the result with any of
  the contacts it absorbed changes nothing), and apply-then-undo is the identity in a store
  (yours, if you pass one), contacts and their re-pointed leads alike;
- `check_qualification_laws`: qualification is deterministic.

Call them from a test::

    def test_my_policies_obey_the_laws():
        check_matching_laws(MY_MATCH_POLICY)
        check_merge_laws(MY_MERGE_POLICY)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs
from hypothesis import given
from hypothesis import strategies as st

from funnelkit.exceptions import ValidationError
from funnelkit.matching import MergePolicy, apply_merge, undo_merge
from funnelkit.model import Actor, Lead, LeadSource
from funnelkit.storage import InMemoryStore
from funnelkit.testing import strategies as fst


if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from hypothesis import settings as Settings  # noqa: N812 - the class
    from hypothesis.strategies import SearchStrategy

    from funnelkit.matching import MatchPolicy
    from funnelkit.model import Contact
    from funnelkit.qualification import QualificationPolicy
    from funnelkit.storage import Store

__all__ = ["check_matching_laws", "check_merge_laws", "check_qualification_laws"]

_ACTOR = Actor(id="laws")


def _groups(min_size: int = 2) -> SearchStrategy[list[Contact]]:
    return st.lists(fst.contacts(), min_size=min_size, max_size=4, unique_by=lambda c: c.id)


def _data(contact: Contact) -> tuple[object, ...]:
    return (
        contact.names,
        contact.phones,
        contact.emails,
        contact.company,
        contact.address,
        contact.birth_date,
        contact.fields,
    )


def _by_key(values: Iterable[str], normalise: Callable[[str], str]) -> dict[str, str]:
    """Values by what they stand for: a phone's E.164 form, an e-mail's key, else as written."""
    found: dict[str, str] = {}
    for value in values:
        try:
            key = normalise(value)
        except ValidationError:
            key = f"as written: {value}"
        found.setdefault(key, value)
    return found


def _leads_of(contacts: list[Contact]) -> list[Lead]:
    """One lead linked to each contact, to be re-pointed by a merge and back by its undo."""
    return [
        Lead(
            id=f"law-lead-{index}",
            created_at=contact.created_at,
            pipeline="law",
            stage="new",
            source=LeadSource(channel="law"),
            contact_id=contact.id,
        )
        for index, contact in enumerate(contacts)
    ]


def _run(test: Callable[[], None], settings: Settings | None) -> None:
    (settings(test) if settings is not None else test)()


def check_matching_laws(
    policy: MatchPolicy,
    *,
    records: SearchStrategy[list[Contact]] | None = None,
    settings: Settings | None = None,
) -> None:
    """
    Check that `policy` matches symmetrically and deterministically.

    Raises:
        AssertionError: With a minimal counter-example, if a law is broken.
    """

    @given(records if records is not None else _groups(min_size=0))
    def matching_is_symmetric_and_deterministic(group: list[Contact]) -> None:
        forward = policy.match(group)
        assert forward == policy.match(list(reversed(group))), "the order of records matters"
        by_id = {contact.id: policy.record(contact) for contact in group}
        for pair in forward.pairs:
            left, right = by_id[pair.left], by_id[pair.right]
            there, back = policy.score(left, right), policy.score(right, left)
            assert (there.score, there.band) == (back.score, back.band), "scores are not symmetric"

    _run(matching_is_symmetric_and_deterministic, settings)


def check_merge_laws(
    policy: MergePolicy,
    *,
    contacts: SearchStrategy[list[Contact]] | None = None,
    stores: Callable[[], Store] | None = None,
    settings: Settings | None = None,
) -> None:
    """
    Check that `policy` merges without loss, idempotently, and that undo restores everything.

    Args:
        policy: The merge policy.
        contacts: Groups of contacts to merge (two to four `contacts()` by default).
        stores: Makes a new, empty store for each example: apply-then-undo runs in it
            (an `InMemoryStore` by default; pass your adapter's to check it too).
        settings: Hypothesis settings.

    Raises:
        AssertionError: With a minimal counter-example, if a law is broken.
    """
    strategy = contacts if contacts is not None else _groups()

    @given(strategy)
    def merge_loses_nothing_and_is_idempotent(group: list[Contact]) -> None:
        plan = policy.plan(group, merge_id="law")
        result = plan.result
        kept_names = set(result.names)
        lost = {v for c in group for v in c.names} - kept_names
        assert not lost, f"the merge lost names: {sorted(lost)}; merge them by union"
        normaliser = policy.normaliser
        for name, normalise in (("phones", normaliser.phone), ("emails", normaliser.email)):
            kept = _by_key(getattr(result, name), normalise)
            assert len(kept) == len(getattr(result, name)), (
                f"the merged contact holds one of its {name} twice: {getattr(result, name)}"
            )
            lost = {
                v
                for c in group
                for v in getattr(c, name)
                if next(iter(_by_key((v,), normalise))) not in kept
            }
            assert not lost, f"the merge lost {name}: {sorted(lost)}; merge them by union"
        for merged in plan.merged:
            again = policy.plan([result, merged], merge_id="law-again")
            assert (again.survivor.id, _data(again.result)) == (result.id, _data(result)), (
                f"merging {merged.id} into the result again changed it"
            )

    make_store = stores if stores is not None else InMemoryStore

    @given(strategy)
    def apply_then_undo_is_the_identity(group: list[Contact]) -> None:
        store = make_store()
        with store.unit_of_work() as uow:
            stored = [uow.contacts.add(contact) for contact in group]
            linked = [uow.leads.add(lead) for lead in _leads_of(stored)]
            uow.commit()
        plan = policy.plan(stored, merge_id="law", leads=linked)
        with store.unit_of_work() as uow:
            record = apply_merge(plan, uow, _ACTOR, group[0].created_at)
            uow.commit()
        with store.unit_of_work() as uow:
            moved = {uow.leads.get(lead.id).contact_id for lead in linked}
            assert moved == {plan.survivor.id}, f"leads left on merged contacts: {moved}"
            undo_merge(record, uow, _ACTOR, group[0].created_at)
            uow.commit()
        with store.unit_of_work() as uow:
            restored = [uow.contacts.get(contact.id) for contact in stored]
            leads_back = [uow.leads.get(lead.id) for lead in linked]
        assert [attrs.evolve(c, version=c.version + 2) for c in stored] == restored
        survivor = plan.survivor.id
        expected = [  # re-pointed and back: two saves; the survivor's own lead: none
            attrs.evolve(lead, version=lead.version + (lead.contact_id != survivor) * 2)
            for lead in linked
        ]
        assert expected == leads_back, "undo did not put every lead back on its contact"

    _run(merge_loses_nothing_and_is_idempotent, settings)
    _run(apply_then_undo_is_the_identity, settings)


def check_qualification_laws(
    policy: QualificationPolicy,
    *,
    leads: SearchStrategy[Lead] | None = None,
    settings: Settings | None = None,
) -> None:
    """
    Check that `policy` qualifies deterministically and always explains a junk verdict.

    Raises:
        AssertionError: With a minimal counter-example, if a law is broken.
    """

    @given(leads if leads is not None else fst.leads())
    def qualification_is_deterministic(lead: Lead) -> None:
        first = policy.qualify(lead)
        assert first == policy.qualify(lead), "the same lead got two different verdicts"
        assert first.score == sum(f.points for f in first.findings) + policy.base
        if first.verdict.value == "junk":
            assert first.junk_reason, "a junk verdict without a reason"

    _run(qualification_is_deterministic, settings)
