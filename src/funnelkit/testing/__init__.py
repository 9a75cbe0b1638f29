"""
The testing kit: check a store adapter, and property-test your own pipelines and policies.

- `funnelkit.testing.contracts`: pytest mixin classes that check any `funnelkit.storage.Store`
  against every storage contract; combine them with one ``store`` fixture.
- `funnelkit.testing.stateful`: a Hypothesis state machine that drives any store with random
  operations and compares it with a plain dictionary model.
- `funnelkit.testing.pipelines`: a Hypothesis state machine that property-tests the rules of
  any pipeline (`check_pipeline`).
- `funnelkit.testing.laws`: laws your own matching, merge and qualification policies must obey
  (symmetric matching, lossless and reversible merges, deterministic qualification).
- `funnelkit.testing.strategies`: Hypothesis strategies for every funnelkit value, event and
  pipeline definition, and for move attempts.

The kit needs the ``testing`` extra: ``pip install "funnelkit[testing]"``.
Importing ``funnelkit`` itself never imports Hypothesis or pytest.
"""

from __future__ import annotations

import importlib.util


_MISSING: list[str] = [
    name for name in ("hypothesis", "pytest") if importlib.util.find_spec(name) is None
]
if _MISSING:  # pragma: no cover - exercised only without the extra installed
    _msg = (
        f"funnelkit.testing needs {' and '.join(_MISSING)}, which are not installed; "
        'install the testing extra: pip install "funnelkit[testing]"'
    )
    raise ImportError(_msg, name="funnelkit.testing")

import pytest  # noqa: E402 - only after the check above can explain a missing extra


# The conformance kit asserts with plain ``assert``; have pytest rewrite them for readable diffs.
pytest.register_assert_rewrite(
    "funnelkit.testing.contracts",
    "funnelkit.testing.stateful",
    "funnelkit.testing.pipelines",
    "funnelkit.testing.laws",
)

__all__: list[str] = []
