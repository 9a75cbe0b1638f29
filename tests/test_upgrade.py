"""
Upgrading funnelkit with a stored log: event versions, upcasters and the SQL schema's revisions.

They are checked against a log and a database the previous funnelkit wrote.

The data in ``tests/data/before-versions`` was written by funnelkit before events had versions
and the schema had revisions (see its README).
"""

from __future__ import annotations

import gzip
import json
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import funnelkit as fk
from funnelkit.model import _versions
from funnelkit.storage.sql import (
    EVENTS,
    METADATA,
    SCHEMA_REVISION,
    TABLES,
    VERSION_TABLE,
    SqlStore,
    alembic_config,
)

from tests.databases import postgresql_url


if TYPE_CHECKING:
    from collections.abc import Iterator

BEFORE = Path(__file__).parent / "data" / "before-versions"

# What changed since the data was written, restated here rather than taken from funnelkit:
# version 2 of the moves without a reason keeps the move's note.
VERSION_2_WITH_NOTE = frozenset({"stage_changed", "lead_converted", "deal_won"})
EVENT_COLUMNS = (
    "type",
    "version",
    "at",
    "pipeline",
    "stage",
    "reason",
    "owner",
    "channel",
    "created_at",
    "from_stage",
    "amount",
    "currency",
    "verdict",
)


def old_log() -> list[dict[str, Any]]:
    """The log the previous funnelkit wrote, as JSON-ready data."""
    with gzip.open(BEFORE / "events.json.gz", "rt", encoding="utf-8") as file:
        data: list[dict[str, Any]] = json.load(file)
    return data


def expected_today(old: dict[str, Any]) -> dict[str, Any]:
    """What today's `to_data` gives for an event the previous funnelkit wrote as `old`."""
    if old["type"] in VERSION_2_WITH_NOTE:
        return {**old, "version": 2, "note": ""}
    return {**old, "version": 1}


def old_database(path: Path) -> str:
    """A SQLite database exactly as the previous funnelkit left it; returns its URL."""
    with gzip.open(BEFORE / "store.sql.gz", "rt", encoding="utf-8") as file:
        script = file.read()
    connection = sqlite3.connect(path)
    try:
        connection.executescript(script)
    finally:
        connection.close()
    return f"sqlite:///{path}"


def schema_differences(store: SqlStore) -> list[Any]:
    """What Alembic's autogenerate finds between the database and `METADATA`."""
    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        found: list[Any] = compare_metadata(context, METADATA)
    return found


def columns_of(store: SqlStore) -> list[tuple[Any, ...]]:
    """The stage-log columns of every stored event, in log order."""
    query = sa.select(*(EVENTS.c[name] for name in EVENT_COLUMNS)).order_by(EVENTS.c.position)
    with store.engine.connect() as connection:
        return [tuple(row) for row in connection.execute(query)]


