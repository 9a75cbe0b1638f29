"""
The manager's day and the checks that keep a funnel honest, as pure functions of their input.

`agenda` orders an owner's day as seed 002 asks: new leads at the top (taken the same minute),
then the day's tasks, overdue first, by the stage's work priority ("КП ГОТОВО" and "СМЕТА
ГОТОВА" first), bigger deals first; with the time it will take (3 minutes a call). The checks
return `Alert`s a host app can show: overdue tasks, leads and deals without a next step, stages
held longer than their SLA, idle deals, closed deals with open tasks.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from operator import itemgetter
from typing import TYPE_CHECKING

import attrs

from funnelkit._checks import raise_for
from funnelkit.events import MoveEvent
from funnelkit.model import (
    Contact,
    Deal,
    DealStatus,
    EntityKind,
    EntityRef,
    Lead,
    LeadStatus,
    Money,
    Task,
    TaskKind,
    TaskStatus,
)
from funnelkit.pipelines import Pipeline
from funnelkit.pipelines._definition import pipelines_given


if TYPE_CHECKING:
    from collections.abc import Iterable

    from funnelkit.events import Event
    from funnelkit.storage import UnitOfWork


__all__ = [
    "DEFAULT_MINUTES",
    "Agenda",
    "AgendaItem",
    "Alert",
    "ContactCard",
    "NextStep",
    "agenda",
    "agendas",
    "agendas_in",
    "closed_with_open_tasks",
    "contact_card",
    "idle",
    "next_steps",
    "overdue_tasks",
    "sla_breaches",
    "stage_entries",
    "without_next_step",
]

DEFAULT_MINUTES: Mapping[TaskKind, int] = dict.fromkeys(TaskKind, 3) | {
    TaskKind.MEETING: 60,
    TaskKind.MEASUREMENT: 90,
    TaskKind.SEND_PROPOSAL: 15,
}
"""Minutes per task kind; seed 002's 3 minutes a call, longer for meetings and measurements."""


@attrs.frozen(kw_only=True)
class Alert:
    """
    Something a manager or their head should act on.

    Attributes:
        entity: What it is about.
        rule: ``"overdue_task"``, ``"no_next_step"``, ``"sla"``, ``"idle"`` or
            ``"closed_with_open_tasks"``.
        since: Since when it has been so.
        responsible: Who should act (the assignee or the owner), if known.
        message: What is wrong, in words.
    """

    entity: EntityRef
    rule: str
    since: datetime
    responsible: str | None
    message: str


@attrs.frozen(kw_only=True)
class AgendaItem:
    """
    One line of the day: a task (or a new lead to take), with what it is about.

    Attributes:
        task: The task, or ``None`` for a new lead or a fresh deal to take at once.
        entity: The lead or deal it is about, if known.
        stage: The entity's stage key.
        priority: The stage's work priority (1 first), if it has one.
        amount: The deal's amount, if any.
        overdue: Whether the task is overdue.
        minutes: The time it will take.
    """

    task: Task | None
    entity: Lead | Deal | None
    stage: str | None
    priority: int | None
    amount: Money | None
    overdue: bool
    minutes: int


@attrs.frozen(kw_only=True)
class Agenda:
    """
    An owner's day.

    Attributes:
        owner: Whose day.
        day: Which day.
        items: New leads and fresh deals first (oldest first), then tasks in the order to
            work them.
        minutes: The time it all takes.
    """

    owner: str
    day: date
    items: tuple[AgendaItem, ...]
    minutes: int

    @property
    def duration(self) -> timedelta:
        """The time the day's work takes (45 calls × 3 minutes = 2 h 15 min)."""
        return timedelta(minutes=self.minutes)


