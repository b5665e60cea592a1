"""A turn of the cycle end to end: a served model scores two weeks of declarations, their
inspection results come back through /outcomes, `customs-risk cycle` exports the store (the
export validates), trains, promotes and imports; the running service switches to the new
version by itself, and no request fails during the switch."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from customs_risk.serving.harness import LocalServer

from ..conftest import XGB_EXPERIMENT
from .conftest import cli

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
TOKEN = "cycle-token-123"
START = pd.Timestamp("2025-06-02 07:00:00")
ITEMS = 4000
DAYS = 14


def _two_weeks(world: Path) -> tuple[list[dict[str, Any]], pd.DataFrame]:
    """The world's last items re-dated over two weeks after the model's state, as JSON records,
    and their truth (same order)."""
    frame = pd.read_parquet(world / "declarations.parquet").tail(ITEMS).reset_index(drop=True)
    truth = pd.read_parquet(world / "truth.parquet")
    truth = frame[["declaration_id", "item_no"]].merge(truth, on=["declaration_id", "item_no"])
    step = pd.Timedelta(days=DAYS) / ITEMS
    frame["declared_at"] = START + step * np.arange(ITEMS)
    frame["declaration_id"] = [f"CYC{i:07d}" for i in range(ITEMS)]
    frame["item_no"] = 1
    records = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
    for r in records:
        r["declared_at"] = r["declared_at"].isoformat()
    truth["declaration_id"], truth["item_no"] = frame["declaration_id"], 1
    truth["declared_at"] = frame["declared_at"]
    return records, truth


def _results(decisions: list[dict[str, Any]], truth: pd.DataFrame) -> list[dict[str, Any]]:
    """What the inspections of the red and orange items find: the world's truth."""
    by_id = truth.set_index("declaration_id")
    out = []
    for d in decisions:
        if d["channel"] == "green":
            continue
        t = by_id.loc[d["declaration_id"]]
        found = bool(t["is_offence"])
        out.append(
            {
                "declaration_id": d["declaration_id"],
                "item_no": 1,
                "channel": d["channel"],
                "result_at": (t["declared_at"] + pd.Timedelta(days=2)).isoformat(),
                "fraud_found": found,
                "fraud_type": str(t["fraud_type"]) if found else "none",
                "critical": bool(t["critical"]) and found,
                "recovered_revenue": float(t["true_revenue"]) if found else 0.0,
            }
        )
    return out


@pytest.fixture(scope="module")
def setup(trained, served: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A private copy of the session's registry (version 1 champion) and BentoML store."""
    tmp = tmp_path_factory.mktemp("cycle")
    shutil.copy(Path(trained.settings.uri.removeprefix("sqlite:///")), tmp / "mlflow.db")
    env = {
        "BENTOML_HOME": str(tmp / "bentoml"),
        "CUSTOMS_RISK_MLFLOW_URI": f"sqlite:///{tmp}/mlflow.db",
        "CUSTOMS_RISK_MLFLOW_ARTIFACT_ROOT": str(tmp / "artifacts"),
        "CUSTOMS_RISK_STORE_URL": f"sqlite:///{tmp}/store.db",
        "CUSTOMS_RISK_API_TOKEN": TOKEN,
        "BENTOML_DO_NOT_TRACK": "true",
    }
    run_env = {**os.environ, **env}
    shutil.copytree(served["env"]["BENTOML_HOME"], tmp / "bentoml")
    params = tmp / "params.yaml"
    params.write_text(
        "train:\n"
        "  valid_days: 3\n  test_days: 3\n  calibration_days: 3\n"
        f"  experiments: [{XGB_EXPERIMENT}]\n  trials: 1\n  seconds: 60\n"
        f"  profiles: {ROOT / 'profiles'}\n  register_model: true\n"
    )
    return {"tmp": tmp, "env": env, "run_env": run_env, "params": params}


def test_a_turn_of_the_cycle_switches_the_running_service(setup: dict, served: dict) -> None:
    tmp, env = setup["tmp"], setup["env"]
    server_env = {
        **env,
        "CUSTOMS_RISK_SERVE_PROFILES": str(ROOT / "profiles"),
        "CUSTOMS_RISK_SERVE_ALIAS_CHECK_SECONDS": "1",
    }
    server = LocalServer(server_env, log_path=tmp / "server.log", cwd=ROOT).start()
    try:
        server.wait(200, timeout=240)
        before = httpx.get(f"{server.url}/model", timeout=10).json()
        assert before["registry_version"] == "1" and before["alias"] == "champion"

        records, truth = _two_weeks(served["world"])
        decisions: list[dict[str, Any]] = []
        for start in range(0, ITEMS, 500):
            r = httpx.post(
                f"{server.url}/score",
                json={"declarations": records[start : start + 500]},
                timeout=120,
            )
            assert r.status_code == 200, r.text
            decisions += r.json()["decisions"]
        results = _results(decisions, truth)
        r = httpx.post(
            f"{server.url}/outcomes",
            json={"outcomes": results},
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=120,
        )
        assert r.status_code == 200 and r.json()["inserted"] == len(results), r.text

        # traffic all through the cycle and the switch
        failures: list[str] = []
        answered = [0]
        stop = threading.Event()

        def traffic() -> None:
            i = 0
            with httpx.Client(timeout=60) as client:
                while not stop.is_set():
                    item = {**records[i % ITEMS], "declaration_id": f"LOAD{i:07d}"}
                    response = client.post(f"{server.url}/score", json={"declarations": [item]})
                    if response.status_code != 200:
                        failures.append(f"{response.status_code} {response.text[:200]}")
                    answered[0] += 1
                    i += 1
                    time.sleep(0.05)

        thread = threading.Thread(target=traffic)
        thread.start()
        try:
            run = subprocess.run(
                [
                    cli(),
                    "cycle",
                    "--work",
                    str(tmp / "turn"),
                    "--params",
                    str(setup["params"]),
                    "--force",
                    "--window-days",
                    "7",
                ],
                env=setup["run_env"],
                capture_output=True,
                text=True,
                timeout=900,
                cwd=tmp,
            )
            assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
            deadline = time.monotonic() + 60
            after = before
            while time.monotonic() < deadline and after["registry_version"] != "2":
                time.sleep(0.5)
                after = httpx.get(f"{server.url}/model", timeout=10).json()
            time.sleep(2)  # traffic on the new version too
        finally:
            stop.set()
            thread.join(60)
        assert after["registry_version"] == "2", (after, server.tail())
        assert after["alias"] == "champion" and after["registry"]["stale"] is False
        assert after["follow"]["switches"] == 1
        assert failures == [], failures[:5]
        assert answered[0] > 20
        scored = httpx.post(
            f"{server.url}/score", json={"declarations": [records[-1]]}, timeout=60
        ).json()["decisions"][0]
        assert scored["model_version"] == after["version"] != before["version"]
    finally:
        server.stop()
    export = tmp / "turn" / "export"
    assert len(pd.read_parquet(export / "declarations.parquet")) >= ITEMS
    assert len(pd.read_parquet(export / "outcomes.parquet")) == len(results)
    # the import makes a restart serve the new champion too
    latest = subprocess.run(
        [
            str(Path(cli()).with_name("python")),
            "-c",
            "import bentoml; print(bentoml.models.get('customs-risk:latest').info.labels)",
        ],
        env=setup["run_env"],
        capture_output=True,
        text=True,
    )
    assert "'registry_version': '2'" in latest.stdout, latest.stderr[-2000:]
