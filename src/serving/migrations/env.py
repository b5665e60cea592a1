"""Alembic environment: run on the connection ``Store.create`` hands over (in its transaction)."""

from __future__ import annotations

from alembic import context

from customs_risk.serving.store import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
