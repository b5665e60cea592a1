"""Crash test: ``kill -9`` of the serving worker while clients send scores and outcomes, three
times; every acknowledged decision and outcome must be in the store exactly once."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import psutil
import pytest

from customs_risk.serving.harness import LocalServer

from .conftest import json_declarations

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "crash-token"
KILLS = 3
ITEMS_PER_REQUEST = 10
pytestmark = pytest.mark.slow


def _worker(server: LocalServer) -> psutil.Process:
    """The worker process that holds the model: the parent of the decision store's process
    (started with multiprocessing's spawn)."""
    assert server.proc is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for child in psutil.Process(server.proc.pid).children(recursive=True):
            try:
                if any("spawn_main" in part for part in child.cmdline()):
                    return child.parent()
            except psutil.NoSuchProcess:
                continue
        time.sleep(0.2)
    raise AssertionError("no worker with a decision store process found")


class _Traffic:
    """Two client threads: 10 declarations every 20 ms to /score, 5 outcomes every 20 ms to
    /outcomes; what was answered 200 is remembered, everything else (the kills) is counted."""

    def __init__(self, url: str, items: list[dict[str, Any]]) -> None:
        self.url = url
        self.items = items
        self.stop = threading.Event()
        self.acknowledged: dict[str, list[str]] = {}  # request id -> declaration ids
        self.outcomes: set[tuple[str, int]] = set()
        self.failed = {"score": 0, "outcomes": 0}
        self.threads = [
            threading.Thread(target=self._scores, daemon=True),
            threading.Thread(target=self._results, daemon=True),
        ]

    def __enter__(self) -> _Traffic:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(60)

    def _scores(self) -> None:
        k = 0
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self.stop.is_set():
                batch = [self.items[(k + i) % len(self.items)] for i in range(ITEMS_PER_REQUEST)]
                k += ITEMS_PER_REQUEST
                try:
                    r = client.post("/score", json={"declarations": batch})
                    if r.status_code == 200:
                        body = r.json()
                        ids = [d["declaration_id"] for d in body["decisions"]]
                        self.acknowledged[body["request_id"]] = ids
                    else:
                        self.failed["score"] += 1
                except httpx.HTTPError:
                    self.failed["score"] += 1
                time.sleep(0.02)

    def _results(self) -> None:
        k = 0
        headers = {"authorization": f"Bearer {TOKEN}"}
        with httpx.Client(base_url=self.url, timeout=30, headers=headers) as client:
            while not self.stop.is_set():
                rows = [_outcome(k + i) for i in range(5)]
                k += 5
                try:
                    r = client.post("/outcomes", json={"outcomes": rows})
                    if r.status_code == 200:
                        self.outcomes.update((row["declaration_id"], 1) for row in rows)
                    else:
                        self.failed["outcomes"] += 1
                except httpx.HTTPError:
                    self.failed["outcomes"] += 1
                time.sleep(0.02)


def _outcome(i: int) -> dict[str, Any]:
    return {
        "declaration_id": f"CRASHOUT{i:08d}",
        "item_no": 1,
        "channel": "red",
        "result_at": "2025-06-02T10:00:00",
        "fraud_found": False,
        "fraud_type": "none",
        "critical": False,
        "recovered_revenue": 0.0,
        "source": "crash-test",
    }


def test_kill_9_loses_nothing_acknowledged(served: dict, tmp_path: Path) -> None:
    from customs_risk.serving.store import Store

    url = f"sqlite:///{tmp_path / 'crash.db'}"
    env = {
        "BENTOML_HOME": served["env"]["BENTOML_HOME"],
        "CUSTOMS_RISK_STORE_URL": url,
        "CUSTOMS_RISK_API_TOKEN": TOKEN,
        "CUSTOMS_RISK_SERVE_PROFILES": str(ROOT / "profiles"),
        "BENTOML_DO_NOT_TRACK": "true",
    }
    server = LocalServer(env, log_path=tmp_path / "server.log", cwd=ROOT).start()
    killed: list[int] = []
    between: list[int] = []  # requests acknowledged before each kill, since the last one
    try:
        server.wait(200)
        with _Traffic(server.url, json_declarations(served["world"], 500, "CRASH")) as traffic:
            for _ in range(KILLS):
                since = len(traffic.acknowledged)
                deadline = time.monotonic() + 120
                while len(traffic.acknowledged) - since < 15 and time.monotonic() < deadline:
                    time.sleep(0.05)  # traffic flowing again (a new worker warms up first)
                time.sleep(0.3)
                between.append(len(traffic.acknowledged) - since)
                worker = _worker(server)
                worker.kill()  # SIGKILL mid-stream
                killed.append(worker.pid)
                worker.wait(30)
                server.wait(200, timeout=180)  # the arbiter starts a new worker
            time.sleep(1.0)
    finally:
        server.stop()
    assert len(set(killed)) == KILLS, killed
    assert traffic.failed["score"] > 0 or traffic.failed["outcomes"] > 0  # the kills were felt
    with Store(url) as store:
        decisions = store.decisions_frame()
        outcomes = store.outcomes_frame()
    per_request = decisions.groupby("request_id").size()
    acknowledged = pd.Series({rid: len(ids) for rid, ids in traffic.acknowledged.items()})
    stored = per_request.reindex(acknowledged.index).fillna(0).astype(int)
    missing = int((acknowledged - stored).clip(lower=0).sum())
    duplicated = int((per_request - ITEMS_PER_REQUEST).clip(lower=0).sum())
    print(
        f"crash test: {KILLS} kills, {len(acknowledged)} score requests acknowledged "
        f"({int(acknowledged.sum())} decisions), {len(traffic.outcomes)} outcomes acknowledged, "
        f"failed during the kills {traffic.failed}, acknowledged between kills {between}; "
        f"missing {missing}, duplicated {duplicated}; "
        f"stored but not acknowledged: {len(per_request) - len(acknowledged)} requests"
    )
    assert min(between) >= 15, between  # each kill came mid-stream
    assert missing == 0 and duplicated == 0
    for rid, ids in list(traffic.acknowledged.items())[:200]:
        assert decisions.loc[decisions["request_id"] == rid, "declaration_id"].tolist() == ids
    keys = set(zip(outcomes["declaration_id"], outcomes["item_no"], strict=True))
    assert traffic.outcomes <= keys and len(traffic.outcomes) >= 15
    assert not outcomes.duplicated(["declaration_id", "item_no"]).any()
