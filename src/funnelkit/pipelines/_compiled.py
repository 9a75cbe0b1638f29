"""
A pipeline compiled into one `transitions` state machine, which decides every move.

Each `Pipeline` compiles once into one model-less ``transitions`` machine (a ``MarkupMachine``,
so that it can be inspected and exported): its states are the stages, with the stages'
``on_enter`` and ``on_exit`` callbacks; its transitions are the declared moves, each carrying
funnelkit's rules and your own as transitions ``conditions`` and ``unless`` (`Guard`), and an
extra move's ``before`` and ``after`` callbacks; the pipeline's own ``before`` and ``after``
are the machine's ``before_state_change`` and ``after_state_change``. No entity is ever bound
to the machine: each `check` and `move` triggers it on a light cursor made for the call and
thrown away after it.

Construction paths of a move's result, all in this module:

- the **machine path** (`CompiledPipeline.check`, and `move` for every move that is forced,
  closes the entity, runs callbacks or entry actions, or is refused): the machine's trigger
  decides and runs the callbacks, then `CompiledPipeline._apply` builds the result;
- the **fast path** (`move` for an unforced move between open stages without callbacks): a
  table read off the machine's transitions gives the same guards, which are run in the same
  order, and `_fast_result` builds the same result directly. The property test
  ``test_the_fast_path_and_the_machine_path_agree`` in ``tests/test_pipeline_machine.py``
  proves both give identical entities, events, effects and refusals;
- both build their results in ``funnelkit.pipelines._build``, which names them again.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs
from transitions import MachineError
from transitions.core import EventData

from funnelkit._checks import describe, text_problem
from funnelkit.events import (
    DealLost,
    DealWon,
    Event,
    LeadClosedAsJunk,
    LeadConverted,
    MoveEvent,
    StageChanged,
)
from funnelkit.exceptions import MoveRefusedError, ValidationError
from funnelkit.model import (
    Actor,
    Deal,
    DealStatus,
    EntityKind,
    EntityRef,
    Lead,
    LeadStatus,
    StageKey,
    Violation,
)
from funnelkit.pipelines._build import replaced, stage_changed, trusted
from funnelkit.pipelines._definition import (
    CreateTask,
    Message,
    Pipeline,
    PipelineKind,
    SetField,
    Stage,
    StageKind,
)
from funnelkit.pipelines._guards import Guard, _Cursor, _trigger
from funnelkit.pipelines._machine import (
    _FORCE,
    _applied_effects,
    _build_machine,
    _check_at,
    _check_context,
)
from funnelkit.pipelines._results import BulkMove, E, MoveResult, Replay, ReplayProblem, _problem


if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from transitions.extensions.markup import MarkupMachine


__all__ = [
    "CompiledPipeline",
]


class CompiledPipeline:
    """
    A pipeline's rules, compiled once into a `transitions` machine that decides every move.

    Get one with `Pipeline.compile` (cached per definition). It is immutable and thread-safe:
    nothing about an entity is kept between calls; each call triggers the machine on a cursor
    of its own. The machine itself is `machine` (its `markup` is its exported form).
    """

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self._machine = _build_machine(pipeline)
        # The look-up table is read off the machine's transitions, in their checking order.
        self._moves: dict[tuple[str, str], tuple[Guard, ...]] = {}
        plain: set[tuple[str, str]] = set()  # moves whose transition runs no callback
        for name, event in self._machine.events.items():
            if name.startswith(_FORCE):
                continue
            for source, transitions in event.transitions.items():
                for transition in transitions:
                    found = tuple(condition.func for condition in transition.conditions)
                    if transition.dest is None or not all(isinstance(g, Guard) for g in found):
                        msg = f"pipeline {pipeline.key!r} compiled into an unexpected machine"
                        raise AssertionError(msg)
                    self._moves[(source, transition.dest)] = found  # type: ignore[assignment]
                    if not (
                        transition.before
                        or transition.after
                        or self._machine.get_state(source).on_exit
                        or self._machine.get_state(transition.dest).on_enter
                        or self._machine.before_state_change
                        or self._machine.after_state_change
                    ):
                        plain.add((source, transition.dest))
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
        # The fast path: unforced moves between open stages whose transition runs no callback
        # (the bulk of all moves) run the guards read off the machine and build their results
        # directly; every other move asks the machine.
        reset: dict[str, Any] = (
            {"junk_reason": None, "deal_id": None}
            if self._is_lead
            else {"lost_reason": None, "lost_note": ""}
        )
        status = LeadStatus.OPEN if self._is_lead else DealStatus.OPEN
        # What entering each open stage changes in an entity.
        self._entering: dict[str, dict[str, Any]] = {
            stage.key: {"stage": stage.key, "status": status, "closed_at": None, **reset}
            for stage in pipeline.stages
            if not stage.closed
        }
        self._fast: dict[tuple[str, str], tuple[tuple[Guard, ...], dict[str, Any]]] = {
            (source, dest): (guards, self._entering[dest])
            for (source, dest), guards in self._moves.items()
            if not self._stages[dest].closed and (source, dest) in plain
        }

    # --- introspection ---------------------------------------------------------------------

    @property
    def machine(self) -> MarkupMachine:
        """
        The compiled `transitions` machine: look, but do not change it.

        Its states are the stages (with their ``on_enter`` and ``on_exit`` callbacks), its
        triggers ``"to:<stage>"`` the declared moves with their `Guard` conditions, and
        ``"force:<stage>"`` the forced moves; ``machine.markup`` exports it as a dictionary,
        as transitions' diagram extensions read it.
        """
        return self._machine

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

    @staticmethod
    def _actor_problem(actor: object) -> None:
        if not isinstance(actor, Actor):
            msg = f"move(actor): expected an Actor, got {describe(actor)}"
            raise ValidationError(msg, field="actor", value=actor, rule="type")

    def _decide(self, cursor: _Cursor) -> bool:
        """Trigger the machine on the cursor: whether it made the move (the machine decides)."""
        event = self._machine.events.get(_trigger(cursor.to_stage))
        if event is None:  # an unknown stage, or one no move leads to
            return False
        try:
            return bool(event.trigger(cursor))
        except MachineError:  # no transition from the entity's stage
            return False

    def _refusal(self, cursor: _Cursor) -> tuple[Violation, ...]:
        """Why the machine refused a move: every rule it breaks, with the allowed stages."""
        entity, to_stage, actor = cursor.entity, cursor.to_stage, cursor.actor
        if to_stage not in self._stages:
            return (
                Violation(
                    rule="unknown_stage",
                    field="to_stage",
                    message=f"pipeline {self.pipeline.key!r} has no stage {to_stage!r}",
                    allowed=self._allowed(entity, actor, cursor.context),
                ),
            )
        guards = self._moves.get((entity.stage, to_stage))
        if guards is None:
            return (self._no_move(entity, to_stage, actor, cursor.context),)
        found = [violation for guard in guards for violation in cursor.violations(guard)]
        if not found:  # only if the machine was changed from outside
            msg = f"the machine of pipeline {self.pipeline.key!r} refused the move"
            found = [Violation(rule="machine", message=msg)]
        allowed = tuple(s for s in self._allowed(entity, actor, cursor.context) if s != to_stage)
        return tuple(attrs.evolve(v, allowed=allowed) for v in found)

    def _violations(self, cursor: _Cursor) -> tuple[Violation, ...]:
        """Ask the machine; the rules broken if it refuses (empty if it made the move)."""
        if cursor.to_stage in self._stages and self._decide(cursor):
            return ()
        return self._refusal(cursor)

    def _no_move(
        self, entity: Lead | Deal, to_stage: str, actor: Actor, context: Mapping[str, object]
    ) -> Violation:
        source = self.pipeline.stage(entity.stage)
        allowed = self._allowed(entity, actor, context)
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

    def _allowed(
        self, entity: Lead | Deal, actor: Actor, context: Mapping[str, object]
    ) -> tuple[StageKey, ...]:
        allowed = []
        for dest in self._targets[entity.stage]:
            cursor = _Cursor(entity, actor, dest, None, "", None, context)
            if all(
                guard.rule in ("reason", "conversion") or not cursor.violations(guard)
                for guard in self._moves[(entity.stage, dest)]
            ):
                allowed.append(dest)
        return tuple(allowed)

    def check(
        self,
        entity: Lead | Deal,
        to_stage: str,
        actor: Actor,
        *,
        reason: str | None = None,
        note: str = "",
        context: Mapping[str, object] | None = None,
    ) -> tuple[Violation, ...]:
        """
        Return the rules a move would break (empty if it is allowed); change nothing.

        The compiled machine decides, on a cursor of its own; callbacks are not run. Each
        violation lists the stages the actor may move the entity to instead.

        Args:
            entity: The lead or deal.
            to_stage: The destination stage's key.
            actor: Who would move it.
            reason: The reason key, for lost and junk stages.
            note: The note, for reasons that need one.
            context: What your conditions read (`MoveAttempt.context`).

        Raises:
            ValidationError: If the entity is not of this pipeline, the actor not an `Actor`,
                or one of your conditions raises or returns something else than it may.
        """
        self._entity_problem(entity)
        self._actor_problem(actor)
        found = _check_context(context)
        return self._violations(_Cursor(entity, actor, to_stage, reason, note, None, found))

    def allowed_moves(
        self, entity: Lead | Deal, actor: Actor, *, context: Mapping[str, object] | None = None
    ) -> tuple[StageKey, ...]:
        """
        Return the stages `actor` may move `entity` to now, in stage order.

        Moves to lost and junk stages are listed: they are allowed given a reason. Moves that
        need fields the entity lacks, roles the actor lacks, or that one of your conditions
        refuses (given `context`) are not.
        """
        self._entity_problem(entity)
        self._actor_problem(actor)
        return self._allowed(entity, actor, _check_context(context))

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
        context: Mapping[str, object] | None = None,
    ) -> MoveResult[E]:
        """
        Move an entity to a stage, if the machine allows it (or `force` overrides the rules).

        Args:
            entity: The lead or deal, as read from the store.
            to_stage: The destination stage's key.
            actor: Who moves it (their roles matter).
            at: When (timezone-aware).
            sequence: The sequence number of the first event produced: the entity's last event
                sequence plus one.
            reason: The reason key, for lost and junk stages.
            note: A free-text note, kept in the move's event (why a deal went back, why a
                move was forced); reasons such as "other" require one.
            force: Override every rule; the overridden violations are recorded in the event.
                Callbacks run as for any move.
            context: What your conditions and callbacks read (`MoveAttempt.context`).

        Returns:
            The moved entity, its events and the effects (tasks, messages) to carry out.

        Raises:
            MoveRefusedError: If a rule forbids the move and `force` is false; nothing changed.
            ValidationError: If an argument is malformed (unknown stage with force, naive
                time), or one of your conditions or callbacks raises or returns something else
                than it may; nothing changed.
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
            and type(note) is str
            and (not note or text_problem(note) is None)
        ):
            guards, changes = fast
            if not guards:
                return self._fast_result(entity, changes, actor.id, at, sequence, note)
            cursor = _Cursor(entity, actor, to_stage, reason, note, at, _check_context(context))
            for number, guard in enumerate(guards):
                broken = guard.violations(cursor)
                if broken:  # the machine decides and explains, without asking again
                    cursor.found = dict.fromkeys(guards[:number], ())
                    cursor.found[guard] = broken
                    break
            else:
                return self._fast_result(entity, changes, actor.id, at, sequence, note)
            return self._move(
                entity, to_stage, actor, at, sequence, reason, note, force, cursor=cursor
            )
        return self._move(
            entity, to_stage, actor, at, sequence, reason, note, force, context=context
        )

    def _fast_result(  # noqa: PLR0917 - private; called with positional arguments for speed
        self,
        entity: E,
        changes: Mapping[str, Any],
        actor: str,
        at: datetime,
        sequence: int,
        note: str,
    ) -> MoveResult[E]:
        """The result of a fast-path move: what `_apply` builds for it, built directly."""
        found: MoveResult[E] = stage_changed(
            entity, self._entity_kind, self._key, changes, actor, at, sequence, note, MoveResult
        )
        return found

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
        conversion: tuple[str, str] | None = None,
        context: Mapping[str, object] | None = None,
        cursor: _Cursor | None = None,
    ) -> MoveResult[E]:
        """
        Move through the machine.

        `conversion` is ``(deal_id, contact_id)`` when a funnel converts a lead; `cursor`
        carries what the fast path already asked, so your conditions run once.
        """
        converting = conversion is not None
        dest = self._stages.get(to_stage)
        self._check_arguments(entity, actor, at, sequence, note, dest)
        if cursor is None:
            cursor = _Cursor(
                entity,
                actor,
                to_stage,
                reason,
                note,
                at,
                _check_context(context),
                converting=converting,
            )
        cursor.dry = False  # the machine runs the callbacks of the move it makes
        violations = self._violations(cursor)
        if violations and not force:
            raise MoveRefusedError(entity.ref, to_stage, violations)
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
        if violations:  # forced: the machine makes the move without its rules
            cursor.effects.clear()
            cursor.stage = entity.stage
            self._machine.events[_FORCE + to_stage].trigger(cursor)
        elif not cursor.effects and not dest.closed:  # what `_apply` would build, directly
            return self._fast_result(entity, self._entering[to_stage], actor.id, at, sequence, note)
        return self._apply(
            entity,
            dest,
            actor,
            at,
            sequence,
            (reason, note),
            (force, violations),
            conversion,
            cursor.effects,
        )

    def _check_arguments(  # noqa: PLR0917 - private
        self,
        entity: Lead | Deal,
        actor: Actor,
        at: datetime,
        sequence: int,
        note: str,
        dest: Stage | None,
    ) -> None:
        """Refuse malformed arguments before any rule or code of yours runs."""
        self._entity_problem(entity)
        self._actor_problem(actor)
        if type(at) is not datetime or at.utcoffset() is None:
            _check_at(at)
        if type(sequence) is not int or sequence < 1:
            msg = f"move(sequence): expected a positive integer, got {describe(sequence)}"
            raise ValidationError(msg, field="sequence", value=sequence, rule="range")
        problem = text_problem(note)
        if problem is not None:
            msg = f"move(note): {problem[0]}"
            raise ValidationError(msg, field="note", value=note, rule=problem[1])
        if dest is not None and dest.closed and at < entity.created_at:
            msg = (
                f"move(at): {entity.ref} would close at {at.isoformat()}, before it was created "
                f"({entity.created_at.isoformat()}); pass the real time of the move"
            )
            raise ValidationError(msg, field="at", value=at, rule="closed_after_created")

    def _apply(  # noqa: PLR0917
        self,
        entity: E,
        dest: Stage,
        actor: Actor,
        at: datetime,
        sequence: int,
        why: tuple[str | None, str],
        forced: tuple[bool, tuple[Violation, ...]],
        conversion: tuple[str, str] | None,
        effects: Iterable[CreateTask | SetField | Message],
    ) -> MoveResult[E]:
        reason, note = why
        force, overridden = forced
        changes: dict[str, Any] = {"stage": dest.key}
        move: dict[str, Any] = {
            "entity": trusted(EntityRef, {"kind": self._entity_kind, "id": entity.id}),
            "sequence": sequence,
            "at": at,
            "actor": actor.id,
            "pipeline": self.pipeline.key,
            "from_stage": entity.stage,
            "to_stage": dest.key,
            "forced": force and bool(overridden),
            "overridden": overridden if force else (),
            "note": note,
        }
        # Every value below was validated already (the entity, the pipeline's keys, the actor,
        # `at`, `sequence`, the reason and note), so the common moves build their results
        # without running the validators again: that is most of a move's cost.
        event: Event
        if isinstance(entity, Deal):
            if dest.kind is StageKind.WON:
                changes.update(status=DealStatus.WON, closed_at=at, lost_reason=None)
                event = trusted(DealWon, {**move, "amount": entity.amount})
            elif dest.kind is StageKind.LOST:
                changes.update(
                    status=DealStatus.LOST, closed_at=at, lost_reason=reason, lost_note=note
                )
                event = trusted(DealLost, {**move, "reason": reason})
            else:
                changes.update(
                    status=DealStatus.OPEN, closed_at=None, lost_reason=None, lost_note=""
                )
                event = trusted(StageChanged, move)
        elif dest.kind is StageKind.JUNK:
            changes.update(status=LeadStatus.JUNK, closed_at=at, junk_reason=reason, deal_id=None)
            event = trusted(LeadClosedAsJunk, {**move, "reason": reason})
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
            event = trusted(StageChanged, move)
        events: list[Event] = [event]
        fields, done = _applied_effects(entity, effects, actor, at, events, sequence)
        if fields is not entity.fields:
            changes["fields"] = fields
        # A conversion carries caller-given ids: that path validates everything again.
        moved = attrs.evolve(entity, **changes) if conversion else replaced(entity, changes)
        result = {"entity": moved, "events": tuple(events), "effects": tuple(done)}
        return trusted(MoveResult, result)

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
        context: Mapping[str, object] | None = None,
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
            context: What your conditions and callbacks read.

        Returns:
            The moves made and the refusals, each refusal with its violations.
        """
        moved: list[MoveResult[E]] = []
        refused: list[MoveRefusedError] = []
        for entity, sequence in entities:
            try:
                moved.append(
                    self.move(
                        entity,
                        to_stage,
                        actor,
                        at,
                        sequence=sequence,
                        reason=reason,
                        note=note,
                        force=force,
                        context=context,
                    )
                )
            except MoveRefusedError as error:
                refused.append(error)
        return BulkMove(moved=tuple(moved), refused=tuple(refused))

    def enter(
        self,
        entity: E,
        actor: Actor,
        at: datetime,
        *,
        sequence: int,
        context: Mapping[str, object] | None = None,
    ) -> MoveResult[E]:
        """
        Run the entry actions of the stage a new entity is created in.

        A deal opened by a conversion, by `Funnel.open_next` or by hand enters its first stage
        without a move: the machine runs that stage's ``on_enter`` actions and callbacks on
        it all the same, so a stage that plans a call ("НОВЫЙ ЛИД: позвонить в ту же
        минуту") plans it for every new deal. Your callbacks see a `MoveAttempt` whose
        `from_stage` and `to_stage` are both that stage. No rule is checked (creating an
        entity is not a move) and no ``before``/``after`` callback runs.

        Args:
            entity: The new lead or deal, in the stage it is created in.
            actor: Who creates it.
            at: When (timezone-aware).
            sequence: The sequence number for the first `FieldChanged` event of a `SetField`
                action: the entity's creation event's plus one.
            context: What your callbacks read (`MoveAttempt.context`).

        Returns:
            The entity with the fields the actions set, their `FieldChanged` events, and the
            tasks and messages to carry out (in the order the machine ran the actions).

        Raises:
            ValidationError: If the entity is not of this pipeline, an argument is malformed,
                or one of your callbacks raises or returns something else than it may.
        """
        self._check_arguments(entity, actor, at, sequence, "", None)
        cursor = _Cursor(
            entity, actor, entity.stage, None, "", at, _check_context(context), dry=False
        )
        state = self._machine.get_state(entity.stage)
        state.enter(EventData(state, None, self._machine, cursor, (), {}))
        events: list[Event] = []
        fields, done = _applied_effects(entity, cursor.effects, actor, at, events, sequence)
        entered = entity if fields is entity.fields else attrs.evolve(entity, fields=fields)
        return MoveResult(entity=entered, events=tuple(events), effects=tuple(done))

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
        context: Mapping[str, object] | None = None,
    ) -> bool:
        """
        Ask the compiled `transitions` machine whether a move is allowed, without the reasons.

        `check` asks the same trigger and explains a refusal; this is the bare answer.
        """
        self._entity_problem(entity)
        self._actor_problem(actor)
        found = _check_context(context)
        return self._decide(_Cursor(entity, actor, to_stage, reason, note, None, found))

    def __repr__(self) -> str:
        return f"<CompiledPipeline {self.pipeline.key!r}: {len(self._moves)} moves>"
