"""API keys of the scoring service: made and revoked with ``customs-risk keys``, checked by the
request gate.

A key is shown once, when it is made; the store keeps its sha256 only. A key is 32 random bytes,
so a fast hash is the right one (a slow password hash such as argon2 defends guessable secrets and
would cost milliseconds on every request). Scopes: ``score`` (``POST /score``), ``outcomes``
(``POST /outcomes``), ``admin`` (both). ``CUSTOMS_RISK_API_TOKEN``, when set, is one more key,
named ``env``, with the admin scope (scripts, the demo, tests).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass

import sqlalchemy as sa

from customs_risk.serving.store import Store, api_keys_table, utcnow

SCOPES: tuple[str, ...] = ("score", "outcomes", "admin")
ENV_KEY_NAME = "env"
KEY_PREFIX = "crk_"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
RELOAD_ON_MISS_SECONDS = 1.0  # an unknown key reads the table again at most this often


@dataclass(frozen=True)
class ApiKey:
    """One client's key as the gate sees it."""

    name: str
    scope: str
    rate_per_second: float | None = None

    def allows(self, scope: str) -> bool:
        return self.scope in (scope, "admin")


class KeyProblem(ValueError):
    """A key cannot be made or revoked (the message says why)."""


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def add_key(store: Store, name: str, scope: str, rate_per_second: float | None = None) -> str:
    """Make a key; returns it (the only time it is shown)."""
    if not NAME_PATTERN.match(name):
        raise KeyProblem(f"name {name!r}: letters, digits, '_', '.', '-'; at most 64")
    if scope not in SCOPES:
        raise KeyProblem(f"scope {scope!r}: one of {', '.join(SCOPES)}")
    if name == ENV_KEY_NAME:
        raise KeyProblem(f"name {name!r} is the CUSTOMS_RISK_API_TOKEN key's")
    if rate_per_second is not None and rate_per_second <= 0:
        raise KeyProblem("rate: requests per second, above 0")
    store.create()
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = {
        "name": name,
        "scope": scope,
        "key_sha256": digest(key),
        "rate_per_second": rate_per_second,
        "created_at": utcnow(),
        "revoked_at": None,
    }
    with store.engine.begin() as conn:
        taken = conn.execute(
            sa.select(api_keys_table.c.name).where(api_keys_table.c.name == name)
        ).first()
        if taken is not None:
            raise KeyProblem(f"a key named {name!r} exists (revoke it, or choose another name)")
        conn.execute(api_keys_table.insert(), row)
    return key


def revoke_key(store: Store, name: str) -> None:
    """Revoke a key by name (it stays listed, with its revocation time)."""
    store.create()
    table = api_keys_table
    with store.engine.begin() as conn:
        done = conn.execute(
            table.update()
            .where(table.c.name == name, table.c.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        if done.rowcount == 0:
            raise KeyProblem(f"no active key named {name!r}")


def list_keys(store: Store) -> list[dict[str, object]]:
    """Every key, without its hash, by name."""
    store.create()
    table = api_keys_table
    columns = [c for c in table.c if c.name != "key_sha256"]
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(*columns).order_by(table.c.name)).mappings().all()
    return [dict(r) for r in rows]


class KeyRing:
    """The active keys, read from the store at most every ``refresh_seconds`` (a revocation
    takes effect within it; a new key at once: an unknown key reads the table again, at most
    once a second)."""

    def __init__(self, url: str, env_token: str | None, refresh_seconds: float = 5.0) -> None:
        self.url = url
        self.env_token = env_token
        self.refresh_seconds = refresh_seconds
        self._store: Store | None = None
        self._keys: dict[str, ApiKey] = {}
        self._loaded = -float("inf")

    def lookup(self, key: str) -> ApiKey | None:
        """The key's client, or None for an unknown or revoked key."""
        if self.env_token and hmac.compare_digest(key.encode(), self.env_token.encode()):
            return ApiKey(ENV_KEY_NAME, "admin")
        if not key.startswith(KEY_PREFIX):
            return None
        now = time.monotonic()
        if now - self._loaded > self.refresh_seconds:
            self._load(now)
        found = self._keys.get(digest(key))
        if found is None and now - self._loaded > RELOAD_ON_MISS_SECONDS:
            self._load(now)
            found = self._keys.get(digest(key))
        return found

    def _load(self, now: float) -> None:
        if self._store is None:
            self._store = Store(self.url)
            self._store.create()
        table = api_keys_table
        query = sa.select(table).where(table.c.revoked_at.is_(None))
        with self._store.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        self._keys = {
            r["key_sha256"]: ApiKey(r["name"], r["scope"], r["rate_per_second"]) for r in rows
        }
        self._loaded = now
