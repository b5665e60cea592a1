"""MLflow: tracking settings, the served unit as one pyfunc model, registry and loading.

Defaults are embedded: ``sqlite:///mlflow.db`` and artifacts under ``mlartifacts/`` in the
project root (``customs_risk.data.locations``: relative SQLite URLs and folders resolve there,
whatever the current directory; without a project root a relative URL whose file does not exist
is refused); any tracking URI (an MLflow server, PostgreSQL) is a setting
(``CUSTOMS_RISK_MLFLOW_URI``), not a code change.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from customs_risk.data.locations import resolve_folder, resolve_sqlite_url
from customs_risk.models.bundle import RiskModel

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion

log = logging.getLogger(__name__)
BUNDLE_ARTIFACT = "bundle"
CHALLENGER, CHAMPION = "challenger", "champion"


class MlflowSettings(BaseSettings):
    """Where runs and models live; environment variables ``CUSTOMS_RISK_MLFLOW_*``."""

    model_config = SettingsConfigDict(env_prefix="CUSTOMS_RISK_MLFLOW_")

    uri: str = "sqlite:///mlflow.db"
    artifact_root: str = "mlartifacts"
    experiment: str = "customs-risk"
    model_name: str = "customs-risk"

    @field_validator("uri")
    @classmethod
    def _absolute_sqlite(cls, value: str) -> str:
        """A relative SQLite file lives under the project root (or is refused)."""
        return resolve_sqlite_url(value, "CUSTOMS_RISK_MLFLOW_URI")

    @field_validator("artifact_root")
    @classmethod
    def _absolute_folder(cls, value: str) -> str:
        """A relative folder lives under the project root (else the current directory)."""
        return value if "://" in value else str(resolve_folder(value))


def configure(settings: MlflowSettings | None = None) -> MlflowSettings:
    """Point MLflow at the tracking store and make sure the experiment exists."""
    import mlflow

    settings = settings or MlflowSettings()
    mlflow.set_tracking_uri(settings.uri)
    if mlflow.get_experiment_by_name(settings.experiment) is None:
        root = settings.artifact_root
        location = root if "://" in root else Path(root).resolve().as_uri()
        mlflow.create_experiment(settings.experiment, artifact_location=location)
    mlflow.set_experiment(settings.experiment)
    return settings


def _pyfunc_class() -> type:
    from mlflow.pyfunc import PythonModel

    class CustomsRiskModel(PythonModel):
        """pyfunc view of the bundle: declarations in, channel decisions out."""

        def load_context(self, context: Any) -> None:
            self.model = RiskModel.load(context.artifacts[BUNDLE_ARTIFACT])

        def predict(
            self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
        ) -> pd.DataFrame:
            decisions = self.model.decide(model_input, reasons=False)
            return decisions[PYFUNC_OUTPUT]

    return CustomsRiskModel


PYFUNC_OUTPUT = [
    "declaration_id",
    "item_no",
    "channel",
    "selected_by",
    "propensity",
    "fraud_probability",
    "expected_revenue",
    "risk_score",
]


def log_bundle(model: RiskModel, input_example: pd.DataFrame) -> str:
    """Log the bundle as one pyfunc model in the active run (signature + input example);
    returns its model URI."""
    import mlflow
    from mlflow.models import infer_signature

    example = input_example.reset_index(drop=True)
    if "declared_at" in example.columns and model.state.as_of is not None:
        # an example lodged after the state, as served declarations are
        after = pd.Timestamp(model.state.as_of, unit="ns") + pd.Timedelta(hours=1)
        example["declared_at"] = after.as_unit(example["declared_at"].dt.unit)
    output = model.decide(example, reasons=False)[PYFUNC_OUTPUT]
    signature = infer_signature(example, output)
    with tempfile.TemporaryDirectory() as tmp:
        bundle_dir = model.save(Path(tmp) / BUNDLE_ARTIFACT)
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=_pyfunc_class()(),
            artifacts={BUNDLE_ARTIFACT: str(bundle_dir)},
            signature=signature,
            input_example=example,
            pip_requirements=["customs-risk"],
        )
    return info.model_uri


def register(model_uri: str, settings: MlflowSettings, alias: str = CHALLENGER) -> str:
    """Register the logged model under the settings' name and point ``alias`` at it."""
    import mlflow
    from mlflow import MlflowClient

    version = mlflow.register_model(model_uri, settings.model_name)
    MlflowClient().set_registered_model_alias(settings.model_name, alias, version.version)
    return str(version.version)


def resolve_version(
    settings: MlflowSettings, alias: str | None = None, version: str | None = None
) -> ModelVersion:
    """The ModelVersion of an alias or a version number (raises LookupError if unknown)."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient()
    try:
        if version is not None:
            return client.get_model_version(settings.model_name, str(version))
        return client.get_model_version_by_alias(settings.model_name, alias or CHAMPION)
    except MlflowException as exc:
        what = f"version {version}" if version is not None else f"alias {alias or CHAMPION!r}"
        raise LookupError(f"model {settings.model_name!r} has no {what}") from exc


def download_bundle(
    settings: MlflowSettings,
    alias: str | None = None,
    version: str | None = None,
    dst: Path | None = None,
) -> tuple[Path, ModelVersion]:
    """Download a registered version's bundle directory; returns (path, ModelVersion)."""
    import mlflow

    mv = resolve_version(settings, alias, version)
    target = Path(dst) if dst else Path(tempfile.mkdtemp(prefix="customs-risk-model-"))
    local = mlflow.artifacts.download_artifacts(
        artifact_uri=f"models:/{settings.model_name}/{mv.version}", dst_path=str(target)
    )
    bundle = Path(local) / "artifacts" / BUNDLE_ARTIFACT
    if not bundle.exists():
        raise FileNotFoundError(f"{settings.model_name} v{mv.version}: no bundle in {local}")
    return bundle, mv


def load_registered(
    settings: MlflowSettings, alias: str | None = None, version: str | None = None
) -> RiskModel:
    """The RiskModel of a registered version (by alias, default champion, or number)."""
    bundle, mv = download_bundle(settings, alias, version)
    model = RiskModel.load(bundle)
    model.meta["model_version"] = f"{settings.model_name}/{mv.version}"
    model.meta["registry_version"] = str(mv.version)
    model.meta["aliases"] = list(getattr(mv, "aliases", []) or [])
    return model
