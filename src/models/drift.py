"""Score-distribution drift: a reference distribution's bins, the population stability index
(PSI) against it, and a moving window of served scores (the service's gauge).

**The reference** (:func:`score_reference`): the deciles of ``risk_score`` on the training job's
validation window, kept in the bundle's ``meta.json`` (``score_reference``). The validation
window is the newest data the models were not fitted on (early stopping only): in-sample scores of
the fitted window are sharper than anything served, so a reference taken there would show drift
from the first day.

**PSI** (:func:`psi`): sum over the reference's bins of (current - reference share) x ln(current /
reference share), shares floored at :data:`PSI_FLOOR` so that an empty bin stays finite. The usual
reading: below 0.1 stable, 0.1-0.25 a shift to look at, above 0.25 a shift to act on
(:data:`PSI_LEVELS`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

N_BINS = 10
PSI_FLOOR = 1e-4
PSI_LEVELS: tuple[tuple[float, str], ...] = ((0.1, "stable"), (0.25, "shift"), (np.inf, "drift"))


def score_reference(
    scores: np.ndarray, window: tuple[Any, Any] | None = None, n_bins: int = N_BINS
) -> dict[str, Any]:
    """The bins of a reference distribution: ``n_bins - 1`` inner edges at its quantiles (ties
    merged) and the share of the scores in each bin."""
    values = np.asarray(scores, dtype=np.float64)
    values = values[np.isfinite(values)]
    if not len(values):
        raise ValueError("score_reference: no finite scores")
    edges = np.unique(np.quantile(values, np.linspace(0, 1, n_bins + 1)[1:-1]))
    counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)
    return {
        "edges": [float(e) for e in edges],
        "shares": [float(c) for c in counts / counts.sum()],
        "n": int(len(values)),
        "window": None if window is None else [str(window[0]), str(window[1])],
    }


def bin_counts(reference: dict[str, Any], scores: np.ndarray) -> np.ndarray:
    """How many of ``scores`` (finite ones) fall in each bin of ``reference``."""
    edges = np.asarray(reference["edges"], dtype=np.float64)
    values = np.asarray(scores, dtype=np.float64)
    values = values[np.isfinite(values)]
    return np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)


def psi(reference: dict[str, Any], counts: np.ndarray) -> float:
    """The population stability index of bin ``counts`` against ``reference`` (NaN: no counts)."""
    total = float(np.sum(counts))
    if total <= 0:
        return float("nan")
    expected = np.maximum(np.asarray(reference["shares"], dtype=np.float64), PSI_FLOOR)
    actual = np.maximum(np.asarray(counts, dtype=np.float64) / total, PSI_FLOOR)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def psi_level(value: float) -> str:
    """The reading of a PSI value (:data:`PSI_LEVELS`); "" for NaN."""
    if not np.isfinite(value):
        return ""
    return next(label for bound, label in PSI_LEVELS if value < bound)


class DriftWindow:
    """The PSI of the last ``size`` scores against a reference, updated as scores arrive (the
    service's gauge; O(batch) per update: a ring buffer of bin indices and their counts)."""

    def __init__(self, reference: dict[str, Any], size: int = 10_000) -> None:
        self.reference = reference
        self._edges = np.asarray(reference["edges"], dtype=np.float64)
        self._bins = np.zeros(size, dtype=np.int16)
        self._counts = np.zeros(len(self._edges) + 1, dtype=np.int64)
        self._filled = 0
        self._next = 0

    def add(self, scores: np.ndarray) -> None:
        """Take these scores (NaN ignored) into the window, dropping the oldest."""
        values = np.asarray(scores, dtype=np.float64)
        values = values[np.isfinite(values)]
        size = len(self._bins)
        if len(values) > size:
            values = values[-size:]
        new = np.searchsorted(self._edges, values, side="right").astype(np.int16)
        at = (self._next + np.arange(len(new))) % size
        dropped = at[at < self._filled]  # positions holding an older score
        np.subtract.at(self._counts, self._bins[dropped], 1)
        self._bins[at] = new
        np.add.at(self._counts, new, 1)
        self._filled = min(size, self._filled + len(new))
        self._next = int((self._next + len(new)) % size)

    @property
    def items(self) -> int:
        """Scores in the window."""
        return self._filled

    def value(self) -> float:
        """The window's PSI (NaN while empty)."""
        return psi(self.reference, self._counts)
