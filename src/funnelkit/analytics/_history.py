"""
The one pass over the events: each lead's and deal's history as the analytics read it.

`histories` folds an iterable of events, in any order, into one `History` per lead and deal
as of a snapshot time: the stages it entered and when, who moved it, how it closed and why,
its source, owner, amount, payments, document versions and completed tasks. Every report reads
these. Events after `as_of` have not happened yet and are left out; an entity's events are
applied in the order of their recorded sequence, so the order of the input does not matter.

`Histories.merge` combines folds of parts of a log (split any way: by entity, by time, by
shard), which is what lets a very large log be folded in parallel.
"""

from __future__ import annotations

import enum
from datetime import datetime, timezone
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

from funnelkit._checks import aware_datetime_problem, raise_for
from funnelkit.events import (
    AmountChanged,
    DealCreated,
    DealLost,
    DealWon,
    DocumentVersionAdded,
    FieldChanged,
    LeadClosedAsJunk,
    LeadConverted,
    LeadCreated,
    LeadLinked,
    LeadQualified,
    MoveEvent,
    OwnerChanged,
    PaymentReceived,
    StageChanged,
    TaskCancelled,
    TaskCompleted,
    TaskCreated,
    TaskReassigned,
    TaskRescheduled,
    Verdict,
)
from funnelkit.model import (
    PROGRESS_EVERY,
    Deal,
    DocumentKind,
    EntityKind,
    EntityRef,
    FieldValue,
    Lead,
    LeadSource,
    Money,
    Progress,
    TaskKind,
    TaskStatus,
)


_NEVER = datetime.max.replace(tzinfo=timezone.utc)  # sorts histories without a time last


if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

    from funnelkit.events import Event


__all__ = ["Bucket", "Histories", "History", "Journey", "Outcome", "histories"]


class Outcome(str, enum.Enum):
    """How a lead or deal closed, as of the snapshot."""

    WON = "won"
    LOST = "lost"
    JUNK = "junk"
    CONVERTED = "converted"


class Bucket(str, enum.Enum):
    """
    Where a lead stands, by its last verdict: every lead is in exactly one bucket.

    The verdicts are the qualification's (`LeadQualified`: good, junk, or review), closing as
    junk (junk) and conversion (good), whichever came last. A lead never given one, or
    qualified "review", waits; so does a closed lead reopened (its verdict is withdrawn).
    """

    GOOD = "good"
    JUNK = "junk"
    WAITING = "waiting"


_VERDICT_BUCKETS = {
    Verdict.GOOD: Bucket.GOOD,
    Verdict.JUNK: Bucket.JUNK,
    Verdict.REVIEW: Bucket.WAITING,
}
_NO_FIELDS: Mapping[str, FieldValue] = MappingProxyType({})


