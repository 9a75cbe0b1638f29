"""
A pipeline compiled into the rules that decide every move, on a `transitions` state machine.

Each `Pipeline` compiles once into one model-less ``transitions.Machine``: its states are the
stages, its transitions the declared moves, and each transition carries the rules of that move
as named conditions (`Guard`). No entity is ever bound to the machine. Moves are decided by a
look-up table read off the compiled machine's transitions, so the machine stays the single
source of the rules while a move costs a dictionary look-up plus the guards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

import attrs
from transitions import Machine, MachineError

from funnelkit.exceptions import MoveRefusedError, ValidationError
from funnelkit.model import (
    Actor,
    Deal,
    DealLost,
    DealStatus,
    DealWon,
    EntityKind,
    EntityRef,
    Event,
    FieldChanged,
    FieldValues,
    Lead,
    LeadClosedAsJunk,
    LeadConverted,
    LeadStatus,
    MoveEvent,
    StageChanged,
    StageKey,
    TaskKind,
    Violation,
)
from funnelkit.model._checks import aware_datetime_problem, describe
from funnelkit.pipelines._definition import (
    Pipeline,
    PipelineKind,
    SetField,
    Stage,
    StageKind,
)


if TYPE_CHECKING:
    from transitions.core import EventData


__all__ = [
    "BulkMove",
    "CompiledPipeline",
    "Guard",
    "MoveResult",
    "Replay",
    "ReplayProblem",
    "TaskToCreate",
]

E = TypeVar("E", bound=Lead | Deal)


@attrs.frozen(kw_only=True)
class TaskToCreate:
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
        effects: Tasks to create, from the destination stage's entry actions.
    """

    entity: E
    events: tuple[Event, ...]
    effects: tuple[TaskToCreate, ...] = ()


class _Cursor:
    """What the machine and the guards see of one move attempt; thrown away after it."""

    __slots__ = ("actor", "converting", "entity", "note", "reason", "stage")

    def __init__(
        self, entity: Lead | Deal, actor: Actor, reason: str | None, note: str, converting: bool
    ) -> None:
        self.stage = entity.stage
        self.entity = entity
        self.actor = actor
        self.reason = reason
        self.note = note
        self.converting = converting


@attrs.frozen
class Guard:
    """
    One named rule of a move, attached to a transition of the compiled machine.

    Attributes:
        name: How diagrams and exports show it (``"roles(engineer)"``, ``"requires(amount)"``).
        rule: The stable rule name its violations carry.
    """

    name: str
    rule: str
    _check: Callable[[_Cursor], tuple[Violation, ...]] = attrs.field(repr=False)

    @property
    def __name__(self) -> str:  # transitions' exports name conditions by __name__
        return self.name

    def violations(self, cursor: _Cursor) -> tuple[Violation, ...]:
        """The violations of this rule for this move attempt (empty if it holds)."""
        return self._check(cursor)

    def __call__(self, event_data: EventData) -> bool:
        """Run as a `transitions` condition: true if the rule holds."""
        return not self._check(event_data.model)  # type: ignore[arg-type]


