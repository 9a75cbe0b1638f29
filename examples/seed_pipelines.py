"""
Print the seeds' pipelines (`funnelkit.seeds.pipelines`): every stage and the moves allowed.

Run it with ``python3 examples/seed_pipelines.py``.
"""

from __future__ import annotations

from funnelkit.seeds.pipelines import ALL


def main() -> None:
    """Print each pipeline's stages and the moves its rules allow."""
    for pipeline in ALL:
        rules = pipeline.compile()
        print(f"{pipeline.title} ({pipeline.kind.value}, {len(rules.moves())} moves)")
        for stage in pipeline.stages:
            targets = ", ".join(rules.targets(stage.key)) or "— (closed)"
            print(f"  {stage.key} [{stage.kind.value}] → {targets}")


if __name__ == "__main__":
    main()
