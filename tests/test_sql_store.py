"""
The SQL store passes the conformance kit on SQLite and PostgreSQL, and loses no racing move.

Several processes moving the same deals lose no update and duplicate no event.

PostgreSQL runs when ``FUNNELKIT_TEST_POSTGRESQL`` holds a URL to an empty database that the
tests may fill and wipe (``.ci/run`` starts a server on loopback and sets it); without it the
PostgreSQL tests are skipped, except under CI, where they fail.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import attrs
import pytest
from hypothesis import settings

import funnelkit as fk
from funnelkit.matching import MatchPolicy, MergePolicy
from funnelkit.storage.sql import SqlStore
from funnelkit.testing.contracts import T0, StoreContract, make_deal
from funnelkit.testing.laws import check_merge_laws
from funnelkit.testing.stateful import check_store

from tests import intake_race_worker
from tests.databases import postgresql_url


if TYPE_CHECKING:
    from collections.abc import Iterator

    from funnelkit.storage import ContactKeys

WORKER = Path(__file__).with_name("sql_race_worker.py")
INTAKE_WORKER = Path(__file__).with_name("intake_race_worker.py")


class _Stores:
    """Makes empty stores of one backend and disposes of their engines afterwards."""

    def __init__(self, backend: str, folder: Path) -> None:
        self.backend, self.folder = backend, folder
        self.made: list[SqlStore] = []
        self.url = postgresql_url() if backend == "postgresql" else ""

    def __call__(self, contact_keys: ContactKeys = fk.storage.basic_contact_keys) -> SqlStore:
        if self.backend == "sqlite":
            url = f"sqlite:///{self.folder / f'crm-{len(self.made)}.db'}"
            store = SqlStore.from_url(url, contact_keys=contact_keys)
            store.create_schema()
        else:
            store = SqlStore.from_url(self.url, contact_keys=contact_keys)
            store.create_schema()
            store.clear()
        self.made.append(store)
        return store

    def dispose(self) -> None:
        for store in self.made:
            store.engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[_Stores]:
    made = _Stores(request.param, tmp_path)
    yield made
    made.dispose()


class TestSqlStore(StoreContract):
    @pytest.fixture
    def store(self, stores: _Stores, contact_keys: ContactKeys) -> SqlStore:
        return stores(contact_keys)


def test_the_sql_store_matches_the_dictionary_model(stores: _Stores):
    """The stateful machine finds no discrepancy between the SQL store and the model."""
    check_store(stores, settings=settings(max_examples=10, stateful_step_count=20, deadline=None))


def test_create_schema_is_idempotent_and_keeps_the_data(stores: _Stores):
    store = stores()
    with store.unit_of_work() as uow:
        uow.deals.add(make_deal())
        uow.events.append(
            [
                fk.events.DealCreated(
                    entity=fk.EntityRef.deal("С-1"),
                    sequence=1,
                    at=T0,
                    actor="anna",
                    deal=attrs.evolve(make_deal(), version=1),
                )
            ]
        )
        uow.commit()
    store.create_schema()
    with store.unit_of_work() as uow:
        assert uow.deals.get("С-1").stage == "ОП ВЗЯЛ В РАБОТУ"
    store.clear()
    with store.unit_of_work() as uow:
        assert (0, []) == (uow.deals.count(), list(uow.events.read_all()))


def test_a_store_without_its_tables_says_to_create_them(tmp_path: Path):
    store = SqlStore.from_url(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(fk.StoreNotReadyError, match=r"store\.create_schema\(\)"):
        store.unit_of_work()
    store.create_schema()
    with store.unit_of_work() as uow:
        assert uow.deals.count() == 0
    store.engine.dispose()


@pytest.mark.parametrize(
    "url", ["not a url", "nosuchdb://host/db", "postgresql+nosuchdriver://host/db"]
)
def test_a_bad_url_is_refused_naming_the_url(url):
    with pytest.raises(fk.ValidationError, match="cannot use") as refused:
        SqlStore.from_url(url)
    assert "url" == refused.value.field


def test_only_an_engine_of_a_supported_database_is_taken():
    with pytest.raises(fk.ValidationError, match="SQLAlchemy Engine") as refused:
        SqlStore("sqlite:///crm.db")  # type: ignore[arg-type]
    assert "engine" == refused.value.field


def test_two_stores_on_one_sqlite_engine_commit_alike(tmp_path: Path):
    """The engine's connections are set up once, however many stores share it."""
    first = SqlStore.from_url(f"sqlite:///{tmp_path / 'shared.db'}")
    second = SqlStore(first.engine)
    first.create_schema()
    for store, deal_id in ((first, "С-1"), (second, "С-2")):
        with store.unit_of_work() as uow:
            uow.deals.add(make_deal(deal_id))
            uow.commit()
    with second.unit_of_work() as uow:
        assert 2 == uow.deals.count()
    first.engine.dispose()


