"""The entities: contacts, leads, deals and tasks."""

from __future__ import annotations

import enum
from collections import Counter
from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar

import attrs

from funnelkit import _checks as check
from funnelkit.exceptions import ValidationError
from funnelkit.model._fields import FieldValues, field_values_converter
from funnelkit.model._ids import (
    ContactId,
    DealId,
    EntityKind,
    EntityRef,
    LeadId,
    PipelineKey,
    StageKey,
    TaskId,
    UserId,
)
from funnelkit.model._values import (
    ContactData,
    Document,
    DocumentKind,
    LeadSource,
    Money,
    Payment,
)


__all__ = [
    "Contact",
    "Deal",
    "DealStatus",
    "Entity",
    "Lead",
    "LeadStatus",
    "Task",
    "TaskKind",
    "TaskStatus",
]


def _invariant(entity: object, name: str, value: object, message: str, rule: str) -> None:
    check.raise_for(f"{type(entity).__name__}.{name}", value, message, rule)


def _closed_at_matches(entity: Lead | Deal | Task, *, closed: bool, what: str) -> None:
    if closed and entity.closed_at is None:
        _invariant(
            entity,
            "closed_at",
            None,
            f"a {what} {type(entity).__name__.lower()} needs closed_at; pass the time it closed",
            "closed_at",
        )
    if not closed and entity.closed_at is not None:
        _invariant(
            entity,
            "closed_at",
            entity.closed_at,
            f"an open {type(entity).__name__.lower()} has no closed_at, got {entity.closed_at}",
            "closed_at",
        )
    if entity.closed_at is not None and entity.closed_at < entity.created_at:
        _invariant(
            entity,
            "closed_at",
            entity.closed_at,
            f"{entity.closed_at.isoformat()} is before created_at "
            f"{entity.created_at.isoformat()}; a {type(entity).__name__.lower()} cannot close "
            "before it was created",
            "chronology",
        )


@attrs.frozen(kw_only=True)
class Contact:
    """
    A person (optionally with a company) the business talks to.

    One contact has many leads and deals over time.

    Attributes:
        id: The contact id.
        version: How many times the stored contact was saved (0 for a contact never stored);
            stores use it to refuse stale writes.
        created_at: When the contact was first recorded.
        names: Every name the contact is known by, the display name first (``"Алмаз Строитель"``).
            Merges keep the other spellings here, so nothing is lost.
        phones: Phone numbers.
        emails: E-mail addresses.
        company: The company name, if any.
        address: The client's address as written (``"п. Званка, ул. Лесная, 5"``), at most
            500 characters; matching compares it token by token.
        birth_date: The client's birth date, if known (1900 or later).
        fields: Custom field values (``{"client_type": "Строитель", "houses": 4}``).
        merged_into: The contact this one was merged into, if it was (it is then kept only for
            history and undo).
    """

    KIND: ClassVar[EntityKind] = EntityKind.CONTACT

    id: ContactId = attrs.field(validator=check.identifier)
    version: int = attrs.field(default=0, validator=check.non_negative_int)
    created_at: datetime = attrs.field(validator=check.aware_datetime)
    names: tuple[str, ...] = attrs.field(
        validator=check.tuple_of(check.nonblank_problem, "names", min_size=1)
    )
    phones: tuple[str, ...] = attrs.field(
        default=(), validator=check.tuple_of(check.nonblank_problem, "strings", unique=True)
    )
    emails: tuple[str, ...] = attrs.field(
        default=(), validator=check.tuple_of(check.nonblank_problem, "strings", unique=True)
    )
    company: str | None = attrs.field(default=None, validator=check.optional_nonblank)
    address: str | None = attrs.field(default=None, validator=check.optional_address)
    birth_date: date | None = attrs.field(default=None, validator=check.optional_birth_date)
    fields: FieldValues = attrs.field(factory=FieldValues, converter=field_values_converter)
    merged_into: ContactId | None = attrs.field(default=None, validator=check.optional_identifier)

    def __attrs_post_init__(self) -> None:
        if self.merged_into == self.id:
            _invariant(
                self,
                "merged_into",
                self.merged_into,
                f"a contact cannot be merged into itself ({self.id!r})",
                "self_merge",
            )

    @property
    def name(self) -> str:
        """The display name (the first of `names`)."""
        return self.names[0]

    @property
    def ref(self) -> EntityRef:
        """A reference to this contact."""
        return EntityRef(kind=EntityKind.CONTACT, id=self.id)


class LeadStatus(str, enum.Enum):
    """Where a lead stands: still being worked, converted into a deal, or closed as junk."""

    OPEN = "open"
    CONVERTED = "converted"
    JUNK = "junk"


