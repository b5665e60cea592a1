"""Training settings: the ``train:`` section of params.yaml, overridable from the CLI."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field


class TrainSettings(BaseModel):
    """What ``customs-risk train`` reads (params.yaml ``train:``)."""

    model_config = ConfigDict(extra="forbid")

    data: Path = Path("data/raw/world")
    out: Path = Path("data/models")
    seed: int = 0
    valid_days: int = Field(60, ge=1)
    test_days: int = Field(45, ge=1)
    calibration_days: int = Field(28, ge=1)
    experiments: list[Path] = Field(
        default_factory=lambda: [
            Path("experiments/xgboost.yaml"),
            Path("experiments/neural.yaml"),
            Path("experiments/date.yaml"),
        ]
    )
    trials: int | None = Field(None, ge=1, description="overrides every experiment's trials")
    seconds: float | None = Field(None, gt=0, description="overrides every experiment's seconds")
    choice_margin: float = Field(
        0.01, ge=0, description="validation margin a neural model needs over XGBoost to be chosen"
    )
    policy: Path | None = None
    profiles: Path | None = Path("profiles")
    register_model: bool = True

    @classmethod
    def from_params(cls, path: Path | None, **overrides: object) -> TrainSettings:
        """The ``train:`` section of a params file (missing file or section: defaults),
        then the overrides that are not None."""
        data: dict = {}
        if path is not None and Path(path).exists():
            data = (yaml.safe_load(Path(path).read_text()) or {}).get("train", {}) or {}
        data.update({k: v for k, v in overrides.items() if v is not None})
        return cls.model_validate(data)
