"""The compiled transitions machine decides; your own conditions, unless rules and callbacks."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import attrs
import pytest
import transitions.core
from hypothesis import given, settings
from hypothesis import strategies as st

import funnelkit as fk
from funnelkit.pipelines import (
    CreateTask,
    ExtraMove,
    Message,
    MoveAttempt,
    MoveRefusedError,
    PlannedTask,
    SetField,
    to_mermaid,
)
from funnelkit.seeds.pipelines import LEADS, ROOFING
from funnelkit.testing import strategies as fst
from funnelkit.testing.contracts import T0, make_deal
from funnelkit.testing.reference import reference_refusals


MANAGER = fk.Actor(id="anna", roles=frozenset({"manager"}))
PROPOSAL = "КП ГОТОВО"
ESTIMATE = "СМЕТА ГОТОВА"


def estimate_on_file(attempt: MoveAttempt) -> fk.Violation | None:
    """Seed 002: a deal enters СМЕТА ГОТОВА only once the estimate document exists."""
    documents = attempt.context.get("documents", ())
    if isinstance(documents, tuple) and f"смета:{attempt.entity.id}" in documents:
        return None
    return fk.Violation(
        rule="estimate_document",
        message=f"attach the estimate of {attempt.entity.id} before moving it to {ESTIMATE!r}",
    )


def is_holiday(attempt: MoveAttempt) -> bool:
    """Only on working days: the host passes today's date in the context."""
    today = attempt.context.get("today")
    return isinstance(today, date) and today.weekday() >= 5  # Saturday or Sunday


def with_stage(key: str, **changes: Any) -> fk.Pipeline:
    """ROOFING with one stage changed."""
    stages = tuple(
        attrs.evolve(stage, **changes) if stage.key == key else stage for stage in ROOFING.stages
    )
    return attrs.evolve(ROOFING, stages=stages)


DOCUMENTED = with_stage(ESTIMATE, conditions=(estimate_on_file,), unless=(is_holiday,))
PREPAID = (fk.Payment(id="С-1-P1", amount=fk.Money.of("240000", "RUB"), received_at=T0),)
AT_PROPOSAL = make_deal(stage=PROPOSAL, payments=PREPAID)  # "деньги в кассе": it may be won
MONDAY, SATURDAY = date(2026, 3, 2), date(2026, 3, 7)


# --- the machine decides -------------------------------------------------------------------------


def test_the_machine_decides_and_without_its_conditions_nothing_is_refused(monkeypatch):
    """With transitions' condition checks switched off, the rules no longer refuse anything."""
    rules = DOCUMENTED.compile()
    unfilled = make_deal(stage="НОВЫЙ ЛИД", owner=None)
    assert rules.check(unfilled, "ОП ВЗЯЛ В РАБОТУ", MANAGER)
    assert rules.check(AT_PROPOSAL, ESTIMATE, MANAGER)
    monkeypatch.setattr(transitions.core.Condition, "check", lambda self, event_data: True)
    assert () == rules.check(unfilled, "ОП ВЗЯЛ В РАБОТУ", MANAGER)
    assert () == rules.check(AT_PROPOSAL, ESTIMATE, MANAGER)
    moved = rules.move(AT_PROPOSAL, ESTIMATE, MANAGER, T0, sequence=2)
    assert ESTIMATE == moved.entity.stage


def test_the_machine_is_there_to_inspect_and_export():
    """Its states are the stages; its transitions carry the rules, yours included, by name."""
    machine = DOCUMENTED.compile().machine
    assert [stage.key for stage in ROOFING.stages] == list(machine.states)
    markup = machine.markup
    into_estimate = next(t for t in markup["transitions"] if t["trigger"] == f"to:{ESTIMATE}")
    assert (PROPOSAL, ESTIMATE) == (into_estimate["source"], into_estimate["dest"])
    assert ["requires(amount)", "estimate_on_file"] == into_estimate["conditions"]
    assert ["unless is_holiday"] == into_estimate["unless"]


def test_conditions_show_in_the_diagram():
    """Mermaid labels name your conditions next to funnelkit's."""
    text = to_mermaid(DOCUMENTED)
    assert '"requires(amount), estimate_on_file, unless is_holiday"' in text


# --- conditions and unless -----------------------------------------------------------------------


