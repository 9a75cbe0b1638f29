"""
The practice funnelkit encodes, as data: the seeds' pipelines and seed 000's worked log.

- `funnelkit.seeds.pipelines`: the roofing company's amoCRM pipeline (seed 002), seed 000's
  lead pipeline with its junk stages and the chained deal pipelines, and seed 001's
  temperature-based pipelines; templates for your own.
- `funnelkit.seeds.seed_000_log`: a small event log of seed 000's chain whose every number can
  be worked out by hand; the guides "Answer the seeds' questions" and "Metric definitions"
  read it.
"""

from funnelkit.seeds import pipelines, seed_000_log


__all__ = ["pipelines", "seed_000_log"]
