"""
funnelkit's Alembic migrations of the SQL store's schema (`funnelkit.storage.sql`).

Run them with `funnelkit.storage.sql.SqlStore.upgrade_schema`, or with Alembic itself through
`funnelkit.storage.sql.alembic_config`. They keep their revision in the table
``funnelkit_schema_version``, apart from an application's own ``alembic_version``.
"""