def micros(written: str) -> int:
    instant = datetime.fromisoformat(written)
    return (instant - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(microseconds=1)


def expected_columns(old: dict[str, Any]) -> tuple[Any, ...]:
    """The stage-log columns of an event, read off its JSON by hand."""
    snapshot = old.get("lead") or old.get("deal") if old["type"].endswith("_created") else None
    pipeline = old.get("pipeline") or (snapshot or {}).get("pipeline")
    stage = old.get("to_stage") or (snapshot or {}).get("stage")
    reason = old.get("reason") if old["type"] in {"deal_lost", "lead_closed_as_junk"} else None
    owner = (snapshot or {}).get("owner") if snapshot else old.get("new")
    if old["type"] not in {"lead_created", "deal_created", "owner_changed"}:
        owner = None
    channel = ((snapshot or {}).get("source") or {}).get("channel")
    created_at = micros(snapshot["created_at"]) if snapshot else None
    money = {
        "deal_created": (snapshot or {}).get("amount"),
        "amount_changed": old.get("new"),
        "deal_won": old.get("amount"),
    }.get(old["type"])
    # The version column says which version the row's JSON is: the old rows stay version 1.
    return (
        old["type"],
        old.get("version", 1),
        micros(old["at"]),
        pipeline,
        stage,
        reason,
        owner,
        channel,
        created_at,
        old.get("from_stage"),
        money["amount"] if money else None,
        money["currency"] if money else None,
        old.get("verdict") if old["type"] == "lead_qualified" else None,
    )


# --- event versions ----------------------------------------------------------------------------


def test_a_log_written_before_event_versions_reads_as_todays_events():
    old = old_log()
    assert len({event["type"] for event in old}) == len(fk.events.EVENT_TYPES)  # every type occurs
    events = fk.events_from_data(old)
    assert [fk.to_data(event) for event in events] == [expected_today(event) for event in old]


def test_todays_data_carries_each_events_version_and_reads_back():
    events = fk.events_from_data(old_log())
    for event in events:
        data = fk.to_data(event)
        assert data["version"] == type(event).VERSION
        assert fk.event_from_data(json.loads(json.dumps(data))) == event


def test_every_earlier_version_has_an_upcaster_and_no_other_is_registered():
    wanted = {
        (name, version)
        for name, cls in fk.events.EVENT_TYPES.items()
        for version in range(1, cls.VERSION)
    }
    assert set(fk.events.UPCASTERS) == wanted
    assert wanted  # the note of version 2


def test_an_event_read_as_its_own_class_is_upcast_too():
    old = next(event for event in old_log() if event["type"] == "deal_won")
    won = fk.from_data(old, fk.events.DealWon)
    assert won.note == ""
    assert fk.to_data(won) == expected_today(old)


def test_a_version_from_a_newer_funnelkit_is_refused_naming_it():
    data = {**fk.to_data(fk.events_from_data(old_log()[:1])[0]), "version": 99}
    with pytest.raises(fk.StructureError, match=r"version 99 of 'contact_created'.*newer"):
        fk.event_from_data(data)


@pytest.mark.parametrize("version", ["2", 0, -1, True, 1.0, None])
def test_a_malformed_version_is_refused(version: object):
    data = {**old_log()[0], "version": version}
    with pytest.raises(fk.StructureError, match=r"\$: 'version' is an event's schema version"):
        fk.event_from_data(data)


def test_without_its_upcaster_an_old_event_is_refused_with_its_index(
    monkeypatch: pytest.MonkeyPatch,
):
    """The upcasters are what reads the old log: take one away and the log is refused."""
    monkeypatch.delitem(_versions._REGISTERED, ("deal_won", 1))
    with pytest.raises(fk.StructureError, match=r"\$\[\d+\]: cannot read version 1 of 'deal_won'"):
        fk.events_from_data(old_log())


def test_an_upcaster_that_breaks_the_data_is_reported_with_the_path(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setitem(
        _versions._REGISTERED, ("stage_changed", 1), lambda fields: {**fields, "note": 5}
    )
    old = next(event for event in old_log() if event["type"] == "stage_changed")
    with pytest.raises(fk.StructureError, match=r"\$\.note: expected a string"):
        fk.event_from_data(old)


def test_version_2_keeps_the_note_of_every_move():
    """What the version changed: a note given with a move that has no reason is kept."""
    clock = fk.FixedClock(datetime(2026, 4, 1, 9, tzinfo=timezone(timedelta(hours=3))))
    from funnelkit.seeds.pipelines import ROOFING  # noqa: PLC0415 - the seeds' pipeline

    service = fk.Service(
        clock=clock,
        ids=fk.SequentialIds(),
        funnel=fk.Funnel(key="кровля", deals=(ROOFING,)),
        store=fk.InMemoryStore(),
    )
    head = fk.Actor(id="директор", roles=frozenset({"head", "manager"}))
    contact = service.add_contact(
        fk.Contact(id="К-1", created_at=clock.now(), names=("Ольга",)), actor=head
    )
    deal = service.add_deal(
        fk.Deal(
            id="D-1",
            created_at=clock.now(),
            pipeline=ROOFING.key,
            stage=ROOFING.stages[0].key,
            contact_id=contact.id,
            owner=head.id,
        ),
        actor=head,
    )
    second = ROOFING.stages[2].key
    service.move(deal.ref, second, actor=head, force=True, note="клиент позвонил сам")
    service.move(
        deal.ref, ROOFING.stages[1].key, actor=head, force=True, note="вернули: нет замера"
    )
    moves = [event for event in service.events() if isinstance(event, fk.events.StageChanged)]
    assert [event.note for event in moves] == ["клиент позвонил сам", "вернули: нет замера"]
    assert fk.to_data(moves[0])["note"] == "клиент позвонил сам"


# --- the SQL schema ----------------------------------------------------------------------------


def test_an_old_sqlite_database_is_refused_until_upgraded_then_reads_the_old_log(tmp_path: Path):
    store = SqlStore.from_url(old_database(tmp_path / "crm.db"))
    assert store.schema_revision() is None
    for step in (store.unit_of_work, store.create_schema):
        with pytest.raises(fk.StoreNotReadyError, match=r"before schema revisions.*upgrade_schema"):
            step()
    assert store.upgrade_schema() is None
    assert store.schema_revision() == SCHEMA_REVISION
    assert schema_differences(store) == []
    old = old_log()
    with store.unit_of_work() as uow:
        events = [recorded.event for recorded in uow.events.read_all()]
        leads = uow.leads.count()
    assert [fk.to_data(event) for event in events] == [expected_today(event) for event in old]
    assert leads == sum(event["type"] == "lead_created" for event in old)
    assert columns_of(store) == [expected_columns(event) for event in old]
    assert store.upgrade_schema() == SCHEMA_REVISION  # once more: nothing to do
    store.engine.dispose()


def test_the_upgraded_columns_equal_those_a_new_store_writes(tmp_path: Path):
    """The migration fills the columns from JSON; the store writes them from events: alike."""
    upgraded = SqlStore.from_url(old_database(tmp_path / "old.db"))
    upgraded.upgrade_schema()
    fresh = SqlStore.from_url(f"sqlite:///{tmp_path / 'new.db'}")
    fresh.create_schema()
    events = fk.events_from_data(old_log())
    with fresh.unit_of_work() as uow:
        uow.events.append(events)
        uow.commit()
    new_rows, old_rows = columns_of(fresh), columns_of(upgraded)
    assert [row[:1] + row[2:] for row in new_rows] == [row[:1] + row[2:] for row in old_rows]
    assert [row[1] for row in new_rows] == [type(event).VERSION for event in events]
    assert {row[1] for row in old_rows} == {1}
    for store in (upgraded, fresh):
        store.engine.dispose()


def test_the_service_works_on_an_upgraded_database(tmp_path: Path):
    store = SqlStore.from_url(old_database(tmp_path / "crm.db"))
    store.upgrade_schema()
    with store.unit_of_work() as uow:
        deal = next(d for d in uow.deals.list() if d.status is fk.DealStatus.OPEN)
        last = uow.events.last_sequence(deal.ref)
        lost = max(record.position for record in uow.events.read_all())
    from funnelkit.seeds.pipelines import ROOFING  # noqa: PLC0415 - the seeds' pipeline

    clock = fk.FixedClock(datetime(2026, 4, 8, 9, tzinfo=timezone(timedelta(hours=3))))
    service = fk.Service(
        clock=clock,
        ids=fk.SequentialIds(start=10_000),
        funnel=fk.Funnel(key="кровля", deals=(ROOFING,)),
        store=store,
    )
    manager = fk.Actor(id=deal.owner or "анна", roles=frozenset({"manager", "engineer", "head"}))
    service.lose(deal.ref, "expensive", actor=manager)
    with store.unit_of_work() as uow:
        tail = list(uow.events.read_all(after=lost))
    assert [recorded.event.sequence for recorded in tail] == [last + 1]
    assert isinstance(tail[0].event, fk.events.DealLost)
    assert columns_of(store)[-1][0:6:5] == ("deal_lost", "expensive")
    store.engine.dispose()


def test_the_first_revision_is_exactly_the_schema_of_before(tmp_path: Path):
    """Revision 0001 recreates what the previous funnelkit made, table by table."""
    before = sa.create_engine(old_database(tmp_path / "before.db"))
    migrated = sa.create_engine(f"sqlite:///{tmp_path / 'first.db'}")
    with migrated.begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
    assert describe_schema(migrated) == describe_schema(before)
    before.dispose()
    migrated.dispose()


def describe_schema(engine: sa.Engine) -> dict[str, Any]:
    inspector = sa.inspect(engine)
    return {
        table: {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)
            ],
            "primary key": inspector.get_pk_constraint(table)["constrained_columns"],
            "indexes": sorted(
                (i["name"], tuple(i["column_names"])) for i in inspector.get_indexes(table)
            ),
            "unique": sorted(
                tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)
            ),
        }
        for table in inspector.get_table_names()
        if table.startswith("funnelkit_") and table != VERSION_TABLE
    }