def _roles_guard(source: str, roles: frozenset[str], rule: str) -> Guard:
    shown = ", ".join(sorted(roles))

    def check(cursor: _Cursor) -> tuple[Violation, ...]:
        if roles & cursor.actor.roles:
            return ()
        held = ", ".join(sorted(cursor.actor.roles)) or "none"
        return (
            Violation(
                rule=rule,
                message=f"only {shown} may move out of {source!r}; "
                f"{cursor.actor.id!r} has roles: {held}",
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


def _required_guard(stage: Stage, names: tuple[str, ...]) -> Guard:
    def check(cursor: _Cursor) -> tuple[Violation, ...]:
        entity = cursor.entity
        missing = [name for name in names if not _filled(entity, name)]
        if not missing:
            return ()
        return tuple(
            Violation(
                rule="required_field",
                field=name,
                message=f"{name!r} must be filled to enter {stage.key!r}; fill it first",
            )
            for name in missing
        )

    return Guard(f"requires({', '.join(names)})", "required_field", check)


def _reason_guard(pipeline: Pipeline, stage: Stage) -> Guard:
    known = ", ".join(repr(reason.key) for reason in pipeline.reasons)
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


def _guards(pipeline: Pipeline, source: Stage, dest: Stage) -> list[Guard]:
    """The rules every move from `source` to `dest` must pass, in the order they are checked."""
    guards: list[Guard] = []
    if source.exit_roles:
        guards.append(_roles_guard(source.key, source.exit_roles, "exit_role"))
    guards.extend(
        _roles_guard(source.key, move.roles, "move_role")
        for move in pipeline.extra_moves
        if (move.source, move.dest) == (source.key, dest.key) and move.roles
    )
    if dest.required_fields:
        guards.append(_required_guard(dest, dest.required_fields))
    if dest.kind in (StageKind.LOST, StageKind.JUNK):
        guards.append(_reason_guard(pipeline, dest))
    if dest.kind is StageKind.WON and pipeline.kind is PipelineKind.LEAD:
        guards.append(_conversion_guard(dest))
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
    return {(source.key, dest.key): _guards(pipeline, source, dest) for source, dest in pairs}


T = TypeVar("T")
_BUILDERS: dict[type, Callable[[dict[str, Any]], Any]] = {}
_REPLACERS: dict[tuple[type, tuple[str, ...]], Callable[[Any, dict[str, Any]], Any]] = {}


def _compile_function(header: str, body: list[str], cls: type) -> Callable[..., Any]:
    """
    Compile straight-line code that fills a new instance of `cls`, as attrs compiles __init__.

    Each attribute is written through its slot descriptor (``_w_<name>``), which is what
    ``object.__setattr__`` does for a frozen class, minus the look-ups.
    """
    namespace: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    namespace.update(
        (f"_w_{attribute.name}", getattr(cls, attribute.name).__set__)
        for attribute in attrs.fields(cls)
    )
    source = "\n".join([header, "    new = _new(_cls)", *body, "    return new"])
    exec(source, namespace)  # noqa: S102 - generated from attribute names only
    function: Callable[..., Any] = namespace[header[4 : header.index("(")]]
    return function


def _fast_mover(
    entity_type: type[Lead | Deal], kind: EntityKind, pipeline: str, source: str, dest: str
) -> Callable[[Any, str, datetime, int], MoveResult[Any]]:
    """
    Compile the result-building half of an unforced move between two open stages.

    The generated function writes the new entity, its reference, the `StageChanged` event and
    the `MoveResult` straight into their slots: the same values `CompiledPipeline._apply`
    builds (a test compares the two on every seed pipeline), without its dictionaries.
    """
    open_status = LeadStatus.OPEN if entity_type is Lead else DealStatus.OPEN
    reset = (
        {"junk_reason": None, "deal_id": None}
        if entity_type is Lead
        else {"lost_reason": None, "lost_note": ""}
    )
    changes: dict[str, str] = {"stage": "_DEST", "status": "_OPEN", "closed_at": "None"}
    changes.update({name: repr(value) for name, value in reset.items()})
    namespace: dict[str, Any] = {
        "_new": object.__new__,
        "_DEST": dest,
        "_SOURCE": source,
        "_OPEN": open_status,
        "_KIND": kind,
        "_PIPELINE": pipeline,
    }
    lines = ["def make(e, actor, at, sequence):"]
    for prefix, cls in (
        ("r", EntityRef),
        ("v", StageChanged),
        ("n", entity_type),
        ("m", MoveResult),
    ):
        namespace[f"_{prefix}_cls"] = cls
        for attribute in attrs.fields(cast("Any", cls)):
            namespace[f"_{prefix}_{attribute.name}"] = getattr(cls, attribute.name).__set__
    values = {
        "r": {"kind": "_KIND", "id": "e.id"},
        "v": {
            "entity": "ref",
            "sequence": "sequence",
            "at": "at",
            "actor": "actor",
            "pipeline": "_PIPELINE",
            "from_stage": "_SOURCE",
            "to_stage": "_DEST",
            "forced": "False",
            "overridden": "()",
        },
        "n": {
            attribute.name: changes.get(attribute.name, f"e.{attribute.name}")
            for attribute in attrs.fields(entity_type)
        },
        "m": {"entity": "new", "events": "(event,)", "effects": "()"},
    }
    for prefix, target in (("r", "ref"), ("v", "event"), ("n", "new"), ("m", "result")):
        lines.append(f"    {target} = _new(_{prefix}_cls)")
        lines.extend(
            f"    _{prefix}_{name}({target}, {value})" for name, value in values[prefix].items()
        )
    lines.append("    return result")
    exec("\n".join(lines), namespace)  # noqa: S102 - generated from attribute names only
    make: Callable[[Any, str, datetime, int], MoveResult[Any]] = namespace["make"]
    return make


def _trusted(cls: type[T], values: dict[str, Any]) -> T:
    """
    Build a frozen attrs instance from values that are known to be valid, skipping validators.

    Only for results assembled from already-validated parts; the property kit re-validates
    every result it sees, so a mistake here cannot go unnoticed.
    """
    build = _BUILDERS.get(cls)
    if build is None:
        names = [attribute.name for attribute in attrs.fields(cast("Any", cls))]
        body = [f"    _w_{name}(new, v[{name!r}])" for name in names]
        build = _BUILDERS[cls] = _compile_function("def build(v):", body, cls)
    instance: T = build(values)
    return instance


def _replaced(entity: E, changes: dict[str, Any]) -> E:
    """`attrs.evolve` for already-validated changes, without re-running validators."""
    cls = type(entity)
    key = (cls, tuple(changes))
    replace = _REPLACERS.get(key)
    if replace is None:
        body = [
            f"    _w_{name}(new, c[{name!r}])"
            if name in changes
            else f"    _w_{name}(new, e.{name})"
            for name in (attribute.name for attribute in attrs.fields(cls))
        ]
        replace = _REPLACERS[key] = _compile_function("def replace(e, c):", body, cls)
    moved: E = replace(entity, changes)
    return moved


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


def _run_entry_actions(
    entity: Lead | Deal, dest: Stage, actor: Actor, at: datetime, events: list[Event]
) -> tuple[FieldValues, list[TaskToCreate]]:
    """Run `dest`'s entry actions: set fields (appending their events), plan tasks."""
    fields = entity.fields
    effects: list[TaskToCreate] = []
    for action in dest.on_enter:
        if isinstance(action, SetField):
            old = fields.get(action.field)
            if old != action.value:
                fields = fields.set(action.field, action.value)
                events.append(
                    FieldChanged(
                        entity=entity.ref,
                        sequence=events[0].sequence + len(events),
                        at=at,
                        actor=actor.id,
                        field=action.field,
                        old=old,
                        new=action.value,
                    )
                )
        else:
            effects.append(
                TaskToCreate(
                    subject=entity.ref,
                    kind=action.kind,
                    title=action.title,
                    assignee=action.assignee or entity.owner or actor.id,
                    due_at=at + action.due_in,
                )
            )
    return fields, effects


def _check_at(at: object) -> None:
    problem = aware_datetime_problem(at)
    if problem is not None:
        raise ValidationError(f"move(at): {problem[0]}", field="at", value=at, rule=problem[1])


class CompiledPipeline:
    """
    A pipeline's rules, compiled once; decides moves for any number of leads or deals.

    Get one with `Pipeline.compile` (cached per definition). It is immutable and thread-safe:
    nothing about an entity is kept between calls.
    """

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        declared = _declared_moves(pipeline)
        self._machine = Machine(
            model=None,
            states=[stage.key for stage in pipeline.stages],
            initial=pipeline.first_stage.key,
            auto_transitions=False,
            send_event=True,
            model_attribute="stage",
            ignore_invalid_triggers=False,
            queued=False,
            name=pipeline.key,
        )
        for (source, dest), guards in declared.items():
            self._machine.add_transition(_trigger(dest), source, dest, conditions=list(guards))
        # The look-up table is read off the machine, so the machine stays the source of truth.
        self._moves: dict[tuple[str, str], tuple[Guard, ...]] = {}
        for event in self._machine.events.values():
            for source, transitions in event.transitions.items():
                for transition in transitions:
                    found = tuple(condition.func for condition in transition.conditions)
                    if transition.dest is None or not all(isinstance(g, Guard) for g in found):
                        msg = f"pipeline {pipeline.key!r} compiled into an unexpected machine"
                        raise AssertionError(msg)
                    self._moves[(source, transition.dest)] = found  # type: ignore[assignment]
        self._targets: dict[str, tuple[str, ...]] = {
            stage.key: tuple(d.key for d in pipeline.stages if (stage.key, d.key) in self._moves)
            for stage in pipeline.stages
        }
        self._is_lead = pipeline.kind is PipelineKind.LEAD
        self._entity_type: type[Lead | Deal] = Lead if self._is_lead else Deal
        self._entity_kind = EntityKind.LEAD if self._is_lead else EntityKind.DEAL
        self._key = pipeline.key
        self._stages = {stage.key: stage for stage in pipeline.stages}
        self._reasons = {reason.key: reason for reason in pipeline.reasons}
        # Unforced moves between open stages without entry actions, the bulk of all moves,
        # take a compiled shortcut for building their results; the guards still come from
        # the machine's transitions.
        self._fast = {
            (source, dest): (
                guards,
                _fast_mover(self._entity_type, self._entity_kind, pipeline.key, source, dest),
            )
            for (source, dest), guards in self._moves.items()
            if not self._stages[dest].closed and not self._stages[dest].on_enter
        }

    # --- introspection ---------------------------------------------------------------------

    def moves(self) -> list[tuple[StageKey, StageKey, tuple[Guard, ...]]]:
        """Every declared move as ``(from_stage, to_stage, guards)``, in stage order."""
        order = {stage.key: i for i, stage in enumerate(self.pipeline.stages)}
        return sorted(
            ((source, dest, guards) for (source, dest), guards in self._moves.items()),
            key=lambda move: (order[move[0]], order[move[1]]),
        )

    def targets(self, stage: str) -> tuple[StageKey, ...]:
        """The stages a move from `stage` may go to, whoever makes it, in stage order."""
        self.pipeline.stage(stage)
        return self._targets[stage]

    # --- deciding moves --------------------------------------------------------------------

    def _placed(self, entity: Lead | Deal) -> bool:
        return entity.pipeline == self._key and entity.stage in self._stages

    def _entity_problem(self, entity: object) -> None:
        expected = self._entity_type
        if type(entity) is expected and self._placed(entity):
            return
        if not isinstance(entity, expected):
            msg = (
                f"pipeline {self.pipeline.key!r} holds {self.pipeline.kind.value}s, got "
                f"{describe(entity)}"
            )
            raise ValidationError(msg, field="entity", value=entity, rule="type")
        if entity.pipeline != self.pipeline.key:
            msg = (
                f"{entity.ref} is in pipeline {entity.pipeline!r}, not {self.pipeline.key!r}; "
                "use that pipeline's rules"
            )
            raise ValidationError(
                msg, field="entity.pipeline", value=entity.pipeline, rule="pipeline"
            )
        if entity.stage not in self.pipeline:
            msg = (
                f"{entity.ref} is in stage {entity.stage!r}, which pipeline {self.pipeline.key!r} "
                f"does not have; its stages are {[s.key for s in self.pipeline.stages]}"
            )
            raise ValidationError(
                msg, field="entity.stage", value=entity.stage, rule="unknown_stage"
            )

    def _violations(  # noqa: PLR0917 - private; positional for speed
        self,
        entity: Lead | Deal,
        to_stage: str,
        actor: Actor,
        reason: str | None,
        note: str,
        converting: bool,
    ) -> tuple[Violation, ...]:
        given: object = actor
        if not isinstance(given, Actor):
            msg = f"move(actor): expected an Actor, got {describe(given)}"
            raise ValidationError(msg, field="actor", value=actor, rule="type")
        source = entity.stage
        if to_stage not in self._stages:
            return (
                Violation(
                    rule="unknown_stage",
                    field="to_stage",
                    message=f"pipeline {self.pipeline.key!r} has no stage {to_stage!r}",
                    allowed=self._allowed(entity, actor),
                ),
            )
        guards = self._moves.get((source, to_stage))
        if guards is None:
            return (self._no_move(entity, to_stage, actor),)
        cursor = _Cursor(entity, actor, reason, note, converting)
        found: list[Violation] = []
        for guard in guards:
            found.extend(guard.violations(cursor))
        if not found:
            return ()
        allowed = self._allowed(entity, actor)
        return tuple(attrs.evolve(v, allowed=allowed) for v in found)

    def _no_move(self, entity: Lead | Deal, to_stage: str, actor: Actor) -> Violation:
        source = self.pipeline.stage(entity.stage)
        allowed = self._allowed(entity, actor)
        if to_stage == source.key:
            rule, message = "same_stage", f"{entity.ref} is already in {to_stage!r}"
        elif source.closed:
            rule = "closed_stage"
            message = (
                f"{entity.ref} is closed in {source.key!r} ({source.kind.value}); closed stages "
                "are final: reopening needs force=True"
            )
        elif self.pipeline.index(to_stage) < self.pipeline.index(source.key):
            rule = "back"
            message = f"pipeline {self.pipeline.key!r} does not allow moving back to {to_stage!r}"
        else:
            rule = "skip"
            message = (
                f"pipeline {self.pipeline.key!r} does not allow skipping stages on the way from "
                f"{source.key!r} to {to_stage!r}"
            )
        return Violation(rule=rule, field="to_stage", message=message, allowed=allowed)

    def _allowed(self, entity: Lead | Deal, actor: Actor) -> tuple[StageKey, ...]:
        cursor = _Cursor(entity, actor, None, "", converting=False)
        return tuple(
            dest
            for dest in self._targets[entity.stage]
            if all(
                guard.rule in ("reason", "conversion") or not guard.violations(cursor)
                for guard in self._moves[(entity.stage, dest)]
            )
        )

    def check(
        self,
        entity: Lead | Deal,
        to_stage: str,
        actor: Actor,
        *,
        reason: str | None = None,
        note: str = "",
    ) -> tuple[Violation, ...]:
        """
        Return the rules a move would break (empty if it is allowed); change nothing.

        Each violation lists the stages the actor may move the entity to instead.

        Raises:
            ValidationError: If the entity is not of this pipeline, or the actor not an `Actor`.
        """
        self._entity_problem(entity)
        return self._violations(entity, to_stage, actor, reason, note, converting=False)

    def allowed_moves(self, entity: Lead | Deal, actor: Actor) -> tuple[StageKey, ...]:
        """
        Return the stages `actor` may move `entity` to now, in stage order.

        Moves to lost and junk stages are listed: they are allowed given a reason. Moves that
        need fields the entity lacks, or roles the actor lacks, are not.
        """
        self._entity_problem(entity)
        return self._allowed(entity, actor)

    def move(
        self,
        entity: E,
        to_stage: str,
        actor: Actor,
        at: datetime,
        *,
        sequence: int,
        reason: str | None = None,
        note: str = "",
        force: bool = False,
    ) -> MoveResult[E]:
        """
        Move an entity to a stage, if the rules allow it (or `force` overrides them).

        Args:
            entity: The lead or deal, as read from the store.
            to_stage: The destination stage's key.
            actor: Who moves it (their roles matter).
            at: When (timezone-aware).
            sequence: The sequence number of the first event produced: the entity's last event
                sequence plus one.
            reason: The reason key, for lost and junk stages.
            note: A free-text note, required by reasons such as "other".
            force: Override every rule; the overridden violations are recorded in the event.

        Returns:
            The moved entity, its events and the tasks to create.

        Raises:
            MoveRefusedError: If a rule forbids the move and `force` is false; nothing changed.
            ValidationError: If an argument is malformed (unknown stage with force, naive time).
        """
        fast = None if force else self._fast.get((entity.stage, to_stage))
        if (
            fast is not None
            and type(entity) is self._entity_type
            and entity.pipeline == self._key
            and type(actor) is Actor
            and type(at) is datetime
            and at.utcoffset() is not None
            and type(sequence) is int
            and sequence > 0
        ):
            guards, make = fast
            if not guards:
                return make(entity, actor.id, at, sequence)
            cursor = _Cursor(entity, actor, reason, note, converting=False)
            for guard in guards:
                if guard.violations(cursor):
                    break  # the general path below explains the refusal
            else:
                return make(entity, actor.id, at, sequence)
        return self._move(
            entity, to_stage, actor, at, sequence, reason, note, force, conversion=None
        )

    def _move(  # noqa: PLR0917 - private; called with positional arguments for speed
        self,
        entity: E,
        to_stage: str,
        actor: Actor,
        at: datetime,
        sequence: int,
        reason: str | None,
        note: str,
        force: bool,
        *,
        conversion: tuple[str, str] | None,
    ) -> MoveResult[E]:
        """Move; `conversion` is ``(deal_id, contact_id)`` when a funnel converts a lead."""
        converting = conversion is not None
        self._entity_problem(entity)
        if type(at) is not datetime or at.utcoffset() is None:
            _check_at(at)
        if type(sequence) is not int or sequence < 1:
            msg = f"move(sequence): expected a positive integer, got {describe(sequence)}"
            raise ValidationError(msg, field="sequence", value=sequence, rule="range")
        violations = self._violations(entity, to_stage, actor, reason, note, converting)
        if violations and not force:
            raise MoveRefusedError(entity.ref, to_stage, violations)
        dest = self._stages.get(to_stage)
        if dest is None or to_stage == entity.stage:
            raise MoveRefusedError(entity.ref, to_stage, violations)
        if dest.kind in (StageKind.LOST, StageKind.JUNK) and (
            reason is None or reason not in self._reasons
        ):
            # Even a forced loss records a known reason: analytics group by it.
            raise MoveRefusedError(
                entity.ref,
                to_stage,
                tuple(v for v in violations if v.rule == "reason")
                or (Violation(rule="reason", field="reason", message="a known reason is needed"),),
            )
        if dest.kind is StageKind.WON and self._is_lead and not converting:
            raise MoveRefusedError(entity.ref, to_stage, violations)
        if type(note) is not str:
            msg = f"move(note): expected a string, got {describe(note)}"
            raise ValidationError(msg, field="note", value=note, rule="type")
        if dest.closed and at < entity.created_at:
            msg = (
                f"move(at): {entity.ref} would close at {at.isoformat()}, before it was created "
                f"({entity.created_at.isoformat()}); pass the real time of the move"
            )
            raise ValidationError(msg, field="at", value=at, rule="closed_after_created")
        return self._apply(
            entity, dest, actor, at, sequence, (reason, note), force, violations, conversion
        )

    def _apply(  # noqa: PLR0917
        self,
        entity: E,
        dest: Stage,
        actor: Actor,
        at: datetime,
        sequence: int,
        why: tuple[str | None, str],
        force: bool,
        overridden: tuple[Violation, ...],
        conversion: tuple[str, str] | None,
    ) -> MoveResult[E]:
        reason, note = why
        changes: dict[str, Any] = {"stage": dest.key}
        move: dict[str, Any] = {
            "entity": _trusted(EntityRef, {"kind": self._entity_kind, "id": entity.id}),
            "sequence": sequence,
            "at": at,
            "actor": actor.id,
            "pipeline": self.pipeline.key,
            "from_stage": entity.stage,
            "to_stage": dest.key,
            "forced": force and bool(overridden),
            "overridden": overridden if force else (),
        }
        # Every value below was validated already (the entity, the pipeline's keys, the actor,
        # `at`, `sequence`, the reason and note), so the common moves build their results
        # without running the validators again: that is most of a move's cost.
        event: Event
        if isinstance(entity, Deal):
            if dest.kind is StageKind.WON:
                changes.update(status=DealStatus.WON, closed_at=at, lost_reason=None)
                event = _trusted(DealWon, {**move, "amount": entity.amount})
            elif dest.kind is StageKind.LOST:
                changes.update(
                    status=DealStatus.LOST, closed_at=at, lost_reason=reason, lost_note=note
                )
                event = _trusted(DealLost, {**move, "reason": reason, "note": note})
            else:
                changes.update(
                    status=DealStatus.OPEN, closed_at=None, lost_reason=None, lost_note=""
                )
                event = _trusted(StageChanged, move)
        elif dest.kind is StageKind.JUNK:
            changes.update(status=LeadStatus.JUNK, closed_at=at, junk_reason=reason, deal_id=None)
            event = _trusted(LeadClosedAsJunk, {**move, "reason": reason, "note": note})
        elif dest.kind is StageKind.WON and conversion is not None:
            deal_id, contact_id = conversion
            changes.update(
                status=LeadStatus.CONVERTED,
                closed_at=at,
                junk_reason=None,
                deal_id=deal_id,
                contact_id=contact_id,
            )
            event = LeadConverted(**move, deal_id=deal_id, contact_id=contact_id)
        else:
            changes.update(status=LeadStatus.OPEN, closed_at=None, junk_reason=None, deal_id=None)
            event = _trusted(StageChanged, move)
        events: list[Event] = [event]
        effects: list[TaskToCreate] = []
        if dest.on_enter:
            fields, effects = _run_entry_actions(entity, dest, actor, at, events)
            if fields is not entity.fields:
                changes["fields"] = fields
        # A conversion carries caller-given ids: that path validates everything again.
        moved = attrs.evolve(entity, **changes) if conversion else _replaced(entity, changes)
        result = {"entity": moved, "events": tuple(events), "effects": tuple(effects)}
        return _trusted(MoveResult, result)

    def move_many(
        self,
        entities: Iterable[tuple[E, int]],
        to_stage: str,
        actor: Actor,
        at: datetime,
        *,
        reason: str | None = None,
        note: str = "",
        force: bool = False,
    ) -> BulkMove[E]:
        """
        Move many entities to one stage, each under the same rules as a single `move`.

        Each entity moves or is refused on its own: one refusal does not stop the others.

        Args:
            entities: ``(entity, sequence)`` pairs: each entity with the sequence number of
                its first new event.
            to_stage: The destination for all of them.
            actor: Who moves them.
            at: When.
            reason: The reason key, for lost and junk stages.
            note: The note, for reasons that need one.
            force: Override the rules (audited per entity).

        Returns:
            The moves made and the refusals, each refusal with its violations.
        """
        moved: list[MoveResult[E]] = []
        refused: list[MoveRefusedError] = []
        for entity, sequence in entities:
            try:
                moved.append(
                    self._move(
                        entity, to_stage, actor, at, sequence, reason, note, force, conversion=None
                    )
                )
            except MoveRefusedError as error:
                refused.append(error)
        return BulkMove(moved=tuple(moved), refused=tuple(refused))

    # --- replaying history -----------------------------------------------------------------

    def replay(self, history: Iterable[Event], *, start: str | None = None) -> Replay:
        """
        Check one entity's recorded history against the rules and return where it ends.

        Each move event must start where the previous one ended (the first where `start`, the
        first stage by default, says), stay in this pipeline, and follow a move the compiled
        machine declares; a move that does not is accepted only if it was forced, and then
        must list the rules it overrode. Other events are skipped. Guards that depend on the
        entity's fields or the actor's roles at the time cannot be re-checked from events;
        the forced flag records whether they were overridden.

        Returns:
            The final stage and the problems found, each tied to an event's sequence number.
        """
        stage = self.pipeline.first_stage.key if start is None else start
        moves = self._moves
        stages = self._stages
        key = self._key
        problems: list[ReplayProblem] = []
        count = 0
        for event in history:
            if not isinstance(event, MoveEvent):
                continue
            count += 1
            source, dest = event.from_stage, event.to_stage
            if event.pipeline != key:
                problems.append(
                    _problem(event, "pipeline", f"event is about pipeline {event.pipeline!r}")
                )
            elif source != stage:
                problems.append(
                    _problem(
                        event, "history", f"moves from {source!r}, but the entity was in {stage!r}"
                    )
                )
            elif (source, dest) not in moves and not event.forced:
                why = "unknown stage" if dest not in stages else "a move the rules do not declare"
                problems.append(
                    _problem(event, "undeclared_move", f"{source!r} → {dest!r} is {why}")
                )
            stage = dest
        return Replay(stage=stage, moves=count, problems=tuple(problems))

    # --- the machine itself ----------------------------------------------------------------

    def machine_allows(
        self,
        entity: Lead | Deal,
        to_stage: str,
        actor: Actor,
        *,
        reason: str | None = None,
        note: str = "",
    ) -> bool:
        """
        Ask the compiled `transitions` machine itself whether a move is allowed.

        This runs the machine's trigger on a throwaway cursor; it always agrees with `check`
        (the property-testing kit verifies that) and exists so that tests can prove it.
        """
        self._entity_problem(entity)
        event = self._machine.events.get(_trigger(to_stage))
        if event is None:  # an unknown stage, or one no move leads to
            return False
        cursor = _Cursor(entity, actor, reason, note, converting=False)
        try:
            return bool(event.trigger(cursor))
        except MachineError:
            return False

    def __repr__(self) -> str:
        return f"<CompiledPipeline {self.pipeline.key!r}: {len(self._moves)} moves>"
