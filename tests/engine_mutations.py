"""
Deliberate breaks of the pipeline engine, for the property kit's self-test and its benchmark.

Each mutation breaks one rule of the engine (a role guard that lets anyone through, a policy
that allows every skip and back move...) through a `pytest.MonkeyPatch`. `PIPELINE` is seed
002's roofing pipeline with every kind of rule, `CONTEXTS` the contexts its condition reads,
and `KIT_SETTINGS` the kit's default settings at 200 examples (the CI profile's count) without
the example database, so that every run searches afresh instead of replaying a failure found
before. The kit's oracle is its reference interpreter of the definition, which shares no code
with the engine, so none of these mutations reaches it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs
import transitions.core
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

from funnelkit.pipelines import (
    CompiledPipeline,
    MoveAttempt,
    Reason,
    Stage,
    StageKind,
    _guards,
    _machine,
)
from funnelkit.seeds.pipelines import ROOFING


if TYPE_CHECKING:
    from collections.abc import Callable

    import pytest


def estimate_on_file(attempt: MoveAttempt) -> bool:
    """Seed 002: a deal enters СМЕТА ГОТОВА only once the host says its estimate exists."""
    return attempt.context.get("estimate") is True


PIPELINE = attrs.evolve(
    ROOFING,
    stages=(
        *(
            attrs.evolve(stage, conditions=(estimate_on_file,))
            if stage.key == "СМЕТА ГОТОВА"
            else stage
            for stage in ROOFING.stages
        ),
        Stage(key="НЕ НАШ КЛИЕНТ", kind=StageKind.LOST),
    ),
    # Paying on the proposal needs the settlement; a wholesaler is not our client.
    extra_moves=tuple(
        attrs.evolve(move, required_fields=("settlement",)) for move in ROOFING.extra_moves
    ),
    reasons=(
        *ROOFING.reasons,
        Reason(key="wholesale", title="Оптовик", stages=frozenset({"НЕ НАШ КЛИЕНТ"})),
    ),
)
"""
Seed 002's pipeline with every kind of rule: roles out of and into "ОБЪЕМЫ У ТУРАЛА", a call
that must be done to leave "ГОРЯЧИЕ", money in the till to win, a field for one move, a reason
tied to its stage, and a condition of its own.
"""
CONTEXTS = st.sampled_from([{}, {"estimate": True}])
KIT_SETTINGS = settings(
    max_examples=200,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # the kit's: no shrinking
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _never(guard: _guards.Guard) -> _guards.Guard:
    return _guards.Guard(guard.name, guard.rule, lambda cursor: (), unless=guard.unless)


def _role_guard_off(monkeypatch: pytest.MonkeyPatch) -> None:
    original = _guards._roles_guard
    monkeypatch.setattr(_guards, "_roles_guard", lambda *a: _never(original(*a)))


def _entry_roles_off(monkeypatch: pytest.MonkeyPatch) -> None:
    original = _guards._roles_guard

    def roles_guard(roles: Any, rule: str, what: str) -> _guards.Guard:
        guard = original(roles, rule, what)
        return _never(guard) if rule == "entry_role" else guard

    monkeypatch.setattr(_guards, "_roles_guard", roles_guard)


def _payment_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    original = _guards._payment_guard
    monkeypatch.setattr(_guards, "_payment_guard", lambda *a: _never(original(*a)))


def _open_tasks_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    original = _guards._tasks_guard
    monkeypatch.setattr(_guards, "_tasks_guard", lambda *a: _never(original(*a)))


def _move_fields_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    original = _guards._required_guard

    def required_guard(names: Any, what: str) -> _guards.Guard:
        guard = original(names, what)
        return _never(guard) if what.startswith("for the move") else guard

    monkeypatch.setattr(_guards, "_required_guard", required_guard)


def _reason_rule_dropped(rule: str) -> Callable[[pytest.MonkeyPatch], None]:
    """A mutation: the reason guard never reports `rule` (the rest of it still holds)."""

    def mutate(monkeypatch: pytest.MonkeyPatch) -> None:
        original = _guards._reason_guard

        def reason_guard(*args: Any) -> _guards.Guard:
            guard = original(*args)

            def check(cursor: Any) -> tuple[Any, ...]:
                return tuple(v for v in guard.violations(cursor) if v.rule != rule)

            return _guards.Guard(guard.name, guard.rule, check)

        monkeypatch.setattr(_guards, "_reason_guard", reason_guard)

    return mutate


def _policy_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_guards, "_policy_allows", lambda *a: True)


def _required_field_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    original = _guards._required_guard
    monkeypatch.setattr(_guards, "_required_guard", lambda *a: _never(original(*a)))


def _closed_stage_leavable(monkeypatch: pytest.MonkeyPatch) -> None:
    original = _guards._declared_moves

    def declared(pipeline: Any) -> dict[tuple[str, str], list[_guards.Guard]]:
        moves = original(pipeline)
        for source in (s for s in pipeline.stages if s.closed):
            for dest in (d for d in pipeline.stages if d.key != source.key):
                moves.setdefault((source.key, dest.key), [])
        return moves

    monkeypatch.setattr(_machine, "_declared_moves", declared)


def _fast_path_skips_guards(monkeypatch: pytest.MonkeyPatch) -> None:
    original = CompiledPipeline.__init__

    def init(self: CompiledPipeline, pipeline: Any) -> None:
        original(self, pipeline)
        self._fast = {move: ((), changes) for move, (_, changes) in self._fast.items()}

    monkeypatch.setattr(CompiledPipeline, "__init__", init)


def _filled_wrong(monkeypatch: pytest.MonkeyPatch) -> None:
    # Looks at the entity's own attribute only, never at its custom fields.
    monkeypatch.setattr(
        _guards, "_filled", lambda entity, name: getattr(entity, name, None) not in (None, "")
    )


def _user_condition_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_guards, "_user_guards", lambda *a, **k: [])


def _machine_conditions_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transitions.core.Condition, "check", lambda self, event_data: True)


MUTATIONS: dict[str, Callable[[pytest.MonkeyPatch], None]] = {
    "role guard off": _role_guard_off,
    "skip and back policy off": _policy_off,
    "note of 'other' not required": _reason_rule_dropped("reason_note"),
    "required field ignored": _required_field_ignored,
    "closed stage leavable": _closed_stage_leavable,
    "fast path skipping guards": _fast_path_skips_guards,
    "the 'filled' notion wrong": _filled_wrong,
    "your condition ignored": _user_condition_ignored,
    "transitions' condition checks off": _machine_conditions_off,
    "entry roles off": _entry_roles_off,
    "payment ignored": _payment_ignored,
    "open tasks ignored": _open_tasks_ignored,
    "a move's own fields ignored": _move_fields_ignored,
    "a reason's stages ignored": _reason_rule_dropped("reason_stage"),
}
