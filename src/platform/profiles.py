"""The profile life cycle in the store: draft -> tested -> submitted -> active (approved by a
supervisor who is not its author: four eyes) -> retired. Every edit is a new version; the
scoring service applies the active version of each profile (``serving.profile_store``)."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import sqlalchemy as sa
import yaml

from customs_risk.platform import audit
from customs_risk.platform.auth import AuthError, User
from customs_risk.selection.profiles import ProfileError, ProfileSet, parse_profile
from customs_risk.serving.profile_store import profile_versions
from customs_risk.serving.store import utcnow

EDITORS = ("analyst", "supervisor", "admin")
APPROVERS = ("supervisor", "admin")


class LifeCycleError(ValueError):
    """A step the profile's status or the user's role does not allow."""


def parse_body(text: str) -> dict[str, Any]:
    """The profile of a YAML text, validated (ProfileError names the field)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ProfileError("<form>", "<yaml>", f"not YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ProfileError("<form>", "<yaml>", "expected one profile (a mapping)")
    parse_profile(data, "<form>")
    return data


def versions(engine: sa.Engine, profile_id: str | None = None) -> list[dict[str, Any]]:
    """Every version (of one profile, or of all), newest first."""
    query = sa.select(profile_versions).order_by(
        profile_versions.c.profile_id, profile_versions.c.version.desc()
    )
    if profile_id is not None:
        query = query.where(profile_versions.c.profile_id == profile_id)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def latest(engine: sa.Engine) -> list[dict[str, Any]]:
    """The newest version of each profile."""
    seen: dict[str, dict[str, Any]] = {}
    for row in versions(engine):
        seen.setdefault(row["profile_id"], row)
    return list(seen.values())


def _current(conn: sa.Connection, profile_id: str) -> Any:
    query = (
        sa.select(profile_versions)
        .where(profile_versions.c.profile_id == profile_id)
        .order_by(profile_versions.c.version.desc())
        .limit(1)
    )
    row = conn.execute(query).first()
    if row is None:
        raise LifeCycleError(f"no profile {profile_id!r}")
    return row


def save_draft(engine: sa.Engine, user: User, text: str) -> tuple[str, int]:
    """A new version (draft) of the profile the YAML describes."""
    if user.role not in EDITORS:
        raise AuthError(f"a {user.role} cannot write profiles")
    data = parse_body(text)
    profile_id = str(data["id"])
    now = utcnow()
    with engine.begin() as conn:
        query = sa.select(sa.func.max(profile_versions.c.version)).where(
            profile_versions.c.profile_id == profile_id
        )
        version = int(conn.execute(query).scalar() or 0) + 1
        conn.execute(
            profile_versions.insert().values(
                profile_id=profile_id,
                version=version,
                status="draft",
                body=yaml.safe_dump(data, sort_keys=False),
                author=user.name,
                scope=user.scope,
                created_at=now,
                updated_at=now,
            )
        )
        audit.record(
            conn, user.name, "profile.draft", f"profile:{profile_id}/{version}", None, data
        )
    return profile_id, version


def _move(
    engine: sa.Engine,
    user: User,
    profile_id: str,
    allowed_from: tuple[str, ...],
    to: str,
    **values: Any,
) -> int:
    with engine.begin() as conn:
        row = _current(conn, profile_id)
        if row.status not in allowed_from:
            raise LifeCycleError(
                f"{profile_id} v{row.version} is {row.status}: it cannot become {to}"
            )
        where = (profile_versions.c.profile_id == profile_id) & (
            profile_versions.c.version == row.version
        )
        if to == "active":  # the version approved replaces the one in force
            conn.execute(
                profile_versions.update()
                .where(
                    (profile_versions.c.profile_id == profile_id)
                    & (profile_versions.c.status == "active")
                )
                .values(status="retired", updated_at=utcnow())
            )
        conn.execute(
            profile_versions.update().where(where).values(status=to, updated_at=utcnow(), **values)
        )
        audit.record(
            conn,
            user.name,
            f"profile.{to}",
            f"profile:{profile_id}/{row.version}",
            {"status": row.status},
            {"status": to, **values},
        )
        return int(row.version)


def record_test(
    engine: sa.Engine,
    user: User,
    profile_id: str,
    declarations: pd.DataFrame,
    outcomes: pd.DataFrame,
) -> dict[str, Any]:
    """Test the newest version on the data (``profiles test``): its figures, status tested."""
    from customs_risk.evaluation.profile_trial import try_profiles

    if user.role not in EDITORS:
        raise AuthError(f"a {user.role} cannot test profiles")
    with engine.connect() as conn:
        row = _current(conn, profile_id)
    profile = parse_profile(yaml.safe_load(row.body), f"store:{profile_id}")
    table = try_profiles(ProfileSet([profile]), declarations, outcomes)
    figures: dict[str, Any] = {
        str(k): (None if pd.isna(v) else (v.item() if hasattr(v, "item") else v))
        for k, v in table.iloc[0].to_dict().items()
    }
    _move(engine, user, profile_id, ("draft", "tested"), "tested", test_figures=json.dumps(figures))
    return figures


def submit(engine: sa.Engine, user: User, profile_id: str) -> int:
    """Ask for approval (a tested version only)."""
    if user.role not in EDITORS:
        raise AuthError(f"a {user.role} cannot submit profiles")
    return _move(engine, user, profile_id, ("tested",), "submitted", submitted_by=user.name)


def approve(engine: sa.Engine, user: User, profile_id: str) -> int:
    """Approve a submitted version: it becomes the active one. Four eyes: a supervisor (or
    admin) who is neither its author nor its submitter."""
    if user.role not in APPROVERS:
        raise AuthError(f"a {user.role} cannot approve profiles")
    with engine.connect() as conn:
        row = _current(conn, profile_id)
    if user.name in (row.author, row.submitted_by):
        raise AuthError("four eyes: the author or submitter of a profile cannot approve it")
    return _move(engine, user, profile_id, ("submitted",), "active", approved_by=user.name)


def retire(engine: sa.Engine, user: User, profile_id: str) -> int:
    """Take the profile out of force (kept, with its versions)."""
    if user.role not in APPROVERS:
        raise AuthError(f"a {user.role} cannot retire profiles")
    return _move(engine, user, profile_id, ("active",), "retired")


def export_yaml(engine: sa.Engine) -> str:
    """The active profiles as one YAML document list (for review in git)."""
    rows = [r for r in latest(engine) if r["status"] == "active"]
    return "".join("---\n" + r["body"] for r in rows)
