"""The test suite's databases: the PostgreSQL one comes from ``FUNNELKIT_TEST_POSTGRESQL``."""

from __future__ import annotations

import os

import pytest


def postgresql_url() -> str:
    """
    The URL of the PostgreSQL test database; without one, skip the test (fail it under CI).

    `.ci/run` starts a throw-away PostgreSQL on loopback and sets the variable.
    """
    url = os.environ.get("FUNNELKIT_TEST_POSTGRESQL")
    if url:
        return url
    if os.environ.get("CI"):
        pytest.fail("FUNNELKIT_TEST_POSTGRESQL is not set: .ci/run starts PostgreSQL and sets it")
    pytest.skip("set FUNNELKIT_TEST_POSTGRESQL to a PostgreSQL URL to run this")
