"""
The stage log in integer codes, in a table of its own, for reading it fast.

Every lead and deal event gets a row in ``funnelkit_stage_log``: its position (on SQLite the
table's rowid), its entity as a code of ``funnelkit_stage_entities``, its sequence, its time
(a creation's ``created_at``, else its ``at``), and each text of the stage log (type,
pipeline, stage, stage left, reason, owner, source channel, currency, verdict) as a code of
``funnelkit_stage_labels``, its amount as a code of ``funnelkit_stage_amounts`` (0: none).
``funnelkit_log`` gains a ``generation``, counting the times the coded log was made again,
and ``max_sequence``, the largest sequence number appended (the width a read packs them in).
The event table keeps its columns: every append writes both. Reading codes instead of text,
packed several to an integer by the database, lets `SqlStore.stage_log` read a million
deals' events in a fraction of the time.

The rows stored before are coded from the event table's columns by this migration itself,
in SQL, with no funnelkit code that may change later.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_ORDER = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_LABELLED = (
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
_FUNNEL = "e.entity_kind IN ('lead', 'deal')"


def upgrade() -> None:
    """Create the tables, and code the lead and deal events stored."""
    op.create_table(
        "funnelkit_stage_labels",
        sa.Column("code", _ORDER, primary_key=True, autoincrement=True),
        sa.Column("name", sa.Text(), nullable=False, unique=True),
    )
    op.create_table(
        "funnelkit_stage_amounts",
        sa.Column("code", _ORDER, primary_key=True, autoincrement=True),
        sa.Column("amount", sa.Text(), nullable=False, unique=True),
    )
    op.create_table(
        "funnelkit_stage_entities",
        sa.Column("code", _ORDER, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("id", sa.Text(), nullable=False),
        sa.UniqueConstraint("kind", "id", name="funnelkit_stage_entities_kind_id"),
    )
    op.create_table(
        "funnelkit_stage_log",
        sa.Column("position", _ORDER, primary_key=True, autoincrement=False),
        sa.Column("entity", _ORDER, nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("time", sa.BigInteger(), nullable=False),
        *(sa.Column(name, _ORDER, nullable=False) for name in (*_LABELLED, "amount")),
    )
    for name in ("generation", "max_sequence"):
        op.add_column(
            "funnelkit_log", sa.Column(name, sa.BigInteger(), nullable=False, server_default="0")
        )
    names = " UNION ".join(
        f"SELECT e.{name} AS name FROM funnelkit_events e WHERE {_FUNNEL}"  # noqa: S608 - constants
        for name in _LABELLED
    )
    op.execute(
        "INSERT INTO funnelkit_stage_labels (name) "  # noqa: S608 - constants
        f"SELECT name FROM ({names}) AS names WHERE name IS NOT NULL ORDER BY name"
    )
    op.execute(
        "INSERT INTO funnelkit_stage_amounts (amount) "  # noqa: S608 - constants
        f"SELECT DISTINCT e.amount FROM funnelkit_events e WHERE {_FUNNEL} "
        "AND e.amount IS NOT NULL ORDER BY e.amount"
    )
    op.execute(
        "INSERT INTO funnelkit_stage_entities (kind, id) "  # noqa: S608 - constants
        f"SELECT e.entity_kind, e.entity_id FROM funnelkit_events e WHERE {_FUNNEL} "
        "GROUP BY e.entity_kind, e.entity_id ORDER BY min(e.position)"
    )
    joins = " ".join(
        f"LEFT JOIN funnelkit_stage_labels l_{name} ON l_{name}.name = e.{name}"
        for name in _LABELLED
    )
    op.execute(
        "INSERT INTO funnelkit_stage_log (position, entity, sequence, time, "  # noqa: S608 - constants
        f"{', '.join(_LABELLED)}, amount) "
        "SELECT e.position, n.code, e.sequence, coalesce(e.created_at, e.at), "
        f"{', '.join(f'coalesce(l_{name}.code, 0)' for name in _LABELLED)}, coalesce(a.code, 0) "
        "FROM funnelkit_events e "
        "JOIN funnelkit_stage_entities n ON n.kind = e.entity_kind AND n.id = e.entity_id "
        "LEFT JOIN funnelkit_stage_amounts a ON a.amount = e.amount "
        f"{joins} WHERE {_FUNNEL}"
    )
    op.execute(
        "UPDATE funnelkit_log SET max_sequence = "
        "(SELECT coalesce(max(sequence), 0) FROM funnelkit_events)"
    )


def downgrade() -> None:
    """Drop the tables and the log's generation; the event table still holds every value."""
    with op.batch_alter_table("funnelkit_log") as batch:
        batch.drop_column("max_sequence")
        batch.drop_column("generation")
    for name in ("log", "entities", "amounts", "labels"):
        op.drop_table(f"funnelkit_stage_{name}")
