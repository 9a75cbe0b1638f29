"""The pipeline property kit holds on every seed pipeline and on generated ones, and bites."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import funnelkit as fk
from funnelkit.seeds.pipelines import ALL, ROOFING
from funnelkit.testing import strategies as fst
from funnelkit.testing.pipelines import check_pipeline, check_pipelines


RUN = settings(max_examples=20, stateful_step_count=30)


@pytest.mark.parametrize("pipeline", ALL, ids=lambda p: p.key)
def test_every_seed_pipeline_keeps_its_rules(pipeline):
    """The stateful pipeline check passes on each seed pipeline."""
    check_pipeline(pipeline, settings=RUN)


def test_generated_pipelines_keep_their_rules():
    """The stateful pipeline check passes on pipelines drawn by the strategy."""
    check_pipelines(fst.pipelines(), settings=settings(RUN, max_examples=40))


@settings(max_examples=30, suppress_health_check=[HealthCheck.too_slow])
@given(fst.pipelines())
def test_generated_pipelines_round_trip_and_draw(pipeline):
    """Generated definitions survive plain data and always produce a diagram."""
    assert pipeline == fk.from_data(fk.to_data(pipeline), fk.Pipeline)
    assert fk.pipelines.to_mermaid(pipeline).startswith("flowchart LR\n")


@given(st.data())
def test_entities_drawn_for_a_pipeline_sit_in_its_open_stages(data):
    """`pipeline_entities` places open leads or deals in the pipeline's open stages."""
    entity = data.draw(fst.pipeline_entities(ROOFING))
    assert isinstance(entity, fk.Deal)
    assert (entity.pipeline, ROOFING.stage(entity.stage).closed) == ("кровля", False)


def test_the_kit_catches_a_fast_path_that_drops_the_machines_rules():
    """A fast-path table tampered to drop a guard moves what the machine refuses: caught."""
    pipeline = attrs.evolve(ROOFING)
    rules = pipeline.compile()
    guards, changes = rules._fast[("НОВЫЙ ЛИД", "ОП ВЗЯЛ В РАБОТУ")]
    assert guards
    rules._fast[("НОВЫЙ ЛИД", "ОП ВЗЯЛ В РАБОТУ")] = ((), changes)
    with pytest.raises(AssertionError, match="succeeded"):
        check_pipeline(
            pipeline,
            settings=settings(
                max_examples=300,
                derandomize=True,
                database=None,
                report_multiple_bugs=False,
                phases=[Phase.generate],
            ),
        )


@settings(max_examples=30)
@given(st.data())
def test_a_sequence_of_attempts_never_breaks_history(data):
    """Applying drawn attempts one after another keeps a history that replays cleanly."""
    entity = data.draw(fst.pipeline_entities(ROOFING))
    start = entity.stage
    rules = ROOFING.compile()
    history: list[fk.events.Event] = []
    for attempt in data.draw(fst.move_sequences(ROOFING)):
        try:
            result = rules.move(
                entity,
                attempt.to_stage,
                attempt.actor,
                entity.created_at,
                sequence=len(history) + 1,
                reason=attempt.reason,
                note=attempt.note,
                force=attempt.force,
            )
        except fk.MoveRefusedError:
            continue
        entity = result.entity
        history.extend(result.events)
    replay = rules.replay(history, start=start)
    assert (entity.stage, ()) == (replay.stage, replay.problems)