class History:
    """
    One lead's or deal's history as of a snapshot: read it, do not change it.

    The stages entered and when are kept in one flat list, `trail` (stage, time, stage,
    time...): one object per history instead of two or one per visit, which keeps the garbage
    collector's work small on logs of millions of events. `stages`, `entered` and `visits`
    give them as lists.

    Attributes:
        ref: The lead or deal.
        created_at: When it was created (``None`` if the log holds no creation event for it).
        pipeline: Its pipeline.
        owner: The responsible manager, as of the snapshot.
        source: Where it came from (a deal's own, or its lead's on conversion), if known.
        amount: Its amount as of the snapshot (a won deal's amount when won), if known.
        lead_id: For a deal, the lead it came from, if any.
        follows: For a deal opened by `Funnel.open_next`, the won deal it continues.
        deal_id: For a converted lead, the deal opened for it.
        trail: Every stage entered, in order, each followed by when it was entered; the first
            is the stage it was created in.
        outcome: How it closed, or ``None`` while open (a reopened deal is open again).
        closed_at: When it closed, if closed.
        reason: The lost or junk reason, if any.
        closed_from: The stage it left when it closed (the stage a deal was lost at).
        repeat: Whether a lead was linked to a returning customer, if known.
        verdict: The last qualification verdict of a lead, if qualified.
        bucket: For a lead, where its last verdict puts it (`Bucket`); ``None`` for a deal.
        fields: Its custom field values as of the snapshot (from its creation and its
            `FieldChanged` events): read it, do not change it.
        payments: ``(received_at, amount)`` of every payment, in order.
        documents: ``(kind, version, sent_at)`` of every document version, in order.
        completed: ``(kind, completed_at)`` of every task about it completed, in time order.
    """

    __slots__ = (
        "_last",
        "amount",
        "bucket",
        "closed_at",
        "closed_from",
        "completed",
        "created_at",
        "deal_id",
        "documents",
        "fields",
        "follows",
        "lead_id",
        "outcome",
        "owner",
        "payments",
        "pipeline",
        "reason",
        "ref",
        "repeat",
        "source",
        "trail",
        "verdict",
    )

    _last: int
    amount: Money | None
    bucket: Bucket | None
    closed_at: datetime | None
    closed_from: str | None
    completed: Sequence[tuple[TaskKind, datetime]]
    created_at: datetime | None
    deal_id: str | None
    documents: Sequence[tuple[DocumentKind, int, datetime]]
    fields: Mapping[str, FieldValue]
    follows: str | None
    lead_id: str | None
    outcome: Outcome | None
    owner: str | None
    payments: Sequence[tuple[datetime, Money]]
    pipeline: str | None
    reason: str | None
    ref: EntityRef
    repeat: bool | None
    source: LeadSource | None
    trail: list[Any]
    verdict: Verdict | None

    def __init__(self, ref: EntityRef) -> None:
        self.ref = ref
        self._last = 0
        self.created_at = None
        self.pipeline = None
        self.owner = None
        self.source = None
        self.amount = None
        self.lead_id = None
        self.follows = None
        self.deal_id = None
        self.trail = []
        self.outcome = None
        self.closed_at = None
        self.reason = None
        self.closed_from = None
        self.repeat = None
        self.verdict = None
        self.bucket = Bucket.WAITING if ref.kind is EntityKind.LEAD else None
        # Rare: shared empty values until the first item (fewer objects for the collector).
        self.fields = _NO_FIELDS
        self.payments = ()
        self.documents = ()
        self.completed = ()

    @property
    def is_open(self) -> bool:
        """Whether it is still open as of the snapshot."""
        return self.outcome is None

    @property
    def stage(self) -> str | None:
        """The stage it is in as of the snapshot."""
        return self.trail[-2] if self.trail else None

    @property
    def stages(self) -> list[str]:
        """Every stage entered, in order (a new list)."""
        return self.trail[0::2]

    @property
    def entered(self) -> list[datetime]:
        """When each stage was entered, in order (a new list)."""
        return self.trail[1::2]

    @property
    def visits(self) -> list[tuple[str, datetime]]:
        """``(stage, entered_at)`` for every stage entered, in order."""
        trail = self.trail
        return list(zip(trail[0::2], trail[1::2], strict=True))

    def __repr__(self) -> str:
        return f"History({self.ref}, stage={self.stage!r}, outcome={self.outcome})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, History):
            return NotImplemented
        return all(
            getattr(self, name) == getattr(other, name)
            for name in History.__slots__
            if not name.startswith("_")
        )

    __hash__: ClassVar[None] = None  # type: ignore[assignment]  # mutable while folding: not hashable


# --- applying one event --------------------------------------------------------------------------


def _created(history: History, entity: Lead | Deal) -> None:
    """What a lead's and a deal's creation record alike: the first stage and the source."""
    history.created_at = entity.created_at
    history.pipeline = entity.pipeline
    history.owner = entity.owner
    history.source = entity.source
    if entity.fields:
        history.fields = entity.fields  # immutable: shared with the event, not copied
    trail = history.trail
    trail.append(entity.stage)
    trail.append(entity.created_at)


def _created_lead(history: History, event: LeadCreated) -> None:
    _created(history, event.lead)


def _created_deal(history: History, event: DealCreated) -> None:
    deal = event.deal
    _created(history, deal)
    history.amount = deal.amount
    history.lead_id = deal.lead_id
    history.follows = deal.follows


