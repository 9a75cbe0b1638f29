"""
A store in a SQL database through SQLAlchemy: SQLite embedded, PostgreSQL shared.

Install the extra: ``pip install "funnelkit[sql]"`` (and a PostgreSQL driver such as
``psycopg`` for PostgreSQL). Then::

    from funnelkit.storage.sql import SqlStore

    store = SqlStore.from_url("sqlite:///crm.db")       # or "postgresql+psycopg://..."
    store.create_schema()                                # a new database, once
    store.upgrade_schema()                               # after upgrading funnelkit

How it keeps the storage contract (`funnelkit.storage.UnitOfWork`):

- A unit of work buffers its writes and sends them in one database transaction at commit.
- Optimistic concurrency is done by the database: a save is
  ``UPDATE ... SET version = version + 1 WHERE id = :id AND version = :read_version``, and a
  save that changes no row is a `ConflictError`. No read-then-write window exists, across
  threads, processes or app servers.
- Adds are ``INSERT ... ON CONFLICT DO NOTHING``: a taken id is a `ConflictError`.
- Events get their global positions from a one-row counter that each committing transaction
  increments: committing writers take turns there, so positions have no gaps and become
  visible in order. Each entity's sequence numbers are unique in the database too.
- The stage log of every lead and deal event is also kept in integer codes (a table keyed by
  position, and value tables), written by each append after it took its positions, so a new
  value is added once, with no race; `SqlStore.stage_log` reads it packed by the database.
- Contacts are indexed under their `ContactKeys` in a key table, so `find_by_key` is an index
  look-up; leads and deals are indexed by pipeline and stage, status, owner and contact, tasks by
  assignee and status, subject and due time.

Entities and events are kept as the JSON of funnelkit's converter (``funnelkit.to_data``) beside
the columns the look-ups need. `METADATA` holds the tables (all named ``funnelkit_...``).

The schema has revisions, written as Alembic migrations shipped in
``funnelkit.storage.migrations``; the database records its revision in the table
``funnelkit_schema_version``. `SqlStore.upgrade_schema` brings a database to `SCHEMA_REVISION`,
and `alembic_config` hands the same migrations to Alembic's own commands.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import json
from typing import TYPE_CHECKING, Any, Literal

import attrs


_MISSING: list[str] = [
    name for name in ("sqlalchemy", "alembic") if importlib.util.find_spec(name) is None
]
if _MISSING:  # pragma: no cover - exercised in a subprocess that hides them
    _msg = (
        f"funnelkit.storage.sql needs {' and '.join(_MISSING)}, which are not installed; "
        'install the sql extra: pip install "funnelkit[sql]" (or "funnelkit[postgresql]")'
    )
    raise ImportError(_msg, name="funnelkit.storage.sql")

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from funnelkit._checks import describe
from funnelkit._collector import paused_gc
from funnelkit._converter import event_from_data, from_data
from funnelkit.events import DealCreated, FieldChanged, LeadCreated
from funnelkit.exceptions import StoreNotReadyError, ValidationError
from funnelkit.model import (
    Contact,
    EntityKind,
    EntityRef,
    Progress,
)
from funnelkit.storage import _stage_tables
from funnelkit.storage._memory import basic_contact_keys
from funnelkit.storage._ports import ContactKeys, RecordedEvent
from funnelkit.storage._sql_schema import (
    _DIALECTS,
    _READING,
    _VERSIONS,
    _WRITING,
    CONTACT_KEYS,
    EVENTS,
    LOG,
    METADATA,
    SCHEMA_REVISION,
    TABLES,
    VERSION_TABLE,
    _columns,
    _conditions,
    _dump,
    _event_columns,
    _newer,
    _not_ready,
    _revision,
    _snapshot,
    _text,
    _writing,
    alembic_config,
)
from funnelkit.storage._units import (
    ENTITY_CLASSES,
    BufferedUnitOfWork,
    live_keys,
    sequence_conflict,
    stale,
    taken,
)


if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from contextlib import AbstractContextManager
    from datetime import datetime

    from funnelkit.analytics import StageLog
    from funnelkit.events import (
        Event,
    )
    from funnelkit.storage._units import Writes


__all__ = [
    "CONTACT_KEYS",
    "EVENTS",
    "LOG",
    "METADATA",
    "SCHEMA_REVISION",
    "TABLES",
    "VERSION_TABLE",
    "KeyRebuild",
    "SqlStore",
    "SqlUnitOfWork",
    "alembic_config",
]


def _sqlite_connected(dbapi_connection: Any, _record: object) -> None:
    dbapi_connection.isolation_level = None  # the driver's own BEGIN handling is off
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout = 30000")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.close()


def _sqlite_begin(connection: sa.Connection) -> None:
    if connection.info.get(_WRITING):
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    elif connection.info.get(_READING):
        connection.exec_driver_sql("BEGIN")  # a snapshot from the first read on


def _configure_sqlite(engine: sa.Engine) -> None:
    """Let SQLAlchemy run SQLite's transactions: reads autocommit, writes ``BEGIN IMMEDIATE``."""
    if not sa.event.contains(engine, "connect", _sqlite_connected):  # once per engine
        sa.event.listen(engine, "connect", _sqlite_connected)
        sa.event.listen(engine, "begin", _sqlite_begin)


