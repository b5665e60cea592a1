"""The history event sequence: one row per item first decided and per result stored, in commit
order, which every worker of the service tails to keep its live history (``live_history``).

Stores from revision 0001 get the events of what they hold (declarations first, then results).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "history_events",
        sa.Column("seq", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("declaration_id", sa.String(), nullable=False),
        sa.Column("item_no", sa.BigInteger(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("kind", "declaration_id", "item_no", name="uq_history_events_item"),
    )
    now = sa.func.current_timestamp()
    for kind, table in (("declaration", "declarations"), ("result", "outcomes")):
        source = sa.table(table, sa.column("declaration_id"), sa.column("item_no"))
        query = (
            sa.select(sa.literal(kind), source.c.declaration_id, source.c.item_no, now)
            .distinct()
            .order_by(source.c.declaration_id, source.c.item_no)
        )
        events = sa.table(
            "history_events",
            sa.column("kind"),
            sa.column("declaration_id"),
            sa.column("item_no"),
            sa.column("recorded_at"),
        )
        op.execute(
            events.insert().from_select(["kind", "declaration_id", "item_no", "recorded_at"], query)
        )


def downgrade() -> None:
    op.drop_table("history_events")
