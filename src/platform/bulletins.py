"""Risk information bulletins (early warning): an analyst records a risk for a scope; the
districts in it see it and acknowledge it; the supervisor sees what is not acknowledged."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from customs_risk.platform import audit
from customs_risk.platform.auth import HEADQUARTERS, AuthError, User
from customs_risk.platform.tables import bulletin_acks, bulletins
from customs_risk.serving.store import utcnow


def publish(
    engine: sa.Engine,
    user: User,
    title: str,
    description: str,
    indicators: str,
    scope: str,
    valid_from: dt.date,
    valid_to: dt.date | None,
    profiles: str,
) -> int:
    """Record a bulletin (analysts and supervisors; a district user only for its district)."""
    if user.role not in ("analyst", "supervisor", "admin"):
        raise AuthError(f"a {user.role} cannot publish bulletins")
    if not user.at_headquarters and scope != user.scope:
        raise AuthError(f"scope: a {user.scope} user publishes for {user.scope} only")
    if not title.strip() or not description.strip():
        raise ValueError("title and description are required")
    if valid_to is not None and valid_to < valid_from:
        raise ValueError("valid_to is before valid_from")
    values = {
        "title": title.strip(),
        "description": description.strip(),
        "indicators": indicators.strip(),
        "scope": scope,
        "valid_from": valid_from,
        "valid_to": valid_to,
        "profiles": profiles.strip(),
        "author": user.name,
        "created_at": utcnow(),
    }
    with engine.begin() as conn:
        key = conn.execute(bulletins.insert().values(**values)).inserted_primary_key
        assert key is not None
        seq = int(key[0])
        audit.record(conn, user.name, "bulletin.publish", f"bulletin:{seq}", None, values)
    return seq


def for_district(engine: sa.Engine, district: str, on: dt.date) -> list[dict[str, Any]]:
    """The bulletins in force for a district on a day, with whether it acknowledged each."""
    acks = sa.select(bulletin_acks.c.bulletin).where(bulletin_acks.c.district == district)
    query = (
        sa.select(bulletins, bulletins.c.seq.in_(acks).label("acknowledged"))
        .where(bulletins.c.scope.in_([district, HEADQUARTERS]))
        .where(bulletins.c.valid_from <= on)
        .where(sa.or_(bulletins.c.valid_to.is_(None), bulletins.c.valid_to >= on))
        .order_by(bulletins.c.seq.desc())
    )
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def acknowledge(engine: sa.Engine, user: User, seq: int) -> None:
    """The user's district has seen the bulletin."""
    if user.at_headquarters:
        raise AuthError("bulletins are acknowledged by the districts")
    with engine.begin() as conn:
        done = conn.execute(
            sa.select(bulletin_acks.c.bulletin).where(
                (bulletin_acks.c.bulletin == seq) & (bulletin_acks.c.district == user.scope)
            )
        ).first()
        if done is None:
            conn.execute(
                bulletin_acks.insert().values(
                    bulletin=seq, district=user.scope, user_name=user.name, at=utcnow()
                )
            )
            audit.record(conn, user.name, "bulletin.acknowledge", f"bulletin:{seq}/{user.scope}")


def unacknowledged(engine: sa.Engine, districts: list[str], on: dt.date) -> list[dict[str, Any]]:
    """Per bulletin in force, the districts in its scope that have not acknowledged it."""
    out = []
    for district in districts:
        for row in for_district(engine, district, on):
            if not row["acknowledged"]:
                out.append({**row, "district": district})
    return out
