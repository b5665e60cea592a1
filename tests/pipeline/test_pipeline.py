"""The DVC pipeline end to end on a tiny world, in a scratch clone of the repository.

The checkout's files are copied into a temporary git repository (DVC works inside one), params.yaml
gets a tiny budget (20,000 items, one XGBoost trial of at most 30 s per target), and the MLflow
and BentoML stores point into the temporary folder. ``dvc repro`` must finish, a second one must
find nothing to do (the MLflow store is a side effect, not a dependency) and ``dvc metrics show``
must list the headline figures at 5 % and 10 %.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DVC = BIN / "dvc"
# The pipeline's own files, copied even while they are not yet tracked by git.
PIPELINE_FILES = (
    "dvc.yaml",
    "params.yaml",
    ".dvcignore",
    ".dvc/config",
    ".dvc/.gitignore",
    ".dvc/plots/by_strategy.json",
    "examples/score_request.json",
    "Makefile",
)
HEADLINE = (
    "test_precision_at_5",
    "test_precision_at_10",
    "test_revenue_share_at_5",
    "test_revenue_share_at_10",
    "world_model_revenue_revenue_share_at_5",
    "world_model_revenue_revenue_share_at_10",
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(600),
    pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed"),
    pytest.mark.skipif(not DVC.exists(), reason="dvc is not installed next to this Python"),
]


def _files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, check=True, capture_output=True, text=True
    ).stdout.split("\0")
    return sorted({f for f in (*listed, *PIPELINE_FILES) if f and (REPO / f).is_file()})


def _clone(dst: Path) -> Path:
    for name in _files():
        (dst / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, dst / name)
    params = yaml.safe_load((dst / "params.yaml").read_text())
    params["generate"]["declarations"] = 20_000
    params["train"].update(trials=1, seconds=30, experiments=["experiments/xgboost.yaml"])
    (dst / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "scratch clone"]):
        subprocess.run([*git, *args], cwd=dst, check=True, capture_output=True)
    return dst


def _env(tmp: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "CUSTOMS_RISK_MLFLOW_URI": f"sqlite:///{tmp / 'mlflow.db'}",
        "CUSTOMS_RISK_MLFLOW_ARTIFACT_ROOT": str(tmp / "mlartifacts"),
        "BENTOML_HOME": str(tmp / "bentoml"),
        "DVC_NO_ANALYTICS": "1",
    }


def _dvc(repo: Path, env: dict[str, str], *args: str) -> str:
    proc = subprocess.run(
        [str(DVC), *args], cwd=repo, env=env, capture_output=True, text=True, timeout=540
    )
    assert proc.returncode == 0, f"dvc {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def test_dvc_repro_is_complete_cached_and_reports_metrics(tmp_path: Path) -> None:
    repo = _clone(tmp_path / "repo")
    env = _env(tmp_path)

    first = _dvc(repo, env, "repro")
    for stage in ("generate", "validate", "train", "evaluate", "promote", "report"):
        assert f"Running stage '{stage}'" in first, stage
    assert (repo / "dvc.lock").is_file()
    assert (repo / "data" / "models" / "bundle").is_dir()
    assert (repo / "reports" / "site" / "index.html").is_file()
    promotion = json.loads((repo / "reports" / "promotion.json").read_text())
    assert promotion["promoted"] is True  # the first challenger becomes champion

    second = _dvc(repo, env, "repro")
    assert "Running stage" not in second
    assert "Data and pipelines are up to date." in second
    assert json.loads(_dvc(repo, env, "status", "--json")) == {}

    shown = json.loads(_dvc(repo, env, "metrics", "show", "--json"))
    (workspace,) = shown.values()
    metrics = workspace["data"]["reports/evaluation.json"]["data"]
    for key in HEADLINE:
        assert 0.0 <= metrics[key] <= 1.0, key
    text = _dvc(repo, env, "metrics", "show")
    assert all(key in text for key in HEADLINE)
