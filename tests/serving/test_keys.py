"""API keys: made and revoked with the CLI (a real SQLite store), checked by the real request gate
called as an ASGI app (the server-level behaviour is in test_service.py)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from customs_risk.cli import app
from customs_risk.serving.gate import CLIENT_KEY, RequestGate
from customs_risk.serving.keys import KeyProblem, KeyRing, add_key, list_keys
from customs_risk.serving.store import Store, api_keys_table

runner = CliRunner()


class _App:
    """The app behind the gate: answers 200 and remembers the key name it was given."""

    def __init__(self) -> None:
        self.clients: list[Any] = []

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        self.clients.append(scope.get(CLIENT_KEY, "unset"))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


def _call(gate: RequestGate, path: str, key: str | None = None) -> tuple[int, dict]:
    headers = [(b"content-type", b"application/json")]
    if key is not None:
        headers.append((b"authorization", f"Bearer {key}".encode()))
    scope = {"type": "http", "method": "POST", "path": path, "headers": headers}
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(gate(scope, receive, send))
    start = sent[0]
    return start["status"], dict(start.get("headers") or [])


def _make(url: str, name: str, scope: str, *more: str) -> str:
    done = runner.invoke(app, ["keys", "add", name, "--scope", scope, "--store-url", url, *more])
    assert done.exit_code == 0, done.output
    return done.stdout.strip().splitlines()[0]


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


def test_scopes_decide_who_gets_in(url: str) -> None:
    score_key = _make(url, "clearance", "score")
    outcome_key = _make(url, "officers", "outcomes")
    admin_key = _make(url, "ops", "admin")
    inner = _App()
    gate = RequestGate(inner, 1 << 20, KeyRing(url, env_token="from-env"), score_open=False)
    assert _call(gate, "/score")[0] == 401
    status, headers = _call(gate, "/score", "crk_not-a-key")
    assert status == 401 and headers[b"www-authenticate"] == b"Bearer"
    assert _call(gate, "/score", score_key)[0] == 200
    assert _call(gate, "/outcomes", score_key)[0] == 403
    assert _call(gate, "/score", outcome_key)[0] == 403
    assert _call(gate, "/outcomes", outcome_key)[0] == 200
    assert _call(gate, "/outcomes", admin_key)[0] == 200
    assert _call(gate, "/score", "from-env")[0] == 200  # CUSTOMS_RISK_API_TOKEN: admin
    assert inner.clients == ["clearance", "officers", "ops", "env"]
    with Store(url) as store:
        assert "key_sha256" not in list_keys(store)[0]
        with store.engine.connect() as conn:
            hashes = [r.key_sha256 for r in conn.execute(api_keys_table.select())]
    assert score_key not in hashes and all(len(h) == 64 for h in hashes)  # only hashes kept


def test_open_score_on_loopback_still_checks_a_given_key(url: str) -> None:
    inner = _App()
    gate = RequestGate(inner, 1 << 20, KeyRing(url, env_token=None), score_open=True)
    assert _call(gate, "/score")[0] == 200
    assert _call(gate, "/score", "crk_wrong")[0] == 401
    assert _call(gate, "/outcomes")[0] == 401  # outcomes never open
    assert inner.clients == [None]


def test_a_key_past_its_rate_gets_429(url: str) -> None:
    slow = _make(url, "slow", "score", "--rate", "3")
    busy = _make(url, "busy", "score")
    gate = RequestGate(_App(), 1 << 20, KeyRing(url, None), default_rate=50)
    answers = [_call(gate, "/score", slow)[0] for _ in range(6)]
    assert answers[:3] == [200] * 3 and answers[3:] == [429] * 3
    status, headers = _call(gate, "/score", slow)
    assert status == 429 and headers[b"retry-after"] == b"1"
    assert [_call(gate, "/score", busy)[0] for _ in range(50)] == [200] * 50  # its own budget
    assert _call(gate, "/score", busy)[0] == 429  # the service's default rate
    time.sleep(1.1)
    assert _call(gate, "/score", slow)[0] == 200  # the window moved on


def test_revoked_key_refused_within_the_refresh(url: str) -> None:
    key = _make(url, "temp", "outcomes")
    gate = RequestGate(_App(), 1 << 20, KeyRing(url, None, refresh_seconds=0.5))
    assert _call(gate, "/outcomes", key)[0] == 200
    done = runner.invoke(app, ["keys", "revoke", "temp", "--store-url", url])
    assert done.exit_code == 0, done.output
    time.sleep(0.6)
    assert _call(gate, "/outcomes", key)[0] == 401
    listed = runner.invoke(app, ["keys", "list", "--store-url", url])
    assert listed.exit_code == 0 and "temp" in listed.stdout and key not in listed.stdout
    again = runner.invoke(app, ["keys", "revoke", "temp", "--store-url", url])
    assert again.exit_code == 2 and "no active key named 'temp'" in again.output


def test_bad_names_scopes_and_repeats_are_refused(url: str) -> None:
    _make(url, "lane-1", "score")
    with Store(url) as store:
        for name, scope, message in [
            ("lane-1", "score", "exists"),
            ("bad name", "score", "letters"),
            ("env", "score", "CUSTOMS_RISK_API_TOKEN"),
            ("lane-2", "everything", "one of score, outcomes, admin"),
        ]:
            with pytest.raises(KeyProblem, match=message):
                add_key(store, name, scope)
    done = runner.invoke(app, ["keys", "add", "x", "--scope", "root", "--store-url", url])
    assert done.exit_code == 2 and "scope 'root'" in done.output
