"""The intake flow: find or create the contact, mark repeats, qualify, place, record."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import funnelkit as fk
from funnelkit.matching import MergePolicy, RequestKind, apply_merge
from funnelkit.qualification import (
    Intake,
    OnReview,
    OpenDuplicate,
    QualificationPolicy,
    SpamPattern,
)
from funnelkit.seeds.pipelines import LEADS, ROOFING
from funnelkit.testing.contracts import T0, make_contact, make_deal, make_lead


SYSTEM = fk.Actor(id="system")
INTAKE = Intake(
    pipeline=LEADS,
    qualification=QualificationPolicy(rules=(SpamPattern(patterns=(r"казино",)), OpenDuplicate())),
    junk_stages={"duplicate": "Дубль"},
)


def request(lead_id="Л-1", message="Нужна кровля", phones=("89123456789",), name="Алмаз"):
    return make_lead(
        lead_id,
        pipeline=LEADS.key,
        stage="Новое обращение",
        message=message,
        contact_data=fk.ContactData(name=name, phones=phones),
    )


def store_with(*entities):
    store = fk.InMemoryStore(contact_keys=INTAKE.matching.normaliser.keys)
    with store.unit_of_work() as uow:
        repositories: dict[type, Any] = {
            fk.Contact: uow.contacts,
            fk.Deal: uow.deals,
            fk.Lead: uow.leads,
        }
        for entity in entities:
            repositories[type(entity)].add(entity)
        uow.commit()
    return store


def receive(store, lead, ids=None):
    with store.unit_of_work() as uow:
        result = INTAKE.receive(lead, uow, SYSTEM, T0, ids=ids or fk.SequentialIds())
        uow.commit()
    return result


def test_a_returning_customer_is_linked_and_marked_as_a_repeat_request():
    """A request from a client who bought before links to them and says so."""
    almaz = make_contact("К-1", names=("Алмаз Строитель",))
    won = make_deal(
        "С-1", contact_id="К-1", status=fk.DealStatus.WON, closed_at=T0, stage="УСПЕШНО РЕАЛИЗОВАНО"
    )
    result = receive(store_with(almaz, won), request())
    assert ("К-1", False, RequestKind.REPEAT_REQUEST) == (
        result.contact_id,
        result.created_contact,
        result.request,
    )
    assert ["lead_created", "lead_linked", "lead_qualified"] == [
        type(e).TYPE for e in result.events
    ]
    assert (fk.events.Verdict.GOOD, "Новое обращение", 1) == (
        result.qualification.verdict,
        result.lead.stage,
        result.lead.version,
    )


def test_a_stranger_gets_a_new_contact():
    """A request nobody matches creates its contact from the data the client gave."""
    store = store_with()
    result = receive(store, request(name=None, phones=("+7 912 345 67 89",)))
    assert (True, "C-1", RequestKind.FIRST) == (
        result.created_contact,
        result.contact_id,
        result.request,
    )
    with store.unit_of_work() as uow:
        assert ("+7 912 345 67 89",) == uow.contacts.get("C-1").names


def test_junk_is_placed_in_its_junk_stage_with_the_reason():
    """Spam goes to the first junk stage; a duplicate of an open lead to "Дубль"."""
    store, ids = store_with(), fk.SequentialIds()
    spam = receive(store, request("Л-1", message="Казино онлайн", phones=("84950001122",)), ids)
    assert (fk.LeadStatus.JUNK, "Спам", "spam") == (
        spam.lead.status,
        spam.lead.stage,
        spam.lead.junk_reason,
    )
    receive(store, request("Л-2"), ids)
    duplicate = receive(store, request("Л-3", phones=("+7 912 345 67 89",)), ids)
    assert ("Дубль", "duplicate") == (duplicate.lead.stage, duplicate.lead.junk_reason)
    assert "lead_closed_as_junk" == type(duplicate.events[-1]).TYPE


def test_everything_is_written_in_the_callers_unit_of_work():
    """Without a commit nothing is stored; with it, lead, contact and events are."""
    store = store_with()
    with store.unit_of_work() as uow:
        INTAKE.receive(request(), uow, SYSTEM, T0, ids=fk.SequentialIds())
    with store.unit_of_work() as uow:
        assert (0, 0, []) == (uow.leads.count(), uow.contacts.count(), list(uow.events.read_all()))


@pytest.mark.parametrize(
    ("build", "rule"),
    [
        (lambda: Intake(pipeline=ROOFING, qualification=INTAKE.qualification), "pipeline_kind"),
        (
            lambda: Intake(
                pipeline=LEADS,
                qualification=INTAKE.qualification,
                junk_stages={"spam": "Квалификация"},
            ),
            "unknown_stage",
        ),
    ],
)
def test_malformed_intakes_are_refused(build, rule):
    """A deal pipeline or a non-junk stage for a reason is refused."""
    with pytest.raises(fk.ValidationError) as caught:
        build()
    assert rule == caught.value.rule


def test_only_new_requests_enter():
    """A lead in another stage or already linked is refused and nothing is written."""
    store = store_with()
    with store.unit_of_work() as uow:
        with pytest.raises(fk.ValidationError, match="new requests enter"):
            INTAKE.receive(
                make_lead(pipeline=LEADS.key, stage="Квалификация"),
                uow,
                SYSTEM,
                T0,
                ids=fk.SequentialIds(),
            )
        with pytest.raises(fk.ValidationError, match="not a new request"):
            INTAKE.receive(
                make_lead(pipeline=LEADS.key, stage="Новое обращение", contact_id="К-1"),
                uow,
                SYSTEM,
                T0,
                ids=fk.SequentialIds(),
            )
        uow.commit()
    with store.unit_of_work() as uow:
        assert 0 == uow.leads.count()


# --- one customer per person ---------------------------------------------------------------------


def _live_contacts(store):
    with store.unit_of_work() as uow:
        return [c.id for c in uow.contacts.list() if c.merged_into is None]


def test_a_clients_imported_copies_never_breed_more_contacts():
    """Three copies of Алмаз on one phone: fifty more requests from him create no contact."""
    copies = [make_contact(f"К-{n}", names=("Алмаз Строитель",), emails=()) for n in (1, 2, 3)]
    store, ids = store_with(*copies), fk.SequentialIds()
    formats = ("89123456789", "+7 912 345 67 89", "8 (912) 345-67-89")
    results = [
        receive(store, request(f"Л-{n}", phones=(formats[n % 3],)), ids) for n in range(1, 51)
    ]
    assert ["К-1", "К-2", "К-3"] == _live_contacts(store)
    assert {"К-1"} == {result.contact_id for result in results}
    assert not any(result.created_contact for result in results)
    linked = [e for result in results for e in result.events if isinstance(e, fk.events.LeadLinked)]
    assert (50, False) == (len(linked), any(e.review for e in linked))


def _family():
    """Алмаз and his wife Гульнара on one home phone."""
    return (
        make_contact("К-1", names=("Алмаз Гареев",), emails=(), company=None),
        make_contact("К-2", names=("Гульнара Гареева",), emails=(), company=None),
    )


def test_a_review_match_links_the_lead_for_a_person_to_confirm():
    """A request from the family phone without a name: linked to the first, marked review."""
    store = store_with(*_family())
    result = receive(store, request(name=None))
    assert ("К-1", False, ("К-1", "К-2")) == (
        result.contact_id,
        result.created_contact,
        tuple(m.right for m in result.review),
    )
    (linked,) = [e for e in result.events if isinstance(e, fk.events.LeadLinked)]
    assert (True, "К-1") == (linked.review, linked.contact_id)
    assert ["К-1", "К-2"] == _live_contacts(store)


def test_a_request_with_a_clients_own_phone_and_no_name_is_the_client():
    """Nobody else holds the phone: the unnamed caller is the client, surely."""
    store = store_with(make_contact("К-1", names=("Алмаз Строитель",)))
    result = receive(store, request(name=None))
    assert ("К-1", False, ()) == (
        result.contact_id,
        result.created_contact,
        tuple(m.right for m in result.review),
    )


def test_held_review_matches_stay_unlinked_and_create_no_contact():
    """With OnReview.HOLD the lead waits unlinked for a person, and no contact is made."""
    store = store_with(*_family())
    holding = attrs.evolve(INTAKE, on_review=OnReview.HOLD)
    with store.unit_of_work() as uow:
        result = holding.receive(request(name=None), uow, SYSTEM, T0, ids=fk.SequentialIds())
        uow.commit()
    assert (None, False, None) == (
        result.contact_id,
        result.created_contact,
        result.lead.contact_id,
    )
    assert ("К-1", "К-2") == tuple(m.right for m in result.review)
    assert ["К-1", "К-2"] == _live_contacts(store)


def test_a_new_contact_records_the_people_it_was_told_apart_from():
    """Ирина on Алмаз's office phone gets her own contact, noting Алмаз as a near match."""
    store = store_with(make_contact("К-1", names=("Алмаз Строитель",)))
    result = receive(store, request(name="Ирина Петрова"))
    assert (True, "C-1", ("К-1",)) == (
        result.created_contact,
        result.contact_id,
        tuple(m.right for m in result.near_matches),
    )
    created = next(e for e in result.events if isinstance(e, fk.events.ContactCreated))
    assert ("К-1",) == created.near_matches