def test_the_migrations_build_the_schema_funnelkit_uses(tmp_path: Path):
    """From an empty database, the migrations give `METADATA`, as `create_schema` does."""
    migrated = SqlStore.from_url(f"sqlite:///{tmp_path / 'migrated.db'}")
    assert migrated.upgrade_schema() is None
    created = SqlStore.from_url(f"sqlite:///{tmp_path / 'created.db'}")
    created.create_schema()
    for store in (migrated, created):
        assert schema_differences(store) == []
        assert store.schema_revision() == SCHEMA_REVISION
    assert describe_schema(migrated.engine) == describe_schema(created.engine)
    for store in (migrated, created):
        store.engine.dispose()


def test_a_downgrade_and_upgrade_again_keep_the_log(tmp_path: Path):
    store = SqlStore.from_url(old_database(tmp_path / "crm.db"))
    store.upgrade_schema()
    config = alembic_config(str(store.engine.url))
    command.downgrade(config, "0001")
    assert store.schema_revision() == "0001"
    assert {c["name"] for c in sa.inspect(store.engine).get_columns(EVENTS.name)} == {
        "position",
        "entity_kind",
        "entity_id",
        "sequence",
        "data",
    }
    fresh = SqlStore.from_url(str(store.engine.url))
    with pytest.raises(fk.StoreNotReadyError, match=r"revision 0001.*upgrade_schema"):
        fresh.unit_of_work()
    assert fresh.upgrade_schema() == "0001"
    assert columns_of(fresh) == [expected_columns(event) for event in old_log()]
    for made in (store, fresh):
        made.engine.dispose()