@attrs.frozen(kw_only=True)
class Lead:
    """
    One inbound request from any channel.

    Leads are where new requests land, are de-duplicated, linked to contacts and qualified; then
    they are converted into a deal or closed as junk with a reason.

    Attributes:
        id: The lead id.
        version: How many times the stored lead was saved (0 for a lead never stored).
        created_at: When the request arrived.
        pipeline: The lead pipeline the lead moves through.
        stage: Its current stage in that pipeline.
        source: Channel, site and campaign it came from.
        contact_data: The contact details exactly as the client gave them.
        message: What the client wrote or said.
        contact_id: The contact it is linked to, once known.
        owner: The responsible person, if assigned.
        status: Open, converted or junk.
        junk_reason: Why it was closed as junk (required for junk, absent otherwise).
        deal_id: The deal it was converted into (required for converted, absent otherwise).
        closed_at: When it was converted or closed as junk.
        fields: Custom field values.
    """

    KIND: ClassVar[EntityKind] = EntityKind.LEAD

    id: LeadId = attrs.field(validator=check.identifier)
    version: int = attrs.field(default=0, validator=check.non_negative_int)
    created_at: datetime = attrs.field(validator=check.aware_datetime)
    pipeline: PipelineKey = attrs.field(validator=check.identifier)
    stage: StageKey = attrs.field(validator=check.identifier)
    source: LeadSource = attrs.field(validator=check.instance_of(LeadSource, "a LeadSource"))
    contact_data: ContactData = attrs.field(
        factory=ContactData, validator=check.instance_of(ContactData, "ContactData")
    )
    message: str = attrs.field(default="", validator=check.text)
    contact_id: ContactId | None = attrs.field(default=None, validator=check.optional_identifier)
    owner: UserId | None = attrs.field(default=None, validator=check.optional_identifier)
    status: LeadStatus = attrs.field(default=LeadStatus.OPEN, validator=check.is_enum(LeadStatus))
    junk_reason: str | None = attrs.field(default=None, validator=check.optional_nonblank)
    deal_id: DealId | None = attrs.field(default=None, validator=check.optional_identifier)
    closed_at: datetime | None = attrs.field(default=None, validator=check.optional_aware_datetime)
    fields: FieldValues = attrs.field(factory=FieldValues, converter=field_values_converter)

    def __attrs_post_init__(self) -> None:
        is_junk = self.status is LeadStatus.JUNK
        if is_junk != (self.junk_reason is not None):
            _invariant(
                self,
                "junk_reason",
                self.junk_reason,
                "a junk lead needs a junk_reason (spam, contractor, duplicate...)"
                if is_junk
                else f"only a junk lead has a junk_reason; this one is {self.status.value}",
                "junk_reason",
            )
        is_converted = self.status is LeadStatus.CONVERTED
        if is_converted != (self.deal_id is not None):
            _invariant(
                self,
                "deal_id",
                self.deal_id,
                "a converted lead needs the deal_id it was converted into"
                if is_converted
                else f"only a converted lead has a deal_id; this one is {self.status.value}",
                "deal_id",
            )
        _closed_at_matches(self, closed=self.status is not LeadStatus.OPEN, what="closed")

    @property
    def ref(self) -> EntityRef:
        """A reference to this lead."""
        return EntityRef(kind=EntityKind.LEAD, id=self.id)

    @property
    def is_open(self) -> bool:
        """Whether the lead is still being worked."""
        return self.status is LeadStatus.OPEN


class DealStatus(str, enum.Enum):
    """Whether a deal is still open, won or lost."""

    OPEN = "open"
    WON = "won"
    LOST = "lost"


def _payments_consistent(deal: Deal) -> None:
    ids = Counter(payment.id for payment in deal.payments)
    repeated = [payment_id for payment_id, count in ids.items() if count > 1]
    if repeated:
        _invariant(
            deal,
            "payments",
            repeated[0],
            f"the payment id {repeated[0]!r} is used twice; give every payment its own id",
            "unique",
        )
    currencies = {payment.amount.currency for payment in deal.payments}
    if deal.amount is not None:
        currencies.add(deal.amount.currency)
    if len(currencies) > 1:
        _invariant(
            deal,
            "payments",
            sorted(currencies),
            f"amounts in {', '.join(sorted(currencies))}: a deal's amount and payments must be "
            "in one currency",
            "currency",
        )


def _documents_numbered(deal: Deal) -> None:
    expected: dict[Any, int] = {}
    for index, document in enumerate(deal.documents):
        want = expected.get(document.kind, 1)
        if document.version != want:
            _invariant(
                deal,
                f"documents[{index}]",
                document.version,
                f"{document.kind.value} version {document.version} follows version {want - 1}; "
                f"number the versions of each kind 1, 2, 3... in the order they were sent",
                "document_version",
            )
        expected[document.kind] = want + 1


