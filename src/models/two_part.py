"""The two-part expected revenue: P(offence) x E[recovered revenue | offence].

The offence booster gives the first part; a Tweedie booster fit on the offending inspected rows
only gives the second (the size of what an inspection recovers when it finds something, zeros
included: a prohibited item or a critical offence may recover little). The duty at stake plus
the declared duty is its exposure (a log offset, as exposure in an insurance GLM): the trees
learn what share of that amount an offence recovers, which carries to items and worlds the
inspected rows cover thinly, where a tree's own magnitudes do not. Its early stopping
watches the validation deviance and cannot stop before ``MIN_ROUNDS`` (a noisy validation
window must not leave a near-constant model). One model on all rows, as before, mixed the two
questions and stopped after 5 rounds on an independently built world (issue 15).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from customs_risk.models.boosting import BoostedModel, fit_boosted
from customs_risk.models.rules import frame_feature

if TYPE_CHECKING:
    from customs_risk.models.bundle import ServedBatch

MIN_ROUNDS = 60
PATIENCE = 40
SEVERITY_PARAMS: dict[str, Any] = {
    "max_depth": 5,
    "eta": 0.05,
    "min_child_weight": 10.0,
    "subsample": 0.8,
    "colsample_bytree": 0.7,
    "lambda": 1.0,
}


class TwoPartRevenue:
    """A revenue TargetModel made of an offence and a severity booster."""

    target = "revenue"

    def __init__(self, offence: BoostedModel, severity: BoostedModel):
        self.offence, self.severity = offence, severity

    @property
    def kind(self) -> str:
        return "two_part"

    def predict_frame(self, features: pd.DataFrame) -> np.ndarray:
        """Expected revenue per row of a FeaturePipeline frame (training and evaluation)."""
        offset = exposure_offset(frame_feature(features))
        return self.offence.predict_frame(features) * self.severity.predict_frame(
            features, base_margin=offset
        )

    def predict_served(self, batch: ServedBatch) -> np.ndarray:
        if not hasattr(self, "_exposure_columns"):
            names = list(self.severity.feature_names or [])
            self._exposure_columns = {n: names.index(n) for n in EXPOSURE_FEATURES}
        matrix, where = batch.matrix, self._exposure_columns
        offset = exposure_offset(lambda name: matrix[:, where[name]])
        return self.offence.predict_array(matrix) * self.severity.predict_array(
            matrix, base_margin=offset
        )

    def contributions_served(self, batch: ServedBatch) -> np.ndarray | None:
        """Revenue is not explained (the officers' reasons come from the offence model)."""
        return None

    def set_threads(self, nthread: int) -> None:
        self.offence.set_threads(nthread)
        self.severity.set_threads(nthread)

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.offence.save(directory / "offence")
        self.severity.save(directory / "severity")
        meta = {"kind": self.kind, "target": self.target, "min_rounds": MIN_ROUNDS}
        (directory / "meta.json").write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, directory: Path) -> TwoPartRevenue:
        return cls(
            BoostedModel.load(directory / "offence"), BoostedModel.load(directory / "severity")
        )


EXPOSURE_FEATURES = ("duty_at_stake", "duty_expected")


def exposure_offset(feature: Callable[[str], np.ndarray]) -> np.ndarray:
    """log(1 + duty at stake + declared duty) per row (missing parts count 0)."""
    total = sum(
        np.maximum(np.nan_to_num(np.asarray(feature(n), dtype=np.float64)), 0.0)
        for n in EXPOSURE_FEATURES
    )
    return np.log1p(np.asarray(total, dtype=np.float64))


def fit_severity(
    x_train: pd.DataFrame,
    revenue_train: np.ndarray,
    x_valid: pd.DataFrame | None,
    revenue_valid: np.ndarray | None,
    seed: int,
    *,
    weights: np.ndarray | None = None,
    min_rounds: int = MIN_ROUNDS,
    max_rounds: int = 800,
) -> BoostedModel:
    """E[revenue | offence] from the offending rows given: early stopped on the valid ones,
    or ``min_rounds`` rounds without them; the exposure as offset."""
    offsets = (
        exposure_offset(frame_feature(x_train)),
        None if x_valid is None else exposure_offset(frame_feature(x_valid)),
    )
    return fit_boosted(
        "severity",
        x_train,
        np.nan_to_num(revenue_train),
        x_valid,
        None if revenue_valid is None else np.nan_to_num(revenue_valid),
        SEVERITY_PARAMS,
        seed,
        max_rounds=max_rounds,
        early_stopping=PATIENCE,
        rounds=min_rounds,
        min_rounds=min_rounds,
        weights=weights,
        base_margin=offsets,
    )