def agenda(
    owner: str,
    day: date,
    *,
    zone: tzinfo,
    as_of: datetime,
    tasks: Iterable[Task],
    leads: Iterable[Lead] = (),
    deals: Iterable[Deal] = (),
    pipelines: Iterable[Pipeline] = (),
    minutes: Mapping[TaskKind, int] = DEFAULT_MINUTES,
) -> Agenda:
    """
    Build an owner's agenda for a day.

    Args:
        owner: The manager.
        day: The day, in `zone`.
        zone: The manager's time zone (the day ends at midnight there).
        as_of: Now: tasks due before it are overdue.
        tasks: Tasks (only the owner's open ones due by the end of the day are kept).
        leads: Leads (the owner's or unassigned open leads in their pipeline's first stage are
            new leads, put at the top).
        deals: Deals the tasks are about (for stage and amount). The owner's or unassigned
            open deals waiting in their pipeline's first stage with no open task in `tasks`
            (whatever its due time) are fresh deals nobody has taken yet ("НОВЫЙ ЛИД": taken
            at once): they go to the top with the new leads.
        pipelines: The pipelines, for stage priorities and first stages.
        minutes: Minutes per task kind; a new lead or a fresh deal counts as a call.

    Raises:
        ValidationError: If `as_of` is naive.
    """
    context = _Context.of(day, zone, as_of, leads, deals, pipelines, minutes)
    tasks = list(tasks)
    tasks_of_owner = [task for task in tasks if task.assignee == owner and context.due(task)]
    new = [item for item in context.waiting(tasks) if item.owner in (owner, None)]
    return context.agenda(owner, tasks_of_owner, new)


def agendas(
    day: date,
    *,
    zone: tzinfo,
    as_of: datetime,
    tasks: Iterable[Task],
    leads: Iterable[Lead] = (),
    deals: Iterable[Deal] = (),
    pipelines: Iterable[Pipeline] = (),
    minutes: Mapping[TaskKind, int] = DEFAULT_MINUTES,
) -> dict[str, Agenda]:
    """
    Build every manager's agenda for a day in one pass over the tasks (no step per pair).

    The arguments are those of `agenda`; a manager has an agenda if they have a task due, a
    new lead or a fresh deal. New leads and fresh deals without an owner are in no agenda
    here: assign them (`agenda` for one owner lists them too).
    """
    context = _Context.of(day, zone, as_of, leads, deals, pipelines, minutes)
    tasks = list(tasks)
    tasks_by_owner: dict[str, list[Task]] = {}
    end, open_ = context.end, TaskStatus.OPEN
    for task in tasks:
        if task.status is open_ and task.due_at < end:
            tasks_by_owner.setdefault(task.assignee, []).append(task)
    leads_by_owner: dict[str, list[Lead | Deal]] = {}
    for item in context.waiting(tasks):
        if item.owner is not None:
            leads_by_owner.setdefault(item.owner, []).append(item)
    owners = sorted(tasks_by_owner.keys() | leads_by_owner.keys())
    return {
        owner: context.agenda(owner, tasks_by_owner.get(owner, []), leads_by_owner.get(owner, []))
        for owner in owners
    }


def agendas_in(
    uow: UnitOfWork,
    day: date,
    *,
    zone: tzinfo,
    as_of: datetime,
    pipelines: Iterable[Pipeline],
    minutes: Mapping[TaskKind, int] = DEFAULT_MINUTES,
) -> dict[str, Agenda]:
    """
    Build every manager's agenda for a day from a store, through its unit of work.

    Reads the open tasks due by the end of the day, the open leads and the open deals with
    one listing each (``status`` and ``due_before`` filters an adapter can index), the open
    tasks of the deals in a first stage (to tell the fresh ones), then the few closed deals
    and leads that still have a task today by id, and calls `agendas`.
    Only reads: commit or roll back the unit of work as you like.

    Raises:
        ValidationError: If `as_of` is naive.
    """
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    tasks = uow.tasks.list(status=TaskStatus.OPEN, due_before=end)
    leads = {lead.id: lead for lead in uow.leads.list(status=LeadStatus.OPEN)}
    deals = {deal.id: deal for deal in uow.deals.list(status=DealStatus.OPEN)}
    pipelines = pipelines_given(pipelines)
    firsts = {pipeline.key: pipeline.first_stage.key for pipeline in pipelines}
    known = {task.id for task in tasks}
    for deal in list(deals.values()):
        if firsts.get(deal.pipeline) == deal.stage:
            later = uow.tasks.list(subject=deal.ref, status=TaskStatus.OPEN)
            tasks.extend(task for task in later if task.id not in known)
    for task in tasks:
        kind, entity_id = task.subject.kind, task.subject.id
        if kind is EntityKind.DEAL and entity_id not in deals:
            found = uow.deals.find(entity_id)
            if found is not None:
                deals[entity_id] = found
        elif kind is EntityKind.LEAD and entity_id not in leads:
            lead = uow.leads.find(entity_id)
            if lead is not None:
                leads[entity_id] = lead
    return agendas(
        day,
        zone=zone,
        as_of=as_of,
        tasks=tasks,
        leads=leads.values(),
        deals=deals.values(),
        pipelines=pipelines,
        minutes=minutes,
    )