def _moved(history: History, event: MoveEvent) -> None:
    history.pipeline = event.pipeline
    trail = history.trail
    trail.append(event.to_stage)
    trail.append(event.at)
    if history.outcome is not None:  # reopened
        history.outcome = history.closed_at = history.reason = history.closed_from = None
        if history.bucket is not None:  # a reopened lead's verdict is withdrawn
            history.bucket = Bucket.WAITING


def _closed(history: History, event: MoveEvent, outcome: Outcome, reason: str | None) -> None:
    history.pipeline = event.pipeline
    trail = history.trail
    trail.append(event.to_stage)
    trail.append(event.at)
    history.outcome = outcome
    history.closed_at = event.at
    history.reason = reason
    history.closed_from = event.from_stage


def _won(history: History, event: DealWon) -> None:
    _closed(history, event, Outcome.WON, None)
    if event.amount is not None:
        history.amount = event.amount


def _lost(history: History, event: DealLost) -> None:
    _closed(history, event, Outcome.LOST, event.reason)


def _junk(history: History, event: LeadClosedAsJunk) -> None:
    _closed(history, event, Outcome.JUNK, event.reason)
    history.bucket = Bucket.JUNK


def _converted(history: History, event: LeadConverted) -> None:
    _closed(history, event, Outcome.CONVERTED, None)
    history.deal_id = event.deal_id
    history.bucket = Bucket.GOOD


def _linked(history: History, event: LeadLinked) -> None:
    history.repeat = event.repeat


def _qualified(history: History, event: LeadQualified) -> None:
    history.verdict = event.verdict
    history.bucket = _VERDICT_BUCKETS[event.verdict]


_LINKS = frozenset({"contact_id", "subject"})  # re-pointed by merges: not custom fields


def _field(history: History, event: FieldChanged) -> None:
    if event.field in _LINKS:
        return
    fields = dict(history.fields)  # a copy: never the event's values, nor the shared empty
    if event.new is None:
        fields.pop(event.field, None)
    else:
        fields[event.field] = event.new
    history.fields = fields


def _owner(history: History, event: OwnerChanged) -> None:
    history.owner = event.new


def _amount(history: History, event: AmountChanged) -> None:
    history.amount = event.new


def _paid(history: History, event: PaymentReceived) -> None:
    payment = event.payment
    history.payments = [*history.payments, (payment.received_at, payment.amount)]


def _document(history: History, event: DocumentVersionAdded) -> None:
    document = event.document
    history.documents = [*history.documents, (document.kind, document.version, document.sent_at)]


def _ignored(_history: History, _event: Any) -> None:
    """Events that change nothing the analytics read (custom fields, contacts...)."""


_HANDLERS: dict[type[Any], Callable[[History, Any], None]] = {
    LeadCreated: _created_lead,
    DealCreated: _created_deal,
    StageChanged: _moved,
    DealWon: _won,
    DealLost: _lost,
    LeadClosedAsJunk: _junk,
    LeadConverted: _converted,
    LeadLinked: _linked,
    LeadQualified: _qualified,
    OwnerChanged: _owner,
    AmountChanged: _amount,
    PaymentReceived: _paid,
    DocumentVersionAdded: _document,
    FieldChanged: _field,
}


def _handler(event_type: type[Any]) -> Callable[[History, Any], None]:
    """The handler of a subclass of a known event (or of an event the analytics do not read)."""
    found = next(
        (handler for cls, handler in _HANDLERS.items() if issubclass(event_type, cls)), _ignored
    )
    _HANDLERS[event_type] = found
    return found


# --- tasks ---------------------------------------------------------------------------------------