@attrs.frozen(kw_only=True)
class Deal:
    """
    A qualified opportunity moving through a deal pipeline.

    Attributes:
        id: The deal id.
        version: How many times the stored deal was saved (0 for a deal never stored).
        created_at: When the deal was opened.
        pipeline: The deal pipeline.
        stage: The current stage.
        title: A short name (``"Алмаз п.Званка — кровля"``).
        contact_id: The client.
        owner: The responsible manager.
        amount: The budget, from the proposal or estimate; ``None`` until known.
        lead_id: The lead the deal was converted from, if any (a deal that follows another
            in a chained funnel keeps the lead of the first one).
        follows: The won deal this one continues in a chained funnel (a proposal deal opened
            when its meeting deal was won), if any: `Funnel.open_next` sets it. The lead and
            the deals that follow from it are one customer journey for the analytics.
        source: Where the client came from (the lead's source on conversion), if known.
        status: Open, won or lost.
        lost_reason: Why it was lost (required for lost deals, absent otherwise).
        lost_note: Free text on the loss.
        closed_at: When it was won or lost.
        payments: Money received, in order.
        documents: Proposal, estimate and contract versions, in the order they were sent.
        fields: Custom field values (product, construction stage, when the client buys...).
    """

    KIND: ClassVar[EntityKind] = EntityKind.DEAL

    id: DealId = attrs.field(validator=check.identifier)
    version: int = attrs.field(default=0, validator=check.non_negative_int)
    created_at: datetime = attrs.field(validator=check.aware_datetime)
    pipeline: PipelineKey = attrs.field(validator=check.identifier)
    stage: StageKey = attrs.field(validator=check.identifier)
    title: str = attrs.field(default="", validator=check.text)
    contact_id: ContactId | None = attrs.field(default=None, validator=check.optional_identifier)
    owner: UserId | None = attrs.field(default=None, validator=check.optional_identifier)
    amount: Money | None = attrs.field(
        default=None, validator=check.instance_of(Money, "Money", optional=True)
    )
    lead_id: LeadId | None = attrs.field(default=None, validator=check.optional_identifier)
    follows: DealId | None = attrs.field(default=None, validator=check.optional_identifier)
    source: LeadSource | None = attrs.field(
        default=None, validator=check.instance_of(LeadSource, "a LeadSource", optional=True)
    )
    status: DealStatus = attrs.field(default=DealStatus.OPEN, validator=check.is_enum(DealStatus))
    lost_reason: str | None = attrs.field(default=None, validator=check.optional_nonblank)
    lost_note: str = attrs.field(default="", validator=check.text)
    closed_at: datetime | None = attrs.field(default=None, validator=check.optional_aware_datetime)
    payments: tuple[Payment, ...] = attrs.field(
        default=(),
        validator=check.tuple_of(check.instance_problem(Payment, "a Payment"), "Payment"),
    )
    documents: tuple[Document, ...] = attrs.field(
        default=(),
        validator=check.tuple_of(check.instance_problem(Document, "a Document"), "Document"),
    )
    fields: FieldValues = attrs.field(factory=FieldValues, converter=field_values_converter)

    def __attrs_post_init__(self) -> None:
        if self.amount is not None and self.amount.amount < 0:
            _invariant(
                self,
                "amount",
                self.amount,
                f"a deal amount must not be negative, got {self.amount}",
                "non_negative",
            )
        if self.follows is not None and self.follows == self.id:
            _invariant(
                self,
                "follows",
                self.follows,
                "a deal cannot follow itself; name the won deal it continues",
                "follows",
            )
        is_lost = self.status is DealStatus.LOST
        if is_lost != (self.lost_reason is not None):
            _invariant(
                self,
                "lost_reason",
                self.lost_reason,
                "a lost deal needs a lost_reason"
                if is_lost
                else f"only a lost deal has a lost_reason; this one is {self.status.value}",
                "lost_reason",
            )
        _closed_at_matches(self, closed=self.status is not DealStatus.OPEN, what="won or lost")
        if self.payments:
            _payments_consistent(self)
        if self.documents:
            _documents_numbered(self)

    @property
    def ref(self) -> EntityRef:
        """A reference to this deal."""
        return EntityRef(kind=EntityKind.DEAL, id=self.id)

    @property
    def is_open(self) -> bool:
        """Whether the deal is neither won nor lost."""
        return self.status is DealStatus.OPEN

    @property
    def paid(self) -> Money | None:
        """The sum of the payments; ``None`` with no payments and no amount to give a currency."""
        if not self.payments:
            return (
                None
                if self.amount is None
                else Money(amount=Decimal(0), currency=self.amount.currency)
            )
        total = Decimal(0)
        for payment in self.payments:
            total += payment.amount.amount
        return Money(amount=total, currency=self.payments[0].amount.currency)

    @property
    def balance_due(self) -> Money | None:
        """The amount minus what was paid (negative if overpaid), or ``None`` without an amount."""
        if self.amount is None:
            return None
        total = sum((payment.amount.amount for payment in self.payments), Decimal(0))
        return Money(amount=self.amount.amount - total, currency=self.amount.currency)

    def latest_document(self, kind: DocumentKind) -> Document | None:
        """Return the newest version of a document kind, or ``None`` if none was sent."""
        for document in reversed(self.documents):
            if document.kind is kind:
                return document
        return None


