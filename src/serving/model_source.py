"""Model source: a registered MLflow version -> a BentoML model -> the served RiskModel.

``import_model`` downloads the bundle of an alias (default champion) or version from the MLflow
registry and saves it in the BentoML model store as ``customs-risk:<new tag>`` (the bundle under
``bundle/``, the registry version and alias in the model's labels and metadata), so that
``bentoml build`` packs it into the Bento. ``load_served`` reads it back by tag.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from customs_risk.models.bundle import RiskModel
from customs_risk.models.tracking import CHAMPION, MlflowSettings, configure, download_bundle
from customs_risk.serving.settings import BUNDLE_DIR, MODEL_NAME, ServeSettings


def import_model(
    mlflow_settings: MlflowSettings | None = None,
    alias: str | None = CHAMPION,
    version: str | None = None,
    serve_settings: ServeSettings | None = None,
    name: str = MODEL_NAME,
) -> str:
    """Copy a registered model version into the BentoML model store; returns the new tag."""
    settings = configure(mlflow_settings or MlflowSettings())
    (serve_settings or ServeSettings()).apply_bentoml_home()
    import bentoml

    with tempfile.TemporaryDirectory(prefix="customs-risk-import-") as tmp:
        bundle, mv = download_bundle(
            settings, alias=None if version else alias, version=version, dst=Path(tmp)
        )
        meta = RiskModel.load(bundle).meta
        registry_version = str(mv.version)
        labels = {
            "registry_version": registry_version,
            "alias": alias or "",
            "registered_name": settings.model_name,
        }
        metadata: dict[str, Any] = {
            "model_version": f"{settings.model_name}/{registry_version}",
            "registry_version": registry_version,
            "aliases": list(getattr(mv, "aliases", []) or []),
            "alias": alias,
            "run_id": meta.get("run_id"),
            "tracking_uri": settings.uri,
        }
        with bentoml.models.create(name, labels=labels, metadata=metadata) as model:
            shutil.copytree(bundle, Path(model.path) / BUNDLE_DIR)
    return str(model.tag)


def load_served(tag: str) -> tuple[RiskModel, dict[str, Any]]:
    """The RiskModel of a BentoML model tag and a description of its origin (raises if absent)."""
    import bentoml

    model = bentoml.models.get(tag)
    risk = RiskModel.load(Path(model.path) / BUNDLE_DIR)
    info = dict(model.info.metadata)
    if info.get("model_version"):
        risk.meta["model_version"] = info["model_version"]
        risk.meta["registry_version"] = info.get("registry_version")
    info["bentoml_tag"] = str(model.tag)
    return risk, info
