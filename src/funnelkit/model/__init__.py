"""
The domain values: contacts, leads, deals, tasks, their parts and custom fields.

The events that record their changes are in `funnelkit.events`.

Every value is an immutable attrs class, validated on construction; change one with
``attrs.evolve`` (which validates again).
"""

from funnelkit._checks import DECIMAL_PLACES, MAX_DECIMAL, MAX_INTEGER
from funnelkit._public import publish
from funnelkit.model._clock import (
    PROGRESS_EVERY,
    Clock,
    FixedClock,
    IdFactory,
    Progress,
    SequentialIds,
)
from funnelkit.model._entities import (
    Contact,
    Deal,
    DealStatus,
    Entity,
    Lead,
    LeadStatus,
    Task,
    TaskKind,
    TaskStatus,
)
from funnelkit.model._fields import CustomFieldSchema, FieldDef, FieldType, FieldValue, FieldValues
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
from funnelkit.model._period import Period
from funnelkit.model._values import (
    Actor,
    ContactData,
    Document,
    DocumentKind,
    LeadSource,
    Money,
    Payment,
    PaymentKind,
    Violation,
)


__all__ = [
    "DECIMAL_PLACES",
    "MAX_DECIMAL",
    "MAX_INTEGER",
    "PROGRESS_EVERY",
    "Actor",
    "Clock",
    "Contact",
    "ContactData",
    "ContactId",
    "CustomFieldSchema",
    "Deal",
    "DealId",
    "DealStatus",
    "Document",
    "DocumentKind",
    "Entity",
    "EntityKind",
    "EntityRef",
    "FieldDef",
    "FieldType",
    "FieldValue",
    "FieldValues",
    "FixedClock",
    "IdFactory",
    "Lead",
    "LeadId",
    "LeadSource",
    "LeadStatus",
    "Money",
    "Payment",
    "PaymentKind",
    "Period",
    "PipelineKey",
    "Progress",
    "SequentialIds",
    "StageKey",
    "Task",
    "TaskId",
    "TaskKind",
    "TaskStatus",
    "UserId",
    "Violation",
]

publish(__name__, globals())
