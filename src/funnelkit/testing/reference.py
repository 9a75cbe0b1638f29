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
   actor holds none of; ``required_field`` once for each field the destination requires that
   is not filled (a custom field, or else the entity's own attribute, that is missing, ``None``,
   ``""`` or ``()``); ``reason`` into a lost or junk stage without a known reason;
   ``reason_note`` if that reason needs a note and the note is blank; ``conversion`` into the
   won stage of a lead pipeline (leads reach it by conversion only); then your own conditions
   of the destination stage, its unless rules, and those of the extra move, in order.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING

from funnelkit.model import Violation
from funnelkit.pipelines import MoveAttempt, PipelineKind, StageKind


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
    broken = _own_rules(pipeline, (source, dest), extra, entity, actor, (reason, note))
    attempt = MoveAttempt(
        entity=entity,
        actor=actor,
        from_stage=source.key,
        to_stage=dest.key,
        reason=reason,
        note=note,
        context=_NOTHING if context is None else context,
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


def _own_rules(  # noqa: PLR0917 - private
    pipeline: Pipeline,
    move: tuple[Stage, Stage],
    extra: list[ExtraMove],
    entity: Lead | Deal,
    actor: Actor,
    why: tuple[str | None, str],
) -> list[str]:
    """The declarative rules a declared move breaks (funnelkit's own, before yours)."""
    (source, dest), (reason, note) = move, why
    broken: list[str] = []
    if source.exit_roles and not source.exit_roles & actor.roles:
        broken.append("exit_role")
    broken.extend("move_role" for m in extra if m.roles and not m.roles & actor.roles)
    broken.extend("required_field" for name in dest.required_fields if not _holds(entity, name))
    if dest.kind in _CLOSING:
        known = {r.key: r for r in pipeline.reasons}
        if reason not in known:
            broken.append("reason")
        elif known[reason].needs_note and not note.strip():
            broken.append("reason_note")
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
