"""Shared fixtures of the model tests: a small generated world and a migrated MLflow store.

Migrating a fresh sqlite MLflow database takes seconds, so one is made per session and copied.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from customs_risk.data.generator import generate_world, write_world
from customs_risk.data.world_config import WorldConfig
from customs_risk.models.tracking import MlflowSettings, configure

REPO = Path(__file__).resolve().parents[2]
XGB_EXPERIMENT = REPO / "experiments" / "xgboost.yaml"
PROFILES = REPO / "profiles"


@pytest.fixture(scope="session")
def small_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 30,000 items over two years, written as a dataset folder."""
    out = tmp_path_factory.mktemp("world")
    write_world(generate_world(WorldConfig(), 30_000, seed=11), out)
    return out


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated, empty MLflow sqlite database to copy."""
    root = tmp_path_factory.mktemp("mlflow-template")
    configure(MlflowSettings(uri=f"sqlite:///{root}/mlflow.db", artifact_root=str(root / "art")))
    return root / "mlflow.db"


@pytest.fixture
def mlflow_settings(tmp_path: Path, migrated_db: Path) -> MlflowSettings:
    """A private MLflow store (copied sqlite database, artifacts in tmp_path)."""
    shutil.copy(migrated_db, tmp_path / "mlflow.db")
    return MlflowSettings(
        uri=f"sqlite:///{tmp_path}/mlflow.db", artifact_root=str(tmp_path / "artifacts")
    )