@attrs.frozen
class _Context:
    """What every agenda of one day needs, indexed once."""

    day: date
    end: datetime
    as_of: datetime
    leads: dict[str, Lead]
    deals: dict[str, Deal]
    pipelines: dict[str, Pipeline]
    priorities: dict[tuple[str, str], int | None]
    minutes: Mapping[TaskKind, int]

    @classmethod
    def of(  # noqa: PLR0917 - the arguments of agenda, passed on
        cls,
        day: date,
        zone: tzinfo,
        as_of: datetime,
        leads: Iterable[Lead],
        deals: Iterable[Deal],
        pipelines: Iterable[Pipeline],
        minutes: Mapping[TaskKind, int],
    ) -> _Context:
        if as_of.tzinfo is None:
            raise_for("as_of", as_of, "pass a timezone-aware time", "aware_datetime")
        by_key = {p.key: p for p in pipelines_given(pipelines)}
        return cls(
            day=day,
            end=datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone),
            as_of=as_of,
            leads={lead.id: lead for lead in leads},
            deals={deal.id: deal for deal in deals},
            pipelines=by_key,
            priorities={(p.key, s.key): s.priority for p in by_key.values() for s in p.stages},
            minutes=minutes,
        )

    def due(self, task: Task) -> bool:
        return task.status is TaskStatus.OPEN and task.due_at < self.end

    def _first(self, entity: Lead | Deal) -> bool:
        pipeline = self.pipelines.get(entity.pipeline)
        return pipeline is not None and entity.stage == pipeline.first_stage.key

    def waiting(self, tasks: Iterable[Task]) -> list[Lead | Deal]:
        """New leads, and deals in a first stage no open task is about, oldest first."""
        planned = {task.subject for task in tasks if task.status is TaskStatus.OPEN}
        found: list[Lead | Deal] = [
            lead for lead in self.leads.values() if lead.is_open and self._first(lead)
        ]
        found.extend(
            deal
            for deal in self.deals.values()
            if deal.is_open and self._first(deal) and deal.ref not in planned
        )
        found.sort(key=lambda entity: (entity.created_at, entity.id))
        return found

    def agenda(self, owner: str, tasks: list[Task], new: list[Lead | Deal]) -> Agenda:
        minutes, priorities, as_of = self.minutes, self.priorities, self.as_of
        call = minutes.get(TaskKind.CALL, 3)
        items = [
            AgendaItem(
                task=None,
                entity=entity,
                stage=entity.stage,
                priority=priorities.get((entity.pipeline, entity.stage)),
                amount=entity.amount if isinstance(entity, Deal) else None,
                overdue=False,
                minutes=call,
            )
            for entity in new
        ]
        # Sort keys are built with the lines: overdue first, then the stage's work priority,
        # bigger deals first, then by due time (ids break ties, so lines are never compared).
        work: list[tuple[tuple[object, ...], AgendaItem]] = []
        zero = Decimal(0)
        for task in tasks:
            subject = task.subject
            entity: Lead | Deal | None = None
            amount: Money | None = None
            if subject.kind is EntityKind.DEAL:
                deal = self.deals.get(subject.id)
                entity = deal
                amount = deal.amount if deal is not None else None
            elif subject.kind is EntityKind.LEAD:
                entity = self.leads.get(subject.id)
            stage = entity.stage if entity is not None else None
            priority = priorities.get((entity.pipeline, entity.stage)) if entity else None
            overdue = task.due_at < as_of
            line = AgendaItem(
                task=task,
                entity=entity,
                stage=stage,
                priority=priority,
                amount=amount,
                overdue=overdue,
                minutes=minutes.get(task.kind, 3),
            )
            key = (
                not overdue,
                priority if priority is not None else 1_000_000,
                -amount.amount if amount is not None else zero,
                task.due_at,
                task.id,
            )
            work.append((key, line))
        work.sort(key=itemgetter(0))
        items.extend(line for _, line in work)
        return Agenda(
            owner=owner, day=self.day, items=tuple(items), minutes=sum(i.minutes for i in items)
        )