class SqlStore:
    """
    A store in a SQL database (SQLite or PostgreSQL), implementing `funnelkit.storage.Store`.

    Several processes may share one database, each with its own `SqlStore`: the database
    itself refuses stale saves (see the module's notes).

    Args:
        engine: A SQLAlchemy engine. For SQLite the store sets up the engine's connections
            (write-ahead log, a 30 s busy timeout, ``BEGIN IMMEDIATE`` for commits).
        contact_keys: The function giving each contact's look-up keys; defaults to
            `funnelkit.storage.basic_contact_keys`. Every process sharing a database must use
            the same one.
    """

    def __init__(
        self, engine: sa.Engine, *, contact_keys: ContactKeys = basic_contact_keys
    ) -> None:
        given: object = engine
        if not isinstance(given, sa.Engine):
            msg = (
                f"SqlStore(engine): expected a SQLAlchemy Engine, got {describe(given)}; "
                "use SqlStore.from_url('sqlite:///crm.db') to make one"
            )
            raise ValidationError(msg, field="engine", value=given, rule="type")
        if engine.dialect.name not in _DIALECTS:
            msg = (
                f"SqlStore(engine): the {engine.dialect.name!r} database is not supported; "
                f"use one of {', '.join(sorted(_DIALECTS))}"
            )
            raise ValidationError(msg, field="engine", value=engine.url, rule="dialect")
        if engine.dialect.name == "sqlite":
            _configure_sqlite(engine)
        self._engine = engine
        self._contact_keys = contact_keys
        self._insert = sqlite.insert if engine.dialect.name == "sqlite" else postgresql.insert
        self._ready = False

    @classmethod
    def from_url(
        cls, url: str, *, contact_keys: ContactKeys = basic_contact_keys, **engine_options: Any
    ) -> SqlStore:
        """
        Create the engine for `url` (``sqlite:///crm.db``, ``postgresql+psycopg://...``).

        Raises:
            ValidationError: If the URL cannot be read, its driver is not installed, or its
                database is neither SQLite nor PostgreSQL.
        """
        try:
            engine = sa.create_engine(url, **engine_options)
        except (sa.exc.ArgumentError, ImportError) as error:
            msg = (
                f"SqlStore.from_url(url): cannot use {url!r} ({error}); give a URL such as "
                "'sqlite:///crm.db' or 'postgresql+psycopg://user@host/db' and install its "
                'driver (pip install "funnelkit[postgresql]")'
            )
            raise ValidationError(msg, field="url", value=url, rule="url") from error
        return cls(engine, contact_keys=contact_keys)

    @property
    def engine(self) -> sa.Engine:
        """The SQLAlchemy engine."""
        return self._engine

    def create_schema(self) -> None:
        """
        Create funnelkit's tables in a new database, at `SCHEMA_REVISION` (idempotent).

        A new database gets the tables of `METADATA` and is recorded at `SCHEMA_REVISION`
        (as Alembic's recipe for a new database does; a test holds the migrations to the same
        schema). On a database already at this revision it only creates what is missing, and
        changes no data.

        Raises:
            StoreNotReadyError: If the database has funnelkit's tables at another revision:
                call `upgrade_schema` (an older one) or upgrade funnelkit (a newer one).
        """
        with _writing(self._engine) as connection:
            revision, tables = _revision(connection)
            if revision is None and not tables:
                _VERSIONS.create(connection, checkfirst=True)  # kept by a downgrade to base
                connection.execute(_VERSIONS.insert().values(version_num=SCHEMA_REVISION))
            elif revision != SCHEMA_REVISION:
                raise StoreNotReadyError(_not_ready(self._engine, revision, tables=tables))
            METADATA.create_all(connection)
            if connection.execute(sa.select(LOG.c.id)).first() is None:
                connection.execute(LOG.insert().values(id=1, last_position=0))
        self._ready = True

    def upgrade_schema(self) -> str | None:
        """
        Bring the database's schema to `SCHEMA_REVISION`, with its data, in one transaction.

        Call it once after upgrading funnelkit, before the new version serves requests, from
        one process (as any migration). A database created before the schema had revisions
        is recognised as revision ``"0001"``. Stored events are not rewritten: the converter
        reads their earlier versions (`funnelkit.events.UPCASTERS`).

        Returns:
            The revision the database had (``None`` if it was empty, or from before
            revisions).

        Raises:
            StoreNotReadyError: If the database was written by a newer funnelkit.
        """
        with _writing(self._engine) as connection:
            revision, tables = _revision(connection)
            if _newer(revision):
                raise StoreNotReadyError(_not_ready(self._engine, revision, tables=tables))
            if revision is None and tables:
                self._migrate(connection, "stamp", "0001")  # the first schema, unrecorded
            self._migrate(connection, "upgrade")
        self._ready = True
        return revision

    def schema_revision(self) -> str | None:
        """The database's schema revision: `SCHEMA_REVISION` when ready, ``None`` if none."""
        with self._engine.connect() as connection:
            return _revision(connection)[0]

    @staticmethod
    def _migrate(connection: sa.Connection, command: str, revision: str = "head") -> None:
        from alembic import command as commands  # noqa: PLC0415 - only where migrations run

        config = alembic_config()
        config.attributes["connection"] = connection
        getattr(commands, command)(config, revision)

    def clear(self) -> None:
        """Delete everything stored, keeping the tables (a fresh store for each test)."""
        with _writing(self._engine) as connection:
            # Writers wait from here; readers of the coded stage log see a new generation.
            connection.execute(
                LOG.update().values(
                    last_position=0, max_sequence=0, generation=LOG.c.generation + 1
                )
            )
            for table in reversed(METADATA.sorted_tables):
                if table is not LOG:
                    connection.execute(table.delete())

    def drop_schema(self) -> None:
        """Drop funnelkit's tables and everything in them, and the record of their revision."""
        with _writing(self._engine) as connection:
            METADATA.drop_all(connection)
            _VERSIONS.drop(connection, checkfirst=True)
        self._ready = False

    def unit_of_work(self) -> SqlUnitOfWork:
        """
        Open a unit of work; use it as a context manager.

        Raises:
            StoreNotReadyError: If the database lacks funnelkit's tables, or has them at
                another schema revision (checked once).
        """
        if not self._ready:
            with self._engine.connect() as connection:
                revision, tables = _revision(connection)
            if revision != SCHEMA_REVISION:
                raise StoreNotReadyError(_not_ready(self._engine, revision, tables=tables))
            self._ready = True
        return SqlUnitOfWork(_Committed(self))

    def stage_log(
        self, *, driver: Literal["dbapi", "adbc"] = "dbapi", fields: Iterable[str] = ()
    ) -> StageLog:
        """
        Read the stage log of every lead and deal into a `funnelkit.analytics.StageLog`.

        The rows of every lead and deal event (entity, sequence, type, time, pipeline, stage,
        reason, owner, source channel, the stage a move left, the amount set, a
        qualification's verdict) go straight into arrays: no event is parsed from its JSON
        and no entity is built. Reports over the result (`analytics.conversion`,
        `time_in_stage`, ...) equal those over the events. Needs the ``columnar`` extra
        (numpy).

        Args:
            driver: How the rows are read. ``"dbapi"`` (the default) reads the coded stage
                log of schema revision 0005 through this store's SQLAlchemy engine, in one
                snapshot: the database packs the codes of each row into a few integers and
                100,000 positions of rows into one text, which numpy parses, with no Python
                object per value. Where the engine's pool gives a second connection of its own
                (not an in-memory SQLite database), a second connection shares the ranges
                from a thread meanwhile, checking that it reads the same version of the
                codes. After loading event rows outside funnelkit, call `rebuild_stage_log`
                first. ``"adbc"``, on PostgreSQL, opens an Arrow Database
                Connectivity connection to the same database and reads the event table's text
                columns as Arrow columns; it needs the ``adbc`` extra (the ADBC PostgreSQL
                driver and pyarrow).
                SQLite is read through ``"dbapi"`` only: ADBC's SQLite driver carries its own
                copy of SQLite, and two copies of SQLite on one database file in one process
                undo each other's locks.
            fields: Custom field keys to hold in columns, as `StageLog.from_events` holds
                them, for ``win_rate(..., by="fields.<key>")`` and ``Filters(fields=...)``.
                Custom fields are kept in each event's JSON only: the database takes out each
                creation's ``fields`` object, and the JSON of the changes of these fields is
                read; only their values are built. This costs time in proportion to those
                events (reading took about 1.2-1.3 times as long with one field held, at
                100,000 deals each made with it). The other rows are read as without fields.

        Raises:
            StoreNotReadyError: If the database is not at `SCHEMA_REVISION`.
            ValidationError: If the coded stage log holds a code without its value, a value
                that is not a number, or a sequence beyond its log's ``max_sequence``
                (changed outside funnelkit: call `rebuild_stage_log`);
                if an entity's stage, owner, amount, verdict or held field events
                go back in time in sequence order (report on the events themselves then); if
                `driver` is unknown, or is ``"adbc"`` on another database than PostgreSQL or
                without its driver; if a field key is not a non-empty string.
        """
        from funnelkit.analytics import _stored  # noqa: PLC0415 - numpy only when asked

        if driver not in {"dbapi", "adbc"}:
            msg = f"stage_log(driver): expected 'dbapi' or 'adbc', got {driver!r}"
            raise ValidationError(msg, field="driver", value=driver, rule="unknown")
        keys = _stored.field_keys(fields)
        connect = _adbc_connect(self._engine) if driver == "adbc" else None
        self.unit_of_work()  # the revision check: the columns must be those of this schema
        with paused_gc(), _snapshot(self._engine) as connection:  # many objects, no cycles

            def setters() -> _stored.FieldSetters:  # read after the log's rows: see from_packed
                query = _field_setters(self._engine.dialect.name, keys)
                return _stored.field_setters(keys, connection.execute(query).cursor.fetchall())

            read_fields = setters if keys else None
            if connect is not None:
                table = _adbc_table(self._engine, connect, _STAGE_LOG)
                return _stored.from_arrow_table(table, read_fields)
            read = functools.partial(
                _stage_tables.read_packed,
                connection=connection,
                batch=_BATCH,
                helper=_second_reader(self._engine),
            )
            return _stored.from_packed(read, read_fields)

    def rebuild_stage_log(self) -> int:
        """
        Make the coded stage log again from the event table's columns, in one transaction.

        Every append keeps the coded stage log (schema revision 0005) that `stage_log` reads,
        beside the event table's plain columns of the same values. Call this after changing
        or adding event rows outside funnelkit (a bulk load, a repair by hand), so that
        `stage_log` reads what the event table holds. Writers wait for it to finish; on
        SQLite a writer waits 30 s at most, so run it when the store is quiet.

        Returns:
            The stage-log rows written (one per lead and deal event).

        Raises:
            StoreNotReadyError: If the database is not at `SCHEMA_REVISION`.
        """
        self.unit_of_work()  # the revision check
        with _writing(self._engine) as connection:
            return _stage_tables.rebuild(connection)

    def live_keys(self, contact: Contact) -> tuple[str, ...]:
        """Return the keys the store indexes `contact` under (none for a merged contact)."""
        return live_keys(self._contact_keys, contact)

    def rebuild_contact_keys(
        self,
        *,
        batch_size: int = 500,
        after: str | None = None,
        max_batches: int | None = None,
        progress: Progress | None = None,
    ) -> KeyRebuild:
        """
        Index every stored contact again under this store's contact keys, in batches.

        Run it after the contact-key function changed: a new normaliser, a new region, new
        phonenumbers metadata. The keys stored before were computed by the old function, so
        known clients would be missed until they are rebuilt. Contacts are read in id order,
        `batch_size` at a time, each batch in one transaction that locks its rows; stop after
        `max_batches` and resume from `KeyRebuild.last_id` with ``after=``. A contact whose
        keys did not change is left alone. `progress`, if given, is told
        ``("contacts", checked, total)`` after each batch.

        Raises:
            ValidationError: If `batch_size` or `max_batches` is not a positive integer, or
                the contact-key function gives a key no store may index.
        """
        for name, value in (("batch_size", batch_size), ("max_batches", max_batches)):
            if value is not None and (type(value) is not int or value < 1):
                msg = f"rebuild_contact_keys({name}): expected a positive integer, got {value!r}"
                raise ValidationError(msg, field=name, value=value, rule="range")
        checked = changed = added = removed = batches = 0
        last = after
        total = None
        if progress is not None:
            with self._engine.connect() as connection:
                total = connection.execute(_COUNT[EntityKind.CONTACT]).scalar()
        while max_batches is None or batches < max_batches:
            with _writing(self._engine) as connection:
                query = sa.select(_CONTACTS.c.id, _CONTACTS.c.data).order_by(_CONTACTS.c.id)
                if last is not None:
                    query = query.where(_CONTACTS.c.id > last)
                rows = connection.execute(query.limit(batch_size).with_for_update()).all()
                if not rows:
                    if progress is not None:
                        progress("contacts", checked, total)
                    return KeyRebuild(checked, changed, added, removed, last, done=True)
                found = _rekeyed(connection, rows, self.live_keys)
            checked += len(rows)
            changed += found[0]
            added += found[1]
            removed += found[2]
            last = rows[-1].id
            batches += 1
            if progress is not None:
                progress("contacts", checked, total)
        return KeyRebuild(checked, changed, added, removed, last, done=False)


