"""Settings of ``customs-risk simulate`` (params.yaml ``simulate:``, overridable from the CLI)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

SECTION = "simulate"
Ranking = Literal["expected_revenue", "fraud_probability", "blend"]


class ModelSettings(BaseModel):
    """The fixed, fast training configuration (no tuning): XGBoost with base parameters."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    valid_days: int = Field(28, ge=7, description="newest labelled days for early stopping")
    max_rounds: int = Field(300, ge=10)
    early_stopping: int = Field(30, ge=5)
    max_depth: int = Field(6, ge=2)
    eta: float = Field(0.1, gt=0, le=1)


class SimulationSettings(BaseModel):
    """What one simulation reads."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    world: Path = Path("data/raw/world")
    start: dt.date = dt.date(2024, 1, 1)
    weeks: int = Field(52, ge=1)
    budget: float = Field(0.05, gt=0, le=1, description="share of each office's items inspected")
    strategy: str = "adaptive"
    retrain_every: int = Field(4, ge=0, description="weeks between retrainings (0: never)")
    seed: int = 0
    explore: float = Field(0.1, ge=0, le=1, description="exploration share (hybrid, bate, drift)")
    ranking: Ranking = Field("fraud_probability", description="the model's ranking key")
    out: Path = Path("reports/simulation")
    params: Path | None = Field(None, description="params.yaml with the world's world: section")
    model: ModelSettings = ModelSettings()

    @classmethod
    def from_params(cls, path: Path | None, **overrides: object) -> SimulationSettings:
        """The ``simulate:`` section of a params file (missing: defaults), then the overrides
        that are not None."""
        data: dict = {}
        if path is not None and Path(path).exists():
            data = (yaml.safe_load(Path(path).read_text()) or {}).get(SECTION, {}) or {}
        data.update({k: v for k, v in overrides.items() if v is not None})
        return cls.model_validate(data)
