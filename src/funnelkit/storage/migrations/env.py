"""
The Alembic environment of the SQL store's schema.

`funnelkit.storage.sql.SqlStore.upgrade_schema` runs it on a connection it passes in
``config.attributes["connection"]``; ``alembic`` on the command line (with the configuration of
`funnelkit.storage.sql.alembic_config`) runs it on ``sqlalchemy.url``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from funnelkit.storage._sql_schema import METADATA, VERSION_TABLE, _writing
from funnelkit.storage.sql import SqlStore


def _ours(name: str | None, kind: str, _parent: object) -> bool:
    """Whether autogenerate compares this object: funnelkit's tables, not the application's."""
    return kind != "table" or (name or "").startswith("funnelkit_")


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=METADATA,
        version_table=VERSION_TABLE,
        render_as_batch=True,  # SQLite alters a table by copying it
        include_name=_ours,
    )
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    if context.is_offline_mode():
        msg = (
            "funnelkit's migrations read and rewrite stored rows, so they run on a database, "
            "not as a SQL script; run them without --sql"
        )
        raise RuntimeError(msg)
    given = context.config.attributes.get("connection")
    if isinstance(given, sa.Connection):
        _run(given)
        return
    store = SqlStore.from_url(context.config.get_main_option("sqlalchemy.url") or "")
    try:
        with _writing(store.engine) as connection:
            _run(connection)
    finally:
        store.engine.dispose()


_main()