def test_a_condition_of_yours_refuses_as_data_and_reads_the_hosts_context():
    """No estimate on file: refused with your rule and message, and the stages allowed instead."""
    rules = DOCUMENTED.compile()
    (refusal,) = rules.check(AT_PROPOSAL, ESTIMATE, MANAGER, context={"today": MONDAY})
    assert "estimate_document" == refusal.rule
    assert refusal.message.startswith("attach the estimate of С-1 ")
    assert ESTIMATE not in refusal.allowed
    assert "ЗАКРЫТО И НЕ РЕАЛИЗОВАНО" in refusal.allowed
    documents = {"documents": ("смета:С-1",), "today": MONDAY}
    assert () == rules.check(AT_PROPOSAL, ESTIMATE, MANAGER, context=documents)
    assert ESTIMATE in rules.allowed_moves(AT_PROPOSAL, MANAGER, context=documents)
    with pytest.raises(MoveRefusedError) as refused:
        rules.move(AT_PROPOSAL, ESTIMATE, MANAGER, T0, sequence=2)
    assert ["estimate_document"] == [v.rule for v in refused.value.violations]
    moved = rules.move(AT_PROPOSAL, ESTIMATE, MANAGER, T0, sequence=2, context=documents)
    assert ESTIMATE == moved.entity.stage


def test_an_unless_rule_refuses_while_it_holds():
    """Only on working days: on a Saturday the move is refused under the rule's name."""
    rules = DOCUMENTED.compile()
    documents = ("смета:С-1",)
    (refusal,) = rules.check(
        AT_PROPOSAL, ESTIMATE, MANAGER, context={"documents": documents, "today": SATURDAY}
    )
    assert "is_holiday" == refusal.rule
    assert "is_holiday holds" in refusal.message
    assert () == rules.check(
        AT_PROPOSAL, ESTIMATE, MANAGER, context={"documents": documents, "today": MONDAY}
    )


def test_a_condition_returning_false_is_reported_by_its_name_with_every_other_rule():
    """False refuses under the callable's name; funnelkit's own rules are reported too."""

    def senior_only(attempt: MoveAttempt) -> bool:
        return "head" in attempt.actor.roles

    rules = with_stage(ESTIMATE, conditions=(senior_only,)).compile()
    without_amount = make_deal(stage=PROPOSAL, amount=None)
    found = rules.check(without_amount, ESTIMATE, MANAGER)
    assert ["required_field", "senior_only"] == [v.rule for v in found]
    head = fk.Actor(id="boss", roles=frozenset({"head"}))
    assert () == rules.check(AT_PROPOSAL, ESTIMATE, head)


def test_an_extra_moves_conditions_hold_for_that_move_only():
    """A condition on КП ГОТОВО → УСПЕШНО РЕАЛИЗОВАНО leaves the other moves alone."""

    def paid_in_full(attempt: MoveAttempt) -> bool:
        return attempt.context.get("paid") is True

    moves = (ExtraMove(source=PROPOSAL, dest="УСПЕШНО РЕАЛИЗОВАНО", conditions=(paid_in_full,)),)
    rules = attrs.evolve(ROOFING, extra_moves=moves).compile()
    assert ["paid_in_full"] == [
        v.rule for v in rules.check(AT_PROPOSAL, "УСПЕШНО РЕАЛИЗОВАНО", MANAGER)
    ]
    assert () == rules.check(AT_PROPOSAL, "УСПЕШНО РЕАЛИЗОВАНО", MANAGER, context={"paid": True})
    assert () == rules.check(AT_PROPOSAL, ESTIMATE, MANAGER)


def _raises(attempt: MoveAttempt) -> None:
    raise KeyError("documents")


def _says_yes(attempt: MoveAttempt) -> str:
    return "yes"


@pytest.mark.parametrize(
    ("code", "rule", "words"),
    [(_raises, "condition_error", "raised KeyError"), (_says_yes, "condition_result", "'yes'")],
)
def test_bad_condition_code_is_a_funnelkit_error_naming_it_and_the_stage(code, rule, words):
    """A condition that raises or returns the wrong type: an error that names it, nothing moved."""
    rules = with_stage(ESTIMATE, conditions=(code,)).compile()
    for call in (
        lambda: rules.check(AT_PROPOSAL, ESTIMATE, MANAGER),
        lambda: rules.move(AT_PROPOSAL, ESTIMATE, MANAGER, T0, sequence=2),
    ):
        with pytest.raises(fk.ValidationError) as error:
            call()
        assert (rule, "Pipeline.stages[5].conditions[0]") == (error.value.rule, error.value.field)
        assert f"stage {ESTIMATE!r}" in str(error.value)
        assert code.__name__ in str(error.value)
        assert words in str(error.value)