@attrs.frozen
class KeyRebuild:
    """
    What `SqlStore.rebuild_contact_keys` did.

    Attributes:
        checked: Contacts read.
        changed: Of them, those whose keys changed.
        added: Keys added.
        removed: Keys removed.
        last_id: The last contact id read: pass it as ``after=`` to resume.
        done: Whether every contact was read.
    """

    checked: int
    changed: int
    added: int
    removed: int
    last_id: str | None
    done: bool


def _rekeyed(
    connection: sa.Connection,
    rows: Sequence[sa.Row[Any, Any]],
    keys_of: Callable[[Contact], tuple[str, ...]],
) -> tuple[int, int, int]:
    """Index one batch of contacts again: (contacts changed, keys added, keys removed)."""
    ids = [row.id for row in rows]
    stored: dict[str, set[str]] = {contact_id: set() for contact_id in ids}
    for key, contact_id in connection.execute(
        sa.select(CONTACT_KEYS.c.key, CONTACT_KEYS.c.contact_id).where(
            CONTACT_KEYS.c.contact_id.in_(ids)
        )
    ):
        stored[contact_id].add(key)
    changed = added = removed = 0
    for row in rows:
        contact = from_data(json.loads(row.data), Contact)
        wanted = set(keys_of(contact))
        old = stored[row.id]
        if wanted == old:
            continue
        changed += 1
        gone, new = old - wanted, wanted - old
        removed += len(gone)
        added += len(new)
        if gone:
            connection.execute(
                CONTACT_KEYS.delete().where(
                    CONTACT_KEYS.c.contact_id == row.id, CONTACT_KEYS.c.key.in_(gone)
                )
            )
        if new:
            connection.execute(
                CONTACT_KEYS.insert(), [{"key": key, "contact_id": row.id} for key in new]
            )
    return changed, added, removed