# --- checks --------------------------------------------------------------------------------------


def overdue_tasks(tasks: Iterable[Task], as_of: datetime) -> tuple[Alert, ...]:
    """Open tasks whose due time has passed."""
    return tuple(
        Alert(
            entity=task.ref,
            rule="overdue_task",
            since=task.due_at,
            responsible=task.assignee,
            message=f"{task.title or task.kind.value!r} was due {task.due_at.isoformat()}",
        )
        for task in tasks
        if task.is_overdue(as_of)
    )


def without_next_step(entities: Iterable[Lead | Deal], tasks: Iterable[Task]) -> tuple[Alert, ...]:
    """Open leads and deals with no open task: nobody knows the next action."""
    planned = {task.subject for task in tasks if task.status is TaskStatus.OPEN}
    return tuple(
        Alert(
            entity=entity.ref,
            rule="no_next_step",
            since=entity.created_at,
            responsible=entity.owner,
            message=f"{entity.ref} in {entity.stage!r} has no open task: plan the next action",
        )
        for entity in entities
        if entity.is_open and entity.ref not in planned
    )


def stage_entries(events: Iterable[Event]) -> dict[EntityRef, datetime]:
    """When each entity entered its current stage, from its move events (the last one wins)."""
    entered: dict[EntityRef, datetime] = {}
    for event in events:
        if isinstance(event, MoveEvent):
            entered[event.entity] = event.at
    return entered


def sla_breaches(
    entities: Iterable[Lead | Deal],
    pipelines: Iterable[Pipeline],
    as_of: datetime,
    *,
    entered: Mapping[EntityRef, datetime],
) -> tuple[Alert, ...]:
    """
    Open leads and deals held in a stage longer than its SLA ("no deal stays in НОВЫЙ ЛИД").

    `entered` says when each entity entered its stage (`stage_entries`); entities missing
    from it are taken to have entered when they were created.
    """
    by_key = {p.key: p for p in pipelines_given(pipelines)}
    alerts = []
    for entity in entities:
        pipeline = by_key.get(entity.pipeline)
        if not entity.is_open or pipeline is None or entity.stage not in pipeline:
            continue
        sla = pipeline.stage(entity.stage).sla
        since = entered.get(entity.ref, entity.created_at)
        if sla is not None and as_of - since > sla:
            alerts.append(
                Alert(
                    entity=entity.ref,
                    rule="sla",
                    since=since + sla,
                    responsible=entity.owner,
                    message=f"{entity.ref} has been in {entity.stage!r} since "
                    f"{since.isoformat()}, longer than its SLA of {sla}",
                )
            )
    return tuple(alerts)


