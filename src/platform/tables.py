"""The platform's tables in the store (created by the store's migration 0005)."""

from __future__ import annotations

import sqlalchemy as sa

from customs_risk.serving.store import metadata  # one schema: the migrations build all of it

users = sa.Table(
    "platform_users",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("scope", sa.String(64), nullable=False),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("active", sa.Boolean(), nullable=False),
    sa.Column("created_at", sa.DateTime(), nullable=False),
)
sessions = sa.Table(
    "platform_sessions",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("user_name", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Column("expires_at", sa.DateTime(), nullable=False),
)
audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime(), nullable=False),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("object", sa.String(200), nullable=False),
    sa.Column("before", sa.Text(), nullable=True),
    sa.Column("after", sa.Text(), nullable=True),
)
bulletins = sa.Table(
    "bulletins",
    metadata,
    sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("description", sa.Text(), nullable=False),
    sa.Column("indicators", sa.Text(), nullable=False),
    sa.Column("scope", sa.String(64), nullable=False),
    sa.Column("valid_from", sa.Date(), nullable=False),
    sa.Column("valid_to", sa.Date(), nullable=True),
    sa.Column("profiles", sa.Text(), nullable=False),
    sa.Column("author", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(), nullable=False),
)
bulletin_acks = sa.Table(
    "bulletin_acks",
    metadata,
    sa.Column("bulletin", sa.Integer(), primary_key=True),
    sa.Column("district", sa.String(64), primary_key=True),
    sa.Column("user_name", sa.String(64), nullable=False),
    sa.Column("at", sa.DateTime(), nullable=False),
)