class SqlUnitOfWork(BufferedUnitOfWork):
    """A unit of work on a `SqlStore` (see `funnelkit.storage.UnitOfWork`)."""


_FETCH = {
    kind: sa.select(table.c.ord, table.c.data).where(table.c.id == sa.bindparam("id"))
    for kind, table in TABLES.items()
}


_COUNT = {kind: sa.select(sa.func.count()).select_from(table) for kind, table in TABLES.items()}


_CONTACTS = TABLES[EntityKind.CONTACT]


_BY_KEY = (
    sa.select(_CONTACTS.c.ord, _CONTACTS.c.data)
    .join(CONTACT_KEYS, CONTACT_KEYS.c.contact_id == _CONTACTS.c.id)
    .where(CONTACT_KEYS.c.key == sa.bindparam("key"))
    .order_by(_CONTACTS.c.ord)
)


_BY_KEY_LIMITED = _BY_KEY.limit(sa.bindparam("limit"))


_OF_ENTITY = (
    EVENTS.c.entity_kind == sa.bindparam("kind"),
    EVENTS.c.entity_id == sa.bindparam("id"),
)


_LAST_SEQUENCE = sa.select(sa.func.coalesce(sa.func.max(EVENTS.c.sequence), 0)).where(*_OF_ENTITY)