def test_an_unless_rule_must_answer_true_or_false():
    """An unless rule returning None is refused by name, as bad code."""
    rules = with_stage(ESTIMATE, unless=(lambda attempt: None,)).compile()
    with pytest.raises(fk.ValidationError, match="unless rule '<lambda>' returned None"):
        rules.check(AT_PROPOSAL, ESTIMATE, MANAGER)


def test_conditions_must_be_callables():
    """A stage refuses conditions that are not callables when it is built."""
    with pytest.raises(fk.ValidationError, match="expected callables"):
        attrs.evolve(ROOFING.stages[5], conditions=("estimate_on_file",))  # type: ignore[arg-type]


# --- callbacks and effects -----------------------------------------------------------------------


def test_callbacks_return_effects_as_data_in_the_machines_order():
    """Pipeline and move before and after, on_exit, on_enter: effects in transitions' order."""
    order: list[str] = []

    def note(name: str, *effects: object):
        def callback(attempt: MoveAttempt) -> tuple[object, ...]:
            order.append(name)
            return effects

        callback.__name__ = name
        return callback

    estimate_task = CreateTask(
        kind=fk.TaskKind.OTHER, title="Проверить смету", due_in=timedelta(hours=2)
    )
    stages = tuple(
        attrs.evolve(stage, on_exit=(note("exit"),))
        if stage.key == PROPOSAL
        else attrs.evolve(
            stage, on_enter=(note("enter", estimate_task, SetField(field="houses", value=3)),)
        )
        if stage.key == ESTIMATE
        else stage
        for stage in ROOFING.stages
    )
    pipeline = attrs.evolve(
        ROOFING,
        stages=stages,
        before=(note("pipeline before"),),
        after=(note("pipeline after", Message(to="owner", text="Смета готова")),),
        extra_moves=(
            *ROOFING.extra_moves,
            ExtraMove(
                source=PROPOSAL,
                dest=ESTIMATE,
                before=(note("move before"),),
                after=(note("move after"),),
            ),
        ),
    )
    rules = pipeline.compile()
    assert () == rules.check(AT_PROPOSAL, ESTIMATE, MANAGER)
    assert [] == order  # asking runs no callback
    moved = rules.move(AT_PROPOSAL, ESTIMATE, MANAGER, T0, sequence=7)
    assert [
        "pipeline before",
        "move before",
        "exit",
        "enter",
        "move after",
        "pipeline after",
    ] == order
    task, message = moved.effects
    assert isinstance(task, PlannedTask)
    assert ("Проверить смету", "anna", T0 + timedelta(hours=2)) == (
        task.title,
        task.assignee,
        task.due_at,
    )
    assert Message(to="owner", text="Смета готова") == message
    assert 3 == moved.entity.fields["houses"]
    assert [7, 8] == [event.sequence for event in moved.events]
    assert isinstance(moved.events[1], fk.events.FieldChanged)


def test_a_forced_move_runs_the_callbacks_too():
    """Forcing overrides the rules, not what entering a stage asks for."""
    greeting = Message(to="client", text="Спасибо за заказ")
    pipeline = with_stage("УСПЕШНО РЕАЛИЗОВАНО", on_enter=(lambda attempt: (greeting,),))
    moved = pipeline.compile().move(
        make_deal(stage="ОБЪЕМЫ У ТУРАЛА"),
        "УСПЕШНО РЕАЛИЗОВАНО",
        MANAGER,
        T0,
        sequence=2,
        force=True,
    )
    event = moved.events[0]
    assert isinstance(event, fk.events.MoveEvent)
    assert (True, (greeting,)) == (event.forced, moved.effects)