def idle(
    deals: Iterable[Deal],
    as_of: datetime,
    *,
    last_activity: Mapping[EntityRef, datetime],
    after: timedelta = timedelta(days=7),
    per_stage: Mapping[str, timedelta] | None = None,
) -> tuple[Alert, ...]:
    """
    Open deals with no activity (any event) for `after`, or their stage's own limit.

    `last_activity` maps deals to their last event's time (deals missing from it count from
    their creation).
    """
    limits = per_stage or {}
    alerts = []
    for deal in deals:
        if not deal.is_open:
            continue
        last = last_activity.get(deal.ref, deal.created_at)
        limit = limits.get(deal.stage, after)
        if as_of - last > limit:
            alerts.append(
                Alert(
                    entity=deal.ref,
                    rule="idle",
                    since=last,
                    responsible=deal.owner,
                    message=f"{deal.ref} in {deal.stage!r} has had no activity since "
                    f"{last.isoformat()}",
                )
            )
    return tuple(alerts)


def closed_with_open_tasks(
    entities: Iterable[Lead | Deal], tasks: Iterable[Task]
) -> tuple[Alert, ...]:
    """Won, lost, converted or junk leads and deals that still have open tasks."""
    closed = {entity.ref: entity for entity in entities if not entity.is_open}
    return tuple(
        Alert(
            entity=task.ref,
            rule="closed_with_open_tasks",
            since=closed[task.subject].closed_at or task.created_at,
            responsible=task.assignee,
            message=f"{task.subject} is closed but {task.ref} is still open: complete or cancel it",
        )
        for task in tasks
        if task.status is TaskStatus.OPEN and task.subject in closed
    )


# --- next steps and the contact card ------------------------------------------------------------


@attrs.frozen(kw_only=True)
class NextStep:
    """
    One open deal and what happens next (seed 000: which client, which stage, what action).

    Attributes:
        deal: The deal.
        contact: Its contact, if known.
        next_task: The open task due first, or ``None`` when nothing is planned.
    """

    deal: Deal
    contact: Contact | None
    next_task: Task | None

    @property
    def planned(self) -> bool:
        """Whether a next action is planned."""
        return self.next_task is not None


def _first_open_task(tasks: Iterable[Task]) -> dict[EntityRef, Task]:
    first: dict[EntityRef, Task] = {}
    for task in tasks:
        if task.status is not TaskStatus.OPEN:
            continue
        known = first.get(task.subject)
        if known is None or (task.due_at, task.id) < (known.due_at, known.id):
            first[task.subject] = task
    return first


def next_steps(
    owner: str, deals: Iterable[Deal], tasks: Iterable[Task], contacts: Iterable[Contact] = ()
) -> tuple[NextStep, ...]:
    """
    Every open deal of `owner` with its contact and next action, unplanned deals first.

    Within each group deals come by the next action's due time, then by id.
    """
    first = _first_open_task(tasks)
    by_id = {contact.id: contact for contact in contacts}
    steps = [
        NextStep(
            deal=deal,
            contact=by_id.get(deal.contact_id) if deal.contact_id else None,
            next_task=first.get(deal.ref),
        )
        for deal in deals
        if deal.owner == owner and deal.is_open
    ]
    steps.sort(
        key=lambda s: (
            s.planned,
            s.next_task.due_at if s.next_task else s.deal.created_at,
            s.deal.id,
        )
    )
    return tuple(steps)


@attrs.frozen(kw_only=True)
class ContactCard:
    """
    Seed 002's card of one client: every deal with its stage and open tasks.

    Attributes:
        contact: The client.
        deals: Their deals, newest first.
        open_tasks: Open tasks on the client or any of their deals, by due time.
    """

    contact: Contact
    deals: tuple[Deal, ...]
    open_tasks: tuple[Task, ...]


def contact_card(contact: Contact, deals: Iterable[Deal], tasks: Iterable[Task]) -> ContactCard:
    """Gather a client's deals and open tasks (other contacts' deals and tasks are ignored)."""
    own = sorted(
        (deal for deal in deals if deal.contact_id == contact.id),
        key=lambda deal: (deal.created_at, deal.id),
        reverse=True,
    )
    subjects = {contact.ref, *(deal.ref for deal in own)}
    open_tasks = sorted(
        (t for t in tasks if t.status is TaskStatus.OPEN and t.subject in subjects),
        key=lambda task: (task.due_at, task.id),
    )
    return ContactCard(contact=contact, deals=tuple(own), open_tasks=tuple(open_tasks))
