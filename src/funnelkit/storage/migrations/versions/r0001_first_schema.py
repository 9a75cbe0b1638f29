"""
The first schema: entities as JSON beside their look-up columns, contact keys, the event log.

It is the schema `SqlStore.create_schema` made before the schema had revisions; a database
made then is stamped with this revision by `SqlStore.upgrade_schema`.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_ORDER = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_FUNNEL_INDEXES = (("pipeline", "stage"), ("status",), ("owner",), ("contact_id",))


def _entity_table(name: str, *columns: sa.Column[object]) -> None:
    op.create_table(
        f"funnelkit_{name}",
        sa.Column("ord", _ORDER, primary_key=True, autoincrement=True),
        sa.Column("id", sa.Text(), nullable=False, unique=True),
        sa.Column("version", sa.Integer(), nullable=False),
        *columns,
        sa.Column("data", sa.Text(), nullable=False),
    )


def _funnel_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("pipeline", sa.Text(), nullable=False),
        sa.Column("stage", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("owner", sa.Text()),
        sa.Column("contact_id", sa.Text()),
    ]


def upgrade() -> None:
    """Create the first schema, with the event log's counter row."""
    _entity_table("contacts")
    for name in ("leads", "deals"):
        _entity_table(name, *_funnel_columns())
        for index in _FUNNEL_INDEXES:
            op.create_index(f"funnelkit_{name}_{'_'.join(index)}", f"funnelkit_{name}", index)
    _entity_table(
        "tasks",
        sa.Column("assignee", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("subject_kind", sa.Text(), nullable=False),
        sa.Column("subject_id", sa.Text(), nullable=False),
        sa.Column("due_at", sa.BigInteger(), nullable=False),
    )
    for index in (("assignee", "status"), ("subject_kind", "subject_id"), ("due_at",)):
        op.create_index(f"funnelkit_tasks_{'_'.join(index)}", "funnelkit_tasks", index)
    op.create_table(
        "funnelkit_contact_keys",
        sa.Column("key", sa.Text(), primary_key=True),
        sa.Column("contact_id", sa.Text(), primary_key=True),
    )
    op.create_index("funnelkit_contact_keys_contact_id", "funnelkit_contact_keys", ["contact_id"])
    op.create_table(
        "funnelkit_events",
        sa.Column("position", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("entity_kind", sa.Text(), nullable=False),
        sa.Column("entity_id", sa.Text(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.UniqueConstraint(
            "entity_kind", "entity_id", "sequence", name="funnelkit_events_sequence"
        ),
    )
    log = op.create_table(
        "funnelkit_log",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("last_position", sa.BigInteger(), nullable=False),
    )
    op.bulk_insert(log, [{"id": 1, "last_position": 0}])


def downgrade() -> None:
    """Drop every funnelkit table."""
    for name in ("log", "events", "contact_keys", "tasks", "deals", "leads", "contacts"):
        op.drop_table(f"funnelkit_{name}")
