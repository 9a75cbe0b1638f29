"""
What a move gives back: the moved entity with its events and effects, bulk moves, replays.

A `MoveResult` carries what the caller writes in one unit of work; `PlannedTask` is an
effect, a task a move planned (the entry action that plans it is `CreateTask`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Generic, TypeVar

import attrs

from funnelkit.events import (
    Event,
    MoveEvent,
)
from funnelkit.exceptions import MoveRefusedError
from funnelkit.model import (
    Deal,
    EntityRef,
    Lead,
    TaskKind,
)
from funnelkit.pipelines._definition import (
    Message,
)


__all__ = [
    "BulkMove",
    "MoveResult",
    "PlannedTask",
    "Replay",
    "ReplayProblem",
]

E = TypeVar("E", bound=Lead | Deal)


T = TypeVar("T")


@attrs.frozen(kw_only=True)
class PlannedTask:
    """
    An effect of a move: a task the caller should create (with an id of its own).

    Attributes:
        subject: The entity the task is about.
        kind: The kind of task.
        title: What to do.
        assignee: Who does it.
        due_at: When it is due.
    """

    subject: EntityRef
    kind: TaskKind
    title: str
    assignee: str
    due_at: datetime


@attrs.frozen(kw_only=True)
class MoveResult(Generic[E]):
    """
    What a move produced: the moved entity, the events to append, the effects to carry out.

    Attributes:
        entity: The entity after the move (same version: the store bumps it on save).
        events: The events recording the move, numbered from the ``sequence`` given.
        effects: What the host app should do: tasks to create (`PlannedTask`, from entry
            actions and callbacks) and messages to send (`Message`, from callbacks), in the
            order the machine ran them. Fields set by entry actions and callbacks are already
            set on `entity`, each with its `FieldChanged` event.
    """

    entity: E
    events: tuple[Event, ...]
    effects: tuple[PlannedTask | Message, ...] = ()


@attrs.frozen(kw_only=True)
class BulkMove(Generic[E]):
    """
    What `CompiledPipeline.move_many` did.

    Attributes:
        moved: The moves made, in input order.
        refused: The refusals, in input order; each names its entity and violations.
    """

    moved: tuple[MoveResult[E], ...]
    refused: tuple[MoveRefusedError, ...]


@attrs.frozen(kw_only=True)
class ReplayProblem:
    """
    One event of a history that the rules do not account for.

    Attributes:
        sequence: The event's sequence number.
        rule: ``"history"`` (it does not start where the last move ended), ``"pipeline"``
            (another pipeline's event) or ``"undeclared_move"`` (unforced, not declared).
        message: What is wrong.
    """

    sequence: int
    rule: str
    message: str


@attrs.frozen(kw_only=True)
class Replay:
    """
    The outcome of replaying a history: where the entity ends and what did not fit the rules.

    Attributes:
        stage: The stage the last move event put the entity in.
        moves: How many move events were replayed.
        problems: The events the rules do not account for (empty for a clean history).
    """

    stage: str
    moves: int
    problems: tuple[ReplayProblem, ...]


def _problem(event: MoveEvent, rule: str, message: str) -> ReplayProblem:
    return ReplayProblem(
        sequence=event.sequence, rule=rule, message=f"{event.entity} #{event.sequence}: {message}"
    )