@pytest.mark.parametrize(
    ("returned", "words"),
    [
        (("Позвонить",), "returned 'Позвонить' (str) among its effects"),
        ((SetField(field="no_such_field", value=1),), "'no_such_field', which is not a custom"),
        ((SetField(field="houses", value="много"),), "callback 'bad'"),
    ],
)
def test_bad_callback_effects_are_a_funnelkit_error_naming_it_and_the_stage(returned, words):
    """A callback returning what is no effect, or a field the schema refuses: a named error."""

    def bad(attempt: MoveAttempt):
        return returned

    rules = with_stage(ESTIMATE, on_enter=(bad,)).compile()
    with pytest.raises(fk.ValidationError) as error:
        rules.move(AT_PROPOSAL, ESTIMATE, MANAGER, T0, sequence=2)
    assert ("callback_result", "Pipeline.stages[5].on_enter[0]") == (
        error.value.rule,
        error.value.field,
    )
    assert words in str(error.value)
    assert f"stage {ESTIMATE!r}" in str(error.value)


def test_code_cannot_be_written_as_data_and_data_never_holds_code():
    """to_data refuses a pipeline with code; a pipeline without stays round-trippable."""
    with pytest.raises(fk.ValidationError, match="conditions written in code") as error:
        fk.to_data(DOCUMENTED)
    assert "code" == error.value.rule
    data = fk.to_data(ROOFING)
    assert "conditions" not in data["stages"][0]
    assert ROOFING == fk.from_data(data, fk.Pipeline)
    data["stages"][0]["conditions"] = ["estimate_on_file"]
    with pytest.raises(fk.StructureError, match="conditions"):
        fk.from_data(data, fk.Pipeline)


def test_the_service_hands_messages_over_once_the_move_is_committed():
    """on_message gets each message with its entity after the commit, never for a refusal."""
    greeting = Message(to="owner", text="Сделка в смете")
    pipeline = with_stage(
        ESTIMATE, on_enter=(lambda attempt: (greeting,),), conditions=(estimate_on_file,)
    )
    sent: list[tuple[fk.EntityRef, Message]] = []
    service = fk.Service(
        clock=fk.FixedClock(T0),
        ids=fk.SequentialIds(),
        funnel=fk.Funnel(key="кровля", leads=LEADS, deals=(pipeline,)),
        on_message=lambda ref, message: sent.append((ref, message)),
    )
    with service.store.unit_of_work() as uow:
        uow.deals.add(AT_PROPOSAL)
        uow.commit()
    with pytest.raises(MoveRefusedError):
        service.move(AT_PROPOSAL.ref, ESTIMATE, actor=MANAGER)
    assert [] == sent
    service.move(AT_PROPOSAL.ref, ESTIMATE, actor=MANAGER, context={"documents": ("смета:С-1",)})
    assert [(AT_PROPOSAL.ref, greeting)] == sent


# --- the fast path is a cache of the machine -----------------------------------------------------


def _even_ids_refused(attempt: MoveAttempt) -> fk.Violation | None:
    if len(attempt.entity.id) % 2:
        return None
    return fk.Violation(rule="odd_ids_only", message="only deals with odd-length ids move here")


def _closed_for_inventory(attempt: MoveAttempt) -> bool:
    return attempt.context.get("inventory") is True


def _announce(attempt: MoveAttempt) -> tuple[Message, ...]:
    return (Message(to="owner", text=f"{attempt.entity.id} → {attempt.to_stage}"),)


@st.composite
def _pipelines_with_conditions(draw: st.DrawFn) -> fk.Pipeline:
    """Generated pipelines with conditions, unless rules and callbacks of their own."""
    pipeline = draw(fst.pipelines())
    stages = tuple(
        attrs.evolve(
            stage,
            conditions=(_even_ids_refused,) if draw(st.booleans()) else (),
            unless=(_closed_for_inventory,) if draw(st.booleans()) else (),
            on_enter=(*stage.on_enter, _announce) if draw(st.booleans()) else stage.on_enter,
        )
        for stage in pipeline.stages
    )
    moves = tuple(
        attrs.evolve(move, conditions=(_even_ids_refused,)) if draw(st.booleans()) else move
        for move in pipeline.extra_moves
    )
    return attrs.evolve(pipeline, stages=stages, extra_moves=moves)


