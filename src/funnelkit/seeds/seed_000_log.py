"""
Seed 000's chain as a small event log whose every number can be worked out by hand.

One deal pipeline ("сделки": Новая → Встреча → КП → Договор → Продажа, or Отказ) and a
lead pipeline ("лиды"). Day numbers count from 2 March 2026, 09:00 Moscow time; the snapshot
is day 20.

- С-1 (site, from lead Л-1): Новая d0 → Встреча d1 → КП d3 → Договор d6 → won d10; a meeting
  on d2, proposal versions on d3 and d5, the contract on d6, paid 200 000 + 300 000.
- С-2 (site): Новая d0 → КП d2 (skips Встреча) → Встреча d4 (back) → КП d5 → lost "Дорого" d7.
- С-3 (chat): Новая d1 → Встреча d2, still open; boris's call about it is overdue.
- С-4 (chat): Новая d2 → Договор d3 (skips two stages) → won d5 without a meeting, after one
  proposal; 400 000 of 900 000 paid.
- Leads: Л-1 called back in 4 minutes and converted; Л-2 taken in 20 minutes, then spam;
  Л-3 not touched yet; Л-4 a returning customer, taken in 10 minutes.

The tests check every report against these numbers, and the guide "Answer the seeds'
questions" reads them.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, cast

import funnelkit as fk
from funnelkit.pipelines import MovePolicy, Pipeline, Reason, Stage, StageKind


if TYPE_CHECKING:
    from funnelkit.events import Event


__all__ = [
    "AS_OF",
    "CHAIN",
    "CHAT",
    "DEAL_LOG",
    "FULL_LOG",
    "MSK",
    "SITE",
    "T0",
    "day",
    "deal_log",
]

MSK = timezone(timedelta(hours=3))
"""Moscow time, the seed's."""
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=MSK)
"""Day 0 of the log, 2 March 2026 at nine in the morning, Moscow time."""

CHAIN = Pipeline(
    key="сделки",
    stages=(
        Stage(key="Новая"),
        Stage(key="Встреча"),
        Stage(key="КП"),
        Stage(key="Договор"),
        Stage(key="Продажа", kind=StageKind.WON),
        Stage(key="Отказ", kind=StageKind.LOST),
    ),
    reasons=(Reason(key="Дорого", title="Дорого"),),
    policy=MovePolicy(allow_back=True, allow_skip=True),
)
"""Seed 000's chain as one deal pipeline; Новая → Встреча → КП → Договор → Продажа, or Отказ."""
AS_OF = T0 + timedelta(days=20)
"""The snapshot time of the log's reports; day 20."""
SITE = fk.LeadSource(channel="site_form", site="krovlya-spb.ru")
"""Requests from the site form."""
CHAT = fk.LeadSource(channel="chat")
"""Requests from the chat."""


def day(n: float) -> datetime:
    """The time `n` days after `T0` (9:00 Moscow time on 2 March 2026)."""
    return T0 + timedelta(days=n)


def deal_log(
    deal_id: str,
    source: fk.LeadSource,
    created: float,
    steps: list[tuple[Any, ...]],
    *,
    amount: str = "500000",
    **fields: Any,
) -> list[fk.events.Event]:
    """The events of one deal: created at day `created`, then (day, stage[, reason]) steps."""
    deal = fk.Deal(
        id=deal_id,
        created_at=day(created),
        pipeline=CHAIN.key,
        stage="Новая",
        owner="anna",
        source=source,
        amount=fk.Money.of(amount, "RUB"),
        **fields,
    )
    events: list[fk.events.Event] = [
        fk.events.DealCreated(
            entity=deal.ref, sequence=1, at=deal.created_at, actor="anna", deal=deal
        )
    ]
    stage = "Новая"
    for number, (when, to_stage, *reason) in enumerate(steps, start=2):
        common = {
            "entity": deal.ref,
            "sequence": number,
            "at": day(when),
            "actor": "anna",
            "pipeline": CHAIN.key,
            "from_stage": stage,
            "to_stage": to_stage,
        }
        if to_stage == "Продажа":
            events.append(fk.events.DealWon(**common, amount=deal.amount))
        elif to_stage == "Отказ":
            events.append(fk.events.DealLost(**common, reason=reason[0]))
        else:
            events.append(fk.events.StageChanged(**common))
        stage = to_stage
    return events


DEAL_LOG: list[Event] = [
    *deal_log(
        "С-1",
        SITE,
        0,
        [(1, "Встреча"), (3, "КП"), (6, "Договор"), (10, "Продажа")],
        lead_id="Л-1",
    ),
    *deal_log("С-2", SITE, 0, [(2, "КП"), (4, "Встреча"), (5, "КП"), (7, "Отказ", "Дорого")]),
    *deal_log("С-3", CHAT, 1, [(2, "Встреча")]),
    *deal_log("С-4", CHAT, 2, [(3, "Договор"), (5, "Продажа")], amount="900000"),
]
"""The four deals' own events (creations and moves), in the pipeline `CHAIN`."""


_LEADS = "лиды"


def _minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


def _lead_created(lead_id: str, source: fk.LeadSource, at: datetime) -> fk.events.LeadCreated:
    lead = fk.Lead(
        id=lead_id, created_at=at, pipeline=_LEADS, stage="Новое обращение", source=source
    )
    return fk.events.LeadCreated(entity=lead.ref, sequence=1, at=at, actor="site", lead=lead)


