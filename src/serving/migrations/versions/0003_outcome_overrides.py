"""Overrides: an outcome records the channel the selectivity system recommended when the officer
applied another (``channel`` stays the channel applied), and the officer's reason.

Both columns are nullable: rows stored before this revision read as "the recommendation was
applied, or unknown".

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_COLUMNS = ("recommended_channel", "override_reason")


def upgrade() -> None:
    for name in _COLUMNS:
        op.add_column("outcomes", sa.Column(name, sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outcomes") as batch:  # SQLite drops columns by copying the table
        for name in reversed(_COLUMNS):
            batch.drop_column(name)
