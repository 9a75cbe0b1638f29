"""
The task lifecycle as pure operations: each returns the new task and the event recording it.

Seed 002's rules are the defaults: a task is never completed without a written result, and
calls, meetings, measurements and closing-for-payment tasks are never completed without
reaching the client. Bad input raises a `ValidationError` naming the rule; since the
operations are pure, nothing changes until the caller stores the result.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from funnelkit import _checks as check
from funnelkit._checks import aware_datetime_problem, describe, raise_for
from funnelkit.events import (
    TaskCancelled,
    TaskCompleted,
    TaskCreated,
    TaskReassigned,
    TaskRescheduled,
)
from funnelkit.exceptions import ValidationError
from funnelkit.model import (
    Actor,
    EntityRef,
    Task,
    TaskKind,
    TaskStatus,
)


if TYPE_CHECKING:
    from datetime import datetime

    from funnelkit.pipelines import PlannedTask


__all__ = ["TaskPolicy"]

_CONTACT_KINDS = frozenset(
    {TaskKind.CALL, TaskKind.MEETING, TaskKind.MEASUREMENT, TaskKind.CLOSE_FOR_PAYMENT}
)


def _text(value: object, name: str) -> str:
    if type(value) is not str or not value.strip():
        raise_for(name, value, f"write what happened; got {describe(value)}", "result_required")
    return value


def _time(value: object, name: str) -> None:
    problem = aware_datetime_problem(value)
    if problem is not None:
        raise_for(name, value, problem[0], problem[1])


@attrs.frozen(kw_only=True)
class TaskPolicy:
    """
    The rules of the task lifecycle.

    Attributes:
        must_reach_client: Task kinds that cannot be completed unless the client was reached
            (seed 002: "запрещено завершать задачу без контакта с клиентом").
        allow_past_due: Whether a task may be created or rescheduled to a time already past.
    """

    must_reach_client: frozenset[TaskKind] = attrs.field(
        default=_CONTACT_KINDS,
        validator=check.frozenset_of(check.member_of(TaskKind), "task kinds"),
    )
    allow_past_due: bool = attrs.field(default=False, validator=check.boolean)

    def create(
        self,
        *,
        task_id: str,
        subject: EntityRef,
        kind: TaskKind,
        title: str,
        assignee: str,
        due_at: datetime,
        actor: Actor,
        at: datetime,
    ) -> tuple[Task, TaskCreated]:
        """
        Create a task by hand; returns it (version 0) and its `TaskCreated` event.

        Raises:
            ValidationError: If a value is malformed, or `due_at` is past and the policy
                forbids it.
        """
        _time(at, "at")
        task = Task(
            id=task_id,
            created_at=at,
            subject=subject,
            kind=kind,
            title=title,
            assignee=assignee,
            due_at=due_at,
        )
        self._check_due(due_at, at)
        return task, TaskCreated(entity=task.ref, sequence=1, at=at, actor=actor.id, task=task)

    def from_effect(
        self, effect: PlannedTask, *, task_id: str, actor: Actor, at: datetime
    ) -> tuple[Task, TaskCreated]:
        """Create the task a move's entry action asked for (`MoveResult.effects`)."""
        return self.create(
            task_id=task_id,
            subject=effect.subject,
            kind=effect.kind,
            title=effect.title,
            assignee=effect.assignee,
            due_at=effect.due_at,
            actor=actor,
            at=at,
        )

    def reschedule(
        self,
        task: Task,
        due_at: datetime,
        actor: Actor,
        at: datetime,
        *,
        sequence: int,
        reason: str = "",
    ) -> tuple[Task, TaskRescheduled]:
        """
        Move an open task's due time; the event keeps the old and the new one.

        Raises:
            ValidationError: If the task is closed, the time is unchanged, or past when the
                policy forbids it.
        """
        self._check_open(task, "reschedule")
        _time(due_at, "due_at")
        _time(at, "at")
        if due_at == task.due_at:
            raise_for(
                "due_at", due_at, f"{task.ref} is already due at {due_at.isoformat()}", "same_due"
            )
        self._check_due(due_at, at)
        if type(reason) is not str:
            raise_for("reason", reason, f"expected a text, got {describe(reason)}", "type")
        moved = attrs.evolve(task, due_at=due_at)
        event = TaskRescheduled(
            entity=task.ref,
            sequence=sequence,
            at=at,
            actor=actor.id,
            old_due=task.due_at,
            new_due=due_at,
            reason=reason,
        )
        return moved, event

    def reassign(
        self, task: Task, assignee: str, actor: Actor, at: datetime, *, sequence: int
    ) -> tuple[Task, TaskReassigned]:
        """
        Give an open task to someone else.

        Raises:
            ValidationError: If the task is closed or already theirs.
        """
        self._check_open(task, "reassign")
        if assignee == task.assignee:
            raise_for(
                "assignee",
                assignee,
                f"{task.ref} is assigned to {assignee!r} already",
                "same_assignee",
            )
        moved = attrs.evolve(task, assignee=assignee)
        event = TaskReassigned(
            entity=task.ref,
            sequence=sequence,
            at=at,
            actor=actor.id,
            old_assignee=task.assignee,
            new_assignee=assignee,
        )
        return moved, event

    def complete(
        self,
        task: Task,
        result: str,
        actor: Actor,
        at: datetime,
        *,
        sequence: int,
        client_reached: bool | None = None,
    ) -> tuple[Task, TaskCompleted]:
        """
        Complete an open task with a written result.

        Args:
            task: The task, as read.
            result: What happened, in words (required, seed 002).
            actor: Who completes it.
            at: When.
            sequence: The task's next event sequence.
            client_reached: Whether the client was reached; required and true for the
                policy's `must_reach_client` kinds.

        Raises:
            ValidationError: If the task is closed, the result is empty, or the client was
                not reached on a task that needs it.
        """
        self._check_open(task, "complete")
        _text(result, "result")
        _time(at, "at")
        if task.kind in self.must_reach_client and client_reached is not True:
            raise_for(
                "client_reached",
                client_reached,
                f"a {task.kind.value} task is completed only after reaching the client; "
                "call again, or reschedule the task",
                "client_not_reached",
            )
        done = attrs.evolve(
            task,
            status=TaskStatus.DONE,
            result=result.strip(),
            client_reached=client_reached,
            closed_at=max(at, task.created_at),
        )
        event = TaskCompleted(
            entity=task.ref,
            sequence=sequence,
            at=at,
            actor=actor.id,
            result=result.strip(),
            client_reached=client_reached,
        )
        return done, event

    def cancel(
        self, task: Task, reason: str, actor: Actor, at: datetime, *, sequence: int
    ) -> tuple[Task, TaskCancelled]:
        """
        Cancel an open task, saying why.

        Raises:
            ValidationError: If the task is closed or the reason is empty.
        """
        self._check_open(task, "cancel")
        if type(reason) is not str or not reason.strip():
            raise_for("reason", reason, "say why the task is cancelled", "cancel_reason")
        _time(at, "at")
        cancelled = attrs.evolve(
            task,
            status=TaskStatus.CANCELLED,
            cancel_reason=reason.strip(),
            closed_at=max(at, task.created_at),
        )
        event = TaskCancelled(
            entity=task.ref, sequence=sequence, at=at, actor=actor.id, reason=reason.strip()
        )
        return cancelled, event

    def _check_open(self, task: Task, operation: str) -> None:
        given: object = task
        if not isinstance(given, Task):
            msg = f"{operation}(task): expected a Task, got {describe(given)}"
            raise ValidationError(msg, field="task", value=given, rule="type")
        if given.status is not TaskStatus.OPEN:
            raise_for(
                "task.status",
                given.status,
                f"cannot {operation} {given.ref}: it is {given.status.value} already",
                "task_closed",
            )

    def _check_due(self, due_at: datetime, at: datetime) -> None:
        if not self.allow_past_due and due_at < at:
            raise_for(
                "due_at",
                due_at,
                f"{due_at.isoformat()} is already past at {at.isoformat()}; choose a later time",
                "due_in_past",
            )
