"""
Property-test a pipeline: a Hypothesis state machine that throws random moves at its rules.

Entities are placed in the pipeline's open stages; actors with random roles try to move them
anywhere, with right, wrong or missing reasons, sometimes with ``force=True``; fields get
filled in (and custom ones now and then emptied) in between. Each declared move is also
tried on its own, from an entity placed where it starts, so that a move a run's history
rarely reaches (an extra move with fields of its own, a reason tied to one stage) is tried in
every run. After every step the machine asserts that:

- `check` refuses a move by exactly the rules the kit's own reference interpreter of the
  definition names (`funnelkit.testing.reference`, which shares no code with the engine and
  calls your conditions directly), and an unforced move succeeds exactly when it names none;
- the compiled `transitions` machine's bare answer agrees with `check`;
- a refused move changes nothing and its error carries exactly the violations `check` gave;
- closed stages absorb: leaving one needs force;
- the required fields of a stage hold on every unforced entry;
- a forced move records exactly the rules it overrode;
- histories are consistent: each event's from-stage is the previous to-stage, sequences run
  1, 2, 3..., the entity stands where its last event put it, and replaying the history
  through the rules (`CompiledPipeline.replay`) finds nothing wrong.

Run it on your own pipeline in one line::

    from funnelkit.testing.pipelines import check_pipeline

    def test_my_pipeline_keeps_its_rules():
        check_pipeline(MY_PIPELINE)

Give ``contexts=`` a strategy of the contexts your conditions read. By default a failure is
reported as soon as it is found, without Hypothesis' shrinking (which can take minutes on a
long run of steps); pass ``settings=`` with ``Phase.shrink`` for a minimal example.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

import attrs
from hypothesis import HealthCheck, Phase
from hypothesis import settings as Settings  # noqa: N812 - the class
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from funnelkit.events import Event, MoveEvent
from funnelkit.exceptions import MoveRefusedError
from funnelkit.model import (
    Deal,
    Lead,
    Money,
    Payment,
    Task,
    TaskStatus,
    Violation,
)
from funnelkit.pipelines import (
    DEAL_FIELDS,
    LEAD_FIELDS,
    OPEN_TASKS,
    PaymentRule,
    Pipeline,
    PipelineKind,
    StageKind,
)
from funnelkit.testing import strategies as fst
from funnelkit.testing.reference import _holds, reference_refusals, reference_targets


if TYPE_CHECKING:
    from collections.abc import Mapping

    from funnelkit.pipelines import CompiledPipeline

__all__ = ["PipelineMachine", "check_pipeline", "check_pipelines"]

_START = datetime(2026, 3, 2, 9, 0, tzinfo=timezone(timedelta(hours=3)))
_NO_CONTEXT: Mapping[str, object] = MappingProxyType({})


def _default_settings() -> Settings:
    """The active profile, reporting a failure as found (no shrinking) and without deadline."""
    return Settings(
        phases=[Phase.explicit, Phase.reuse, Phase.generate],
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )


class PipelineMachine(RuleBasedStateMachine):
    """
    The state machine behind `check_pipeline`; subclass it and set `pipeline` to use it directly.

    Expose ``TestMyPipeline = MyMachine.TestCase`` for pytest to collect.
    """

    pipeline: ClassVar[Pipeline]
    """The pipeline under test."""
    contexts: ClassVar[st.SearchStrategy[Mapping[str, object]]] = st.just(_NO_CONTEXT)
    """The contexts moves are tried with (what your conditions read)."""

    def __init__(self) -> None:
        super().__init__()
        self.entities: list[Lead | Deal] = []
        self.starts: list[str] = []
        self.histories: list[list[Event]] = []
        self.clock: datetime = _START
        if hasattr(self, "pipeline"):
            self._use(self.pipeline)

    def _use(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline  # type: ignore[misc]
        self.compiled: CompiledPipeline = pipeline.compile()
        # Strategies are built once per run: building costs far more than drawing.
        self._new_entities = fst.pipeline_entities(pipeline)
        self._attempts = fst.move_attempts(pipeline)
        self._values = {d.key: fst.field_value_for(d) for d in pipeline.fields.fields}
        # The reasons each stage takes when closing into it, and those tied to other stages.
        self._reasons = {
            stage.key: [r.key for r in pipeline.reasons if not r.stages or stage.key in r.stages]
            for stage in pipeline.stages
        }
        noted = {r.key for r in pipeline.reasons if r.needs_note}
        self._noted = {key: [r for r in keys if r in noted] for key, keys in self._reasons.items()}
        self._elsewhere = {
            stage.key: [r.key for r in pipeline.reasons if r.stages and stage.key not in r.stages]
            for stage in pipeline.stages
        }
        # The extra moves out of each stage: those with rules of their own (roles, fields,
        # conditions, unless) are tried on purpose, as they apply from one stage only.
        self._extra = {
            stage.key: [m for m in pipeline.extra_moves if m.source == stage.key]
            for stage in pipeline.stages
        }
        self._ruled = {
            key: [m.dest for m in moves if m.roles or m.required_fields or m.conditions or m.unless]
            for key, moves in self._extra.items()
        }
        self._moves = [
            (stage.key, dest)
            for stage in pipeline.stages
            for dest in reference_targets(pipeline, stage.key)
        ]
        self._ruled_moves = [(key, dest) for key, dests in self._ruled.items() for dest in dests]
        self._placed_at = {
            key: fst.pipeline_entities(pipeline, stages=st.just(key))
            for key in {source for source, _ in self._moves}
        }

    def _tick(self) -> datetime:
        self.clock += timedelta(minutes=7)
        return self.clock

    @rule(data=st.data())
    def place(self, data: st.DataObject) -> None:
        """Place a new entity in one of the open stages."""
        entity = data.draw(self._new_entities, label="entity")
        entity = attrs.evolve(entity, created_at=self.clock)
        self.entities.append(entity)
        self.starts.append(entity.stage)
        self.histories.append([])

    @precondition(lambda self: bool(self.entities))
    @rule(data=st.data())
    def fill(self, data: st.DataObject) -> None:
        """Fill in one field a stage or move may require (custom or own), empty one, or pay."""
        index = data.draw(st.integers(0, len(self.entities) - 1), label="entity index")
        entity = self.entities[index]
        own = DEAL_FIELDS if self.pipeline.kind is PipelineKind.DEAL else LEAD_FIELDS
        paying = {"payments"} if isinstance(entity, Deal) else set()
        names = sorted({*self.pipeline.fields.keys, *own, *paying})
        # Mostly a field a stage the entity may move to requires, so that such moves pass.
        targets = [self.pipeline.stage(d) for d in reference_targets(self.pipeline, entity.stage)]
        wanted = sorted(
            {name for dest in targets for name in dest.required_fields}
            | {name for move in self._extra[entity.stage] for name in move.required_fields}
            | {"payments" for dest in targets if dest.payment is not PaymentRule.NONE} & paying
        )
        # Hypothesis tries the simplest values first (0): there, the usual choice, not the odd one.
        odd: int = data.draw(st.integers(0, 3), label="any field")
        name = data.draw(st.sampled_from(wanted if wanted and odd < 3 else names), label="field")
        if name in entity.fields and data.draw(st.integers(0, 3), label="empty it") == 3:
            # Now and then a manager empties a field: moves must then ask for it again.
            entity = attrs.evolve(entity, fields=entity.fields.remove(name))
        elif name in self.pipeline.fields:
            value = data.draw(self._values[name], label="value")
            entity = attrs.evolve(entity, fields=entity.fields.set(name, value))
        elif isinstance(entity, Deal) and name == "payments":
            entity = self._paid(data, entity)
        elif name == "amount" and isinstance(entity, Deal):
            currency = entity.payments[0].amount.currency if entity.payments else "RUB"
            entity = attrs.evolve(entity, amount=Money.of("150000", currency))
        else:
            changes: dict[str, Any] = {name: "anna" if name == "owner" else "К-1"}
            entity = attrs.evolve(entity, **changes)
        self.entities[index] = entity

    def _paid(self, data: st.DataObject, deal: Deal) -> Deal:
        """The deal with money received: all that is left of its amount, or a part."""
        currency = deal.amount.currency if deal.amount is not None else "RUB"
        due = deal.balance_due
        left = due.amount if due is not None else Decimal(0)
        whole: bool = data.draw(st.booleans(), label="all that is left")
        amount = left if whole and left > 0 else Decimal("1000.00")
        payment = Payment(
            id=f"P-{len(deal.payments) + 1}",
            amount=Money(amount=amount, currency=currency),
            received_at=self._tick(),
        )
        return attrs.evolve(deal, payments=(*deal.payments, payment))

    @precondition(lambda self: bool(self.entities))
    @rule(data=st.data())
    def attempt(self, data: st.DataObject) -> None:
        """Try a move of an entity already in play (mostly one the definition declares)."""
        index = data.draw(st.integers(0, len(self.entities) - 1), label="entity index")
        declared = reference_targets(self.pipeline, self.entities[index].stage)
        # Hypothesis tries the simplest values first (0): there, a declared move. Half the time
        # any stage at all, to try skips, moves back and stages the pipeline lacks.
        odd: int = data.draw(st.integers(0, 3), label="any move")
        if not declared or odd >= 2:
            self._try(data, index, None)
            return
        # Or a move with rules of its own, if the stage has one.
        ruled = self._ruled[self.entities[index].stage]
        choices = ruled if ruled and odd == 1 else declared
        self._try(data, index, data.draw(st.sampled_from(choices), label="declared stage"))

    @precondition(lambda self: bool(getattr(self, "_moves", ())))
    @rule(data=st.data())
    def try_a_declared_move(self, data: st.DataObject) -> None:
        """
        Place a new entity where a declared move starts and try that move at once.

        Every declared move gets tried in every run this way, not only those that a run's
        earlier moves happen to lead to; half the time one with rules of its own.
        """
        ruled: bool = data.draw(st.booleans(), label="a move with rules of its own")
        source, dest = data.draw(
            st.sampled_from(self._ruled_moves if ruled and self._ruled_moves else self._moves),
            label="declared move",
        )
        entity = data.draw(self._placed_at[source], label="entity")
        self.entities.append(attrs.evolve(entity, created_at=self.clock))
        self.starts.append(source)
        self.histories.append([])
        self._try(data, len(self.entities) - 1, dest)

    def _try(self, data: st.DataObject, index: int, to_stage: str | None) -> None:
        """
        Try to move entity `index`: to `to_stage` or, if None, to wherever the attempt says.

        Checks the outcome against `check`, the machine, the reference and the rules.
        """
        entity = self.entities[index]
        attempt = data.draw(self._attempts, label="attempt")
        if to_stage is not None:
            attempt = attrs.evolve(attempt, to_stage=to_stage)
            # Into a lost or junk stage mostly with one of the reasons it takes.
            closing = self.pipeline.stage(to_stage).kind in (StageKind.LOST, StageKind.JUNK)
            odd_reason: int = data.draw(st.integers(0, 3), label="odd reason")
            # Any reason it takes (0), one that needs a note (1), one tied to other stages (2),
            # none (3): so that each rule of the reasons is put to work.
            reasons = [
                self._reasons[to_stage],
                self._noted[to_stage] or self._reasons[to_stage],
                self._elsewhere[to_stage],
            ][odd_reason % 3]
            if closing and reasons and odd_reason != 3:
                known: str = data.draw(st.sampled_from(reasons), label="reason")
                attempt = attrs.evolve(attempt, reason=known)
        context = data.draw(self.contexts, label="context")
        if self.pipeline.stage(entity.stage).blocking_tasks and OPEN_TASKS not in context:
            context = self._with_tasks(data, entity, context)
        reason, note, to_stage, actor = (
            attempt.reason,
            attempt.note,
            attempt.to_stage,
            attempt.actor,
        )
        violations = self.compiled.check(
            entity, to_stage, actor, reason=reason, note=note, context=context
        )
        expected = reference_refusals(
            self.pipeline, entity, to_stage, actor, reason=reason, note=note, context=context
        )
        found = sorted(violation.rule for violation in violations)
        assert found == sorted(expected), (
            f"check() and the reference disagree on {entity.ref} {entity.stage!r} → "
            f"{attempt.to_stage!r} by {sorted(attempt.actor.roles)}: check() refuses by "
            f"{found}, the definition by {sorted(expected)}"
        )
        assert (not violations) == self.compiled.machine_allows(
            entity, to_stage, actor, reason=reason, note=note, context=context
        ), f"transitions and check() disagree: {entity.stage!r} → {to_stage!r}"
        source = self.pipeline.stage(entity.stage)
        if source.closed:
            assert violations, f"{entity.ref} left the closed stage {source.key!r} unforced"
        history = self.histories[index]
        try:
            result = self.compiled.move(
                entity,
                attempt.to_stage,
                attempt.actor,
                self._tick(),
                sequence=len(history) + 1,
                reason=attempt.reason,
                note=attempt.note,
                force=attempt.force,
                context=context,
            )
        except MoveRefusedError as refused:
            assert violations or attempt.force, "a move check() allowed was refused"
            assert attempt.force or refused.violations == violations  # noqa: PT017
            return
        self._check_moved(entity, attempt, violations, result.entity, result.events)
        self.entities[index] = result.entity
        history.extend(result.events)

    def _with_tasks(
        self, data: st.DataObject, entity: Lead | Deal, context: Mapping[str, object]
    ) -> Mapping[str, object]:
        """Mostly, the entity's tasks in the context, as `Service.move` gives them."""
        if not data.draw(st.integers(0, 3), label="open tasks given"):
            return context
        blocking = sorted(self.pipeline.stage(entity.stage).blocking_tasks)
        tasks = [
            # Mostly tasks of a kind the stage blocks on: so that both outcomes are tried.
            attrs.evolve(task, kind=data.draw(st.sampled_from(blocking), label="kind"))
            if data.draw(st.booleans(), label="a blocking kind")
            else task
            for task in data.draw(st.lists(self._tasks_of(entity), max_size=2), label="tasks")
        ]
        return {**context, OPEN_TASKS: tuple(tasks)}

    @staticmethod
    def _tasks_of(entity: Lead | Deal) -> st.SearchStrategy[Task]:
        """Tasks about the entity, half of them open."""
        statuses = st.sampled_from([TaskStatus.OPEN, TaskStatus.OPEN, TaskStatus.DONE])
        return fst.tasks(subjects=st.just(entity.ref), statuses=statuses)

    def _check_moved(
        self,
        entity: Lead | Deal,
        attempt: fst.DrawnMove,
        violations: tuple[Violation, ...],
        moved: Lead | Deal,
        events: tuple[Event, ...],
    ) -> None:
        assert attempt.force or not violations, f"a move breaking {violations} succeeded"
        assert moved.stage == attempt.to_stage
        assert (moved.id, moved.version) == (entity.id, entity.version)
        first = events[0]
        assert isinstance(first, MoveEvent)
        assert (first.from_stage, first.to_stage) == (entity.stage, attempt.to_stage)
        assert first.overridden == (violations if attempt.force else ())
        dest = self.pipeline.stage(attempt.to_stage)
        if not attempt.force:
            missing = [name for name in dest.required_fields if not _holds(moved, name)]
            assert not missing, f"entered {dest.key!r} without {missing}"
        assert moved.status.value in _STATUSES[dest.kind]
        # Results are built without re-running validators: prove they would pass them.
        assert attrs.evolve(moved) == moved
        assert [attrs.evolve(event) for event in events] == list(events)

    @invariant()
    def histories_are_consistent(self) -> None:
        """Each move starts where the previous one ended; sequences run 1, 2, 3..."""
        for entity, start, history in zip(self.entities, self.starts, self.histories, strict=True):
            assert [event.sequence for event in history] == list(range(1, len(history) + 1))
            stage = start
            for event in history:
                if isinstance(event, MoveEvent):
                    assert event.from_stage == stage, f"{entity.ref}: history jumps"
                    stage = event.to_stage
            assert entity.stage == stage
            replayed = self.compiled.replay(history, start=start)
            assert (replayed.stage, replayed.problems) == (stage, ())