_HISTORY = sa.select(EVENTS.c.data).where(*_OF_ENTITY).order_by(EVENTS.c.sequence)


_BATCH = 100_000  # positions of the stage log read at a time


def _second_reader(engine: sa.Engine) -> Callable[[], AbstractContextManager[sa.Connection]] | None:
    """
    How `stage_log` opens a second connection to read beside the first, or ``None``.

    Only where the pool gives a second connection of its own without waiting: not an in-memory
    SQLite database (one connection a thread, or one in all), nor a queue of one connection.
    """
    pool = engine.pool
    if isinstance(pool, sa.pool.NullPool):
        return functools.partial(_snapshot, engine)
    if not isinstance(pool, sa.pool.QueuePool):  # one connection a thread, or a static one
        return None
    overflow = getattr(pool, "_max_overflow", 0)  # not public; -1: no limit
    if pool.size() < 2 and overflow == 0:  # noqa: PLR2004 - two readers
        return None
    return functools.partial(_snapshot, engine)


_STAGE_LOG = sa.select(
    EVENTS.c.entity_kind,
    EVENTS.c.entity_id,
    EVENTS.c.sequence,
    EVENTS.c.type,
    sa.func.coalesce(EVENTS.c.created_at, EVENTS.c.at).label("time"),  # set on creations only
    EVENTS.c.pipeline,
    EVENTS.c.stage,
    EVENTS.c.reason,
    EVENTS.c.owner,
    EVENTS.c.channel,
    EVENTS.c.from_stage,
    EVENTS.c.amount,
    EVENTS.c.currency,
    EVENTS.c.verdict,
).where(
    # Compared as an expression, so that the database scans the table rather than reading most
    # of it row by row through the (kind, id, sequence) index; no order: numpy sorts faster.
    sa.func.lower(EVENTS.c.entity_kind).in_(_stage_tables.FUNNEL_KINDS)
)
"""The stage-log rows of every lead and deal as text (`funnelkit.analytics._stored.STORED`),
which ``stage_log(driver="adbc")`` reads."""


