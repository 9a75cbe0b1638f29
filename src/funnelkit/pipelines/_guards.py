"""
The rules of a move as transitions conditions: funnelkit's declarative ones and yours.

Each `Guard` reads a light cursor made for one call and explains a refusal with its
violations; `_declared_moves` gives every declared move its guards, in the order they run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

import attrs

from funnelkit._checks import describe
from funnelkit.exceptions import FunnelkitError, ValidationError
from funnelkit.model import (
    Actor,
    Deal,
    Lead,
    Task,
    TaskStatus,
    Violation,
)
from funnelkit.pipelines._definition import (
    _NO_CONTEXT,
    OPEN_TASKS,
    CreateTask,
    Message,
    MoveAttempt,
    PaymentRule,
    Pipeline,
    PipelineKind,
    SetField,
    Stage,
    StageKind,
)


if TYPE_CHECKING:
    from datetime import datetime

    from transitions.core import EventData

    from funnelkit.pipelines._results import T


__all__ = [
    "Guard",
]


class _Cursor:
    """What the machine, the guards and the callbacks see of one move attempt; thrown away after."""

    __slots__ = (
        "_attempt",
        "actor",
        "at",
        "context",
        "converting",
        "dry",
        "effects",
        "entity",
        "found",
        "note",
        "reason",
        "stage",
        "to_stage",
    )

    _attempt: MoveAttempt | None
    actor: Actor
    at: datetime | None
    context: Mapping[str, object]
    converting: bool
    dry: bool
    effects: list[CreateTask | SetField | Message]
    entity: Lead | Deal
    found: dict[Guard, tuple[Violation, ...]] | None
    note: str
    reason: str | None
    stage: str
    to_stage: str

    def __init__(  # noqa: PLR0917 - private; built once per attempt, positionally
        self,
        entity: Lead | Deal,
        actor: Actor,
        to_stage: str,
        reason: str | None,
        note: str,
        at: datetime | None = None,
        context: Mapping[str, object] = _NO_CONTEXT,
        *,
        converting: bool = False,
        dry: bool = True,
    ) -> None:
        self.stage = entity.stage  # the machine's model attribute: transitions moves it
        self.entity = entity
        self.actor = actor
        self.to_stage = to_stage
        self.reason = reason
        self.note = note
        self.converting = converting
        self.at = at
        self.context = context
        self.dry = dry  # asked about only: callbacks are not run
        self.effects = []
        self.found = None
        self._attempt = None

    def attempt(self) -> MoveAttempt:
        """The attempt as your conditions and callbacks see it (made once, when first asked)."""
        attempt = self._attempt
        if attempt is None:
            attempt = self._attempt = MoveAttempt(
                entity=self.entity,
                actor=self.actor,
                from_stage=self.entity.stage,
                to_stage=self.to_stage,
                reason=self.reason,
                note=self.note,
                at=self.at,
                context=self.context,
            )
        return attempt

    def violations(self, guard: Guard) -> tuple[Violation, ...]:
        """A guard's violations for this attempt, worked out once (your code runs once)."""
        found = self.found
        if found is None:
            found = self.found = {}
        elif guard in found:
            return found[guard]
        result = found[guard] = guard.violations(self)
        return result


@attrs.frozen(eq=False)
class Guard:
    """
    One named rule of a move, attached to a transition of the compiled machine.

    Attributes:
        name: How diagrams and exports show it (``"roles(engineer)"``, ``"requires(amount)"``,
            your condition's name, ``"unless is_holiday"``).
        rule: The stable rule name its violations carry (``"user"`` for yours: they carry
            their own).
        unless: Whether it is attached as a transitions ``unless`` condition (it then holds
            when its predicate returns false).
    """

    name: str
    rule: str
    _check: Callable[[_Cursor], tuple[Violation, ...]] = attrs.field(repr=False)
    unless: bool = False

    @property
    def __name__(self) -> str:  # transitions' exports name conditions by __name__
        return self.name

    def violations(self, cursor: _Cursor) -> tuple[Violation, ...]:
        """The violations of this rule for this move attempt (empty if it holds)."""
        return self._check(cursor)

    def __call__(self, event_data: EventData) -> bool:
        """
        Run as a `transitions` condition on the machine's cursor.

        A ``conditions`` guard returns true if the rule holds; an ``unless`` guard returns
        true if it is broken (transitions lets the move through when it returns false).
        """
        cursor: _Cursor = event_data.model  # type: ignore[assignment]
        broken = bool(cursor.violations(self))
        return broken if self.unless else not broken


