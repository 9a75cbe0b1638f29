"""The intake flow: find or create the contact, mark repeats, qualify, place, record."""

from __future__ import annotations

from typing import Any

import pytest
from examples.seed_pipelines import LEADS, ROOFING

import funnelkit as fk
from funnelkit.matching import (
    Intake,
    OpenDuplicate,
    QualificationPolicy,
    RequestKind,
    SpamPattern,
)
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
    assert (fk.Verdict.GOOD, "Новое обращение", 1) == (
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