class TaskKind(str, enum.Enum):
    """What a task asks the assignee to do."""

    CALL = "call"
    MESSAGE = "message"
    EMAIL = "email"
    MEETING = "meeting"
    MEASUREMENT = "measurement"
    SEND_PROPOSAL = "send_proposal"
    CLOSE_FOR_PAYMENT = "close_for_payment"
    OTHER = "other"


class TaskStatus(str, enum.Enum):
    """Whether a task is open, done or cancelled."""

    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


@attrs.frozen(kw_only=True)
class Task:
    """
    The next action on a lead, deal or contact.

    A task is completed only with a written result, and cancelled only with a reason.

    Attributes:
        id: The task id.
        version: How many times the stored task was saved (0 for a task never stored).
        created_at: When the task was set.
        subject: The lead, deal or contact it is about.
        kind: Call, meeting, measurement...
        title: What exactly to do (``"Получить план кровли"``).
        assignee: Who must do it.
        due_at: When it is due.
        status: Open, done or cancelled.
        result: The written result (required when done, absent otherwise).
        client_reached: Whether the client was reached, as the assignee reported on completion.
        cancel_reason: Why it was cancelled (required when cancelled, absent otherwise).
        closed_at: When it was completed or cancelled.
    """

    KIND: ClassVar[EntityKind] = EntityKind.TASK

    id: TaskId = attrs.field(validator=check.identifier)
    version: int = attrs.field(default=0, validator=check.non_negative_int)
    created_at: datetime = attrs.field(validator=check.aware_datetime)
    subject: EntityRef = attrs.field(validator=check.instance_of(EntityRef, "an EntityRef"))
    kind: TaskKind = attrs.field(validator=check.is_enum(TaskKind))
    title: str = attrs.field(default="", validator=check.text)
    assignee: UserId = attrs.field(validator=check.identifier)
    due_at: datetime = attrs.field(validator=check.aware_datetime)
    status: TaskStatus = attrs.field(default=TaskStatus.OPEN, validator=check.is_enum(TaskStatus))
    result: str | None = attrs.field(default=None, validator=check.optional_nonblank)
    client_reached: bool | None = attrs.field(default=None, validator=check.optional_boolean)
    cancel_reason: str | None = attrs.field(default=None, validator=check.optional_nonblank)
    closed_at: datetime | None = attrs.field(default=None, validator=check.optional_aware_datetime)

    def __attrs_post_init__(self) -> None:
        if self.subject.kind is EntityKind.TASK:
            _invariant(
                self,
                "subject",
                self.subject,
                "a task is about a lead, deal or contact, not another task",
                "subject",
            )
        done = self.status is TaskStatus.DONE
        if done != (self.result is not None):
            _invariant(
                self,
                "result",
                self.result,
                "a done task needs a written result; describe what happened"
                if done
                else f"only a done task has a result; this one is {self.status.value}",
                "result",
            )
        if not done and self.client_reached is not None:
            _invariant(
                self,
                "client_reached",
                self.client_reached,
                f"only a done task says whether the client was reached; this one is "
                f"{self.status.value}",
                "client_reached",
            )
        cancelled = self.status is TaskStatus.CANCELLED
        if cancelled != (self.cancel_reason is not None):
            _invariant(
                self,
                "cancel_reason",
                self.cancel_reason,
                "a cancelled task needs a cancel_reason"
                if cancelled
                else f"only a cancelled task has a cancel_reason; this one is {self.status.value}",
                "cancel_reason",
            )
        _closed_at_matches(
            self, closed=self.status is not TaskStatus.OPEN, what="done or cancelled"
        )

    @property
    def ref(self) -> EntityRef:
        """A reference to this task."""
        return EntityRef(kind=EntityKind.TASK, id=self.id)

    @property
    def is_open(self) -> bool:
        """Whether the task still has to be done."""
        return self.status is TaskStatus.OPEN

    def is_overdue(self, as_of: datetime) -> bool:
        """
        Whether the task is open and its due time is before `as_of`.

        Raises:
            ValidationError: If `as_of` is naive.
        """
        problem = check.aware_datetime_problem(as_of)
        if problem is not None:
            raise ValidationError(
                f"as_of: {problem[0]}", field="as_of", value=as_of, rule=problem[1]
            )
        return self.status is TaskStatus.OPEN and self.due_at < as_of


Entity = Contact | Lead | Deal | Task
"""Any of the four stored entity types."""
