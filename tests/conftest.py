"""Shared test set-up: Hypothesis profiles, the pytester plugin, and stores of every kind."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, settings

from tests.databases import postgresql_url


if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from funnelkit.storage import ContactKeys, Store

    StoreFactory = Callable[..., Store]


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


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Makes empty stores of one kind: in memory, SQLite, or PostgreSQL (when configured)."""
    import funnelkit as fk  # noqa: PLC0415 - after the Hypothesis profile is chosen

    made: list[Any] = []

    def make(contact_keys: ContactKeys = fk.storage.basic_contact_keys) -> Store:
        if request.param == "memory":
            return fk.InMemoryStore(contact_keys=contact_keys)
        from funnelkit.storage.sql import SqlStore  # noqa: PLC0415 - the SQL extra

        if request.param == "sqlite":
            store = SqlStore.from_url(
                f"sqlite:///{tmp_path / f'crm-{len(made)}.db'}", contact_keys=contact_keys
            )
            store.create_schema()
        else:
            store = SqlStore.from_url(postgresql_url(), contact_keys=contact_keys)
            store.create_schema()
            store.clear()
        made.append(store)
        return store

    yield make
    for store in made:
        store.engine.dispose()
