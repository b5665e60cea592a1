"""``customs-risk import-model``: a registered MLflow version into the BentoML model store."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ImportModelOptions:
    """Inputs of ``customs-risk import-model``."""

    alias: str = "champion"
    version: str | None = None  # overrides the alias


def run(options: ImportModelOptions) -> int:
    """Import and print the new BentoML tag; exit code."""
    from customs_risk.serving.model_source import import_model

    print(import_model(alias=options.alias, version=options.version))
    return 0
