"""Settings of training and promotion: the ``train:`` and ``promote:`` sections of params.yaml,
overridable from the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

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
    ipw_weights: bool = Field(
        False,
        description="weight inspected training rows by 1/propensity (needs decisions.parquet)",
    )
    max_weight: float = Field(100.0, ge=1, description="cap of the inverse-propensity weights")

    @classmethod
    def from_params(cls, path: Path | None, **overrides: object) -> TrainSettings:
        """The ``train:`` section of a params file (missing file or section: defaults),
        then the overrides that are not None."""
        data: dict = {}
        if path is not None and Path(path).exists():
            data = (yaml.safe_load(Path(path).read_text()) or {}).get("train", {}) or {}
        data.update({k: v for k, v in overrides.items() if v is not None})
        return cls.model_validate(data)


class PromoteSettings(BaseModel):
    """How ``customs-risk promote`` compares challenger and champion (params.yaml ``promote:``)."""

    model_config = ConfigDict(extra="forbid")

    window_days: int = Field(45, ge=1, description="newest days compared on")
    estimator: Literal["control", "inspected"] = Field(
        "control",
        description="control: inverse-propensity estimates on the control sample; inspected: "
        "plain metrics on the inspected items (biased toward the model that selected them)",
    )
    metric: str | None = Field(
        None,
        description="deciding metric; control: precision | revenue_share (at rate), inspected: "
        "auc, precision_at_5, ...; None: precision (control), auc (inspected)",
    )
    min_delta: float = Field(0.0, description="improvement the challenger needs")
    rule: Literal["estimate", "interval"] = Field(
        "estimate",
        description="estimate: the challenger's estimate exceeds the champion's by min_delta; "
        "interval: the lower bound of the difference's interval does (control only)",
    )
    rate: float = Field(0.05, gt=0, le=1, description="inspection rate of the top sets")
    resamples: int = Field(1000, ge=10, description="bootstrap resamples of the intervals")
    seed: int = 0
