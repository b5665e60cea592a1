"""Risk profiles kept in the store (``profile_versions``, migration 0005): every version of every
profile with its life-cycle status; the platform writes them, the scoring service applies the
active ones (:func:`active_profiles`) and polls :func:`profiles_stamp` to see a change."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
import yaml

from customs_risk.selection.profiles import ProfileSet, parse_profile
from customs_risk.serving.store import metadata

STATUSES: tuple[str, ...] = ("draft", "tested", "submitted", "active", "retired")
profile_versions = sa.Table(
    "profile_versions",
    metadata,
    sa.Column("profile_id", sa.String(100), primary_key=True),
    sa.Column("version", sa.Integer(), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("body", sa.Text(), nullable=False),
    sa.Column("author", sa.String(64), nullable=False),
    sa.Column("scope", sa.String(64), nullable=False),
    sa.Column("test_figures", sa.Text(), nullable=True),
    sa.Column("submitted_by", sa.String(64), nullable=True),
    sa.Column("approved_by", sa.String(64), nullable=True),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Column("updated_at", sa.DateTime(), nullable=False),
)


def active_profiles(engine: sa.Engine) -> ProfileSet:
    """The active version of each profile, parsed (ProfileError if one no longer parses: it
    was valid when approved, so only a changed contract can break it; the service then keeps
    the profiles in force)."""
    query = sa.select(profile_versions.c.profile_id, profile_versions.c.body).where(
        profile_versions.c.status == "active"
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return ProfileSet(
        parse_profile(yaml.safe_load(body), f"store:{profile_id}") for profile_id, body in rows
    )


def held_ids(engine: sa.Engine) -> set[str]:
    """Ids with a version that was approved (active now, or retired): the store decides those
    profiles, so a folder profile of the same id no longer applies (drafts under review do not
    hide the folder's version in force)."""
    query = sa.select(profile_versions.c.profile_id).where(
        profile_versions.c.status.in_(("active", "retired"))
    )
    with engine.connect() as conn:
        return {str(row[0]) for row in conn.execute(query.distinct())}


def profiles_stamp(engine: sa.Engine) -> tuple[Any, ...]:
    """Changes whenever a version becomes or stops being active (count and latest update)."""
    query = sa.select(sa.func.count(), sa.func.max(profile_versions.c.updated_at)).where(
        profile_versions.c.status.in_(("active", "retired"))
    )
    with engine.connect() as conn:
        count, latest = conn.execute(query).one()
    return (int(count), str(latest))