class TaskHistory:
    """
    One task as of a snapshot: read it, do not change it.

    Attributes:
        id: The task id.
        subject: The lead, deal or contact it is about (``None`` if its creation is not in the log).
        kind: Call, meeting, measurement...
        assignee: Who should do it, as of the snapshot.
        due_at: When it is due, as of the snapshot.
        status: Open, done or cancelled.
        closed_at: When it was completed or cancelled.
    """

    __slots__ = ("_events", "assignee", "closed_at", "due_at", "id", "kind", "status", "subject")

    _events: list[Event]
    assignee: str | None
    closed_at: datetime | None
    due_at: datetime | None
    id: str
    kind: TaskKind | None
    status: TaskStatus
    subject: EntityRef | None

    def __init__(self, task_id: str) -> None:
        self.id = task_id
        self._events = []
        self.subject = None
        self.kind = None
        self.assignee = None
        self.due_at = None
        self.status = TaskStatus.OPEN
        self.closed_at = None

    def __repr__(self) -> str:
        return f"TaskHistory({self.id!r}, {self.kind}, {self.status.value})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TaskHistory):
            return NotImplemented
        names = ("id", "subject", "kind", "assignee", "due_at", "status", "closed_at")
        return all(getattr(self, name) == getattr(other, name) for name in names)

    __hash__: ClassVar[None] = None  # type: ignore[assignment]

    def _settle(self) -> None:
        """Apply the task's events in sequence order (task events are few)."""
        by_sequence = {event.sequence: event for event in self._events}
        for sequence in sorted(by_sequence):
            event = by_sequence[sequence]
            if isinstance(event, TaskCreated):
                task = event.task
                self.subject, self.kind = task.subject, task.kind
                self.assignee, self.due_at = task.assignee, task.due_at
            elif isinstance(event, TaskRescheduled):
                self.due_at = event.new_due
            elif isinstance(event, TaskReassigned):
                self.assignee = event.new_assignee
            elif isinstance(event, TaskCompleted):
                self.status, self.closed_at = TaskStatus.DONE, event.at
            elif isinstance(event, TaskCancelled):
                self.status, self.closed_at = TaskStatus.CANCELLED, event.at
        self._events = []


# --- customer journeys ---------------------------------------------------------------------------


class Journey:
    """
    One customer journey: a lead and the deals that follow from it, as of a snapshot.

    Seed 000's chain (meeting → proposal → contract → sale) opens one deal per pipeline for
    one request: a deal converted from a lead carries its ``lead_id``, and a deal opened when
    the one before it was won carries that deal in ``follows`` (`Funnel.open_next`). All of
    them, with the lead, are one journey; the per-customer questions (how many requests ended
    in a sale, how many bought at once, how many meetings before the proposal) count
    journeys, not deals. A deal opened by hand with neither starts a journey of its own.

    Attributes:
        key: ``"lead:<id>"`` for a journey that started with a lead, ``"deal:<id>"`` for one
            that started with a deal opened by hand.
        lead: The lead, if the journey started with one and the fold holds it.
        deals: The journey's deals, in the order they were created.
    """

    __slots__ = ("deals", "key", "lead")

    deals: tuple[History, ...]
    key: str
    lead: History | None

    def __init__(self, key: str, lead: History | None, deals: Sequence[History]) -> None:
        self.key = key
        self.lead = lead
        self.deals = tuple(sorted(deals, key=lambda d: (d.created_at or _NEVER, d.ref.id)))

    def __repr__(self) -> str:
        return f"Journey({self.key!r}, deals={len(self.deals)}, sale={self.sale is not None})"

    @property
    def start(self) -> History | None:
        """The history the journey started with; its lead, or its first deal."""
        if self.lead is not None:
            return self.lead
        return self.deals[0] if self.deals else None

    @property
    def started_at(self) -> datetime | None:
        """When the journey started; the request's creation, or its first deal's."""
        start = self.start
        return start.created_at if start is not None else None

    @property
    def sale(self) -> History | None:
        """
        The deal that made the sale, if any; the first won deal no other deal follows.

        A won meeting deal followed by a proposal deal is a step of the chain, not a sale;
        the won main sale (or any won deal the chain does not go on from) is.
        """
        followed = {deal.follows for deal in self.deals if deal.follows is not None}
        won = [
            deal
            for deal in self.deals
            if deal.outcome is Outcome.WON and deal.ref.id not in followed
        ]
        return min(won, key=lambda d: (d.closed_at or _NEVER, d.ref.id), default=None)

    @property
    def completed(self) -> list[tuple[TaskKind, datetime]]:
        """Every task completed about the lead or any of the deals, in time order."""
        parts = [self.lead, *self.deals] if self.lead is not None else list(self.deals)
        return sorted((item for part in parts for item in part.completed), key=lambda i: i[1])

    @property
    def documents(self) -> list[tuple[DocumentKind, int, datetime]]:
        """Every document version sent in any of the deals, in the order sent."""
        return sorted((d for deal in self.deals for d in deal.documents), key=lambda d: d[2])