def _roles_guard(roles: frozenset[str], rule: str, what: str) -> Guard:
    """A rule that only actors holding one of `roles` pass; `what` says what they may do."""
    shown = ", ".join(sorted(roles))

    def check(cursor: _Cursor) -> tuple[Violation, ...]:
        if roles & cursor.actor.roles:
            return ()
        held = ", ".join(sorted(cursor.actor.roles)) or "none"
        return (
            Violation(
                rule=rule,
                message=f"only {shown} may {what}; {cursor.actor.id!r} has roles: {held}",
            ),
        )

    return Guard(f"roles({shown})", rule, check)


_ABSENT = object()


def _filled(entity: Lead | Deal, name: str) -> bool:
    """Whether a custom field or, failing that, the entity's own attribute holds a value."""
    value: object = entity.fields.get(name, _ABSENT)
    if value is _ABSENT:
        value = getattr(entity, name, None)
    return value is not None and value not in ("", ())


def _required_guard(names: tuple[str, ...], what: str) -> Guard:
    """A rule that these fields be filled; `what` says for what (``"to enter 'ЗАМЕР'"``)."""

    def check(cursor: _Cursor) -> tuple[Violation, ...]:
        entity = cursor.entity
        missing = [name for name in names if not _filled(entity, name)]
        if not missing:
            return ()
        return tuple(
            Violation(
                rule="required_field",
                field=name,
                message=f"{name!r} must be filled {what}; fill it first",
            )
            for name in missing
        )

    return Guard(f"requires({', '.join(names)})", "required_field", check)


def _payment_guard(stage: Stage) -> Guard:
    full = stage.payment is PaymentRule.IN_FULL

    def check(cursor: _Cursor) -> tuple[Violation, ...]:
        deal = cursor.entity
        if not isinstance(deal, Deal):  # pragma: no cover - refused when the pipeline is built
            return ()
        where = f"entering {stage.key!r} needs"
        if not deal.payments:
            message = f"{where} money received; {deal.ref} has no payment: record it first"
        elif not full:
            return ()
        elif deal.amount is None:
            message = f"{where} the deal paid in full, but {deal.ref} has no amount; set it"
        else:
            paid = deal.paid
            if paid is not None and paid.amount >= deal.amount.amount:
                return ()
            message = (
                f"{where} the deal paid in full; {deal.ref} has {paid} of {deal.amount}: "
                "record the rest first"
            )
        return (Violation(rule="payment", field="payments", message=message),)

    return Guard(f"payment({stage.payment.value})", "payment", check)


def _tasks_guard(stage: Stage) -> Guard:
    kinds = stage.blocking_tasks
    shown = ", ".join(sorted(kind.value for kind in kinds))

    def check(cursor: _Cursor) -> tuple[Violation, ...]:
        given = cursor.context.get(OPEN_TASKS)
        if given is None:
            message = (
                f"leaving {stage.key!r} needs its {shown} tasks done, and the move was not told "
                f"the open tasks of {cursor.entity.ref}: pass context={{OPEN_TASKS: [...]}} "
                "(Service.move does)"
            )
            return (Violation(rule="open_task", field="context", message=message),)
        if not isinstance(given, Iterable) or isinstance(given, str | bytes):
            msg = f"context[OPEN_TASKS]: expected the entity's open tasks, got {describe(given)}"
            raise ValidationError(msg, field="context", value=given, rule="type")
        ref = cursor.entity.ref
        found = [
            task
            for task in given
            if isinstance(task, Task)
            and task.subject == ref
            and task.status is TaskStatus.OPEN
            and task.kind in kinds
        ]
        return tuple(
            Violation(
                rule="open_task",
                field="tasks",
                message=f"{task.kind.value} task {task.id!r} ({task.title}) is still open; "
                f"complete or cancel it before leaving {stage.key!r}",
            )
            for task in found
        )

    return Guard(f"done({shown})", "open_task", check)


