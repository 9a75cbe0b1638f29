"""
The property kit catches a broken engine: deliberate mutations of the rules, each caught.

Each test breaks one rule of the engine (`tests.engine_mutations`) and runs `check_pipeline`
on seed 002's roofing pipeline at the kit's default settings with 200 examples, the CI
profile's count whatever the active profile, and no example database: the kit must fail.
How soon it does, in examples and seconds over many random seeds, is measured by
``benchmarks/kit_mutations.py`` (figures in ``docs/performance.md``), not here: a wall-clock
limit in a test fails on a busy machine, not on a broken kit.
"""

from __future__ import annotations

import attrs
import pytest

from funnelkit.testing.pipelines import check_pipeline

from tests.engine_mutations import CONTEXTS, KIT_SETTINGS, MUTATIONS, PIPELINE


def test_the_kit_passes_the_engine_as_it_is():
    """Without a mutation, the same check passes: the failures below are the mutations'."""
    check_pipeline(attrs.evolve(PIPELINE), contexts=CONTEXTS)


@pytest.mark.parametrize("mutation", list(MUTATIONS))
def test_the_kit_catches_a_broken_engine(mutation, monkeypatch):
    """Each deliberate break of the engine fails the kit within its 200 examples."""
    MUTATIONS[mutation](monkeypatch)
    pipeline = attrs.evolve(PIPELINE)  # a fresh definition: compiled with the mutation
    with pytest.raises(AssertionError):
        check_pipeline(pipeline, contexts=CONTEXTS, settings=KIT_SETTINGS)
