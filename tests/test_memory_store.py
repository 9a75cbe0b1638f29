"""The in-memory store passes the whole conformance kit."""

from __future__ import annotations

import pytest
from hypothesis import settings

from funnelkit.storage import ContactKeys, InMemoryStore
from funnelkit.testing.contracts import StoreContract
from funnelkit.testing.stateful import check_store


class TestInMemoryStore(StoreContract):
    @pytest.fixture
    def store(self, contact_keys: ContactKeys) -> InMemoryStore:
        return InMemoryStore(contact_keys=contact_keys)


def test_in_memory_store_matches_the_dictionary_model():
    """The stateful machine finds no discrepancy between the in-memory store and the model."""
    check_store(InMemoryStore, settings=settings(max_examples=25, stateful_step_count=30))
