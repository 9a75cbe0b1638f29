"""
Events: one immutable value for every change to a contact, lead, deal or task.

Every event names the entity it is about, the time, the actor, and its sequence number within
that entity's history (1, 2, 3...).
Events are the audit trail and the only input analytics needs, so each carries what the
analytics need (from-stage and to-stage, reasons, amounts).

Each event class has a stable wire name (``TYPE``) and a schema version (``VERSION``) that goes
up whenever its plain-data form changes; `funnelkit.events.UPCASTERS` reads every earlier
version, so a stored log never has to be rewritten.
"""

from __future__ import annotations

import enum
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, get_args

import attrs

from funnelkit import _checks as check
from funnelkit.model._entities import Contact, Deal, Lead, Task
from funnelkit.model._fields import FieldValue, field_value_problem
from funnelkit.model._ids import (
    ContactId,
    DealId,
    EntityKind,
    EntityRef,
    PipelineKey,
    StageKey,
    UserId,
)
from funnelkit.model._values import Document, Money, Payment, Violation


if TYPE_CHECKING:
    from collections.abc import Mapping


__all__ = [
    "EVENT_TYPES",
    "AmountChanged",
    "ContactCreated",
    "ContactUpdated",
    "ContactsMerged",
    "ContactsUnmerged",
    "DealCreated",
    "DealLost",
    "DealWon",
    "DocumentVersionAdded",
    "Event",
    "FieldChanged",
    "LeadClosedAsJunk",
    "LeadConverted",
    "LeadCreated",
    "LeadLinked",
    "LeadQualified",
    "MoveEvent",
    "OwnerChanged",
    "PaymentReceived",
    "StageChanged",
    "TaskCancelled",
    "TaskCompleted",
    "TaskCreated",
    "TaskReassigned",
    "TaskRescheduled",
    "Temperature",
    "Verdict",
]

_ANY_OWNER = frozenset({EntityKind.CONTACT, EntityKind.LEAD, EntityKind.DEAL})


def _entity_kind_fits(instance: Any, attribute: attrs.Attribute[Any], value: EntityRef) -> None:
    check.instance_of(EntityRef, "an EntityRef")(instance, attribute, value)
    kinds: frozenset[EntityKind] = type(instance).ENTITY_KINDS
    if value.kind not in kinds:
        allowed = " or ".join(sorted(kind.value for kind in kinds))
        check.fail(
            instance,
            attribute,
            value,
            f"a {type(instance).TYPE} event is about a {allowed}, got a {value.kind.value}",
            "entity_kind",
        )