def _race(store: SqlStore, workers: int, moves: int) -> tuple[Counter[str], int]:
    url = store.engine.url.render_as_string(hide_password=False)
    processes = [
        subprocess.Popen(  # noqa: S603 - our own worker script
            [sys.executable, str(WORKER), url, str(worker), str(moves)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for worker in range(workers)
    ]
    moved: Counter[str] = Counter()
    conflicts = 0
    for process in processes:
        out, _ = process.communicate(timeout=600)
        assert process.returncode == 0
        report = json.loads(out)
        moved.update(report["moved"])
        conflicts += report["conflicts"]
    return moved, conflicts


@pytest.mark.slow
def test_racing_processes_lose_no_move_and_duplicate_no_event(stores: _Stores):
    """Four processes move five deals back and forth: every committed move is in the store."""
    store = stores()
    deals = [make_deal(f"С-{n}") for n in range(1, 6)]
    with store.unit_of_work() as uow:
        for deal in deals:
            uow.deals.add(deal)
        uow.commit()

    moved, conflicts = _race(store, workers=4, moves=60)

    assert sum(moved.values()) == 240
    with store.unit_of_work() as uow:
        for deal in deals:
            stored = uow.deals.get(deal.id)
            history = uow.events.read(stored.ref)
            assert stored.version == 1 + moved[deal.id]  # no lost update
            assert [e.sequence for e in history] == list(range(1, moved[deal.id] + 1))
            expected = "ЗАМЕР НАЗНАЧЕН" if moved[deal.id] % 2 else "ОП ВЗЯЛ В РАБОТУ"
            assert stored.stage == expected
            assert [e.to_stage for e in history if isinstance(e, fk.events.StageChanged)] == [
                "ЗАМЕР НАЗНАЧЕН" if n % 2 else "ОП ВЗЯЛ В РАБОТУ"
                for n in range(1, len(history) + 1)
            ]
        positions = [recorded.position for recorded in uow.events.read_all()]
    assert positions == list(range(1, 241))  # one global order, no gap, no duplicate
    print(f"{conflicts} conflicts retried")  # noqa: T201 - shown with -s


def _one_customer(store: fk.storage.Store) -> tuple[str, list[fk.Lead], list[fk.Deal]]:
    """The one live contact, and every lead and deal."""
    with store.unit_of_work() as uow:
        live = [c.id for c in uow.contacts.list() if c.merged_into is None]
        assert 1 == len(live), f"live contacts: {live}"
        return live[0], uow.leads.list(), uow.deals.list()


@pytest.mark.slow
def test_racing_intakes_and_a_merge_leave_one_customer(stores: _Stores):
    """Eight processes take in one client's 40 requests while another merges his copies."""
    store = stores(intake_race_worker.CONTACT_KEYS)
    intake_race_worker.seed(store)
    url = store.engine.url.render_as_string(hide_password=False)
    roles = [("merge", "0", "300")] + [("intake", str(n), "5") for n in range(8)]
    processes = [
        subprocess.Popen(  # noqa: S603 - our own worker script
            [sys.executable, str(INTAKE_WORKER), url, *role], stdout=subprocess.PIPE, text=True
        )
        for role in roles
    ]
    reports = []
    for process in processes:
        out, _ = process.communicate(timeout=600)
        assert process.returncode == 0
        reports.append(json.loads(out))
    merger, takers = reports[0], reports[1:]
    assert merger["merges"] >= 1
    survivor, leads, deals = _one_customer(store)
    assert sorted(i for r in takers for i in r["leads"]) == sorted(lead.id for lead in leads)
    assert sorted(i for r in takers for i in r["deals"]) == sorted(deal.id for deal in deals)
    assert (40, 8) == (len(leads), len(deals))
    assert {survivor} == {lead.contact_id for lead in leads} | {d.contact_id for d in deals}
    print(merger)  # noqa: T201 - shown with -s


def test_racing_threads_on_the_memory_store_leave_one_customer():
    """The same race in threads against one InMemoryStore."""
    store = fk.InMemoryStore(contact_keys=intake_race_worker.CONTACT_KEYS)
    intake_race_worker.seed(store)
    with ThreadPoolExecutor(max_workers=9) as pool:
        merger = pool.submit(intake_race_worker.merge_until_one, store, 120.0)
        takers = [pool.submit(intake_race_worker.take_in, store, str(n), 5) for n in range(8)]
        reports = [taker.result() for taker in takers]
        assert merger.result()["merges"] >= 1
    survivor, leads, deals = _one_customer(store)
    assert (40, 8) == (len(leads), len(deals))
    assert sorted(i for r in reports for i in r["leads"]) == sorted(lead.id for lead in leads)
    assert {survivor} == {lead.contact_id for lead in leads} | {d.contact_id for d in deals}


def test_merge_then_undo_loses_nothing_in_the_sql_store(stores: _Stores):
    """The merge laws' apply-then-undo, run against SQLite and PostgreSQL."""
    check_merge_laws(
        MergePolicy(),
        stores=stores,
        settings=settings(max_examples=15, deadline=None),
    )


def test_contact_keys_are_rebuilt_after_the_normaliser_changes(stores: _Stores):
    """Stored under bare digits, found by E.164 only after the rebuild; resumable in batches."""
    old = stores()  # basic keys: "phone:89123456789"
    contacts = [
        fk.Contact(
            id=f"К-{n}", created_at=T0, names=("Алмаз",), phones=(f"8 (912) 345-67-{n:02d}",)
        )
        for n in range(5)
    ]
    with old.unit_of_work() as uow:
        for contact in contacts:
            uow.contacts.add(contact)
        uow.commit()
    matching = MatchPolicy()
    new = SqlStore(old.engine, contact_keys=matching.contact_keys)
    e164 = next(k for k in matching.contact_keys(contacts[3]) if "79123456703" in k)
    with new.unit_of_work() as uow:
        assert [] == uow.contacts.find_by_key(e164)
    first = new.rebuild_contact_keys(batch_size=2, max_batches=1)
    assert (first.checked, first.changed, first.done, first.last_id) == (2, 2, False, "К-1")
    rest = new.rebuild_contact_keys(batch_size=2, after=first.last_id)
    assert (rest.checked, rest.changed, rest.done) == (3, 3, True)
    assert rest.removed == 3
    assert rest.added >= 3
    with new.unit_of_work() as uow:
        assert ["К-3"] == [c.id for c in uow.contacts.find_by_key(e164)]
    again = new.rebuild_contact_keys()
    assert (again.checked, again.changed, again.added, again.removed) == (5, 0, 0, 0)
    with pytest.raises(fk.ValidationError, match="batch_size"):
        new.rebuild_contact_keys(batch_size=0)