def _field_setters(dialect: str, keys: tuple[str, ...]) -> sa.Select[Any]:
    """
    The events that may set one of the custom fields `keys`, for `_stored.field_setters`.

    A creation (each field it is made with, and none of the others) and a change of one of
    these fields. Of a creation at its class's version only its ``fields`` object is taken out
    of the JSON, by the database; of a field change the JSON is read whole.
    """

    def at(*path: str) -> Any:
        if dialect == "postgresql":
            return sa.func.json_extract_path_text(sa.cast(EVENTS.c.data, postgresql.JSON), *path)
        return sa.func.json_extract(EVENTS.c.data, "$." + ".".join(path))

    text = sa.case(
        *(
            ((EVENTS.c.type == cls.TYPE) & (EVENTS.c.version == cls.VERSION), at(kind, "fields"))
            for cls, kind in ((DealCreated, "deal"), (LeadCreated, "lead"))
        ),
        else_=EVENTS.c.data,
    )
    return sa.select(
        EVENTS.c.entity_kind,
        EVENTS.c.entity_id,
        EVENTS.c.sequence,
        EVENTS.c.type,
        EVENTS.c.version,
        text,
    ).where(
        EVENTS.c.type.in_([DealCreated.TYPE, LeadCreated.TYPE])
        | ((EVENTS.c.type == FieldChanged.TYPE) & at("field").in_(keys))
    )