def _lead_move(  # noqa: PLR0917 - the fields of a move, in their natural order
    lead_id: str,
    sequence: int,
    at: datetime,
    to_stage: str,
    event: type[fk.events.MoveEvent] = fk.events.StageChanged,
    from_stage: str | None = None,
    **more: Any,
) -> fk.events.Event:
    moved = event(
        entity=fk.EntityRef.lead(lead_id),
        sequence=sequence,
        at=at,
        actor="anna",
        pipeline=_LEADS,
        from_stage=from_stage or "Новое обращение",
        to_stage=to_stage,
        **more,
    )
    return cast("fk.events.Event", moved)  # every concrete move is an Event


def _task_events(  # noqa: PLR0917 - the fields of a task, in their natural order
    task_id: str,
    subject: fk.EntityRef,
    kind: fk.TaskKind,
    assignee: str,
    created: datetime,
    due: datetime,
    completed: datetime | None = None,
) -> list[fk.events.Event]:
    task = fk.Task(
        id=task_id,
        created_at=created,
        subject=subject,
        kind=kind,
        assignee=assignee,
        due_at=due,
    )
    events: list[fk.events.Event] = [
        fk.events.TaskCreated(entity=task.ref, sequence=1, at=created, actor=assignee, task=task)
    ]
    if completed is not None:
        events.append(
            fk.events.TaskCompleted(
                entity=task.ref, sequence=2, at=completed, actor=assignee, result="Готово"
            )
        )
    return events


def _sent(
    deal_id: str, sequence: int, kind: fk.DocumentKind, version: int, when: float
) -> fk.events.DocumentVersionAdded:
    document = fk.Document(kind=kind, version=version, sent_at=day(when))
    return fk.events.DocumentVersionAdded(
        entity=fk.EntityRef.deal(deal_id),
        sequence=sequence,
        at=day(when),
        actor="anna",
        document=document,
    )


def _paid(
    deal_id: str, sequence: int, payment_id: str, amount: str, when: float
) -> fk.events.PaymentReceived:
    payment = fk.Payment(id=payment_id, amount=fk.Money.of(amount, "RUB"), received_at=day(when))
    return fk.events.PaymentReceived(
        entity=fk.EntityRef.deal(deal_id),
        sequence=sequence,
        at=day(when),
        actor="anna",
        payment=payment,
    )


FULL_LOG: list[Event] = [
    *DEAL_LOG,
    # Л-1: called back in 4 minutes, qualified good, converted into С-1.
    _lead_created("Л-1", SITE, T0),
    *_task_events(
        "З-1", fk.EntityRef.lead("Л-1"), fk.TaskKind.CALL, "anna", T0, _minutes(5), _minutes(4)
    ),
    fk.events.LeadQualified(
        entity=fk.EntityRef.lead("Л-1"),
        sequence=2,
        at=_minutes(30),
        actor="anna",
        verdict=fk.events.Verdict.GOOD,
    ),
    _lead_move(
        "Л-1",
        3,
        _minutes(60),
        "Хороший лид",
        fk.events.LeadConverted,
        deal_id="С-1",
        contact_id="К-1",
    ),
    # Л-2: taken in 20 minutes, then closed as spam.
    _lead_created("Л-2", CHAT, T0),
    _lead_move("Л-2", 2, _minutes(20), "Квалификация"),
    _lead_move(
        "Л-2",
        3,
        _minutes(30),
        "Спам",
        fk.events.LeadClosedAsJunk,
        from_stage="Квалификация",
        reason="spam",
    ),
    # Л-3: nobody has touched it; Л-4: a returning customer, taken in 10 minutes.
    _lead_created("Л-3", SITE, day(1)),
    _lead_created("Л-4", CHAT, day(1)),
    fk.events.LeadLinked(
        entity=fk.EntityRef.lead("Л-4"),
        sequence=2,
        at=day(1),
        actor="anna",
        contact_id="К-9",
        repeat=True,
    ),
    _lead_move("Л-4", 3, day(1) + timedelta(minutes=10), "Квалификация"),
    # С-1: a meeting, two proposal versions, a contract, a prepayment and the final payment.
    *_task_events(
        "З-2", fk.EntityRef.deal("С-1"), fk.TaskKind.MEETING, "anna", day(1), day(2), day(2)
    ),
    _sent("С-1", 6, fk.DocumentKind.PROPOSAL, 1, 3),
    _sent("С-1", 7, fk.DocumentKind.PROPOSAL, 2, 5),
    _sent("С-1", 8, fk.DocumentKind.CONTRACT, 1, 6),
    _paid("С-1", 9, "P-1", "200000", 8),
    _paid("С-1", 10, "P-2", "300000", 12),
    # С-4: one proposal, no meeting, won at once; half paid.
    _sent("С-4", 4, fk.DocumentKind.PROPOSAL, 1, 2.5),
    _paid("С-4", 5, "P-3", "400000", 6),
    # Open tasks: boris's is overdue at the snapshot, anna's is not yet due.
    *_task_events("З-3", fk.EntityRef.deal("С-3"), fk.TaskKind.CALL, "boris", day(3), day(19)),
    *_task_events("З-4", fk.EntityRef.deal("С-3"), fk.TaskKind.CALL, "anna", day(3), day(25)),
]
"""The whole log; the deals, the leads, tasks, documents and payments."""
