"""
How soon the pipeline property kit catches a broken engine, over many random seeds.

For each deliberate break of the engine in ``tests/engine_mutations.py`` (a role guard that
lets anyone through, a move's own fields ignored, a reason's stages ignored...), runs
`check_pipeline` on the mutated roofing pipeline (seed 002) once per seed, at the kit's
defaults with 200 examples and no example database, and records how many examples it took to
fail and how long. The baseline, in the same run, is the engine as it is: the time of the
kit's full 200 examples on the same pipeline, which is what a user waits for when nothing is
broken; each break's worst time is given as a share of it.

A break that some seed does not catch within the 200 examples is reported as missed: the kit's
own test (``tests/test_pipeline_mutations.py``) would then fail for that seed.

Run from the repository root:
``.venv/bin/python -m benchmarks.kit_mutations [SEEDS] [MUTATION...]`` (50 seeds by default).
"""

from __future__ import annotations

import statistics
import sys
import time

import attrs
import hypothesis.core
import pytest

from funnelkit.testing import pipelines as kit

from tests.engine_mutations import CONTEXTS, KIT_SETTINGS, MUTATIONS, PIPELINE


def _run(seed: int) -> tuple[int, float, bool]:
    """One run of the kit under a fixed seed: examples run, seconds, whether it failed."""
    examples = 0
    original = kit.PipelineMachine.__init__

    def counting(self: kit.PipelineMachine) -> None:
        nonlocal examples
        examples += 1
        original(self)

    kit.PipelineMachine.__init__ = counting  # type: ignore[method-assign]
    # What pytest's --hypothesis-seed sets; typed None as no public API sets it.
    hypothesis.core.global_force_seed = seed  # type: ignore[assignment]
    start = time.perf_counter()
    try:
        kit.check_pipeline(attrs.evolve(PIPELINE), contexts=CONTEXTS, settings=KIT_SETTINGS)
    except AssertionError:
        failed = True
    else:
        failed = False
    finally:
        kit.PipelineMachine.__init__ = original  # type: ignore[method-assign]
        hypothesis.core.global_force_seed = None
    # A failing example is run once more to report it; count the examples the search took.
    return examples - 1 if failed else examples, time.perf_counter() - start, failed


def main() -> None:
    """Print, per break, the examples and seconds the kit took to fail, over the seeds."""
    seeds = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    names = sys.argv[2:] or list(MUTATIONS)
    baseline = [_run(seed) for seed in range(min(seeds, 5))]
    if any(failed for _, _, failed in baseline):
        raise SystemExit("the kit fails the engine as it is: fix that first")
    whole = statistics.median(seconds for _, seconds, _ in baseline)
    print(f"baseline: the engine as it is, 200 examples in {whole:.1f} s (median of 5 seeds)")
    print(f"{'break':40} {'missed':>6} {'examples: median':>17} {'p90':>4} {'max':>4}", end="")
    print(f" {'seconds: median':>16} {'max':>5} {'max/baseline':>12}")
    for name in names:
        monkeypatch = pytest.MonkeyPatch()
        MUTATIONS[name](monkeypatch)
        try:
            runs = [_run(seed) for seed in range(seeds)]
        finally:
            monkeypatch.undo()
        examples = sorted(n for n, _, _ in runs)
        seconds = sorted(s for _, s, _ in runs)
        missed = sum(not failed for _, _, failed in runs)
        p90 = examples[min(len(examples) - 1, round(0.9 * len(examples)))]
        print(
            f"{name:40} {missed:6} {statistics.median(examples):17.0f} {p90:4} {examples[-1]:4}"
            f" {statistics.median(seconds):16.1f} {seconds[-1]:5.1f} {seconds[-1] / whole:12.2f}"
        )


if __name__ == "__main__":
    main()
