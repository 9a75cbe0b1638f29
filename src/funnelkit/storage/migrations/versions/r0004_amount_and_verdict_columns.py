"""
Deal amounts and lead verdicts in plain columns, for the money and source reports.

A deal's creation (its amount, if any), an `AmountChanged` (its new amount, or none) and a
`DealWon` with an amount store that amount as an exact decimal string beside its currency;
a `LeadQualified` stores its verdict. So a columnar stage log (`SqlStore.stage_log`) knows
each deal's amount and each lead's verdict as of any time, and `velocity` and `sources` run
on it.

The rows stored before are filled in from their JSON, in batches, by this migration itself:
it reads the data as funnelkit wrote it, with no funnelkit code that may change later.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op


revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_BATCH = 5_000
_NEW = (
    ("amount", sa.Text()),  # the amount set, as its exact decimal string
    ("currency", sa.Text()),  # and its currency
    ("verdict", sa.Text()),  # a lead qualification's verdict
)
_TYPES = ("deal_created", "amount_changed", "deal_won", "lead_qualified")


def _money(data: dict[str, Any]) -> dict[str, Any] | None:
    """The amount one stored event sets, as written in its JSON (``None``: none)."""
    if data["type"] == "lead_qualified":
        return None
    if data["type"] == "deal_created":
        found = data["deal"].get("amount")
    elif data["type"] == "amount_changed":
        found = data.get("new")
    else:
        found = data.get("amount")
    return found if isinstance(found, dict) else None


def upgrade() -> None:
    """Add the columns; fill them in for the creations, amount changes, wins, qualifications."""
    for name, type_ in _NEW:
        op.add_column("funnelkit_events", sa.Column(name, type_, nullable=True))
    events = sa.table(
        "funnelkit_events",
        sa.column("position", sa.BigInteger()),
        sa.column("type", sa.Text()),
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
            .where(events.c.type.in_(_TYPES))
            .order_by(events.c.position)
        )
        if last is not None:
            query = query.where(events.c.position > last)
        rows = connection.execute(query.limit(_BATCH)).all()
        if not rows:
            break
        changes = []
        for row in rows:
            data = json.loads(row.data)
            money = _money(data)
            changes.append(
                {
                    "at_position": row.position,
                    "amount": None if money is None else money["amount"],
                    "currency": None if money is None else money["currency"],
                    "verdict": data.get("verdict") if data["type"] == "lead_qualified" else None,
                }
            )
        connection.execute(update, changes)
        last = rows[-1].position


def downgrade() -> None:
    """Drop the columns; the JSON still holds everything."""
    with op.batch_alter_table("funnelkit_events") as batch:
        for name, _ in reversed(_NEW):
            batch.drop_column(name)