def _adbc_connect(engine: sa.Engine) -> Callable[[], Any]:
    """A function opening an ADBC connection to `engine`'s database, or a `ValidationError`."""
    if engine.dialect.name != "postgresql":
        msg = (
            f"stage_log(driver='adbc'): funnelkit reads PostgreSQL through ADBC, not "
            f"{engine.dialect.name}; use driver='dbapi'"
        )
        if engine.dialect.name == "sqlite":
            msg += (
                ". ADBC's SQLite driver carries its own copy of SQLite, and two copies of "
                "SQLite on one file in one process undo each other's locks"
            )
        raise ValidationError(msg, field="driver", value="adbc", rule="unsupported")
    try:
        module = importlib.import_module("adbc_driver_postgresql.dbapi")
        importlib.import_module("pyarrow")
    except ImportError as error:
        msg = (
            f"stage_log(driver='adbc') needs {error.name or 'its driver'}, which is not "
            'installed: pip install "funnelkit[adbc]"'
        )
        raise ValidationError(msg, field="driver", value="adbc", rule="missing_extra") from None
    url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    return functools.partial(module.connect, url)


def _adbc_table(engine: sa.Engine, connect: Callable[[], Any], query: sa.Select[Any]) -> Any:
    """The result of `query` as one pyarrow ``Table``, read through ADBC."""
    text = str(query.compile(engine, compile_kwargs={"literal_binds": True}))  # constants only
    with connect() as connection, connection.cursor() as cursor:
        cursor.execute(text)
        return cursor.fetch_arrow_table()


_LOG_AFTER = (
    sa.select(EVENTS.c.position, EVENTS.c.data)
    .where(EVENTS.c.position > sa.bindparam("after"))
    .order_by(EVENTS.c.position)
    .limit(sa.bindparam("limit"))
)


_TAKE_POSITIONS = (
    LOG.update()
    .where(LOG.c.id == 1)
    .values(
        last_position=LOG.c.last_position + sa.bindparam("count"),
        max_sequence=sa.case(  # the packing width of the coded stage log's sequences
            (LOG.c.max_sequence < sa.bindparam("top"), sa.bindparam("top")),
            else_=LOG.c.max_sequence,
        ),
    )
    .returning(LOG.c.last_position)
)


def _of(entity: EntityRef) -> dict[str, str]:
    return {"kind": entity.kind.value, "id": _text(entity.id)}


class _SequenceTaken(Exception):  # noqa: N818 - a private signal, not an error users see
    """An event's (entity, sequence) was taken by another writer: find out which, then raise."""


