"""
The transitions machine a pipeline compiles into, with your callbacks and entry actions.

Stages are its states (with ``on_enter``/``on_exit``), declared moves its transitions (with
their guards and callbacks); what callbacks return is collected as effects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from transitions.extensions.markup import MarkupMachine

from funnelkit._checks import aware_datetime_problem, describe
from funnelkit.events import (
    Event,
    FieldChanged,
)
from funnelkit.exceptions import ValidationError
from funnelkit.pipelines._definition import (
    _NO_CONTEXT,
    CreateTask,
    Message,
    MoveAttempt,
    Pipeline,
    SetField,
    Stage,
)
from funnelkit.pipelines._guards import (
    _callable_name,
    _Cursor,
    _declared_moves,
    _run_user_code,
    _trigger,
)
from funnelkit.pipelines._results import PlannedTask


if TYPE_CHECKING:
    from datetime import datetime

    from transitions.core import EventData

    from funnelkit.model import (
        Actor,
        Deal,
        FieldValues,
        Lead,
    )


__all__: list[str] = []


def _callback(
    code: Callable[[MoveAttempt], Any], where: str, label: str, pipeline: Pipeline
) -> Callable[..., None]:
    """Your callback as a transitions callback: it adds the effects it returns to the cursor."""
    name = _callable_name(code)

    def run(event_data: EventData) -> None:
        cursor: _Cursor = event_data.model  # type: ignore[assignment]
        if cursor.dry:
            return

        def effects_of() -> tuple[Any, ...]:
            produced = code(cursor.attempt())
            return () if produced is None else tuple(produced)

        effects = _run_user_code(
            effects_of,
            ("callback", name, label, where),
            "return the effects it asks for (CreateTask, SetField, Message)",
            "callback_error",
        )
        for effect in effects:
            _check_effect(effect, name, (where, label), pipeline)
        cursor.effects.extend(effects)

    run.__name__ = name  # the machine's markup names callbacks by __name__
    return run


def _check_effect(effect: object, name: str, place: tuple[str, str], pipeline: Pipeline) -> None:
    where, label = place
    if not isinstance(effect, CreateTask | SetField | Message):
        msg = (
            f"{label}: callback {name!r} returned {describe(effect)} among its effects; return "
            "CreateTask, SetField or Message values (or None)"
        )
        raise ValidationError(msg, field=where, value=effect, rule="callback_result")
    if isinstance(effect, SetField):
        problem: str | None = None
        if effect.field not in pipeline.fields:
            problem = f"sets {effect.field!r}, which is not a custom field of the pipeline's schema"
        else:
            violation = pipeline.fields[effect.field].check(effect.value)
            problem = None if violation is None else violation.message
        if problem is not None:
            msg = f"{label}: callback {name!r} {problem}; fix the callback or the schema"
            raise ValidationError(msg, field=where, value=effect, rule="callback_result")


def _entry_action(action: CreateTask | SetField) -> Callable[..., None]:
    """An entry action written as data, as a transitions ``on_enter`` callback."""

    def run(event_data: EventData) -> None:
        cursor: _Cursor = event_data.model  # type: ignore[assignment]
        if not cursor.dry:
            cursor.effects.append(action)

    # The machine's markup names callbacks by __name__.
    if isinstance(action, CreateTask):
        run.__name__ = f"create_task({action.title})"
    else:
        run.__name__ = f"set_field({action.field})"
    return run


def _stage_callbacks(pipeline: Pipeline, index: int, stage: Stage) -> dict[str, Any]:
    where, label = f"Pipeline.stages[{index}]", f"stage {stage.key!r}"
    return {
        "name": stage.key,
        "on_enter": [
            _entry_action(action)
            if isinstance(action, CreateTask | SetField)
            else _callback(action, f"{where}.on_enter[{position}]", label, pipeline)
            for position, action in enumerate(stage.on_enter)
        ],
        "on_exit": [
            _callback(code, f"{where}.on_exit[{position}]", label, pipeline)
            for position, code in enumerate(stage.on_exit)
        ],
    }


def _applied_effects(  # noqa: PLR0917 - private
    entity: Lead | Deal,
    effects: Iterable[CreateTask | SetField | Message],
    actor: Actor,
    at: datetime,
    events: list[Event],
    sequence: int,
) -> tuple[FieldValues, list[PlannedTask | Message]]:
    """
    Carry out what the machine's callbacks asked for: set fields (with events), plan tasks.

    The `FieldChanged` events are appended to `events`; the one appended at index ``i`` is
    numbered ``sequence + i`` (`sequence` is that of ``events[0]``, or of the first event to
    come when `events` is empty).
    """
    fields = entity.fields
    done: list[PlannedTask | Message] = []
    for effect in effects:
        if isinstance(effect, SetField):
            old = fields.get(effect.field)
            if old != effect.value:
                fields = fields.set(effect.field, effect.value)
                events.append(
                    FieldChanged(
                        entity=entity.ref,
                        sequence=sequence + len(events),
                        at=at,
                        actor=actor.id,
                        field=effect.field,
                        old=old,
                        new=effect.value,
                    )
                )
        elif isinstance(effect, CreateTask):
            done.append(
                PlannedTask(
                    subject=entity.ref,
                    kind=effect.kind,
                    title=effect.title,
                    assignee=effect.assignee or entity.owner or actor.id,
                    due_at=at + effect.due_in,
                )
            )
        else:
            done.append(effect)
    return fields, done


def _check_at(at: object) -> None:
    problem = aware_datetime_problem(at)
    if problem is not None:
        raise ValidationError(f"move(at): {problem[0]}", field="at", value=at, rule=problem[1])


def _check_context(context: object) -> Mapping[str, object]:
    if context is None:
        return _NO_CONTEXT
    if not isinstance(context, Mapping):
        msg = f"context: expected a mapping (or None), got {describe(context)}"
        raise ValidationError(msg, field="context", value=context, rule="type")
    return context


_FORCE = "force:"


def _build_machine(pipeline: Pipeline) -> MarkupMachine:
    """The pipeline as one model-less transitions machine: stages, moves, rules, callbacks."""
    declared = _declared_moves(pipeline)
    machine = MarkupMachine(
        model=None,
        states=[_stage_callbacks(pipeline, i, stage) for i, stage in enumerate(pipeline.stages)],
        initial=pipeline.first_stage.key,
        auto_transitions=False,
        send_event=True,
        model_attribute="stage",
        ignore_invalid_triggers=False,
        queued=False,
        name=pipeline.key,
        before_state_change=[
            _callback(code, f"Pipeline.before[{i}]", f"pipeline {pipeline.key!r}", pipeline)
            for i, code in enumerate(pipeline.before)
        ],
        after_state_change=[
            _callback(code, f"Pipeline.after[{i}]", f"pipeline {pipeline.key!r}", pipeline)
            for i, code in enumerate(pipeline.after)
        ],
    )
    hooks: dict[tuple[str, str], dict[str, list[str | Callable[..., bool | None]]]] = {}
    for i, move in enumerate(pipeline.extra_moves):
        found = hooks.setdefault((move.source, move.dest), {"before": [], "after": []})
        for when in ("before", "after"):
            found[when].extend(
                _callback(
                    code,
                    f"Pipeline.extra_moves[{i}].{when}[{j}]",
                    f"move {move.source!r} → {move.dest!r}",
                    pipeline,
                )
                for j, code in enumerate(getattr(move, when))
            )
    for (source, dest), guards in declared.items():
        machine.add_transition(
            _trigger(dest),
            source,
            dest,
            conditions=[g for g in guards if not g.unless],
            unless=[g for g in guards if g.unless],
            before=hooks.get((source, dest), {}).get("before"),
            after=hooks.get((source, dest), {}).get("after"),
        )
    for stage in pipeline.stages:  # a forced move: no rules, the callbacks all the same
        machine.add_transition(_FORCE + stage.key, "*", stage.key)
    return machine
