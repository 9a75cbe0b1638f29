"""The in-memory store passes the whole conformance kit."""

from __future__ import annotations

import pytest

from funnelkit.storage import ContactKeys, InMemoryStore
from funnelkit.testing.contracts import StoreContract


class TestInMemoryStore(StoreContract):
    @pytest.fixture
    def store(self, contact_keys: ContactKeys) -> InMemoryStore:
        return InMemoryStore(contact_keys=contact_keys)
