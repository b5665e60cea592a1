"""The strong rules a revenue ranking must beat: the duty at stake and the price-deviation
z-score (docs/models.md, "Rule guards"). Both read features the pipeline already computes, so
training, evaluation and serving score them the same way; higher = inspect first."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

RULES = ("duty_at_stake", "price_z")
RULE_FEATURES = ("duty_at_stake", "uv_kg_z", "uv_unit_z")


def frame_feature(features: pd.DataFrame) -> Callable[[str], np.ndarray]:
    """A feature getter over a FeaturePipeline frame: float64 values, NaN where the frame
    lacks the column."""

    def feature(name: str) -> np.ndarray:
        if name not in features:
            return np.full(len(features), np.nan)
        return features[name].to_numpy(dtype=np.float64, na_value=np.nan)

    return feature


def rule_scores(feature: Callable[[str], np.ndarray]) -> dict[str, np.ndarray]:
    """Each rule's ranking score from a feature getter (name -> float64 values per row).

    ``duty_at_stake``: the duty an inspection would recover at the reference (features.duty);
    ``price_z``: how far the declared unit value lies below its reference, in spreads (the
    lower of the per-kg and per-unit z-scores). Rows without a reference rank last."""
    duty = np.asarray(feature("duty_at_stake"), dtype=np.float64)
    z = np.fmin(
        np.asarray(feature("uv_kg_z"), dtype=np.float64),
        np.asarray(feature("uv_unit_z"), dtype=np.float64),
    )
    return {
        "duty_at_stake": np.where(np.isfinite(duty), duty, -1.0),
        "price_z": np.where(np.isfinite(z), -z, -np.inf),
    }
