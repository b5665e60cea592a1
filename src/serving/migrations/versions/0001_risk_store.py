"""The risk data store: outcomes, decisions (the legal record), the declarations decided, API
keys.

Stores made before migrations existed (tables created by the store itself, no alembic_version)
are brought here too: a table that exists keeps its rows and gets the nullable columns it lacks.

Revision ID: 0001
Revises:
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _tables(meta: sa.MetaData) -> list[sa.Table]:
    """The schema of this revision, written out (later revisions change it)."""
    return [
        sa.Table(
            "outcomes",
            meta,
            sa.Column("declaration_id", sa.String(), nullable=False),
            sa.Column("item_no", sa.BigInteger(), nullable=False),
            sa.Column("channel", sa.String(), nullable=False),
            sa.Column("result_at", sa.DateTime(), nullable=False),
            sa.Column("fraud_found", sa.Boolean(), nullable=False),
            sa.Column("fraud_type", sa.String(), nullable=True),
            sa.Column("critical", sa.Boolean(), nullable=False),
            sa.Column("recovered_revenue", sa.Float(), nullable=True),
            sa.Column("source", sa.String(), nullable=True),
            sa.Column("received_at", sa.DateTime(), nullable=False),
            sa.Column("client_key", sa.String(), nullable=True),
            sa.PrimaryKeyConstraint("declaration_id", "item_no"),
        ),
        sa.Table(
            "decisions",
            meta,
            sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
            sa.Column("decided_at", sa.DateTime(), nullable=False),
            sa.Column("declaration_id", sa.String(), nullable=False),
            sa.Column("item_no", sa.BigInteger(), nullable=False),
            sa.Column("office_id", sa.String(), nullable=True),
            sa.Column("declared_at", sa.DateTime(), nullable=True),
            sa.Column("channel", sa.String(), nullable=False),
            sa.Column("selected_by", sa.String(), nullable=True),
            sa.Column("model_channel", sa.String(), nullable=True),
            sa.Column("propensity", sa.Float(), nullable=True),
            sa.Column("propensity_red", sa.Float(), nullable=True),
            sa.Column("fraud_probability", sa.Float(), nullable=True),
            sa.Column("critical_probability", sa.Float(), nullable=True),
            sa.Column("expected_revenue", sa.Float(), nullable=True),
            sa.Column("risk_score", sa.Float(), nullable=True),
            sa.Column("trader_grade", sa.String(), nullable=True),
            sa.Column("profile_hits", sa.Text(), nullable=True),
            sa.Column("reasons", sa.Text(), nullable=True),
            sa.Column("model_version", sa.String(), nullable=True),
            sa.Column("policy_version", sa.String(), nullable=True),
            sa.Column("input_digest", sa.String(length=64), nullable=True),
            sa.Column("profile_ids", sa.Text(), nullable=True),
            sa.Column("request_id", sa.String(), nullable=True),
            sa.Column("client_key", sa.String(), nullable=True),
            sa.PrimaryKeyConstraint("id"),
            sa.Index("ix_decisions_key", "declaration_id", "item_no"),
        ),
        sa.Table(
            "declarations",
            meta,
            sa.Column("declaration_id", sa.String(), nullable=False),
            sa.Column("item_no", sa.BigInteger(), nullable=False),
            sa.Column("declared_at", sa.DateTime(), nullable=False),
            sa.Column("office_id", sa.String(), nullable=False),
            sa.Column("importer_id", sa.String(), nullable=False),
            sa.Column("declarant_id", sa.String(), nullable=False),
            sa.Column("seller_id", sa.String(), nullable=True),
            sa.Column("hs_code", sa.String(), nullable=False),
            sa.Column("origin_country", sa.String(), nullable=False),
            sa.Column("departure_country", sa.String(), nullable=True),
            sa.Column("transport_mode", sa.String(), nullable=True),
            sa.Column("quantity", sa.Float(), nullable=True),
            sa.Column("net_mass_kg", sa.Float(), nullable=True),
            sa.Column("customs_value", sa.Float(), nullable=False),
            sa.Column("tariff_rate", sa.Float(), nullable=False),
            sa.Column("duty_declared", sa.Float(), nullable=True),
            sa.Column("procedure_code", sa.String(), nullable=True),
            sa.Column("payment_type", sa.String(), nullable=True),
            sa.Column("incoterm", sa.String(), nullable=True),
            sa.Column("input_digest", sa.String(length=64), nullable=False),
            sa.Column("extra", sa.Text(), nullable=True),
            sa.Column("received_at", sa.DateTime(), nullable=False),
            sa.PrimaryKeyConstraint("declaration_id", "item_no", "input_digest"),
        ),
        sa.Table(
            "api_keys",
            meta,
            sa.Column("name", sa.String(length=64), nullable=False),
            sa.Column("scope", sa.String(length=16), nullable=False),
            sa.Column("key_sha256", sa.String(length=64), nullable=False),
            sa.Column("rate_per_second", sa.Float(), nullable=True),
            sa.Column("created_at", sa.DateTime(), nullable=False),
            sa.Column("revoked_at", sa.DateTime(), nullable=True),
            sa.PrimaryKeyConstraint("name"),
            sa.UniqueConstraint("key_sha256"),
        ),
    ]


def upgrade() -> None:
    bind = op.get_bind()
    for table in _tables(sa.MetaData()):
        # IF NOT EXISTS: processes starting together race to create the tables
        bind.execute(sa.schema.CreateTable(table, if_not_exists=True))
        for index in table.indexes:
            bind.execute(sa.schema.CreateIndex(index, if_not_exists=True))
        present = {c["name"] for c in sa.inspect(bind).get_columns(table.name)}
        for column in table.columns:
            if column.name not in present and column.nullable:  # a store older than this
                op.add_column(table.name, sa.Column(column.name, column.type, nullable=True))


def downgrade() -> None:
    for name in ("api_keys", "declarations", "decisions", "outcomes"):
        op.drop_table(name)