# --- the fold ------------------------------------------------------------------------------------


class Histories:
    """
    Every lead's and deal's `History` as of one snapshot, from one pass over the events.

    Build it with `histories`; every report accepts it (or the events themselves). Merge the
    folds of parts of a log with `merge`.

    Attributes:
        as_of: The snapshot time: later events were left out.
        leads: Lead histories by lead id.
        deals: Deal histories by deal id.
        tasks: Task histories by task id.
    """

    __slots__ = ("_log", "as_of", "deals", "leads", "tasks")

    _log: tuple[Event, ...]
    as_of: datetime
    deals: dict[str, History]
    leads: dict[str, History]
    tasks: dict[str, TaskHistory]

    def __init__(self, as_of: datetime) -> None:
        self.as_of = as_of
        self.leads = {}
        self.deals = {}
        self.tasks = {}
        self._log = ()  # the events given, for replays and merges

    def __len__(self) -> int:
        return len(self.leads) + len(self.deals)

    def __iter__(self) -> Iterator[History]:
        yield from self.leads.values()
        yield from self.deals.values()

    def __repr__(self) -> str:
        return (
            f"Histories(as_of={self.as_of.isoformat()}, leads={len(self.leads)}, "
            f"deals={len(self.deals)})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Histories):
            return NotImplemented
        mine = (self.as_of, self.leads, self.deals, self.tasks)
        return mine == (other.as_of, other.leads, other.deals, other.tasks)

    __hash__: ClassVar[None] = None  # type: ignore[assignment]

    def merge(self, other: Histories) -> Histories:
        """
        Combine the folds of two parts of one log into the fold of both.

        The parts may split the log any way (an entity's events may be in both); an event
        present in both parts is counted once.

        Raises:
            ValidationError: If the snapshots differ, or the parts hold two different events
                with one entity and sequence.
        """
        if other.as_of != self.as_of:
            raise_for(
                "as_of",
                other.as_of,
                f"cannot merge histories as of {other.as_of.isoformat()} into histories as of "
                f"{self.as_of.isoformat()}; fold every part with the same as_of",
                "as_of",
            )
        return histories([*self._log, *other._log], as_of=self.as_of)

    def journeys(self) -> list[Journey]:
        """
        Every customer journey of the fold, in the order of their keys.

        Each lead is a journey with its deals; each deal opened by hand (no lead), one with
        the deals that follow it. A deal belongs to the journey of its ``lead_id``; a deal
        without one, to the journey of the deal it follows (`History.follows`), back to the
        first.
        """
        keys: dict[str, str] = {}

        def key_of(deal: History) -> str:
            chain: list[History] = []
            seen: set[str] = set()
            current: History | None = deal
            key = ""
            while current is not None:
                known = keys.get(current.ref.id)
                if known is not None:
                    key = known
                    break
                chain.append(current)
                seen.add(current.ref.id)
                if current.lead_id is not None:
                    key = f"lead:{current.lead_id}"
                    break
                followed = current.follows
                following = self.deals.get(followed) if followed is not None else None
                if following is None or following.ref.id in seen:
                    key = f"deal:{current.ref.id}"
                    break
                current = following
            for member in chain:
                keys[member.ref.id] = key
            return key

        grouped: dict[str, list[History]] = {f"lead:{lead_id}": [] for lead_id in self.leads}
        for deal in self.deals.values():
            grouped.setdefault(key_of(deal), []).append(deal)
        return [
            Journey(key, self.leads.get(key[5:]) if key.startswith("lead:") else None, deals)
            for key, deals in sorted(grouped.items())
        ]

    def _replay(self, refs: set[EntityRef]) -> None:
        """Fold the entities whose events came out of sequence order again, in order."""
        events: dict[EntityRef, dict[int, Event]] = {ref: {} for ref in refs}
        for event in self._log:
            mine = events.get(event.entity)
            if mine is None or event.at > self.as_of:
                continue
            seen = mine.setdefault(event.sequence, event)
            if seen is not event and seen != event:
                raise_for(
                    "events",
                    event,
                    f"{event.entity} has two different events with sequence {event.sequence}; "
                    "a log holds one event per entity and sequence: check the parts merged",
                    "duplicate_sequence",
                )
        for ref, by_sequence in events.items():
            table = self.deals if ref.kind is EntityKind.DEAL else self.leads
            history = table[ref.id] = History(ref)
            for sequence in sorted(by_sequence):
                event = by_sequence[sequence]
                handler = _HANDLERS.get(type(event)) or _handler(type(event))
                handler(history, event)
                history._last = sequence  # noqa: SLF001 - same module

    def _attach_tasks(self) -> None:
        touched: list[History] = []
        for task in self.tasks.values():
            task._settle()  # noqa: SLF001 - same module
            subject = task.subject
            if subject is None or task.status is not TaskStatus.DONE or task.kind is None:
                continue
            table = self.deals if subject.kind is EntityKind.DEAL else self.leads
            history = table.get(subject.id)
            if history is not None and task.closed_at is not None:
                history.completed = [*history.completed, (task.kind, task.closed_at)]
                touched.append(history)
        for history in touched:
            history.completed = sorted(history.completed, key=lambda item: item[1])


def histories(  # noqa: C901, PLR0912 - one hot loop
    events: Iterable[Event], *, as_of: datetime, progress: Progress | None = None
) -> Histories:
    """
    Fold events into every lead's and deal's history as of `as_of`, in one pass.

    Events may come in any order; each entity's are applied in the order of their sequence
    numbers (an entity whose events come out of order is folded again, in order, at the
    end). Events later than `as_of` are left out. Contact events are not read.

    `progress`, if given, is told ``("events", done, total)`` every `PROGRESS_EVERY` events.

    Raises:
        ValidationError: If `as_of` is naive, or two different events share an entity and a
            sequence number.
    """
    problem = aware_datetime_problem(as_of)
    if problem is not None:
        raise_for("as_of", as_of, *problem)
    folded = Histories(as_of)
    folded._log = log = tuple(events)  # noqa: SLF001 - kept (a C-speed copy) for replays and merges
    leads, deals, tasks = folded.leads, folded.deals, folded.tasks
    deal_kind, lead_kind = EntityKind.DEAL, EntityKind.LEAD
    handlers, stage_changed = _HANDLERS, StageChanged
    out_of_order: set[EntityRef] = set()
    total = len(log)
    chunks = (
        (log,)
        if progress is None
        else (log[at : at + PROGRESS_EVERY] for at in range(0, max(total, 1), PROGRESS_EVERY))
    )
    done = 0
    for chunk in chunks:
        for event in chunk:
            if event.at > as_of:
                continue
            ref = event.entity
            kind = ref.kind
            if kind is deal_kind:
                table = deals
            elif kind is lead_kind:
                table = leads
            else:
                if kind is EntityKind.TASK:
                    task = tasks.get(ref.id)
                    if task is None:
                        task = tasks[ref.id] = TaskHistory(ref.id)
                    task._events.append(event)  # noqa: SLF001
                continue
            history = table.get(ref.id)
            if history is None:
                history = table[ref.id] = History(ref)
            sequence = event.sequence
            if sequence <= history._last:  # noqa: SLF001
                out_of_order.add(ref)
                continue
            history._last = sequence  # noqa: SLF001
            event_type = type(event)
            if event_type is stage_changed and history.outcome is None:  # most events: inline
                history.pipeline = event.pipeline  # type: ignore[union-attr]
                trail = history.trail
                trail.append(event.to_stage)  # type: ignore[union-attr]
                trail.append(event.at)
            else:
                (handlers.get(event_type) or _handler(event_type))(history, event)
        if progress is not None:
            done += len(chunk)
            progress("events", done, total)
    if out_of_order:
        folded._replay(out_of_order)  # noqa: SLF001
    folded._attach_tasks()  # noqa: SLF001
    return folded
