"""
Identifiers and references to entities.

The id and key names (`LeadId`, `StageKey`...) are aliases of ``str``: they say what a string
means in a signature, and any string (``"L-17"``, ``"ОП ВЗЯЛ В РАБОТУ"``) can be passed as is.
"""

from __future__ import annotations

import enum
from typing import TypeAlias

import attrs

from funnelkit._checks import identifier, is_enum


__all__ = [
    "ContactId",
    "DealId",
    "EntityKind",
    "EntityRef",
    "LeadId",
    "PipelineKey",
    "StageKey",
    "TaskId",
    "UserId",
]

ContactId: TypeAlias = str
"""The id of a `Contact`."""
LeadId: TypeAlias = str
"""The id of a `Lead`."""
DealId: TypeAlias = str
"""The id of a `Deal`."""
TaskId: TypeAlias = str
"""The id of a `Task`."""
UserId: TypeAlias = str
"""The id of a person or system acting in the host app (a manager, an engineer, ``"system"``)."""
PipelineKey: TypeAlias = str
"""The key of a pipeline (e.g. ``"roofing"``)."""
StageKey: TypeAlias = str
"""The key of a stage within a pipeline (e.g. ``"НОВЫЙ ЛИД"``, ``"kp_ready"``)."""


class EntityKind(str, enum.Enum):
    """The kinds of entity funnelkit stores and refers to."""

    CONTACT = "contact"
    LEAD = "lead"
    DEAL = "deal"
    TASK = "task"


@attrs.frozen(kw_only=True)
class EntityRef:
    """
    A reference to one entity: its kind and its id.

    Events, tasks and store errors use it, because a lead and a deal may share an id string.
    """

    kind: EntityKind = attrs.field(validator=is_enum(EntityKind))
    id: str = attrs.field(validator=identifier)

    @classmethod
    def contact(cls, contact_id: str) -> EntityRef:
        """Return a reference to the contact with this id."""
        return cls(kind=EntityKind.CONTACT, id=contact_id)

    @classmethod
    def lead(cls, lead_id: str) -> EntityRef:
        """Return a reference to the lead with this id."""
        return cls(kind=EntityKind.LEAD, id=lead_id)

    @classmethod
    def deal(cls, deal_id: str) -> EntityRef:
        """Return a reference to the deal with this id."""
        return cls(kind=EntityKind.DEAL, id=deal_id)

    @classmethod
    def task(cls, task_id: str) -> EntityRef:
        """Return a reference to the task with this id."""
        return cls(kind=EntityKind.TASK, id=task_id)

    def __str__(self) -> str:
        return f"{self.kind.value} {self.id!r}"
