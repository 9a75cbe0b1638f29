"""Merges: planned and explained, applied with events, undone exactly, refused when stale."""

from __future__ import annotations

from datetime import date, timedelta

import attrs
import pytest

import funnelkit as fk
from funnelkit.matching import (
    FieldMerge,
    MergePolicy,
    SurvivorRule,
    apply_merge,
    undo_merge,
)
from funnelkit.testing.contracts import T0, make_contact, make_deal, make_lead, make_task


ANNA = fk.Actor(id="anna", roles=frozenset({"manager"}))


def duplicates():
    """Алмаз as he arrived through the site (older) and through a chat (newer)."""
    site = make_contact(
        "К-1",
        names=("Алмаз Строитель",),
        phones=("8 (912) 345-67-89",),
        emails=(),
        company=None,
        fields={"посёлок": "Званка", "заметки": "строит 4 дома"},
    )
    chat = make_contact(
        "К-2",
        created_at=T0 + timedelta(days=3),
        names=("Almaz",),
        phones=("+7 912 345 67 89", "+7 495 000 11 22"),
        emails=("almaz@gmail.com",),
        company="ООО «Алмаз»",
        fields={"заметки": "просил перезвонить вечером"},
    )
    return site, chat


def stored(*entities):
    store = fk.InMemoryStore()
    with store.unit_of_work() as uow:
        saved = [getattr(uow, _repo(e)).add(e) for e in entities]
        uow.commit()
    return store, saved


def _repo(entity):
    return {fk.Contact: "contacts", fk.Lead: "leads", fk.Deal: "deals", fk.Task: "tasks"}[
        type(entity)
    ]


def test_the_plan_explains_every_field_and_loses_nothing():
    """The oldest survives; lists are united; each decision names its sources."""
    site, chat = duplicates()
    policy = MergePolicy(fields={"заметки": FieldMerge.CONCATENATE})
    plan = policy.plan([chat, site], merge_id="M-1")
    assert ("К-1", ("К-2",)) == (plan.survivor.id, tuple(c.id for c in plan.merged))
    result = plan.result
    assert ("Алмаз Строитель", "Almaz") == result.names
    # One phone written two ways is kept once, as the survivor wrote it (seed 000).
    assert ("8 (912) 345-67-89", "+7 495 000 11 22") == result.phones
    assert ("almaz@gmail.com",) == result.emails
    assert "ООО «Алмаз»" == result.company
    assert "строит 4 дома\nпросил перезвонить вечером" == result.fields["заметки"]
    decisions = {d.field: (d.rule, d.sources) for d in plan.decisions}
    assert (FieldMerge.FIRST_NON_EMPTY, ("К-2",)) == decisions["company"]
    assert (FieldMerge.UNION, ("К-1", "К-2")) == decisions["phones"]


def test_a_contact_with_a_won_deal_survives_first():
    """By default the client who bought survives, whatever their age."""
    site, chat = duplicates()
    won = make_deal(
        "С-1", contact_id="К-2", status=fk.DealStatus.WON, closed_at=T0, stage="УСПЕШНО РЕАЛИЗОВАНО"
    )
    assert "К-2" == MergePolicy().plan([site, chat], merge_id="M-1", deals=[won]).survivor.id
    most = MergePolicy(survivor=(SurvivorRule.MOST_COMPLETE,))
    assert "К-2" == most.plan([site, chat], merge_id="M-1").survivor.id


def test_apply_then_undo_is_the_identity():
    """Applying writes the merge with events; undoing restores every entity exactly."""
    site, chat = duplicates()
    lead = make_lead("Л-1", contact_id="К-2")
    deal = make_deal("С-1", contact_id="К-2")
    task = make_task("З-1", subject=fk.EntityRef.contact("К-2"))
    store, (site, chat, lead, deal, task) = stored(site, chat, lead, deal, task)
    plan = MergePolicy().plan(
        [site, chat], merge_id="M-1", leads=[lead], deals=[deal], tasks=[task]
    )
    with store.unit_of_work() as uow:
        record = apply_merge(plan, uow, ANNA, T0)
        uow.commit()
    with store.unit_of_work() as uow:
        assert "К-1" == uow.contacts.get("К-2").merged_into
        assert ("К-1", "К-1") == (uow.leads.get("Л-1").contact_id, uow.deals.get("С-1").contact_id)
        assert fk.EntityRef.contact("К-1") == uow.tasks.get("З-1").subject
        assert [c.id for c in uow.contacts.find_by_key("phone:89123456789")] == ["К-1"]
        types = [type(e).TYPE for e in uow.events.read(site.ref)]
        assert ["contacts_merged", "contact_updated"] == types
    with store.unit_of_work() as uow:
        undo_merge(record, uow, ANNA, T0)
        uow.commit()
    with store.unit_of_work() as uow:
        restored = [uow.contacts.get("К-1"), uow.contacts.get("К-2"), uow.leads.get("Л-1")]
        assert [attrs.evolve(e, version=e.version + 2) for e in (site, chat, lead)] == restored
        assert "contacts_unmerged" == type(uow.events.read(site.ref)[-1]).TYPE