class _Committed:
    """
    One unit's view of the database.

    Reads run one statement each, outside any transaction (autocommit on PostgreSQL; SQLite
    starts none for them), on a connection the unit keeps; the commit runs in one transaction on
    a second connection.
    """

    def __init__(self, store: SqlStore) -> None:
        self._store = store
        self._connection: sa.Connection | None = None

    def _read(self, statement: sa.Executable, **params: Any) -> list[sa.Row[Any]]:
        connection = self._connection
        if connection is None:
            connection = self._connection = self._store.engine.connect()
            if connection.dialect.name != "sqlite":
                connection.execution_options(isolation_level="AUTOCOMMIT")
        try:
            return list(connection.execute(statement, params).all())
        finally:
            connection.rollback()  # ends SQLAlchemy's own bookkeeping; no server round trip

    def live_keys(self, contact: Contact) -> tuple[str, ...]:
        return self._store.live_keys(contact)

    def fetch(self, kind: EntityKind, entity_id: str) -> tuple[int, Any] | None:
        rows = self._read(_FETCH[kind], id=_text(entity_id))
        return None if not rows else _entity(kind, rows[0])

    def select(
        self,
        kind: EntityKind,
        filters: dict[str, object],
        due_before: datetime | None,
        limit: int | None = None,
    ) -> list[tuple[int, Any]]:
        table = TABLES[kind]
        statement = (
            sa.select(table.c.ord, table.c.data)
            .where(*_conditions(table, filters, due_before))
            .order_by(table.c.ord)
        )
        if limit is not None:
            statement = statement.limit(limit)
        return [_entity(kind, row) for row in self._read(statement)]

    def by_key(self, key: str, limit: int | None) -> list[tuple[int, Contact]]:
        rows = (
            self._read(_BY_KEY, key=_text(key))
            if limit is None
            else self._read(_BY_KEY_LIMITED, key=_text(key), limit=limit)
        )
        return [_entity(EntityKind.CONTACT, row) for row in rows]

    def count(self, kind: EntityKind) -> int:
        return int(self._read(_COUNT[kind])[0][0])

    def last_sequence(self, entity: EntityRef) -> int:
        return int(self._read(_LAST_SEQUENCE, **_of(entity))[0][0])

    def history(self, entity: EntityRef) -> list[Event]:
        rows = self._read(_HISTORY, **_of(entity))
        return [event_from_data(json.loads(row.data)) for row in rows]

    def log_after(self, after: int, limit: int) -> list[RecordedEvent]:
        with self._store.engine.connect() as connection:  # also after the unit has ended
            rows = connection.execute(_LOG_AFTER, {"after": after, "limit": limit}).all()
        return [
            RecordedEvent(position=row.position, event=event_from_data(json.loads(row.data)))
            for row in rows
        ]

    def apply(self, writes: Writes) -> None:
        if not writes.events and not any(writes.entities.values()):
            return
        try:
            with _writing(self._store.engine) as connection:
                self._write(connection, writes)
        except _SequenceTaken:
            for ref, first in writes.first_sequences().items():
                stored_last = self.last_sequence(ref)
                if stored_last >= first:
                    raise sequence_conflict(ref, first, stored_last) from None
            raise  # pragma: no cover - the constraint fired, so one of them was taken

    def _write(self, connection: sa.Connection, writes: Writes) -> None:
        contacts: list[Contact] = []
        for kind, entity, base_version in writes.saved():
            table = TABLES[kind]
            result = connection.execute(
                table.update()
                .where(table.c.id == _text(entity.id), table.c.version == base_version)
                .values(_columns(kind, entity))
            )
            if result.rowcount != 1:
                actual = _version(connection, table, entity.id)
                raise stale(EntityRef(kind=kind, id=entity.id), base_version, actual)
            if kind is EntityKind.CONTACT:
                contacts.append(entity)
        for kind, entity in writes.added():
            table = TABLES[kind]
            statement = self._store._insert(table).values(_columns(kind, entity))  # noqa: SLF001
            inserted = connection.execute(
                statement.on_conflict_do_nothing().returning(table.c.ord)
            ).first()
            if inserted is None:
                raise taken(
                    EntityRef(kind=kind, id=entity.id), _version(connection, table, entity.id)
                )
            if kind is EntityKind.CONTACT:
                contacts.append(entity)
        if contacts:
            self._index(connection, contacts)
        if writes.events:
            self._append(connection, writes)

    def _index(self, connection: sa.Connection, contacts: list[Contact]) -> None:
        ids = [_text(contact.id) for contact in contacts]
        connection.execute(CONTACT_KEYS.delete().where(CONTACT_KEYS.c.contact_id.in_(ids)))
        rows = [
            {"key": _text(key), "contact_id": _text(contact.id)}
            for contact in contacts
            for key in self._store.live_keys(contact)
        ]
        if rows:
            connection.execute(CONTACT_KEYS.insert(), rows)

    def _append(self, connection: sa.Connection, writes: Writes) -> None:
        # Taking the counter's row lock makes committing writers take turns from here on, so
        # positions are handed out with no gaps and become visible in order.
        count = len(writes.events)
        top = max(event.sequence for event in writes.events)
        last = connection.execute(_TAKE_POSITIONS, {"count": count, "top": top}).scalar()
        if last is None:
            raise StoreNotReadyError(_not_ready(self._store.engine))
        start = int(last) - count
        rows = [
            {
                "position": start + offset,
                "entity_kind": event.entity.kind.value,
                "entity_id": _text(event.entity.id),
                "sequence": event.sequence,
                "data": _dump(event),
                **_event_columns(event),
            }
            for offset, event in enumerate(writes.events, start=1)
        ]
        # Each unit numbers an entity's events from the last one it read, and histories have no
        # gaps, so a writer that appended meanwhile took this unit's first number: the unique
        # (entity, sequence) constraint is the whole check.
        try:
            connection.execute(EVENTS.insert(), rows)
        except sa.exc.IntegrityError as error:
            raise _SequenceTaken from error
        _stage_tables.append(connection, rows)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def _version(connection: sa.Connection, table: sa.Table, entity_id: str) -> int | None:
    """The stored version of an entity, inside a write (``None`` if there is none)."""
    found = connection.execute(sa.select(table.c.version).where(table.c.id == _text(entity_id)))
    return found.scalar()


def _entity(kind: EntityKind, row: sa.Row[Any]) -> tuple[int, Any]:
    return int(row.ord), from_data(json.loads(row.data), ENTITY_CLASSES[kind])
