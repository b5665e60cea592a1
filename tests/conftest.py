"""Session fixtures shared by the model, service and notebook tests.

One small generated world, one migrated MLflow sqlite database (migrating takes seconds, so it is
copied, never recreated) and one registered training run that every suite can reuse.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
XGB_EXPERIMENT = REPO / "experiments" / "xgboost.yaml"
PROFILES = REPO / "profiles"


@dataclass
class Trained:
    """A training run registered as version 1 (alias challenger) in a private MLflow store."""

    result: object  # customs_risk.models.train.TrainResult
    settings: object  # customs_risk.models.tracking.MlflowSettings
    out: Path  # the job's output folder (bundle/, metrics.json, scores.parquet)
    root: Path  # folder holding mlflow.db and the artifacts


def train_small(
    world: Path, out: Path, settings, seed: int = 0, register: bool = True, **extra: object
):
    """Train XGBoost (2 trials per target) on ``world`` into ``out`` (``extra``: further
    TrainSettings fields)."""
    from customs_risk.models.settings import TrainSettings
    from customs_risk.models.train import TrainJob

    train = TrainSettings(
        data=world,
        out=out,
        experiments=[XGB_EXPERIMENT],
        trials=2,
        seed=seed,
        profiles=PROFILES,
        register_model=register,
        **extra,
    )
    return TrainJob(train, settings).run()


@pytest.fixture(scope="session")
def small_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 30,000 items over two years, written as a dataset folder (with truth.parquet)."""
    from customs_risk.data.generator import generate_world, write_world
    from customs_risk.data.world_config import WorldConfig

    out = tmp_path_factory.mktemp("world")
    write_world(generate_world(WorldConfig(), 30_000, seed=11), out)
    return out


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated, empty MLflow sqlite database to copy."""
    from customs_risk.models.tracking import MlflowSettings, configure

    root = tmp_path_factory.mktemp("mlflow-template")
    configure(MlflowSettings(uri=f"sqlite:///{root}/mlflow.db", artifact_root=str(root / "art")))
    return root / "mlflow.db"


def private_mlflow(root: Path, migrated_db: Path):
    """MlflowSettings of a private store in ``root`` (a copy of the migrated database)."""
    from customs_risk.models.tracking import MlflowSettings

    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(migrated_db, root / "mlflow.db")
    return MlflowSettings(uri=f"sqlite:///{root}/mlflow.db", artifact_root=str(root / "artifacts"))


@pytest.fixture
def mlflow_settings(tmp_path: Path, migrated_db: Path):
    """A private, empty MLflow store for one test."""
    return private_mlflow(tmp_path / "mlflow", migrated_db)


@pytest.fixture(scope="session")
def trained(small_world: Path, migrated_db: Path, tmp_path_factory) -> Trained:
    """The shared registered model (read-only for tests: do not move its aliases)."""
    root = tmp_path_factory.mktemp("trained")
    settings = private_mlflow(root, migrated_db)
    result = train_small(small_world, root / "out", settings, seed=0)
    return Trained(result, settings, root / "out", root)