def _reason_guard(pipeline: Pipeline, stage: Stage) -> Guard:
    allowed = [r for r in pipeline.reasons if not r.stages or stage.key in r.stages]
    known = ", ".join(repr(reason.key) for reason in allowed)
    word = "lost" if stage.kind is StageKind.LOST else "junk"

    def check(cursor: _Cursor) -> tuple[Violation, ...]:
        if cursor.reason is None:
            return (
                Violation(
                    rule="reason",
                    field="reason",
                    message=f"closing as {word} in {stage.key!r} needs a reason; one of: {known}",
                ),
            )
        reason = pipeline.reason(cursor.reason)
        if reason is None:
            return (
                Violation(
                    rule="reason",
                    field="reason",
                    message=f"unknown reason {cursor.reason!r}; one of: {known}",
                ),
            )
        if reason.stages and stage.key not in reason.stages:
            return (
                Violation(
                    rule="reason_stage",
                    field="reason",
                    message=f"reason {reason.key!r} ({reason.title}) closes into "
                    f"{sorted(reason.stages)}, not {stage.key!r}; here one of: {known}",
                ),
            )
        if reason.needs_note and not cursor.note.strip():
            return (
                Violation(
                    rule="reason_note",
                    field="note",
                    message=f"reason {reason.key!r} ({reason.title}) needs a note saying what "
                    "happened",
                ),
            )
        return ()

    return Guard("reason", "reason", check)


def _conversion_guard(stage: Stage) -> Guard:
    def check(cursor: _Cursor) -> tuple[Violation, ...]:
        if cursor.converting:
            return ()
        return (
            Violation(
                rule="conversion",
                message=f"a lead reaches the won stage {stage.key!r} by conversion into a deal; "
                "use Funnel.convert",
            ),
        )

    return Guard("conversion", "conversion", check)


def _trigger(dest: str) -> str:
    return f"to:{dest}"


def _policy_allows(pipeline: Pipeline, i: int, j: int, open_indexes: list[int]) -> bool:
    """Whether the move policy allows a move from open stage `i` to stage `j`."""
    dest = pipeline.stages[j]
    if dest.closed:
        return dest.kind is not StageKind.WON or pipeline.policy.allow_skip or i == open_indexes[-1]
    if j < i:
        return pipeline.policy.allow_back
    following = [k for k in open_indexes if k > i]
    return pipeline.policy.allow_skip or j == following[0]


def _guards(pipeline: Pipeline, source: Stage, dest: Stage, yours: list[Guard]) -> list[Guard]:
    """The rules every move from `source` to `dest` must pass, in the order they are checked."""
    guards: list[Guard] = []
    extra = [m for m in pipeline.extra_moves if (m.source, m.dest) == (source.key, dest.key)]
    move = f"the move {source.key!r} → {dest.key!r}"
    if source.exit_roles:
        guards.append(_roles_guard(source.exit_roles, "exit_role", f"move out of {source.key!r}"))
    guards.extend(
        _roles_guard(m.roles, "move_role", f"make {move} (reserved to them)")
        for m in extra
        if m.roles
    )
    if dest.entry_roles:
        guards.append(_roles_guard(dest.entry_roles, "entry_role", f"move into {dest.key!r}"))
    if dest.required_fields:
        guards.append(_required_guard(dest.required_fields, f"to enter {dest.key!r}"))
    guards.extend(
        _required_guard(m.required_fields, f"for {move}") for m in extra if m.required_fields
    )
    closing = dest.kind in (StageKind.LOST, StageKind.JUNK)
    if closing:
        guards.append(_reason_guard(pipeline, dest))
    if dest.payment is not PaymentRule.NONE:
        guards.append(_payment_guard(dest))
    if source.blocking_tasks and not closing:
        guards.append(_tasks_guard(source))
    if dest.kind is StageKind.WON and pipeline.kind is PipelineKind.LEAD:
        guards.append(_conversion_guard(dest))
    guards.extend(yours)  # your own rules come after funnelkit's
    return guards


