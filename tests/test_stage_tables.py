"""
The coded stage log of the SQL store (schema revision 0005): written, rebuilt, raced, read.

The oracle of the coded tables is SQL written here: each coded row joined back to its
values, compared with the event table's columns of the same event. It shares no code with
the writer, the migration, `rebuild_stage_log` or the packed reader.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings

import funnelkit as fk
from funnelkit import analytics as fa
from funnelkit.seeds.seed_000_log import AS_OF

from tests.test_columnar import (
    columnar_reports,
    logs,
    open_store,
    store_anew,
)
from tests.test_upgrade import old_database


pytest.importorskip("numpy")

WORKER = Path(__file__).with_name("stage_log_race_worker.py")
LABELLED = (
    "type",
    "pipeline",
    "stage",
    "from_stage",
    "reason",
    "owner",
    "channel",
    "currency",
    "verdict",
)
DECODED = sa.text(
    "SELECT s.position, n.kind, n.id, s.sequence, s.time, "  # noqa: S608 - constants
    + ", ".join(f"l_{name}.name" for name in LABELLED)
    + ", a.amount FROM funnelkit_stage_log s "
    "LEFT JOIN funnelkit_stage_entities n ON n.code = s.entity "
    "LEFT JOIN funnelkit_stage_amounts a ON a.code = s.amount "
    + " ".join(
        f"LEFT JOIN funnelkit_stage_labels l_{name} ON l_{name}.code = s.{name}"
        for name in LABELLED
    )
    + " ORDER BY s.position"
)
COLUMNS = sa.text(
    "SELECT position, entity_kind, entity_id, sequence, coalesce(created_at, at), "  # noqa: S608
    + ", ".join(LABELLED)
    + ", amount FROM funnelkit_events WHERE entity_kind IN ('lead', 'deal') ORDER BY position"
)


def label_codes(store: Any) -> set[tuple[Any, ...]]:
    """The code of each label."""
    with store.engine.connect() as connection:
        query = sa.text("SELECT code, name FROM funnelkit_stage_labels")
        return {tuple(row) for row in connection.execute(query)}


def decoded(store: Any) -> list[tuple[Any, ...]]:
    """The coded stage log with every code replaced by its value, in position order."""
    with store.engine.connect() as connection:
        return [tuple(row) for row in connection.execute(DECODED)]


def event_columns(store: Any) -> list[tuple[Any, ...]]:
    """The same values, as the event table's columns hold them."""
    with store.engine.connect() as connection:
        return [tuple(row) for row in connection.execute(COLUMNS)]


@pytest.fixture(params=["sqlite", "postgresql"])
def sql_store(request: pytest.FixtureRequest, tmp_path: Any) -> Any:
    """An empty SqlStore on SQLite, or on PostgreSQL when configured."""
    store = open_store(request.param, tmp_path)
    yield store
    store.engine.dispose()


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(logs())
def test_every_append_codes_the_stage_log_as_the_event_columns_hold_it(sql_store, events):
    store_anew(sql_store, events)
    expected = event_columns(sql_store)
    assert decoded(sql_store) == expected
    with sql_store.engine.connect() as connection:  # each value once in its table
        labels = connection.execute(sa.text("SELECT name FROM funnelkit_stage_labels")).all()
    assert len(labels) == len({row[0] for row in labels})
    assert sql_store.rebuild_stage_log() == len(expected)
    assert decoded(sql_store) == expected


def test_escaped_text_is_coded_as_the_event_table_holds_it_and_read_as_given(tmp_path: Path):
    """Backslashes are stored doubled (as in every look-up column) and read back single."""
    store = open_store("sqlite", tmp_path)
    lead = fk.Lead(
        id="Л\\1",
        created_at=AS_OF,
        pipeline="лиды",
        stage="НОВЫЙ ЛИД",
        owner="Анна\\",
        source=fk.LeadSource(channel="сайт"),
    )
    with store.unit_of_work() as unit:
        unit.events.append(
            [
                fk.events.LeadCreated(entity=lead.ref, sequence=1, at=AS_OF, actor="a", lead=lead),
                fk.events.LeadQualified(
                    entity=lead.ref, sequence=2, at=AS_OF, actor="a", verdict=fk.events.Verdict.GOOD
                ),
            ]
        )
        unit.commit()
    rows = decoded(store)
    assert rows == event_columns(store)
    assert [row[2] for row in rows] == ["Л\\\\1"] * 2  # stored escaped, as the event table
    log = store.stage_log()
    assert log.ids == ("Л\\1",)
    assert log.owners == ("Анна\\",)
    store.engine.dispose()