def test_a_database_of_a_newer_funnelkit_is_refused(tmp_path: Path):
    store = SqlStore.from_url(f"sqlite:///{tmp_path / 'crm.db'}")
    store.create_schema()
    with store.engine.begin() as connection:
        connection.execute(sa.text("UPDATE funnelkit_schema_version SET version_num = '0099'"))
    fresh = SqlStore.from_url(str(store.engine.url))
    for step in (fresh.unit_of_work, fresh.create_schema, fresh.upgrade_schema):
        with pytest.raises(fk.StoreNotReadyError, match=r"revision '0099'.*newer funnelkit"):
            step()
    for made in (store, fresh):
        made.engine.dispose()


def test_the_migrations_refuse_to_write_a_sql_script():
    with pytest.raises(RuntimeError, match="run them without --sql"):
        command.upgrade(alembic_config("sqlite://"), "head", sql=True)


# --- on PostgreSQL -----------------------------------------------------------------------------


@pytest.fixture
def postgresql() -> Iterator[SqlStore]:
    """The shared test database, emptied of funnelkit; left at the current schema after."""
    store = SqlStore.from_url(postgresql_url())
    store.drop_schema()
    yield store
    store.drop_schema()
    store.create_schema()
    store.engine.dispose()


def copy_old_rows(source: sa.Engine, target: sa.Engine) -> None:
    """Copy every funnelkit row of the previous version's database into `target`."""
    with source.connect() as reading, target.begin() as writing:
        for table in [*TABLES.values(), METADATA.tables["funnelkit_contact_keys"], EVENTS]:
            names = [c["name"] for c in sa.inspect(source).get_columns(table.name)]
            columns: list[sa.ColumnClause[Any]] = [sa.column(n) for n in names]
            query: sa.Select[Any] = sa.select(*columns).select_from(sa.table(table.name))
            rows = [dict(row._mapping) for row in reading.execute(query)]
            if rows:
                writing.execute(sa.table(table.name, *(sa.column(n) for n in names)).insert(), rows)
        last = reading.execute(sa.text("SELECT last_position FROM funnelkit_log")).scalar()
        writing.execute(sa.text("UPDATE funnelkit_log SET last_position = :last"), {"last": last})


def test_an_old_postgresql_database_is_upgraded_and_reads_the_old_log(
    postgresql: SqlStore, tmp_path: Path
):
    """The previous version's rows on PostgreSQL, as it left them (no revision recorded)."""
    with postgresql.engine.begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
        connection.execute(sa.text(f"DROP TABLE {VERSION_TABLE}"))
    source = sa.create_engine(old_database(tmp_path / "before.db"))
    copy_old_rows(source, postgresql.engine)
    source.dispose()
    with pytest.raises(fk.StoreNotReadyError, match="before schema revisions"):
        SqlStore(postgresql.engine).unit_of_work()
    assert postgresql.upgrade_schema() is None
    assert schema_differences(postgresql) == []
    old = old_log()
    with postgresql.unit_of_work() as uow:
        events = [recorded.event for recorded in uow.events.read_all()]
    assert [fk.to_data(event) for event in events] == [expected_today(event) for event in old]
    assert columns_of(postgresql) == [expected_columns(event) for event in old]


def test_on_postgresql_the_migrations_build_the_schema_funnelkit_uses(postgresql: SqlStore):
    assert postgresql.upgrade_schema() is None
    assert schema_differences(postgresql) == []
    command.downgrade(
        alembic_config(str(postgresql.engine.url.render_as_string(hide_password=False))), "base"
    )
    assert postgresql.schema_revision() is None
    postgresql.create_schema()
    assert schema_differences(postgresql) == []
