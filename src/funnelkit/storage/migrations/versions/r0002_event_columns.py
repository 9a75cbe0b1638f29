"""
The event log in plain columns: type, version, time; pipeline, stage and reason of moves.

Each event's type, schema version and time, and for moves and creations its pipeline, the
stage entered and the reason.

Analytics read a stage log from these columns without parsing each event's JSON. The rows
stored before are filled in from their JSON, in batches, by this migration itself: it reads
the data as funnelkit wrote it, with no funnelkit code that may change later.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa
from alembic import op


revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_BATCH = 5_000
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_SNAPSHOTS = {"lead_created": "lead", "deal_created": "deal"}  # creations: their first stage
_NEW = (
    ("type", sa.Text()),
    ("version", sa.Integer()),
    ("at", sa.BigInteger()),  # microseconds since 1970, UTC
    ("pipeline", sa.Text()),
    ("stage", sa.Text()),
    ("reason", sa.Text()),
)
_REQUIRED = ("type", "version", "at")


def _text(value: object) -> str | None:
    r"""A look-up column's text: backslashes doubled, NUL written ``\0`` (as the store does)."""
    if not isinstance(value, str):
        return None
    return value.replace("\\", "\\\\").replace("\x00", "\\0")


def _columns(data: dict[str, Any]) -> dict[str, Any]:
    """The new columns of one stored event, from its JSON."""
    written = data["at"]
    at = datetime.fromisoformat(written[:-1] + "+00:00" if written.endswith("Z") else written)
    snapshot = data.get(_SNAPSHOTS.get(data["type"], ""), {})
    return {
        "type": data["type"],
        "version": data.get("version", 1),
        "at": (at - _EPOCH) // timedelta(microseconds=1),
        "pipeline": _text(data.get("pipeline", snapshot.get("pipeline"))),
        "stage": _text(data.get("to_stage", snapshot.get("stage"))),
        "reason": _text(data.get("reason")) if "from_stage" in data else None,
    }


def upgrade() -> None:
    """Add the columns, fill them in from the stored JSON, then require the first three."""
    for name, type_ in _NEW:
        op.add_column("funnelkit_events", sa.Column(name, type_, nullable=True))
    events = sa.table(
        "funnelkit_events",
        sa.column("position", sa.BigInteger()),
        sa.column("data", sa.Text()),
        *(sa.column(name, type_) for name, type_ in _NEW),
    )
    connection = op.get_bind()
    update = (
        events.update()
        .where(events.c.position == sa.bindparam("at_position"))
        .values({name: sa.bindparam(name) for name, _ in _NEW})
    )
    last = None
    while True:
        query = sa.select(events.c.position, events.c.data).order_by(events.c.position)
        if last is not None:
            query = query.where(events.c.position > last)
        rows = connection.execute(query.limit(_BATCH)).all()
        if not rows:
            break
        connection.execute(
            update,
            [{"at_position": row.position, **_columns(json.loads(row.data))} for row in rows],
        )
        last = rows[-1].position
    with op.batch_alter_table("funnelkit_events") as batch:
        for name, type_ in _NEW:
            if name in _REQUIRED:
                batch.alter_column(name, existing_type=type_, nullable=False)


def downgrade() -> None:
    """Drop the columns; the JSON still holds everything."""
    with op.batch_alter_table("funnelkit_events") as batch:
        for name, _ in reversed(_NEW):
            batch.drop_column(name)
