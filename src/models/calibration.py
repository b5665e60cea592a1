"""Probability calibration (isotonic, fitted on the validation slice) and the reliability curve."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Calibrator:
    """Piecewise-linear monotone map from raw score to probability (identity when empty)."""

    x: np.ndarray
    y: np.ndarray

    @classmethod
    def identity(cls) -> Calibrator:
        return cls(np.array([0.0, 1.0]), np.array([0.0, 1.0]))

    @classmethod
    def fit(cls, scores: np.ndarray, labels: np.ndarray, min_rows: int = 200) -> Calibrator:
        """Isotonic regression of the labels on the scores; identity on too little data."""
        from sklearn.isotonic import IsotonicRegression

        ok = np.isfinite(scores) & np.isfinite(labels)
        if ok.sum() < min_rows or len(np.unique(labels[ok])) < 2:
            return cls.identity()
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        iso.fit(scores[ok], labels[ok])
        return cls(np.asarray(iso.X_thresholds_, float), np.asarray(iso.y_thresholds_, float))

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        # a tiny tie-breaking slope keeps the ranking of the raw scores inside flat steps
        return np.interp(scores, self.x, self.y) * (1 - 1e-6) + 1e-6 * np.clip(scores, 0, 1)

    def to_dict(self) -> dict[str, list[float]]:
        return {"x": self.x.tolist(), "y": self.y.tolist()}

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict()))

    @classmethod
    def load(cls, path: Path) -> Calibrator:
        data = json.loads(path.read_text())
        return cls(np.asarray(data["x"], float), np.asarray(data["y"], float))


def reliability_curve(
    labels: np.ndarray, probabilities: np.ndarray, bins: int = 10
) -> list[dict[str, float]]:
    """Mean predicted vs observed rate per quantile bin of the predictions."""
    ok = np.isfinite(labels) & np.isfinite(probabilities)
    y, p = labels[ok], probabilities[ok]
    if len(p) == 0:
        return []
    order = np.argsort(p, kind="stable")
    rows = []
    for part in np.array_split(order, min(bins, len(p))):
        rows.append(
            {"predicted": float(p[part].mean()), "observed": float(y[part].mean()), "n": len(part)}
        )
    return rows