_STATUSES: dict[StageKind, frozenset[str]] = {
    StageKind.OPEN: frozenset({"open"}),
    StageKind.WON: frozenset({"won", "converted"}),
    StageKind.LOST: frozenset({"lost"}),
    StageKind.JUNK: frozenset({"junk"}),
}


class _GeneratedPipelineMachine(PipelineMachine):
    """`PipelineMachine` on a pipeline drawn from a strategy at the start of each run."""

    strategy: ClassVar[st.SearchStrategy[Pipeline]]

    @initialize(data=st.data())
    def draw_pipeline(self, data: st.DataObject) -> None:
        """Draw the pipeline every later step works on."""
        self._use(data.draw(self.strategy, label="pipeline"))


def check_pipelines(
    pipelines: st.SearchStrategy[Pipeline],
    *,
    settings: Settings | None = None,
    contexts: st.SearchStrategy[Mapping[str, object]] | None = None,
) -> None:
    """
    Like `check_pipeline`, on pipelines drawn from a strategy (e.g. `strategies.pipelines`).

    Raises:
        AssertionError: With the failing pipeline and steps, if a rule is broken.
    """
    machine: type[_GeneratedPipelineMachine] = type(
        "GeneratedPipelineMachine",
        (_GeneratedPipelineMachine,),
        {"strategy": pipelines, "contexts": st.just(_NO_CONTEXT) if contexts is None else contexts},
    )
    run_state_machine_as_test(
        machine, settings=_default_settings() if settings is None else settings
    )


def check_pipeline(
    pipeline: Pipeline,
    *,
    settings: Settings | None = None,
    contexts: st.SearchStrategy[Mapping[str, object]] | None = None,
) -> None:
    """
    Throw random moves at `pipeline`'s rules and check every property listed in this module.

    Args:
        pipeline: The pipeline to check.
        settings: Hypothesis settings; by default the active profile without shrinking, so
            that a failure is reported as soon as it is found.
        contexts: The contexts to try moves with, for conditions that read one (an empty
            context by default).

    Raises:
        AssertionError: With Hypothesis' failing sequence of steps, if a rule is broken.
    """
    machine: type[PipelineMachine] = type(
        "PipelineMachine",
        (PipelineMachine,),
        {"pipeline": pipeline, "contexts": st.just(_NO_CONTEXT) if contexts is None else contexts},
    )
    run_state_machine_as_test(
        machine, settings=_default_settings() if settings is None else settings
    )
