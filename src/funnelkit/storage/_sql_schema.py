"""
The SQL store's schema: its tables, the columns rows are written with, and its revisions.

The tables are those of `SCHEMA_REVISION`; the Alembic migrations in
``funnelkit.storage.migrations`` make them, and a database records its revision in
`VERSION_TABLE`.
"""

from __future__ import annotations

import json
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from funnelkit._converter import to_data
from funnelkit.events import (
    AmountChanged,
    DealCreated,
    DealWon,
    Event,
    LeadCreated,
    LeadQualified,
    MoveEvent,
    OwnerChanged,
)
from funnelkit.exceptions import ValidationError
from funnelkit.model import (
    EntityKind,
    EntityRef,
    Money,
    Task,
)


if TYPE_CHECKING:
    from collections.abc import Iterator

    from alembic.config import Config


__all__ = [
    "alembic_config",
]

METADATA = sa.MetaData()


"""The tables of a `SqlStore` at `SCHEMA_REVISION` (the migrations create them)."""


SCHEMA_REVISION = "0005"


"""The schema revision this funnelkit reads and writes (the newest migration)."""


VERSION_TABLE = "funnelkit_schema_version"


"""The table where a database records its schema revision (Alembic's version table)."""


_MIGRATIONS = Path(__file__).parent / "migrations"


_ORDER = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite numbers INTEGER keys


_TEXT = sa.Text()


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


_MICROSECOND = timedelta(microseconds=1)


_WRITING = "funnelkit.writing"


_READING = "funnelkit.reading"


_DIALECTS = frozenset({"sqlite", "postgresql"})


def _entity_table(
    name: str, *columns: sa.Column[Any], indexes: tuple[tuple[str, ...], ...]
) -> sa.Table:
    table = sa.Table(
        f"funnelkit_{name}",
        METADATA,
        sa.Column("ord", _ORDER, primary_key=True, autoincrement=True),
        sa.Column("id", _TEXT, nullable=False, unique=True),
        sa.Column("version", sa.Integer, nullable=False),
        *columns,
        sa.Column("data", sa.Text, nullable=False),
    )
    for index in indexes:
        sa.Index(f"funnelkit_{name}_{'_'.join(index)}", *(table.c[c] for c in index))
    return table


def _funnel_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("pipeline", _TEXT, nullable=False),
        sa.Column("stage", _TEXT, nullable=False),
        sa.Column("status", _TEXT, nullable=False),
        sa.Column("owner", _TEXT),
        sa.Column("contact_id", _TEXT),
    ]


_FUNNEL_INDEXES = (("pipeline", "stage"), ("status",), ("owner",), ("contact_id",))


TABLES: dict[EntityKind, sa.Table] = {
    EntityKind.CONTACT: _entity_table("contacts", indexes=()),
    EntityKind.LEAD: _entity_table("leads", *_funnel_columns(), indexes=_FUNNEL_INDEXES),
    EntityKind.DEAL: _entity_table("deals", *_funnel_columns(), indexes=_FUNNEL_INDEXES),
    EntityKind.TASK: _entity_table(
        "tasks",
        sa.Column("assignee", _TEXT, nullable=False),
        sa.Column("status", _TEXT, nullable=False),
        sa.Column("subject_kind", _TEXT, nullable=False),
        sa.Column("subject_id", _TEXT, nullable=False),
        sa.Column("due_at", sa.BigInteger, nullable=False),  # microseconds since 1970, UTC
        indexes=(("assignee", "status"), ("subject_kind", "subject_id"), ("due_at",)),
    ),
}


"""The entity tables by kind; each entity's JSON beside the columns its look-ups need."""


CONTACT_KEYS = sa.Table(
    "funnelkit_contact_keys",
    METADATA,
    sa.Column("key", _TEXT, primary_key=True),
    sa.Column("contact_id", _TEXT, primary_key=True),
    sa.Index("funnelkit_contact_keys_contact_id", "contact_id"),
)


"""Each live contact under each of its look-up keys (`ContactKeys`)."""