def test_codes_wider_than_one_integer_are_packed_and_read_alike(sql_store):
    """Codes near 2**40 and beyond: each coded column needs an integer of its own."""
    with sql_store.engine.begin() as connection:
        for table, column, code in (
            ("labels", "name", 2**40),
            ("amounts", "amount", 2**45),
            ("entities", "id", 2**50),
        ):
            values = {column: "-", "code": code} | ({"kind": "contact"} if column == "id" else {})
            names = ", ".join(values)
            connection.execute(
                sa.text(
                    f"INSERT INTO funnelkit_stage_{table} ({names}) "  # noqa: S608 - constants
                    f"VALUES ({', '.join(':' + name for name in values)})"
                ),
                values,
            )
            if sql_store.engine.dialect.name == "postgresql":
                connection.execute(
                    sa.text("SELECT setval(pg_get_serial_sequence(:table, 'code'), :code)"),
                    {"table": f"funnelkit_stage_{table}", "code": code},
                )
    events = list(stored_roofing_log())
    with sql_store.unit_of_work() as unit:
        unit.events.append(events)
        unit.commit()
    with sql_store.engine.connect() as connection:
        smallest = connection.execute(
            sa.text("SELECT min(stage) FROM funnelkit_stage_log WHERE stage > 0")
        )
        assert smallest.scalar() > 2**40
    assert decoded(sql_store) == event_columns(sql_store)
    for as_of in (AS_OF, AS_OF.replace(year=2027)):
        assert columnar_reports(sql_store.stage_log(), as_of, fa.Filters()) == columnar_reports(
            events, as_of, fa.Filters()
        )


def stored_roofing_log() -> list[fk.events.Event]:
    """A deal lost at the meeting stage and one won, with amounts, owners and a source."""
    from tests.test_columnar import amount_log  # noqa: PLC0415 - one log of that module

    return amount_log()


def test_a_coded_stage_log_changed_outside_funnelkit_is_named_and_rebuilt(sql_store):
    events = stored_roofing_log()
    with sql_store.unit_of_work() as unit:
        unit.events.append(events)
        unit.commit()
    with sql_store.engine.begin() as connection:
        connection.execute(
            sa.text(
                "DELETE FROM funnelkit_stage_labels WHERE code IN "
                "(SELECT stage FROM funnelkit_stage_log)"
            )
        )
    with pytest.raises(fk.ValidationError, match=r"rebuild_stage_log\(\)") as caught:
        sql_store.stage_log()
    assert (caught.value.field, caught.value.rule) == ("funnelkit_stage_log.stage", "unknown")
    sql_store.rebuild_stage_log()
    expected = columnar_reports(events, AS_OF, fa.Filters())
    assert columnar_reports(sql_store.stage_log(), AS_OF, fa.Filters()) == expected
    with sql_store.engine.begin() as connection:  # wider than the log's max_sequence
        connection.execute(sa.text("UPDATE funnelkit_stage_log SET sequence = 2000000000"))
    with pytest.raises(fk.ValidationError, match=r"beyond funnelkit_log\.max_sequence") as caught:
        sql_store.stage_log()
    assert (caught.value.field, caught.value.rule) == ("funnelkit_stage_log.sequence", "range")
    sql_store.rebuild_stage_log()
    assert columnar_reports(sql_store.stage_log(), AS_OF, fa.Filters()) == expected
    if sql_store.engine.dialect.name == "sqlite":  # its INTEGER columns take any value
        with sql_store.engine.begin() as connection:
            connection.execute(sa.text("UPDATE funnelkit_stage_log SET time = 'вчера'"))
        with pytest.raises(fk.ValidationError, match="not integers") as caught:
            sql_store.stage_log()
        assert (caught.value.field, caught.value.rule) == ("funnelkit_stage_log", "type")


