"""The audit log: who did what, when, with the object before and after."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from customs_risk.platform.tables import audit_log
from customs_risk.serving.store import utcnow


def record(
    conn: sa.Connection,
    actor: str,
    action: str,
    obj: str,
    before: Any = None,
    after: Any = None,
) -> None:
    """One entry, in the caller's transaction (the change and its entry commit together)."""
    conn.execute(
        audit_log.insert().values(
            at=utcnow(),
            actor=actor,
            action=action,
            object=obj,
            before=None if before is None else json.dumps(before, default=str, sort_keys=True),
            after=None if after is None else json.dumps(after, default=str, sort_keys=True),
        )
    )


def entries(engine: sa.Engine, limit: int = 500) -> list[dict[str, Any]]:
    """The newest entries first."""
    query = sa.select(audit_log).order_by(audit_log.c.seq.desc()).limit(limit)
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]
