"""Shared test set-up: Hypothesis profiles and the pytester plugin for kit self-tests."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings


pytest_plugins = ["pytester"]

# "dev" keeps the local loop quick; CI (CI=true) explores more and never uses a wall-clock
# deadline, so a slow shared runner cannot make a property flaky.
settings.register_profile("dev", max_examples=60, deadline=None)
settings.register_profile(
    "ci",
    max_examples=200,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("ci" if os.environ.get("CI") else os.environ.get("HYPOTHESIS_PROFILE", "dev"))