def _declared_moves(pipeline: Pipeline) -> dict[tuple[str, str], list[Guard]]:
    """Every move the policy and the extra moves allow, with the guards of each."""
    stages = pipeline.stages
    open_indexes = [i for i, stage in enumerate(stages) if not stage.closed]
    pairs = [
        (stages[i], stages[j])
        for i in open_indexes
        for j in range(len(stages))
        if i != j and _policy_allows(pipeline, i, j, open_indexes)
    ]
    pairs.extend((pipeline.stage(m.source), pipeline.stage(m.dest)) for m in pipeline.extra_moves)
    # One guard per condition of yours, shared by every move it applies to.
    entering = {
        stage.key: [
            *_user_guards(
                stage.conditions, f"Pipeline.stages[{index}]", f"stage {stage.key!r}", unless=False
            ),
            *_user_guards(
                stage.unless, f"Pipeline.stages[{index}]", f"stage {stage.key!r}", unless=True
            ),
        ]
        for index, stage in enumerate(stages)
    }
    moving: dict[tuple[str, str], list[Guard]] = {}
    for index, move in enumerate(pipeline.extra_moves):
        where = f"Pipeline.extra_moves[{index}]"
        label = f"move {move.source!r} → {move.dest!r}"
        moving.setdefault((move.source, move.dest), []).extend(
            [
                *_user_guards(move.conditions, where, label, unless=False),
                *_user_guards(move.unless, where, label, unless=True),
            ]
        )
    return {
        (source.key, dest.key): _guards(
            pipeline,
            source,
            dest,
            [*entering[dest.key], *moving.get((source.key, dest.key), ())],
        )
        for source, dest in pairs
    }


def _callable_name(code: object) -> str:
    name = getattr(code, "__name__", None)
    return name if isinstance(name, str) else type(code).__name__


def _rule_name(name: str) -> str:
    """A rule name for a violation of your condition: its name, if that is an identifier."""
    return name if name.isidentifier() else "condition"


def _user_guard(
    code: Callable[[MoveAttempt], object], where: str, label: str, *, unless: bool
) -> Guard:
    """Your condition (or `unless` rule) as a guard of the machine's transitions."""
    name = _callable_name(code)
    what = "unless rule" if unless else "condition"

    def check(cursor: _Cursor) -> tuple[Violation, ...]:
        attempt = cursor.attempt()
        verdict = _run_user_code(
            lambda: code(attempt),
            (what, name, label, where),
            "return a Violation to refuse the move",
            "condition_error",
        )
        if unless and type(verdict) is bool:
            refuse = verdict
        elif not unless and (verdict is None or type(verdict) is bool):
            refuse = verdict is False
        elif not unless and isinstance(verdict, Violation):
            return (verdict,)
        else:
            expected = "True or False" if unless else "a Violation, True, False or None"
            msg = f"{label}: {what} {name!r} returned {describe(verdict)}; return {expected}"
            raise ValidationError(msg, field=where, value=verdict, rule="condition_result")
        if not refuse:
            return ()
        moving = f"the move from {attempt.from_stage!r} to {attempt.to_stage!r}"
        message = f"{name} holds, which refuses {moving}" if unless else f"{name} refuses {moving}"
        return (Violation(rule=_rule_name(name), message=message),)

    return Guard(f"unless {name}" if unless else name, "user", check, unless=unless)


def _run_user_code(
    call: Callable[[], T], who: tuple[str, str, str, str], instead: str, rule: str
) -> T:
    """Run your code; what it raises becomes a `ValidationError` naming it and where it is."""
    what, name, label, where = who
    try:
        return call()
    except FunnelkitError:
        raise
    except Exception as error:
        msg = (
            f"{label}: {what} {name!r} raised {type(error).__name__}: {error}; a {what} must "
            f"not raise: {instead}"
        )
        raise ValidationError(msg, field=where, value=error, rule=rule) from error


def _user_guards(
    codes: tuple[Callable[[MoveAttempt], object], ...], where: str, label: str, *, unless: bool
) -> list[Guard]:
    kind = "unless" if unless else "conditions"
    return [
        _user_guard(code, f"{where}.{kind}[{index}]", label, unless=unless)
        for index, code in enumerate(codes)
    ]
