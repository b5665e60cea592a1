"""Shared setup of the serving benchmarks: a small world, a champion model in MLflow, the model
in a BentoML store, a local server. Everything lives in one work folder and is reused."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bench-token"


def _cli() -> str:
    return str(Path(sys.executable).with_name("customs-risk"))


def prepare(work: Path, declarations: int = 30_000) -> dict[str, Any]:
    """World + champion + BentoML import under ``work`` (skips the steps already done)."""
    work = work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    world = work / "world"
    env = {
        "BENTOML_HOME": str(work / "bentoml"),
        "CUSTOMS_RISK_MLFLOW_URI": f"sqlite:///{work}/mlflow.db",
        "CUSTOMS_RISK_MLFLOW_ARTIFACT_ROOT": str(work / "art"),
    }
    if not (world / "declarations.parquet").exists():
        args = ["generate", "--declarations", str(declarations), "--seed", "3", "--out", str(world)]
        subprocess.run([_cli(), *args], check=True, capture_output=True)
    if not (work / "mlflow.db").exists():
        _train(work, world)
    if not (work / "bentoml" / "models" / "customs-risk").exists():
        subprocess.run(
            [_cli(), "import-model"], env={**os.environ, **env}, check=True, capture_output=True
        )
    return {"work": work, "world": world, "env": env}


def _train(work: Path, world: Path) -> None:
    import mlflow

    from customs_risk.models.settings import TrainSettings
    from customs_risk.models.tracking import MlflowSettings
    from customs_risk.models.train import TrainJob

    ms = MlflowSettings(uri=f"sqlite:///{work}/mlflow.db", artifact_root=str(work / "art"))
    settings = TrainSettings(
        data=world,
        out=work / "out",
        experiments=[ROOT / "experiments/xgboost.yaml"],
        trials=1,
        profiles=ROOT / "profiles",
        valid_days=60,
        test_days=30,
    )
    result = TrainJob(settings, ms).run()
    mlflow.MlflowClient().set_registered_model_alias(ms.model_name, "champion", result.version)


def server_env(setup: dict[str, Any]) -> dict[str, str]:
    """Environment of a benchmark server (its own store file)."""
    return {
        "BENTOML_HOME": setup["env"]["BENTOML_HOME"],
        "CUSTOMS_RISK_STORE_URL": f"sqlite:///{setup['work']}/store/outcomes.db",
        "CUSTOMS_RISK_API_TOKEN": TOKEN,
        "CUSTOMS_RISK_SERVE_PROFILES": str(ROOT / "profiles"),
        "BENTOML_DO_NOT_TRACK": "true",
    }


def sample(world: Path, n: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` declarations drawn from the world, re-dated after its end, as JSON records."""
    frame = pd.read_parquet(world / "declarations.parquet")
    rng = np.random.default_rng(seed)
    frame = frame.iloc[rng.choice(len(frame), n, replace=n > len(frame))].reset_index(drop=True)
    start = pd.Timestamp("2025-06-01 08:00:00")
    frame["declared_at"] = start + pd.to_timedelta(np.arange(n) * 5, unit="s")
    frame["declaration_id"] = [f"BENCH{i:08d}" for i in range(n)]
    records = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
    for r in records:
        r["declared_at"] = r["declared_at"].isoformat()
    return records


def percentiles(values_ms: list[float]) -> dict[str, float]:
    """p50 / p90 / p99 / max of latencies in ms."""
    arr = np.asarray(values_ms)
    return {
        "p50": float(np.percentile(arr, 50)),
        "p90": float(np.percentile(arr, 90)),
        "p99": float(np.percentile(arr, 99)),
        "max": float(arr.max()),
    }


def machine_probe() -> str:
    """A fixed pure-Python loop (10 million additions), timed: on a shared virtual machine every
    figure of a run moves with it, so runs are comparable only next to their probe."""
    start = time.perf_counter()
    total = 0
    for i in range(10_000_000):
        total += i
    return f"machine probe: 10M Python additions in {time.perf_counter() - start:.2f} s"
