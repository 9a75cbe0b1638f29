"""
The rest of the stage log in plain columns: owner, source channel, creation time, stage left.

A creation's owner, source channel and ``created_at``, an owner change's new owner, and the
stage a move left, so that a columnar stage log (`SqlStore.stage_log`) is read from columns
alone: who owns each lead and deal as of any time, where it came from, when it entered its
first stage, and which stage it was lost at.

The rows stored before are filled in from their JSON, in batches, by this migration itself:
it reads the data as funnelkit wrote it, with no funnelkit code that may change later.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa
from alembic import op


revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_BATCH = 5_000
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_SNAPSHOTS = {"lead_created": "lead", "deal_created": "deal"}
_NEW = (
    ("owner", sa.Text()),  # creations: the owner; owner changes: the new owner
    ("channel", sa.Text()),  # creations: the source's channel
    ("created_at", sa.BigInteger()),  # creations: created_at, microseconds since 1970, UTC
    ("from_stage", sa.Text()),  # moves: the stage left
)
_TYPES = ("lead_created", "deal_created", "owner_changed")


def _text(value: object) -> str | None:
    r"""A look-up column's text: backslashes doubled, NUL written ``\0`` (as the store does)."""
    if not isinstance(value, str):
        return None
    return value.replace("\\", "\\\\").replace("\x00", "\\0")


def _micros(written: str) -> int:
    at = datetime.fromisoformat(written[:-1] + "+00:00" if written.endswith("Z") else written)
    return (at - _EPOCH) // timedelta(microseconds=1)


def _columns(data: dict[str, Any]) -> dict[str, Any]:
    """The new columns of one stored event, from its JSON."""
    found: dict[str, Any] = {name: None for name, _ in _NEW}
    if data["type"] == "owner_changed":
        found["owner"] = _text(data.get("new"))
    elif data["type"] in _SNAPSHOTS:
        snapshot = data[_SNAPSHOTS[data["type"]]]
        source = snapshot.get("source") or {}
        found["owner"] = _text(snapshot.get("owner"))
        found["channel"] = _text(source.get("channel"))
        found["created_at"] = _micros(snapshot["created_at"])
    elif "from_stage" in data:  # a move
        found["from_stage"] = _text(data["from_stage"])
    return found


def upgrade() -> None:
    """Add the columns and fill them in for the creations, owner changes and moves stored."""
    for name, type_ in _NEW:
        op.add_column("funnelkit_events", sa.Column(name, type_, nullable=True))
    events = sa.table(
        "funnelkit_events",
        sa.column("position", sa.BigInteger()),
        sa.column("type", sa.Text()),
        sa.column("stage", sa.Text()),
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
        query = (
            sa.select(events.c.position, events.c.data)
            .where(sa.or_(events.c.type.in_(_TYPES), events.c.stage.is_not(None)))
            .order_by(events.c.position)
        )
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


def downgrade() -> None:
    """Drop the columns; the JSON still holds everything."""
    with op.batch_alter_table("funnelkit_events") as batch:
        for name, _ in reversed(_NEW):
            batch.drop_column(name)