def test_a_contact_made_from_an_unnamed_lead_does_not_disagree_with_the_real_name():
    """The contact named by its phone later meets the client's named request as the same."""
    store, ids = store_with(), fk.SequentialIds()
    first = receive(store, request("Л-1", name=None), ids)
    second = receive(store, request("Л-2", name="Алмаз"), ids)
    assert (True, first.contact_id, False) == (
        first.created_contact,
        second.contact_id,
        second.created_contact,
    )


def test_a_merge_planned_before_a_request_is_refused_and_the_lead_never_left_behind():
    """A lead linked to К-2 after the plan makes the merge conflict; planned again, it moves."""
    store = store_with(make_contact("К-1"), make_contact("К-2"))
    with store.unit_of_work() as uow:
        plan = MergePolicy().plan(
            [uow.contacts.get("К-1"), uow.contacts.get("К-2")], merge_id="M-1"
        )
    result = receive(store, request("Л-1"))
    assert result.contact_id in {"К-1", "К-2"}
    with store.unit_of_work() as uow, pytest.raises(fk.ConflictError):
        apply_merge(plan, uow, SYSTEM, T0)
    with store.unit_of_work() as uow:
        contacts = [uow.contacts.get("К-1"), uow.contacts.get("К-2")]
        leads = [lead for c in contacts for lead in uow.leads.list(contact_id=c.id)]
        apply_merge(MergePolicy().plan(contacts, merge_id="M-1", leads=leads), uow, SYSTEM, T0)
        uow.commit()
    with store.unit_of_work() as uow:
        assert "К-1" == uow.leads.get("Л-1").contact_id