def test_undo_refuses_when_something_changed_since():
    """If a merged entity changed after the merge, undo raises and writes nothing."""
    site, chat = duplicates()
    store, (site, chat) = stored(site, chat)
    plan = MergePolicy().plan([site, chat], merge_id="M-1")
    with store.unit_of_work() as uow:
        record = apply_merge(plan, uow, ANNA, T0)
        uow.commit()
    with store.unit_of_work() as uow:
        survivor = uow.contacts.get("К-1")
        uow.contacts.save(attrs.evolve(survivor, company="ИП Алмаз"))
        uow.commit()
    with (
        store.unit_of_work() as uow,
        pytest.raises(fk.ConflictError, match="changed since the merge"),
    ):
        undo_merge(record, uow, ANNA, T0)


def test_apply_refuses_a_stale_plan():
    """A plan made from data that changed since is refused before anything is written."""
    site, chat = duplicates()
    store, (site, chat) = stored(site, chat)
    plan = MergePolicy().plan([site, chat], merge_id="M-1")
    with store.unit_of_work() as uow:
        uow.contacts.save(attrs.evolve(chat, emails=()))
        uow.commit()
    with store.unit_of_work() as uow:
        with pytest.raises(fk.ConflictError, match="changed since the plan"):
            apply_merge(plan, uow, ANNA, T0)
        assert [] == list(uow.events.read_all())


@pytest.mark.parametrize(
    ("build", "rule"),
    [
        (lambda: MergePolicy(company=FieldMerge.UNION), "rule"),
        (lambda: MergePolicy(fields={"посёлок": "union"}), "type"),  # type: ignore[dict-item]
        (lambda: MergePolicy().plan([duplicates()[0]], merge_id="M-1"), "too_few"),
        (lambda: MergePolicy().plan([duplicates()[0], duplicates()[0]], merge_id="M-1"), "unique"),
        (
            lambda: MergePolicy().plan([duplicates()[0], make_lead()], merge_id="M-1"),  # type: ignore[list-item]
            "type",
        ),
        (
            lambda: MergePolicy(fields={"посёлок": FieldMerge.UNION}).plan(
                list(duplicates()), merge_id="M-1"
            ),
            "rule",
        ),
        (
            lambda: MergePolicy().plan(
                list(duplicates()), merge_id="M-1", leads=[make_lead(contact_id="К-9")]
            ),
            "foreign_child",
        ),
    ],
)
def test_malformed_merges_are_refused(build, rule):
    """Wrong rules, too few or repeated contacts, records of other types and foreign children."""
    with pytest.raises(fk.ValidationError) as caught:
        build()
    assert rule == caught.value.rule


def test_the_address_and_the_birth_date_are_merged_by_their_rules():
    """The survivor lacks them: the first other contact's fill them, or the newest's."""
    site, chat = duplicates()
    chat = attrs.evolve(chat, address="п. Званка, ул. Лесная, 5", birth_date=date(1984, 6, 12))
    plan = MergePolicy().plan([site, chat], merge_id="M-1")
    assert ("п. Званка, ул. Лесная, 5", date(1984, 6, 12)) == (
        plan.result.address,
        plan.result.birth_date,
    )
    decisions = {d.field: (d.rule, d.sources) for d in plan.decisions}
    assert (FieldMerge.FIRST_NON_EMPTY, ("К-2",)) == decisions["birth_date"]
    kept = MergePolicy(address=FieldMerge.KEEP_SURVIVOR).plan([site, chat], merge_id="M-1")
    assert kept.result.address is None


@pytest.mark.parametrize(
    ("field", "build"),
    [
        ("company", lambda: MergePolicy(company=FieldMerge.UNION)),
        ("address", lambda: MergePolicy(address=FieldMerge.UNION)),
        ("birth_date", lambda: MergePolicy(birth_date=FieldMerge.UNION)),
    ],
)
def test_a_single_value_cannot_be_merged_as_a_union(field, build):
    """A contact has one company, one address and one birth date: union is refused by name."""
    with pytest.raises(fk.ValidationError) as caught:
        build()
    assert (f"MergePolicy.{field}", "rule") == (caught.value.field, caught.value.rule)
