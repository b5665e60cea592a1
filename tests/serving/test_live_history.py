"""Live history through a real server with two workers: results posted to /outcomes change the
next /score of the same importer without a restart or a retrain, in both workers within 5 s."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from customs_risk.serving.harness import LocalServer

from .conftest import json_declarations

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
TOKEN = "live-token-123"
WITHIN_SECONDS = 5.0
# a reason naming the importer's offences: their count or the last one
OFFENCES = re.compile(r"importer.*([1-9][\d,]* offences? found|last offence found)")


@pytest.fixture(scope="module")
def live_server(served: dict[str, Any]):
    tmp = served["tmp"]
    env = {
        "BENTOML_HOME": served["env"]["BENTOML_HOME"],
        "CUSTOMS_RISK_STORE_URL": f"sqlite:///{tmp}/live/store.db",
        "CUSTOMS_RISK_API_TOKEN": TOKEN,
        "CUSTOMS_RISK_SERVE_PROFILES": str(ROOT / "profiles"),
        "CUSTOMS_RISK_SERVE_WORKERS": "2",
        "CUSTOMS_RISK_SERVE_LIVE_POLL_SECONDS": "0.5",
        "BENTOML_DO_NOT_TRACK": "true",
    }
    server = LocalServer(env, log_path=tmp / "live-server.log", cwd=ROOT).start()
    try:
        server.wait(200, timeout=240)
        yield server
    finally:
        server.stop()


def _score(server: LocalServer, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # a new connection per call: the two workers share the socket, so calls reach both
    with httpx.Client(timeout=60) as client:
        response = client.post(f"{server.url}/score", json={"declarations": items})
    assert response.status_code == 200, response.text
    return response.json()["decisions"]


def _clean_importer(server: LocalServer, records: list[dict[str, Any]]) -> dict[str, Any]:
    """A declaration whose importer the model knows with no offence: graded A or B."""
    by_importer: dict[str, dict[str, Any]] = {}
    for r in records:
        by_importer.setdefault(r["importer_id"], r)
    candidates = list(by_importer.values())[:200]
    decisions = _score(server, candidates)
    for record, decision in zip(candidates, decisions, strict=True):
        if decision["trader_grade"] in ("A", "B"):
            return record
    raise AssertionError("no importer graded A or B among 200")


def _later(record: dict[str, Any], ident: str, when: pd.Timestamp) -> dict[str, Any]:
    return {**record, "declaration_id": ident, "item_no": 1, "declared_at": when.isoformat()}


def _workers(server: LocalServer, results: int, seconds: float) -> dict[int, dict[str, Any]]:
    """/model's live history of each worker, polled until both report ``results`` applied."""
    seen: dict[int, dict[str, Any]] = {}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with httpx.Client(timeout=10) as client:
            live = client.get(f"{server.url}/model").json()["live_history"]
        seen[live["worker_pid"]] = live
        if len(seen) == 2 and all(w["results"] >= results for w in seen.values()):
            break
        time.sleep(0.05)
    return seen


def test_results_change_the_next_score_in_both_workers(
    live_server: LocalServer, served: dict[str, Any]
) -> None:
    records = json_declarations(served["world"], 3000, "LIVE")
    clean = _clean_importer(live_server, records)
    start = pd.Timestamp("2025-07-01 09:00:00")
    caught = [_later(clean, f"CAUGHT{i}", start + pd.Timedelta(minutes=i)) for i in range(3)]
    before = _score(live_server, [_later(clean, "PROBE0", start + pd.Timedelta(days=2))])[0]
    _score(live_server, caught)
    outcomes = [
        {
            "declaration_id": c["declaration_id"],
            "item_no": 1,
            "channel": "red",
            "result_at": (start + pd.Timedelta(hours=5)).isoformat(),
            "fraud_found": True,
            "fraud_type": "undervaluation",
            "critical": False,
            "recovered_revenue": 2500.0,
        }
        for c in caught
    ]
    response = httpx.post(
        f"{live_server.url}/outcomes",
        json={"outcomes": outcomes},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    posted = time.monotonic()

    workers = _workers(live_server, results=3, seconds=WITHIN_SECONDS)
    took = time.monotonic() - posted
    assert len(workers) == 2, f"reached one worker only: {list(workers)}"
    assert all(w["results"] >= 3 for w in workers.values()), workers
    assert took <= WITHIN_SECONDS

    # every call (either worker) now sees the three offences, without restart or retrain
    afters = [
        _score(live_server, [_later(clean, f"PROBE{i}", start + pd.Timedelta(days=2))])[0]
        for i in range(1, 9)
    ]
    grades = "ABCD"
    for after in afters:
        assert grades.index(after["trader_grade"]) > grades.index(before["trader_grade"])
        assert any(OFFENCES.search(r) for r in after["reasons"]), (
            before["reasons"],
            after["reasons"],
            before["fraud_probability"],
            after["trader_grade"],
        )
        assert after["risk_score"] > before["risk_score"]  # the grade factor raised it
    assert {a["model_version"] for a in afters} == {before["model_version"]}