def _drawn_move(data: st.DataObject) -> tuple[fk.Pipeline, Any, Any, Any]:
    """A generated pipeline with code of its own, its compiled rules, an entity, an attempt."""
    pipeline = data.draw(_pipelines_with_conditions(), label="pipeline")
    entity = data.draw(fst.pipeline_entities(pipeline), label="entity")
    attempt = data.draw(fst.move_attempts(pipeline, forced=st.just(False)), label="attempt")
    return pipeline, pipeline.compile(), entity, attempt


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_check_is_the_reference_verdict_and_move_follows_check(data):
    """On generated pipelines with your conditions: check says what the definition says."""
    pipeline, rules, entity, attempt = _drawn_move(data)
    context = data.draw(st.sampled_from([{}, {"inventory": True}]), label="context")
    asked = {"reason": attempt.reason, "note": attempt.note, "context": context}
    found = rules.check(entity, attempt.to_stage, attempt.actor, **asked)
    expected = reference_refusals(pipeline, entity, attempt.to_stage, attempt.actor, **asked)
    assert sorted(expected) == sorted(violation.rule for violation in found)
    at = entity.created_at + timedelta(days=1)
    if found:
        with pytest.raises(MoveRefusedError) as refused:
            rules.move(entity, attempt.to_stage, attempt.actor, at, sequence=1, **asked)
        assert found == refused.value.violations
    else:
        moved = rules.move(entity, attempt.to_stage, attempt.actor, at, sequence=1, **asked)
        assert attempt.to_stage == moved.entity.stage


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_the_fast_path_and_the_machine_path_agree(data):
    """For any pipeline and move, the fast path and the machine give the same result or refusal."""
    pipeline, rules, entity, attempt = _drawn_move(data)
    # Mostly a move the fast path takes, so that the two paths are compared where they differ.
    fast_targets = [dest for source, dest in rules._fast if source == entity.stage]
    if fast_targets and data.draw(st.integers(0, 3), label="fast?"):
        to_stage = data.draw(st.sampled_from(fast_targets), label="fast target")
        attempt = attrs.evolve(attempt, to_stage=to_stage)
    at = entity.created_at + timedelta(days=1)

    def outcome(move):
        try:
            return move()
        except MoveRefusedError as refused:
            return refused.violations

    fast = outcome(
        lambda: rules.move(
            entity,
            attempt.to_stage,
            attempt.actor,
            at,
            sequence=3,
            reason=attempt.reason,
            note=attempt.note,
        )
    )
    machine = outcome(
        lambda: rules._move(  # the machine path of the same move
            entity,
            attempt.to_stage,
            attempt.actor,
            at,
            3,
            attempt.reason,
            attempt.note,
            force=False,
        )
    )
    assert machine == fast
    # Both paths build a plain move's result directly: it is what the general builder builds.
    dest = pipeline.stage(attempt.to_stage) if attempt.to_stage in pipeline else None
    if dest is not None and not dest.closed and dest.key != entity.stage:
        general = rules._apply(
            entity, dest, attempt.actor, at, 3, (None, attempt.note), (False, ()), None, ()
        )
        direct = rules._fast_result(
            entity, rules._entering[dest.key], attempt.actor.id, at, 3, attempt.note
        )
        assert general == direct


def test_the_fast_path_asks_your_conditions_once():
    """A refusal on the fast path is explained without calling your condition again."""
    calls: list[str] = []

    def counted(attempt: MoveAttempt) -> bool:
        calls.append(attempt.to_stage)
        return False

    pipeline = with_stage("ОП ВЗЯЛ В РАБОТУ", conditions=(counted,))
    rules = pipeline.compile()
    deal = make_deal(
        stage="НОВЫЙ ЛИД", owner="anna", fields={"product": "КРОВЛЯ", "client_type": "частник"}
    )
    assert ("НОВЫЙ ЛИД", "ОП ВЗЯЛ В РАБОТУ") in rules._fast
    with pytest.raises(MoveRefusedError):
        rules.move(deal, "ОП ВЗЯЛ В РАБОТУ", MANAGER, T0, sequence=2)
    # Once for the move, once more for the list of stages allowed instead: the machine, which
    # decides after the fast path found the refusal, reads the answer the fast path got.
    assert ["ОП ВЗЯЛ В РАБОТУ", "ОП ВЗЯЛ В РАБОТУ"] == calls