EVENTS = sa.Table(
    "funnelkit_events",
    METADATA,
    sa.Column("position", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("entity_kind", _TEXT, nullable=False),
    sa.Column("entity_id", _TEXT, nullable=False),
    sa.Column("sequence", sa.Integer, nullable=False),
    sa.Column("data", sa.Text, nullable=False),
    # The stage log in plain columns: read without parsing the JSON (revision 0002).
    sa.Column("type", _TEXT, nullable=False),  # the event's wire name
    sa.Column("version", sa.Integer, nullable=False),  # its schema version
    sa.Column("at", sa.BigInteger, nullable=False),  # microseconds since 1970, UTC
    sa.Column("pipeline", _TEXT),  # moves and creations: the pipeline,
    sa.Column("stage", _TEXT),  # the stage entered (a creation's first stage),
    sa.Column("reason", _TEXT),  # and a loss's or junk closing's reason
    # Revision 0003: the owner of a creation or an owner change, a creation's source channel
    # and its entity's created_at (microseconds since 1970, UTC), and the stage a move left.
    sa.Column("owner", _TEXT),
    sa.Column("channel", _TEXT),
    sa.Column("created_at", sa.BigInteger),
    sa.Column("from_stage", _TEXT),
    # Revision 0004: the amount a deal's creation, amount change or win sets, as an exact
    # decimal string (NULL: none), and its currency; a lead qualification's verdict.
    sa.Column("amount", _TEXT),
    sa.Column("currency", _TEXT),
    sa.Column("verdict", _TEXT),
    sa.UniqueConstraint("entity_kind", "entity_id", "sequence", name="funnelkit_events_sequence"),
)


"""The event log; each event's JSON, its entity and sequence, and the stage log in columns."""


def _code_table(name: str, *columns: sa.Column[Any] | sa.Constraint) -> sa.Table:
    """A table of the values a coded stage-log column holds, each numbered by its ``code``."""
    return sa.Table(
        f"funnelkit_stage_{name}",
        METADATA,
        sa.Column("code", _ORDER, primary_key=True, autoincrement=True),
        *columns,
    )


STAGE_LABELS = _code_table("labels", sa.Column("name", _TEXT, nullable=False, unique=True))


"""Revision 0005: the text of the coded stage log (types, pipelines, stages, owners, ...)."""


STAGE_AMOUNTS = _code_table("amounts", sa.Column("amount", _TEXT, nullable=False, unique=True))


"""Revision 0005: the amounts of the coded stage log, as exact decimal strings."""


STAGE_ENTITIES = _code_table(
    "entities",
    sa.Column("kind", _TEXT, nullable=False),
    sa.Column("id", _TEXT, nullable=False),
    sa.UniqueConstraint("kind", "id", name="funnelkit_stage_entities_kind_id"),
)


"""Revision 0005: the leads and deals of the coded stage log."""


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


"""The stage-log columns coded into `STAGE_LABELS` (``amount`` into `STAGE_AMOUNTS`)."""


STAGE_LOG = sa.Table(
    "funnelkit_stage_log",
    METADATA,
    # The event's position, which SQLite keeps as the rowid: a range of it is one B-tree walk.
    sa.Column("position", _ORDER, primary_key=True, autoincrement=False),
    sa.Column("entity", _ORDER, nullable=False),  # a code of STAGE_ENTITIES
    sa.Column("sequence", sa.Integer, nullable=False),
    sa.Column("time", sa.BigInteger, nullable=False),  # a creation's created_at, else its at
    # Codes of STAGE_LABELS and STAGE_AMOUNTS; 0 for none, so that a read packs them without
    # a coalesce a value.
    *(sa.Column(name, _ORDER, nullable=False) for name in (*LABELLED, "amount")),
)


"""Revision 0005: the stage log of every lead and deal event in integer codes, for reading
it fast (`SqlStore.stage_log`); the event table's columns of the same names hold its text."""


LOG = sa.Table(
    "funnelkit_log",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("last_position", sa.BigInteger, nullable=False),
    # Revision 0005: counts the times the coded stage log was made again (rebuilt, cleared),
    # so that readers on two connections know they read one version of its codes; and the
    # largest sequence number appended at most, the width a read packs sequences in.
    sa.Column("generation", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("max_sequence", sa.BigInteger, nullable=False, server_default="0"),
)


"""The log's counter; one row holding the last position handed out."""


def _text(value: str) -> str:
    r"""
    A string as stored in a look-up column: backslashes doubled and NUL written ``\0``.

    PostgreSQL's text cannot hold NUL characters; the escape is one-to-one, so equality
    look-ups are unchanged. The JSON in ``data`` keeps every value as it is.
    """
    if "\\" in value or "\x00" in value:
        return value.replace("\\", "\\\\").replace("\x00", "\\0")
    return value


def _optional_text(value: str | None) -> str | None:
    return None if value is None else _text(value)


def _micros(instant: datetime) -> int:
    return (instant - _EPOCH) // _MICROSECOND


def _event_columns(event: Event) -> dict[str, object]:
    """The stage-log columns of an event's row."""
    pipeline = stage = reason = owner = channel = left = None
    created_at = None
    amount: Money | None = None
    if isinstance(event, MoveEvent):
        pipeline, stage, left = event.pipeline, event.to_stage, event.from_stage
        reason = getattr(event, "reason", None)
        if isinstance(event, DealWon):
            amount = event.amount
    elif isinstance(event, LeadCreated | DealCreated):
        snapshot = event.lead if isinstance(event, LeadCreated) else event.deal
        pipeline, stage, owner = snapshot.pipeline, snapshot.stage, snapshot.owner
        channel = snapshot.source.channel if snapshot.source is not None else None
        created_at = _micros(snapshot.created_at)
        amount = event.deal.amount if isinstance(event, DealCreated) else None
    elif isinstance(event, OwnerChanged):
        owner = event.new
    elif isinstance(event, AmountChanged):
        amount = event.new
    verdict = event.verdict.value if isinstance(event, LeadQualified) else None
    return {
        "type": event.TYPE,
        "version": event.VERSION,
        "at": _micros(event.at),
        "pipeline": _optional_text(pipeline),
        "stage": _optional_text(stage),
        "reason": _optional_text(reason),
        "owner": _optional_text(owner),
        "channel": _optional_text(channel),
        "created_at": created_at,
        "from_stage": _optional_text(left),
        "amount": None if amount is None else format(amount.amount, "f"),
        "currency": None if amount is None else amount.currency,
        "verdict": verdict,
    }


def _dump(value: object) -> str:
    return json.dumps(to_data(value), ensure_ascii=False, separators=(",", ":"))


def _columns(kind: EntityKind, entity: Any) -> dict[str, object]:
    """The row of `entity` in its table, without the add order."""
    row: dict[str, object] = {
        "id": _text(entity.id),
        "version": entity.version,
        "data": _dump(entity),
    }
    if kind in {EntityKind.LEAD, EntityKind.DEAL}:
        row |= {
            "pipeline": _text(entity.pipeline),
            "stage": _text(entity.stage),
            "status": entity.status.value,
            "owner": _optional_text(entity.owner),
            "contact_id": _optional_text(entity.contact_id),
        }
    elif kind is EntityKind.TASK:
        task: Task = entity
        row |= {
            "assignee": _text(task.assignee),
            "status": task.status.value,
            "subject_kind": task.subject.kind.value,
            "subject_id": _text(task.subject.id),
            "due_at": _micros(task.due_at),
        }
    return row


def _conditions(
    table: sa.Table, filters: dict[str, object], due_before: datetime | None
) -> list[sa.ColumnElement[bool]]:
    conditions: list[sa.ColumnElement[bool]] = []
    for name, value in filters.items():
        if isinstance(value, EntityRef):
            conditions.append(table.c.subject_kind == value.kind.value)
            conditions.append(table.c.subject_id == _text(value.id))
        elif isinstance(value, str):
            conditions.append(table.c[name] == _text(value))
        else:  # a status
            conditions.append(table.c[name] == getattr(value, "value", value))
    if due_before is not None:
        conditions.append(table.c.due_at < _micros(due_before))
    return conditions


def _not_ready(engine: sa.Engine, revision: str | None = None, *, tables: bool = False) -> str:
    """The message of `StoreNotReadyError` for `engine`'s database at `revision`."""
    url = engine.url.render_as_string(hide_password=True)
    if revision is None and not tables:
        return (
            f"The database {url} has no funnelkit tables (or lacks some): call "
            "store.create_schema() once"
        )
    if _newer(revision):
        return (
            f"The database {url} has funnelkit's schema revision {revision!r}, written by a "
            f"newer funnelkit; this one reads revision {SCHEMA_REVISION}: upgrade funnelkit"
        )
    found = "tables from before schema revisions" if revision is None else f"revision {revision}"
    return (
        f"The database {url} has funnelkit's {found}; this funnelkit needs revision "
        f"{SCHEMA_REVISION}: call store.upgrade_schema() once (back the database up first)"
    )


def _newer(revision: str | None) -> bool:
    """Whether a database's revision is one this funnelkit does not know (a newer one's)."""
    return revision is not None and (not revision.isdigit() or revision > SCHEMA_REVISION)


def _writing(engine: sa.Engine) -> AbstractContextManager[sa.Connection]:
    """A connection in a write transaction, committed at the end (``BEGIN IMMEDIATE`` on SQLite)."""
    return _transaction(engine, _WRITING)


def _snapshot(engine: sa.Engine) -> AbstractContextManager[sa.Connection]:
    """
    A connection in a read transaction: every statement sees the database as of the first.

    ``BEGIN`` on SQLite (in write-ahead-log mode a reader keeps its snapshot), ``REPEATABLE
    READ`` on PostgreSQL.
    """
    return _transaction(engine, _READING, "REPEATABLE READ")


@contextmanager
def _transaction(
    engine: sa.Engine, flag: str, isolation: str | None = None
) -> Iterator[sa.Connection]:
    """A connection in a transaction that SQLite's ``begin`` hook starts as `flag` asks."""
    with engine.connect() as connection:
        if isolation is not None and engine.dialect.name == "postgresql":
            connection.execution_options(isolation_level=isolation)
        connection.info[flag] = True
        try:
            with connection.begin():
                yield connection
        finally:
            connection.info.pop(flag, None)


_VERSIONS = sa.Table(  # as Alembic makes it
    VERSION_TABLE,
    sa.MetaData(),
    sa.Column("version_num", sa.String(32), nullable=False),
    sa.PrimaryKeyConstraint("version_num", name=f"{VERSION_TABLE}_pkc"),
)


def _revision(connection: sa.Connection) -> tuple[str | None, bool]:
    """The database's schema revision (``None`` if it has none), and if it has funnelkit's log."""
    inspector = sa.inspect(connection)
    tables = inspector.has_table(LOG.name)
    if not inspector.has_table(VERSION_TABLE):
        return None, tables
    return connection.execute(sa.select(_VERSIONS.c.version_num)).scalar(), tables


def alembic_config(url: str | None = None) -> Config:
    """
    An Alembic configuration for funnelkit's migrations of the SQL store's schema.

    Use it for what `SqlStore.upgrade_schema` does not do: ``command.history(config)``,
    ``command.current(config)``, or ``command.downgrade(config, "0001")``::

        from alembic import command
        command.history(alembic_config("sqlite:///crm.db"))

    Args:
        url: The database, as for `SqlStore.from_url`. Without it, pass an open connection
            as ``config.attributes["connection"]``; the migrations then run in its transaction.

    Raises:
        ValidationError: If Alembic is not installed (``pip install "funnelkit[sql]"``).
    """
    try:
        from alembic.config import Config  # noqa: PLC0415 - only where migrations are run
    except ImportError as error:  # pragma: no cover - the extra installs it
        msg = 'alembic_config: Alembic is not installed; pip install "funnelkit[sql]"'
        raise ValidationError(msg, field="alembic", value=None, rule="extra") from error
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config