def _field_value(instance: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        found = field_value_problem(value)
        if found is not None:
            check.fail(instance, attribute, value, found[0], found[1])


@attrs.frozen(kw_only=True)
class _Event:
    """The fields every event has."""

    TYPE: ClassVar[str]
    VERSION: ClassVar[int] = 1
    ENTITY_KINDS: ClassVar[frozenset[EntityKind]]

    entity: EntityRef = attrs.field(validator=_entity_kind_fits)
    sequence: int = attrs.field(validator=check.positive_int)
    at: datetime = attrs.field(validator=check.aware_datetime)
    actor: UserId = attrs.field(validator=check.identifier)


def _snapshot_matches(event: Any, snapshot: Any) -> None:
    if snapshot.id != event.entity.id:
        check.raise_for(
            f"{type(event).__name__}.entity",
            event.entity,
            f"refers to {event.entity} but carries the {snapshot.KIND.value} {snapshot.id!r}; "
            "they must be the same entity",
            "entity_mismatch",
        )


# --- contacts ----------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ContactCreated(_Event):
    """
    A contact was recorded.

    Attributes:
        contact: Its state at creation.
        near_matches: Stored contacts it was compared with and judged a different person
            (a relative on the family phone, a colleague on the office line), so a person
            can look again; empty when it was compared with nobody.
    """

    TYPE: ClassVar[str] = "contact_created"
    ENTITY_KINDS: ClassVar[frozenset[EntityKind]] = frozenset({EntityKind.CONTACT})

    contact: Contact = attrs.field(validator=check.instance_of(Contact, "a Contact"))
    near_matches: tuple[ContactId, ...] = attrs.field(
        default=(), validator=check.tuple_of(check.identifier_problem, "contact ids", unique=True)
    )

    def __attrs_post_init__(self) -> None:
        _snapshot_matches(self, self.contact)


@attrs.frozen(kw_only=True)
class ContactUpdated(_Event):
    """A contact's details changed; `contact` is its state after the change."""

    TYPE: ClassVar[str] = "contact_updated"
    ENTITY_KINDS: ClassVar[frozenset[EntityKind]] = frozenset({EntityKind.CONTACT})

    contact: Contact = attrs.field(validator=check.instance_of(Contact, "a Contact"))

    def __attrs_post_init__(self) -> None:
        _snapshot_matches(self, self.contact)


@attrs.frozen(kw_only=True)
class ContactsMerged(_Event):
    """
    Contacts were merged into the event's contact (the survivor).

    Attributes:
        merge_id: Identifies the merge, so it can be undone.
        merged: The contacts merged into the survivor.
    """

    TYPE: ClassVar[str] = "contacts_merged"
    ENTITY_KINDS: ClassVar[frozenset[EntityKind]] = frozenset({EntityKind.CONTACT})

    merge_id: str = attrs.field(validator=check.identifier)
    merged: tuple[ContactId, ...] = attrs.field(
        validator=check.tuple_of(check.identifier_problem, "contact ids", min_size=1, unique=True)
    )


@attrs.frozen(kw_only=True)
class ContactsUnmerged(_Event):
    """
    A merge into the event's contact was undone.

    Attributes:
        merge_id: The merge that was undone.
        restored: The contacts restored as separate contacts.
    """

    TYPE: ClassVar[str] = "contacts_unmerged"
    ENTITY_KINDS: ClassVar[frozenset[EntityKind]] = frozenset({EntityKind.CONTACT})

    merge_id: str = attrs.field(validator=check.identifier)
    restored: tuple[ContactId, ...] = attrs.field(
        validator=check.tuple_of(check.identifier_problem, "contact ids", min_size=1, unique=True)
    )


# --- leads -------------------------------------------------------------------------------------


class Verdict(str, enum.Enum):
    """The outcome of qualifying a lead."""

    GOOD = "good"
    JUNK = "junk"
    REVIEW = "review"


class Temperature(str, enum.Enum):
    """How warm a lead is (seed 001: молчуны, холодные, тёплые, горячие)."""

    SILENT = "silent"
    COLD = "cold"
    WARM = "warm"
    HOT = "hot"


@attrs.frozen(kw_only=True)
class LeadCreated(_Event):
    """A lead arrived; `lead` is its state at creation (source, raw contact data, stage...)."""

    TYPE: ClassVar[str] = "lead_created"
    ENTITY_KINDS: ClassVar[frozenset[EntityKind]] = frozenset({EntityKind.LEAD})

    lead: Lead = attrs.field(validator=check.instance_of(Lead, "a Lead"))

    def __attrs_post_init__(self) -> None:
        _snapshot_matches(self, self.lead)


@attrs.frozen(kw_only=True)
class LeadLinked(_Event):
    """
    A lead was linked to an existing or new contact.

    Attributes:
        contact_id: The contact.
        repeat: Whether the contact is a returning customer, making the lead a repeat request.
        review: Whether the link rests on a match in the review band: the lead is probably
            this contact's, and a person should confirm it (or move it by a merge).
    """

    TYPE: ClassVar[str] = "lead_linked"
    ENTITY_KINDS: ClassVar[frozenset[EntityKind]] = frozenset({EntityKind.LEAD})

    contact_id: ContactId = attrs.field(validator=check.identifier)
    repeat: bool = attrs.field(default=False, validator=check.boolean)
    review: bool = attrs.field(default=False, validator=check.boolean)


@attrs.frozen(kw_only=True)
class LeadQualified(_Event):
    """
    A lead was qualified.

    Attributes:
        verdict: Good, junk or needs review.
        score: The points the qualification policy gave, if it scores.
        temperature: How warm the lead is, if assessed.
        reasons: One line per rule that decided or scored.
    """

    TYPE: ClassVar[str] = "lead_qualified"
    ENTITY_KINDS: ClassVar[frozenset[EntityKind]] = frozenset({EntityKind.LEAD})

    verdict: Verdict = attrs.field(validator=check.is_enum(Verdict))
    score: int | None = attrs.field(default=None, validator=check.optional_int)
    temperature: Temperature | None = attrs.field(
        default=None, validator=check.is_enum(Temperature, optional=True)
    )
    reasons: tuple[str, ...] = attrs.field(
        default=(), validator=check.tuple_of(check.nonblank_problem, "strings")
    )


# --- moves -------------------------------------------------------------------------------------


def _no_override_unless_forced(
    instance: Any, attribute: attrs.Attribute[Any], value: object
) -> None:
    check.tuple_of(check.instance_problem(Violation, "a Violation"), "Violation")(
        instance, attribute, value
    )
    if value and not instance.forced:
        check.fail(
            instance,
            attribute,
            value,
            "only a forced move records overridden violations; set forced=True",
            "forced",
        )


@attrs.frozen(kw_only=True)
class MoveEvent(_Event):
    """
    The base of every event that moves a lead or deal from one stage to another.

    Analytics of stage flows read these fields from every move, whatever its type.

    Attributes:
        pipeline: The pipeline the move happened in.
        from_stage: The stage left.
        to_stage: The stage entered.
        forced: Whether the rules were overridden (an audited `force=True` move).
        overridden: The violations that were overridden, if forced.
        note: Free text given with the move: why a deal went back a stage, why a head
            forced it, and for reasons marked "other", what the reason was.
    """

    TYPE: ClassVar[str] = "move"
    ENTITY_KINDS: ClassVar[frozenset[EntityKind]] = frozenset({EntityKind.LEAD, EntityKind.DEAL})

    pipeline: PipelineKey = attrs.field(validator=check.identifier)
    from_stage: StageKey = attrs.field(validator=check.identifier)
    to_stage: StageKey = attrs.field(validator=check.identifier)
    forced: bool = attrs.field(default=False, validator=check.boolean)
    overridden: tuple[Violation, ...] = attrs.field(
        default=(), validator=_no_override_unless_forced
    )
    note: str = attrs.field(default="", validator=check.text)


@attrs.frozen(kw_only=True)
class StageChanged(MoveEvent):
    """A lead or deal moved to another open stage (or was reopened)."""

    TYPE: ClassVar[str] = "stage_changed"
    VERSION: ClassVar[int] = 2  # 2: the move's note


@attrs.frozen(kw_only=True)
class LeadConverted(MoveEvent):
    """
    A good lead was converted into a deal.

    Attributes:
        deal_id: The deal opened for it.
        contact_id: The contact the deal is for.
    """

    TYPE: ClassVar[str] = "lead_converted"
    VERSION: ClassVar[int] = 2  # 2: the move's note
    ENTITY_KINDS: ClassVar[frozenset[EntityKind]] = frozenset({EntityKind.LEAD})

    deal_id: DealId = attrs.field(validator=check.identifier)
    contact_id: ContactId = attrs.field(validator=check.identifier)


@attrs.frozen(kw_only=True)
class LeadClosedAsJunk(MoveEvent):
    """
    A lead was closed into a junk stage.

    Attributes:
        reason: Why (spam, contractor, random visitor, duplicate...).
    """

    TYPE: ClassVar[str] = "lead_closed_as_junk"
    ENTITY_KINDS: ClassVar[frozenset[EntityKind]] = frozenset({EntityKind.LEAD})

    reason: str = attrs.field(validator=check.nonblank)


@attrs.frozen(kw_only=True)
class DealWon(MoveEvent):
    """
    A deal was won (money in the till).

    Attributes:
        amount: The deal amount at the time it was won, if known.
    """

    TYPE: ClassVar[str] = "deal_won"
    VERSION: ClassVar[int] = 2  # 2: the move's note
    ENTITY_KINDS: ClassVar[frozenset[EntityKind]] = frozenset({EntityKind.DEAL})

    amount: Money | None = attrs.field(
        default=None, validator=check.instance_of(Money, "Money", optional=True)
    )


@attrs.frozen(kw_only=True)
class DealLost(MoveEvent):
    """
    A deal was lost.

    Attributes:
        reason: Why (from the pipeline's reason set); `note` says more, and the pipeline
            requires it for reasons marked "other".
    """

    TYPE: ClassVar[str] = "deal_lost"
    ENTITY_KINDS: ClassVar[frozenset[EntityKind]] = frozenset({EntityKind.DEAL})

    reason: str = attrs.field(validator=check.nonblank)


# --- changes to deals and leads ----------------------------------------------------------------


@attrs.frozen(kw_only=True)
class DealCreated(_Event):
    """A deal was opened; `deal` is its state at creation."""

    TYPE: ClassVar[str] = "deal_created"
    ENTITY_KINDS: ClassVar[frozenset[EntityKind]] = frozenset({EntityKind.DEAL})

    deal: Deal = attrs.field(validator=check.instance_of(Deal, "a Deal"))

    def __attrs_post_init__(self) -> None:
        _snapshot_matches(self, self.deal)


@attrs.frozen(kw_only=True)
class OwnerChanged(_Event):
    """The responsible person of a lead or deal changed."""

    TYPE: ClassVar[str] = "owner_changed"
    ENTITY_KINDS: ClassVar[frozenset[EntityKind]] = frozenset({EntityKind.LEAD, EntityKind.DEAL})

    old: UserId | None = attrs.field(validator=check.optional_identifier)
    new: UserId | None = attrs.field(validator=check.optional_identifier)


@attrs.frozen(kw_only=True)
class AmountChanged(_Event):
    """The amount (budget) of a deal changed."""

    TYPE: ClassVar[str] = "amount_changed"
    ENTITY_KINDS: ClassVar[frozenset[EntityKind]] = frozenset({EntityKind.DEAL})

    old: Money | None = attrs.field(validator=check.instance_of(Money, "Money", optional=True))
    new: Money | None = attrs.field(validator=check.instance_of(Money, "Money", optional=True))


@attrs.frozen(kw_only=True)
class FieldChanged(_Event):
    """
    A field of a contact, lead, deal or task changed.

    A custom field, or a link re-pointed when contacts are merged (``contact_id`` of a lead or
    a deal, ``subject`` of a task).

    Attributes:
        field: The field key (a custom field's key, ``"contact_id"`` or ``"subject"``).
        old: The value before, or ``None`` if it was not set.
        new: The value after, or ``None`` if it was removed.
    """

    TYPE: ClassVar[str] = "field_changed"
    ENTITY_KINDS: ClassVar[frozenset[EntityKind]] = frozenset(EntityKind)

    field: str = attrs.field(validator=check.identifier)
    old: FieldValue | None = attrs.field(validator=_field_value)
    new: FieldValue | None = attrs.field(validator=_field_value)


@attrs.frozen(kw_only=True)
class PaymentReceived(_Event):
    """Money was received for a deal."""

    TYPE: ClassVar[str] = "payment_received"
    ENTITY_KINDS: ClassVar[frozenset[EntityKind]] = frozenset({EntityKind.DEAL})

    payment: Payment = attrs.field(validator=check.instance_of(Payment, "a Payment"))


@attrs.frozen(kw_only=True)
class DocumentVersionAdded(_Event):
    """A new version of a proposal, estimate or contract was sent to the client."""

    TYPE: ClassVar[str] = "document_version_added"
    ENTITY_KINDS: ClassVar[frozenset[EntityKind]] = frozenset({EntityKind.DEAL})

    document: Document = attrs.field(validator=check.instance_of(Document, "a Document"))


# --- tasks -------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class TaskCreated(_Event):
    """A task was set; `task` is its state at creation."""

    TYPE: ClassVar[str] = "task_created"
    ENTITY_KINDS: ClassVar[frozenset[EntityKind]] = frozenset({EntityKind.TASK})

    task: Task = attrs.field(validator=check.instance_of(Task, "a Task"))

    def __attrs_post_init__(self) -> None:
        _snapshot_matches(self, self.task)


@attrs.frozen(kw_only=True)
class TaskCompleted(_Event):
    """A task was done, with its written result."""

    TYPE: ClassVar[str] = "task_completed"
    ENTITY_KINDS: ClassVar[frozenset[EntityKind]] = frozenset({EntityKind.TASK})

    result: str = attrs.field(validator=check.nonblank)
    client_reached: bool | None = attrs.field(default=None, validator=check.optional_boolean)


@attrs.frozen(kw_only=True)
class TaskRescheduled(_Event):
    """A task's due time moved; the history of due times is the sequence of these events."""

    TYPE: ClassVar[str] = "task_rescheduled"
    ENTITY_KINDS: ClassVar[frozenset[EntityKind]] = frozenset({EntityKind.TASK})

    old_due: datetime = attrs.field(validator=check.aware_datetime)
    new_due: datetime = attrs.field(validator=check.aware_datetime)
    reason: str = attrs.field(default="", validator=check.text)


@attrs.frozen(kw_only=True)
class TaskReassigned(_Event):
    """A task was handed to someone else."""

    TYPE: ClassVar[str] = "task_reassigned"
    ENTITY_KINDS: ClassVar[frozenset[EntityKind]] = frozenset({EntityKind.TASK})

    old_assignee: UserId = attrs.field(validator=check.identifier)
    new_assignee: UserId = attrs.field(validator=check.identifier)


@attrs.frozen(kw_only=True)
class TaskCancelled(_Event):
    """A task was cancelled, with the reason."""

    TYPE: ClassVar[str] = "task_cancelled"
    ENTITY_KINDS: ClassVar[frozenset[EntityKind]] = frozenset({EntityKind.TASK})

    reason: str = attrs.field(validator=check.nonblank)


Event = (
    ContactCreated
    | ContactUpdated
    | ContactsMerged
    | ContactsUnmerged
    | LeadCreated
    | LeadLinked
    | LeadQualified
    | LeadConverted
    | LeadClosedAsJunk
    | StageChanged
    | DealCreated
    | DealWon
    | DealLost
    | OwnerChanged
    | AmountChanged
    | FieldChanged
    | PaymentReceived
    | DocumentVersionAdded
    | TaskCreated
    | TaskCompleted
    | TaskRescheduled
    | TaskReassigned
    | TaskCancelled
)
"""Any funnelkit event."""

EVENT_TYPES: Mapping[str, type[Event]] = MappingProxyType(
    {cls.TYPE: cls for cls in get_args(Event)}
)
"""Every event class by its stable wire name (the ``"type"`` key of its plain-data form)."""
