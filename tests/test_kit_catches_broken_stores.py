"""The conformance kit is not a rubber stamp: it fails a store that ignores versions."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import Phase, settings

from funnelkit.testing.stateful import check_store

from tests.broken_store import IgnoresVersionsStore


KIT_RUN = """
import pytest
from tests.broken_store import IgnoresVersionsStore
from funnelkit.testing.contracts import StoreContract


class TestIgnoresVersions(StoreContract):
    @pytest.fixture
    def store(self, contact_keys):
        return IgnoresVersionsStore(contact_keys=contact_keys)
"""


def test_contracts_fail_a_store_that_ignores_versions(pytester):
    """Stale saves pass unnoticed in the broken store, and the kit reports each one."""
    pytester.mkdir("tests")
    source = Path(__file__).with_name("broken_store.py").read_text(encoding="utf-8")
    (pytester.path / "tests" / "broken_store.py").write_text(source, encoding="utf-8")
    pytester.makepyfile(test_kit_run=KIT_RUN)
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    failed = {
        line.split("::")[-1].split(" ")[0] for line in result.outlines if line.startswith("FAILED")
    }
    expected = {
        f"test_save_of_a_stale_version_conflicts_and_changes_nothing[{kind}]"
        for kind in ("contacts", "leads", "deals", "tasks")
    }
    assert expected == failed


def test_stateful_machine_fails_a_store_that_ignores_versions():
    """The state machine finds a stale save that the broken store accepts."""
    with pytest.raises(AssertionError, match="stale version"):
        check_store(
            IgnoresVersionsStore,
            settings=settings(
                max_examples=200,
                report_multiple_bugs=False,
                derandomize=True,
                database=None,
                phases=[Phase.generate],  # finding the bug is the point; shrinking it is slow
            ),
        )