def test_an_upgraded_database_codes_the_stage_log_it_had(tmp_path: Path):
    from funnelkit.storage.sql import SqlStore  # noqa: PLC0415 - the SQL extra

    store = SqlStore.from_url(old_database(tmp_path / "crm.db"))
    store.upgrade_schema()
    rows = decoded(store)
    assert rows == event_columns(store)
    assert len(rows) > 10
    with store.unit_of_work() as unit:
        events = [recorded.event for recorded in unit.events.read_all()]
    assert columnar_reports(store.stage_log(), AS_OF, fa.Filters()) == columnar_reports(
        events, AS_OF, fa.Filters()
    )
    store.engine.dispose()


@pytest.mark.slow
def test_racing_writers_add_each_new_value_once(sql_store):
    """Four processes append deals whose owners, sources, reasons and amounts are all new."""
    url = sql_store.engine.url.render_as_string(hide_password=False)
    processes = [
        subprocess.Popen(  # noqa: S603 - our own worker script
            [sys.executable, str(WORKER), url, str(worker), "25"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for worker in range(4)
    ]
    written = 0
    for process in processes:
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, err
        written += json.loads(out)["events"]
    rows = decoded(sql_store)
    assert len(rows) == written == 4 * 25 * 2
    assert rows == event_columns(sql_store)
    with sql_store.engine.connect() as connection:
        owners = connection.execute(
            sa.text("SELECT count(*) FROM funnelkit_stage_labels WHERE name LIKE 'Менеджер%'")
        )
        assert owners.scalar() == 5  # shared by the four writers, added once
    with sql_store.unit_of_work() as unit:
        events = [recorded.event for recorded in unit.events.read_all()]
    assert columnar_reports(sql_store.stage_log(), AS_OF, fa.Filters()) == columnar_reports(
        events, AS_OF, fa.Filters()
    )


def test_a_read_sees_one_snapshot_though_a_writer_appends_new_values_meanwhile(
    sql_store, monkeypatch
):
    """Widths are chosen from the first statement; later rows, wider codes, are not read."""
    from funnelkit.storage import _stage_tables  # noqa: PLC0415 - the reader's steps

    events = stored_roofing_log()
    with sql_store.unit_of_work() as unit:
        unit.events.append(events)
        unit.commit()
    before = columnar_reports(events, AS_OF, fa.Filters())
    other = type(sql_store).from_url(sql_store.engine.url.render_as_string(hide_password=False))
    words = _stage_tables._words
    appended: list[fk.events.Event] = []

    def append_meanwhile(widths: dict[str, int]) -> Any:
        if not appended:  # after the widths were read: 200 new owners need wider codes
            deal = fk.Deal(
                id="С-новая",
                created_at=AS_OF,
                pipeline="кровля",
                stage="ОП ВЗЯЛ В РАБОТУ",
                owner="Менеджер 0",
            )
            late: list[fk.events.Event] = [
                fk.events.DealCreated(entity=deal.ref, sequence=1, at=AS_OF, actor="a", deal=deal),
                *(
                    fk.events.OwnerChanged(
                        entity=deal.ref,
                        sequence=number,
                        at=AS_OF,
                        actor="a",
                        old=None,
                        new=f"Менеджер {number}",
                    )
                    for number in range(2, 200)
                ),
            ]
            with other.unit_of_work() as unit:
                unit.events.append(late)
                unit.commit()
            appended.extend(late)
        return words(widths)

    monkeypatch.setattr(_stage_tables, "_words", append_meanwhile)
    log = sql_store.stage_log()
    assert appended
    assert columnar_reports(log, AS_OF, fa.Filters()) == before
    assert "С-новая" not in log.ids
    monkeypatch.setattr(_stage_tables, "_words", words)
    assert "С-новая" in sql_store.stage_log().ids  # read by the next call
    other.engine.dispose()


def test_two_readers_read_one_version_of_the_codes_though_the_log_is_rebuilt_meanwhile(
    sql_store, monkeypatch
):
    """
    A log rebuilt after the first reader planned: the second leaves its ranges to the first.

    A second connection reads every other range of positions; the log is made again after
    the first planned its read, with other codes: the second sees a new generation, and the
    first, whose snapshot still holds the codes it planned with, reads them.
    """
    from funnelkit.storage import _stage_tables, sql  # noqa: PLC0415 - the reader's steps

    events = stored_roofing_log()
    with sql_store.unit_of_work() as unit:
        unit.events.append(events)
        unit.commit()
    renumber = ", ".join(
        f"{name} = CASE WHEN {name} > 0 THEN {name} + 1000 ELSE 0 END" for name in LABELLED
    )
    with sql_store.engine.begin() as connection:  # valid codes, other than a rebuild gives
        connection.execute(sa.text("UPDATE funnelkit_stage_labels SET code = code + 1000"))
        connection.execute(sa.text(f"UPDATE funnelkit_stage_log SET {renumber}"))  # noqa: S608
    renumbered = label_codes(sql_store)
    expected = columnar_reports(events, AS_OF, fa.Filters())
    monkeypatch.setattr(sql, "_BATCH", 2)  # many ranges: two readers
    assert columnar_reports(sql_store.stage_log(), AS_OF, fa.Filters()) == expected
    other = type(sql_store).from_url(sql_store.engine.url.render_as_string(hide_password=False))
    plan = _stage_tables._plan
    rebuilt: list[int] = []

    def rebuild_meanwhile(connection: Any) -> Any:
        planned = plan(connection)
        if not rebuilt:
            rebuilt.append(other.rebuild_stage_log())
        return planned

    monkeypatch.setattr(_stage_tables, "_plan", rebuild_meanwhile)
    assert columnar_reports(sql_store.stage_log(), AS_OF, fa.Filters()) == expected
    assert rebuilt == [len(events)]
    assert label_codes(sql_store) != renumbered  # the codes did change
    other.engine.dispose()


def test_a_second_reader_is_used_only_where_the_pool_gives_a_connection_of_its_own(tmp_path):
    from funnelkit.storage.sql import _second_reader  # noqa: PLC0415 - the choice itself

    file = f"sqlite:///{tmp_path / 'crm.db'}"
    assert _second_reader(sa.create_engine("sqlite://")) is None  # a database a thread
    assert _second_reader(sa.create_engine(file)) is not None
    assert _second_reader(sa.create_engine(file, poolclass=sa.pool.NullPool)) is not None
    assert _second_reader(sa.create_engine(file, poolclass=sa.pool.StaticPool)) is None
    single = sa.create_engine(file, pool_size=1, max_overflow=0)  # it would wait for the first
    assert _second_reader(single) is None
    assert _second_reader(sa.create_engine(file, pool_size=1, max_overflow=-1)) is not None


def test_without_a_second_connection_the_first_reads_every_range(sql_store, monkeypatch):
    import numpy as np  # noqa: PLC0415 - the columnar extra

    from funnelkit.storage import _stage_tables  # noqa: PLC0415 - the reader itself
    from funnelkit.storage._sql_schema import _snapshot  # noqa: PLC0415

    events = stored_roofing_log()
    with sql_store.unit_of_work() as unit:
        unit.events.append(events)
        unit.commit()
    opened = []

    def refused() -> Any:
        opened.append(True)
        raise sa.exc.OperationalError("connect", {}, Exception("too many connections"))

    with _snapshot(sql_store.engine) as connection:
        alone = _stage_tables.read_packed(np, connection, 2)
    with _snapshot(sql_store.engine) as connection:
        helped = _stage_tables.read_packed(np, connection, 2, helper=refused)
    assert opened == [True]
    assert {name: column.tolist() for name, column in helped.columns.items()} == {
        name: column.tolist() for name, column in alone.columns.items()
    }
    assert len(alone.columns["time"]) == len(events)
