"""
A reference interpreter of pipeline definitions: the property kit's own oracle.

`reference_refusals` says which rules a move breaks, read straight from a `Pipeline`
definition and the documented semantics, with none of the engine's code: no compiled machine,
no guards, no helper of ``funnelkit.pipelines``. The kit compares every move's outcome with
it, so a rule the engine stops applying is caught even when the engine agrees with itself.

The semantics it encodes, as documented here and on the page "Write your own pipeline":

1. A move to a stage the pipeline lacks breaks ``unknown_stage``; to the stage the entity is in,
   ``same_stage``; out of a closed (won, lost or junk) stage, ``closed_stage``.
2. From an open stage, the policy declares: the next open stage; any later stage if
   ``allow_skip``; any earlier stage if ``allow_back``; every lost and junk stage; a won stage
   from the last open stage (from any if ``allow_skip``). Extra moves add their pairs. Any other
   move breaks ``back`` (to an earlier stage) or ``skip``.
3. A declared move then breaks, in this order: ``exit_role`` if the source has exit roles and
   the actor holds none of them; ``move_role`` for each extra move of that pair with roles the
   actor holds none of; ``entry_role`` if the destination has entry roles and the actor holds
   none of them; ``required_field`` once for each field the destination requires that is not
   filled (a custom field, or else the entity's own attribute, that is missing, ``None``,
   ``""`` or ``()``), then once for each such field an extra move of the pair requires;
   ``reason`` into a lost or junk stage without a known reason; ``reason_stage`` if that reason
   names closing stages and the destination is not one of them; ``reason_note`` if it needs a
   note and the note is blank; ``payment`` if the destination requires money received and
   the deal has no payment, or requires it in full and the deal has no amount or its payments
   add up to less; ``open_task`` for each open task about the entity, of a kind the source
   blocks on, among the tasks in ``context[OPEN_TASKS]`` (once if the context has none),
   unless the destination is a lost or junk stage; ``conversion`` into the won stage of a
   lead pipeline (leads reach it by conversion only); then your own conditions of the
   destination stage, its unless rules, and those of the extra move, in order.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING

from funnelkit.model import TaskStatus, Violation
from funnelkit.pipelines import OPEN_TASKS, MoveAttempt, PaymentRule, PipelineKind, StageKind


if TYPE_CHECKING:
    from collections.abc import Mapping

    from funnelkit.model import Actor, Deal, Lead
    from funnelkit.pipelines import ExtraMove, Pipeline, Stage


__all__ = ["reference_refusals", "reference_targets"]

_CLOSING = (StageKind.LOST, StageKind.JUNK)
_NOTHING: Mapping[str, object] = MappingProxyType({})


def reference_refusals(
    pipeline: Pipeline,
    entity: Lead | Deal,
    to_stage: str,
    actor: Actor,
    *,
    reason: str | None = None,
    note: str = "",
    context: Mapping[str, object] | None = None,
) -> list[str]:
    """
    The rules an unforced move breaks, by name, in order: empty if it is allowed.

    Your conditions are called directly, with the attempt as the engine would pass it.
    """
    keys = [stage.key for stage in pipeline.stages]
    if to_stage not in keys:
        return ["unknown_stage"]
    if to_stage == entity.stage:
        return ["same_stage"]
    source = next(stage for stage in pipeline.stages if stage.key == entity.stage)
    dest = next(stage for stage in pipeline.stages if stage.key == to_stage)
    if source.kind is not StageKind.OPEN:
        return ["closed_stage"]
    extra = [m for m in pipeline.extra_moves if (m.source, m.dest) == (source.key, dest.key)]
    if not extra and not _policy_declares(pipeline, source, dest):
        return ["back" if keys.index(to_stage) < keys.index(entity.stage) else "skip"]
    given = _NOTHING if context is None else context
    broken = _own_rules(pipeline, (source, dest), extra, entity, actor, (reason, note), given)
    attempt = MoveAttempt(
        entity=entity,
        actor=actor,
        from_stage=source.key,
        to_stage=dest.key,
        reason=reason,
        note=note,
        context=given,
    )
    holders: list[Stage | ExtraMove] = [dest, *extra]
    for holder in holders:
        for condition in holder.conditions:
            broken.extend(_condition_rules(condition, attempt))
        broken.extend(_name(rule) for rule in holder.unless if rule(attempt) is True)
    return broken


def reference_targets(pipeline: Pipeline, stage: str) -> list[str]:
    """The stages the definition declares a move to from `stage` (none from a closed one)."""
    source = next(s for s in pipeline.stages if s.key == stage)
    if source.kind is not StageKind.OPEN:
        return []
    extra = {m.dest for m in pipeline.extra_moves if m.source == stage}
    return [
        dest.key
        for dest in pipeline.stages
        if dest.key != stage and (dest.key in extra or _policy_declares(pipeline, source, dest))
    ]


def _reason_rules(pipeline: Pipeline, dest: Stage, reason: str | None, note: str) -> list[str]:
    known = {r.key: r for r in pipeline.reasons}
    if reason not in known:
        return ["reason"]
    if known[reason].stages and dest.key not in known[reason].stages:
        return ["reason_stage"]
    if known[reason].needs_note and not note.strip():
        return ["reason_note"]
    return []


def _task_rules(source: Stage, entity: Lead | Deal, context: Mapping[str, object]) -> list[str]:
    tasks = context.get(OPEN_TASKS)
    if tasks is None:
        return ["open_task"]
    return [
        "open_task"
        for task in tasks  # type: ignore[attr-defined]
        if task.subject == entity.ref
        and task.status is TaskStatus.OPEN
        and task.kind in source.blocking_tasks
    ]


def _paid(rule: PaymentRule, entity: Lead | Deal) -> bool:
    """Whether the entity's payments meet a stage's payment rule."""
    if rule is PaymentRule.NONE:
        return True
    payments = getattr(entity, "payments", ())
    if rule is PaymentRule.RECEIVED:
        return len(payments) > 0
    amount = getattr(entity, "amount", None)
    return (
        bool(payments)
        and amount is not None
        and sum(p.amount.amount for p in payments) >= amount.amount
    )


def _own_rules(  # noqa: PLR0917 - private
    pipeline: Pipeline,
    move: tuple[Stage, Stage],
    extra: list[ExtraMove],
    entity: Lead | Deal,
    actor: Actor,
    why: tuple[str | None, str],
    context: Mapping[str, object],
) -> list[str]:
    """The declarative rules a declared move breaks (funnelkit's own, before yours)."""
    (source, dest), (reason, note) = move, why
    broken: list[str] = []
    if source.exit_roles and not source.exit_roles & actor.roles:
        broken.append("exit_role")
    broken.extend("move_role" for m in extra if m.roles and not m.roles & actor.roles)
    if dest.entry_roles and not dest.entry_roles & actor.roles:
        broken.append("entry_role")
    broken.extend("required_field" for name in dest.required_fields if not _holds(entity, name))
    broken.extend(
        "required_field" for m in extra for name in m.required_fields if not _holds(entity, name)
    )
    if dest.kind in _CLOSING:
        broken.extend(_reason_rules(pipeline, dest, reason, note))
    if not _paid(dest.payment, entity):
        broken.append("payment")
    if source.blocking_tasks and dest.kind not in _CLOSING:
        broken.extend(_task_rules(source, entity, context))
    if dest.kind is StageKind.WON and pipeline.kind is PipelineKind.LEAD:
        broken.append("conversion")
    return broken


def _policy_declares(pipeline: Pipeline, source: Stage, dest: Stage) -> bool:
    stages = list(pipeline.stages)
    here, there = stages.index(source), stages.index(dest)
    open_after = [i for i, s in enumerate(stages) if s.kind is StageKind.OPEN and i > here]
    if dest.kind in _CLOSING:
        return True
    if dest.kind is StageKind.WON:
        return pipeline.policy.allow_skip or not open_after
    if there < here:
        return pipeline.policy.allow_back
    return pipeline.policy.allow_skip or there == open_after[0]


def _holds(entity: Lead | Deal, name: str) -> bool:
    """Whether a field is filled: the custom field, or else the entity's own attribute."""
    value = entity.fields[name] if name in entity.fields else getattr(entity, name, None)
    return value not in (None, "", ())


def _condition_rules(condition: object, attempt: MoveAttempt) -> list[str]:
    verdict = condition(attempt)  # type: ignore[operator]
    if isinstance(verdict, Violation):
        return [verdict.rule]
    return [_name(condition)] if verdict is False else []


def _name(code: object) -> str:
    name = getattr(code, "__name__", "")
    return name if isinstance(name, str) and name.isidentifier() else "condition"
