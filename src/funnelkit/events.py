"""
Events: one immutable value for every change to a contact, lead, deal or task.

Every event names its entity, its time, its actor and its place in the entity's history
(``sequence`` 1, 2, 3...), plus what the analytics need. Each class has a stable wire name
(``TYPE``) and a schema version (``VERSION``): `EVENT_TYPES` finds a class by its wire name,
and `UPCASTERS` reads the data of each earlier version. ``import funnelkit as fk`` reaches them
as ``fk.events.StageChanged``.
"""

from funnelkit._public import publish
from funnelkit.model._events import (
    EVENT_TYPES,
    AmountChanged,
    ContactCreated,
    ContactsMerged,
    ContactsUnmerged,
    ContactUpdated,
    DealCreated,
    DealLost,
    DealWon,
    DocumentVersionAdded,
    Event,
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
    Temperature,
    Verdict,
)
from funnelkit.model._versions import UPCASTERS, Upcaster


__all__ = [
    "EVENT_TYPES",
    "UPCASTERS",
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
    "Upcaster",
    "Verdict",
]

publish(__name__, globals())