def test_a_request_read_before_a_merge_commits_conflicts_then_links_to_the_survivor():
    """An intake that read К-2 before К-2 was merged cannot commit; taken again, it goes to К-1."""
    store = store_with(make_contact("К-1"), make_contact("К-2", emails=("zakaz@almaz.ru",)))
    lead = request("Л-1", phones=(), name="Алмаз Строитель")
    lead = attrs.evolve(
        lead, contact_data=attrs.evolve(lead.contact_data, emails=("zakaz@almaz.ru",))
    )
    racing = store.unit_of_work()
    taken = INTAKE.receive(lead, racing, SYSTEM, T0, ids=fk.SequentialIds())
    assert "К-2" == taken.contact_id
    with store.unit_of_work() as uow:
        contacts = [uow.contacts.get("К-1"), uow.contacts.get("К-2")]
        apply_merge(MergePolicy().plan(contacts, merge_id="M-1"), uow, SYSTEM, T0)
        uow.commit()
    with pytest.raises(fk.ConflictError):
        racing.commit()
    assert "К-1" == receive(store, lead).contact_id


_PHONES = st.sampled_from(["89123456789", "+7 912 345 67 89", "8 (912) 345-67-89"])
_EMAILS = st.sampled_from(["Almaz.Gareev@Gmail.com", "almazgareev+site@gmail.com"])
_NAMES = st.sampled_from(["Алмаз", "Алмаз Гареев", "Almaz Gareev", "Гареев Алмаз", None])


@st.composite
def _one_persons_requests(draw):
    """Requests of one client who always gives the phone, or always the e-mail, in any form."""
    always = draw(st.sampled_from(["phone", "email"]))
    requests = []
    for _ in range(draw(st.integers(min_value=1, max_value=12))):
        phone = draw(_PHONES) if always == "phone" else draw(st.none() | _PHONES)
        email = draw(_EMAILS) if always == "email" else draw(st.none() | _EMAILS)
        requests.append((phone, email, draw(_NAMES)))
    return requests


@settings(max_examples=30)
@given(requests=_one_persons_requests())
def test_taking_one_person_in_n_times_yields_one_contact(requests):
    """However one client writes phone, e-mail and name, N requests make one contact."""
    store, ids = store_with(), fk.SequentialIds()
    for n, (phone, email, name) in enumerate(requests, start=1):
        lead = make_lead(
            f"Л-{n}",
            pipeline=LEADS.key,
            stage="Новое обращение",
            contact_data=fk.ContactData(
                name=name,
                phones=(phone,) if phone else (),
                emails=(email,) if email else (),
            ),
        )
        receive(store, lead, ids)
    with store.unit_of_work() as uow:
        assert 1 == uow.contacts.count()
        assert 1 == len({lead.contact_id for lead in uow.leads.list()})
