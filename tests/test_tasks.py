"""The task lifecycle: seed 002's rules, every refusal, events that keep the history."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

import funnelkit as fk
from funnelkit.seeds.pipelines import ROOFING
from funnelkit.tasks import TaskPolicy
from funnelkit.testing import strategies as fst
from funnelkit.testing.contracts import T0, make_deal, make_task


ANNA = fk.Actor(id="anna", roles=frozenset({"manager"}))
POLICY = TaskPolicy()


def test_create_returns_the_task_and_its_event():
    """A task created by hand comes with its TaskCreated event."""
    task, event = POLICY.create(
        task_id="З-1",
        subject=fk.EntityRef.deal("С-1"),
        kind=fk.TaskKind.CALL,
        title="Перезвонить",
        assignee="anna",
        due_at=T0 + timedelta(hours=1),
        actor=ANNA,
        at=T0,
    )
    assert (
        fk.events.TaskCreated(entity=task.ref, sequence=1, at=T0, actor="anna", task=task) == event
    )


def test_entry_actions_become_tasks():
    """The tasks a move asks for are created from its effects."""
    deal = make_deal(stage="ОБЪЕМЫ У ТУРАЛА", owner="anna")
    engineer = fk.Actor(id="tural", roles=frozenset({"engineer"}))
    moved = ROOFING.compile().move(deal, "КП ГОТОВО", engineer, T0, sequence=2)
    (effect,) = moved.effects
    assert isinstance(effect, fk.pipelines.PlannedTask)
    task, _ = POLICY.from_effect(effect, task_id="З-7", actor=engineer, at=T0)
    assert (fk.TaskKind.CLOSE_FOR_PAYMENT, "anna", T0 + timedelta(days=1)) == (
        task.kind,
        task.assignee,
        task.due_at,
    )


def test_a_call_is_completed_only_with_a_result_and_the_client_reached():
    """Seed 002: no completion without a written result, nor without reaching the client."""
    task = make_task()
    with pytest.raises(fk.ValidationError) as no_result:
        POLICY.complete(task, "  ", ANNA, T0, sequence=2, client_reached=True)
    assert "result_required" == no_result.value.rule
    with pytest.raises(fk.ValidationError) as not_reached:
        POLICY.complete(task, "Не взял трубку", ANNA, T0, sequence=2, client_reached=False)
    assert "client_not_reached" == not_reached.value.rule
    done, event = POLICY.complete(
        task, "Договорились о замере", ANNA, T0, sequence=2, client_reached=True
    )
    assert (fk.TaskStatus.DONE, "Договорились о замере", True) == (
        done.status,
        done.result,
        done.client_reached,
    )
    assert ("Договорились о замере", True) == (event.result, event.client_reached)


def test_other_kinds_may_complete_without_reaching_the_client():
    """An e-mail task needs a result but not a conversation."""
    task = make_task(kind=fk.TaskKind.EMAIL)
    done, _ = POLICY.complete(task, "КП отправлено на почту", ANNA, T0, sequence=2)
    assert fk.TaskStatus.DONE == done.status


def test_reschedule_keeps_the_old_and_new_due_times():
    """The event records both due times and the reason."""
    task = make_task()
    later = task.due_at + timedelta(days=1)
    moved, event = POLICY.reschedule(task, later, ANNA, T0, sequence=2, reason="клиент в отъезде")
    assert later == moved.due_at
    assert (task.due_at, later, "клиент в отъезде") == (event.old_due, event.new_due, event.reason)


@pytest.mark.parametrize(
    ("operation", "rule"),
    [
        (lambda t: POLICY.reschedule(t, t.due_at, ANNA, T0, sequence=2), "same_due"),
        (
            lambda t: POLICY.reschedule(t, T0 - timedelta(hours=1), ANNA, T0, sequence=2),
            "due_in_past",
        ),
        (lambda t: POLICY.reassign(t, t.assignee, ANNA, T0, sequence=2), "same_assignee"),
        (lambda t: POLICY.cancel(t, "", ANNA, T0, sequence=2), "cancel_reason"),
        (
            lambda t: POLICY.reschedule(t, T0.replace(tzinfo=None), ANNA, T0, sequence=2),
            "aware_datetime",
        ),
    ],
)
def test_bad_operations_are_refused(operation, rule):
    """Each bad input names its rule; the task stays as it was."""
    task = make_task()
    with pytest.raises(fk.ValidationError) as caught:
        operation(task)
    assert rule == caught.value.rule
    assert make_task() == task


def test_closed_tasks_refuse_every_operation():
    """A done or cancelled task cannot be completed, moved, reassigned or cancelled again."""
    done, _ = POLICY.complete(
        make_task(), "Замер назначен", ANNA, T0, sequence=2, client_reached=True
    )
    operations = [
        lambda: POLICY.complete(done, "ещё раз", ANNA, T0, sequence=3, client_reached=True),
        lambda: POLICY.reschedule(done, done.due_at + timedelta(days=1), ANNA, T0, sequence=3),
        lambda: POLICY.reassign(done, "boris", ANNA, T0, sequence=3),
        lambda: POLICY.cancel(done, "не нужно", ANNA, T0, sequence=3),
    ]
    for operation in operations:
        with pytest.raises(fk.ValidationError) as caught:
            operation()
        assert "task_closed" == caught.value.rule


def test_past_due_times_can_be_allowed():
    """A policy may allow recording a task that was due already (imports)."""
    task, _ = TaskPolicy(allow_past_due=True).create(
        task_id="З-1",
        subject=fk.EntityRef.lead("Л-1"),
        kind=fk.TaskKind.CALL,
        title="Перезвонить",
        assignee="anna",
        due_at=T0 - timedelta(hours=2),
        actor=ANNA,
        at=T0,
    )
    assert task.is_overdue(T0)


@given(fst.tasks(statuses=st.just(fk.TaskStatus.OPEN)), fst.texts(min_size=1))
def test_completing_never_loses_the_result(task, result):
    """Whatever the task, a completion keeps exactly the written result (trimmed)."""
    done, event = TaskPolicy(must_reach_client=frozenset()).complete(
        task, result, ANNA, task.created_at, sequence=2
    )
    assert result.strip() == done.result == event.result
