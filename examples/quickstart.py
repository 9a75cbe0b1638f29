"""
Quickstart: a roofing company's first lead, from the site form to a deal with a task.

A client leaves a request on the company's site; a manager takes it in the same minute
("ОП ВЗЯЛ В РАБОТУ"), turns it into a deal and plans a measurement visit.
Every change is stored with the event that records it, in one unit of work, so the store and the
audit trail never disagree. Time and ids come from injected providers: run it twice and you get
the same output.

Run it with ``python3 dev.py example`` (see README.md).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import attrs

import funnelkit as fk


MSK = timezone(timedelta(hours=3), "MSK")
PIPELINE = "кровля"
MANAGER = fk.Actor(id="anna", roles=frozenset({"manager"}))

CLIENT_FIELDS = fk.model.CustomFieldSchema(
    fields=(
        fk.model.FieldDef(
            key="client_type",
            type=fk.model.FieldType.CHOICE,
            title="Тип клиента",
            choices=("строитель", "частник"),
        ),
        fk.model.FieldDef(
            key="roof_area", type=fk.model.FieldType.DECIMAL, title="Площадь кровли, м²"
        ),
    )
)


def main() -> list[fk.events.Event]:
    """Run the scenario against an in-memory store; return the events it recorded."""
    clock = fk.FixedClock(datetime(2026, 3, 2, 9, 14, tzinfo=MSK))
    ids = fk.SequentialIds()
    store = fk.InMemoryStore()

    # 09:14 — a request arrives from the site form, exactly as the client typed it.
    lead = fk.Lead(
        id=ids.new_id(fk.EntityKind.LEAD),
        created_at=clock.now(),
        pipeline=PIPELINE,
        stage="НОВЫЙ ЛИД",
        source=fk.LeadSource(channel="site_form", site="krovlya-spb.ru", campaign="весна-2026"),
        contact_data=fk.ContactData(name="Алмаз", phones=("8 (912) 345-67-89",)),
        message="Нужна металлочерепица на дом, 120 м², Всеволожск",
    )
    with store.unit_of_work() as uow:
        lead = uow.leads.add(lead)
        uow.events.append(
            [
                fk.events.LeadCreated(
                    entity=lead.ref, sequence=1, at=clock.now(), actor=MANAGER.id, lead=lead
                )
            ]
        )
        uow.commit()

    # 09:15 — the manager takes it the same minute, creates the contact and the deal.
    clock.advance(timedelta(minutes=1))
    with store.unit_of_work() as uow:
        contact = uow.contacts.add(
            fk.Contact(
                id=ids.new_id(fk.EntityKind.CONTACT),
                created_at=clock.now(),
                names=("Алмаз",),
                phones=lead.contact_data.phones,
                fields={"client_type": "частник", "roof_area": Decimal(120)},
            )
        )
        CLIENT_FIELDS.validate(contact.fields)
        deal = uow.deals.add(
            fk.Deal(
                id=ids.new_id(fk.EntityKind.DEAL),
                created_at=clock.now(),
                pipeline=PIPELINE,
                stage="ОП ВЗЯЛ В РАБОТУ",
                title="Металлочерепица 120 м², Всеволожск",
                contact_id=contact.id,
                owner=MANAGER.id,
                amount=fk.Money.of("480000", "RUB"),
                lead_id=lead.id,
            )
        )
        converted = uow.leads.save(
            attrs.evolve(
                lead,
                stage="ОП ВЗЯЛ В РАБОТУ",
                status=fk.LeadStatus.CONVERTED,
                contact_id=contact.id,
                deal_id=deal.id,
                owner=MANAGER.id,
                closed_at=clock.now(),
            )
        )
        task = uow.tasks.add(
            fk.Task(
                id=ids.new_id(fk.EntityKind.TASK),
                created_at=clock.now(),
                subject=deal.ref,
                kind=fk.TaskKind.MEASUREMENT,
                title="Замер кровли, взять план крыши",
                assignee=MANAGER.id,
                due_at=clock.now() + timedelta(days=1),
            )
        )
        now, actor = clock.now(), MANAGER.id
        uow.events.append(
            [
                fk.events.ContactCreated(
                    entity=contact.ref, sequence=1, at=now, actor=actor, contact=contact
                ),
                fk.events.LeadConverted(
                    entity=converted.ref,
                    sequence=2,
                    at=now,
                    actor=actor,
                    pipeline=PIPELINE,
                    from_stage=lead.stage,
                    to_stage=converted.stage,
                    deal_id=deal.id,
                    contact_id=contact.id,
                ),
                fk.events.DealCreated(entity=deal.ref, sequence=1, at=now, actor=actor, deal=deal),
                fk.events.TaskCreated(entity=task.ref, sequence=1, at=now, actor=actor, task=task),
            ]
        )
        uow.commit()

    # Anyone can now ask the store: who is this phone? what is the deal's history?
    with store.unit_of_work() as uow:
        (known,) = uow.contacts.find_by_key("phone:89123456789")
        deals = uow.deals.list(contact_id=known.id)
        print(f"{known.name} ({known.id}): deals {[d.id for d in deals]}")
        print(f"open tasks of anna: {[t.title for t in uow.tasks.list(assignee='anna')]}")
        recorded = [r.event for r in uow.events.read_all()]

    print("audit trail:")
    for event in recorded:
        print(f"  {event.at:%H:%M} {event.entity} #{event.sequence}: {type(event).TYPE}")
    print("the conversion, as JSON:")
    print(json.dumps(fk.to_data(recorded[2]), ensure_ascii=False, indent=2))
    return recorded


if __name__ == "__main__":
    main()
