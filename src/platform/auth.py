"""Users, roles and scope; password hashing (argon2), server-side sessions that expire, and the
login throttle (``limits``' moving window over failed attempts per name and per address)."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from limits import RateLimitItemPerMinute, storage, strategies

from customs_risk.evaluation.units import HEADQUARTERS
from customs_risk.platform import audit
from customs_risk.platform.tables import sessions, users
from customs_risk.serving.store import utcnow

ROLES: tuple[str, ...] = ("admin", "supervisor", "analyst", "officer")
_HASHER = PasswordHasher()
# a hash to verify against when the name is unknown: the answer takes as long either way
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))


class AuthError(ValueError):
    """A refused login or user change, with a message fit for the page."""


@dataclass(frozen=True)
class User:
    """A platform user: role and scope (HQ or a district id)."""

    name: str
    role: str
    scope: str

    @property
    def at_headquarters(self) -> bool:
        return self.scope == HEADQUARTERS

    def sees(self, district: str | None) -> bool:
        """Whether the user's scope covers ``district`` (headquarters covers all)."""
        return self.at_headquarters or district == self.scope


def add_user(
    engine: sa.Engine, name: str, role: str, password: str, scope: str, actor: str
) -> User:
    """Create a user (the name, role, scope and password length checked)."""
    if role not in ROLES:
        raise AuthError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    if not name or len(name) > 64 or not name.replace("-", "").replace("_", "").isalnum():
        raise AuthError("name: 1 to 64 letters, digits, - or _")
    if len(password) < 8:
        raise AuthError("password: at least 8 characters")
    with engine.begin() as conn:
        if conn.execute(sa.select(users.c.name).where(users.c.name == name)).first():
            raise AuthError(f"user {name!r} exists")
        conn.execute(
            users.insert().values(
                name=name,
                role=role,
                scope=scope,
                password_hash=_HASHER.hash(password),
                active=True,
                created_at=utcnow(),
            )
        )
        audit.record(conn, actor, "user.add", f"user:{name}", None, {"role": role, "scope": scope})
    return User(name, role, scope)


def list_users(engine: sa.Engine) -> list[dict[str, object]]:
    """Every user, without the hashes."""
    query = sa.select(users.c.name, users.c.role, users.c.scope, users.c.active).order_by("name")
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


class Throttle:
    """Failed logins in a moving window of ``minutes``: at most ``attempts`` per name from one
    address, and five times that per address over all names (guessing across accounts)."""

    def __init__(self, attempts: int, minutes: int) -> None:
        self.limiter = strategies.MovingWindowRateLimiter(storage.MemoryStorage())
        self.per_name = RateLimitItemPerMinute(attempts, minutes)
        self.per_address = RateLimitItemPerMinute(attempts * 5, minutes)

    def _limits(self, name: str, address: str) -> list[tuple[RateLimitItemPerMinute, str]]:
        return [(self.per_name, f"name:{name}|{address}"), (self.per_address, f"addr:{address}")]

    def blocked(self, name: str, address: str) -> bool:
        return any(not self.limiter.test(i, key) for i, key in self._limits(name, address))

    def failed(self, name: str, address: str) -> None:
        for item, key in self._limits(name, address):
            self.limiter.hit(item, key)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def login(engine: sa.Engine, name: str, password: str, minutes: int) -> tuple[User, str]:
    """Check the password; a new session token (only its hash is stored). Raises AuthError."""
    with engine.begin() as conn:
        row = conn.execute(sa.select(users).where(users.c.name == name)).first()
        try:
            _HASHER.verify(row.password_hash if row else _DUMMY_HASH, password)
        except (VerificationError, InvalidHashError):
            audit.record(conn, name or "?", "login.failed", f"user:{name}")
            raise AuthError("wrong name or password") from None
        if row is None or not row.active:
            audit.record(conn, name or "?", "login.failed", f"user:{name}")
            raise AuthError("wrong name or password")
        token = secrets.token_urlsafe(32)
        now = utcnow()
        conn.execute(sessions.delete().where(sessions.c.expires_at < now))
        conn.execute(
            sessions.insert().values(
                token_hash=_token_hash(token),
                user_name=name,
                created_at=now,
                expires_at=now + dt.timedelta(minutes=minutes),
            )
        )
        audit.record(conn, name, "login", f"user:{name}")
    return User(row.name, row.role, row.scope), token


def session_user(engine: sa.Engine, token: str | None) -> User | None:
    """The user of a live session (None: no token, unknown, expired or deactivated)."""
    if not token:
        return None
    query = (
        sa.select(users.c.name, users.c.role, users.c.scope)
        .join(sessions, sessions.c.user_name == users.c.name)
        .where(
            sessions.c.token_hash == _token_hash(token),
            sessions.c.expires_at > utcnow(),
            users.c.active.is_(True),
        )
    )
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return None if row is None else User(row.name, row.role, row.scope)


def logout(engine: sa.Engine, token: str | None, name: str) -> None:
    """End the session."""
    if not token:
        return
    with engine.begin() as conn:
        conn.execute(sessions.delete().where(sessions.c.token_hash == _token_hash(token)))
        audit.record(conn, name, "logout", f"user:{name}")
