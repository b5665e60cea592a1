"""Managed lists: the entries of the prohibited-goods, restricted-goods, licence-requirements and
trader-watch lists (``selection.lists``), added and retired, never changed or deleted; the list
hits of each decision; the licence reference a declaration carries.

The new columns are nullable: decisions stored before this revision had no list hits, and
declarations no licence reference.

Revision ID: 0004_managed_lists
Revises: 0003
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_managed_lists"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "managed_lists",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("hs_prefix", sa.String(length=10), nullable=True),
        sa.Column("importer_id", sa.String(length=64), nullable=True),
        sa.Column("declarant_id", sa.String(length=64), nullable=True),
        sa.Column("seller_id", sa.String(length=64), nullable=True),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("instructions", sa.Text(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("added_at", sa.DateTime(), nullable=False),
        sa.Column("added_by", sa.String(length=64), nullable=False),
        sa.Column("retired_at", sa.DateTime(), nullable=True),
        sa.Column("retired_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.add_column("decisions", sa.Column("list_hits", sa.Text(), nullable=True))
    op.add_column("declarations", sa.Column("licence_ref", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("declarations") as batch:  # SQLite drops columns by copying
        batch.drop_column("licence_ref")
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("list_hits")
    op.drop_table("managed_lists")
