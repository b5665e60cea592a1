"""Ranking metrics for inspection selection: precision, recall and revenue share in the top n%.

The top n% are the first ``ceil(rate * len)`` rows ranked by descending score with a stable
sort, so ties go to the earlier row and results are deterministic.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score


def _top(score: Any, rate: float) -> np.ndarray:
    s = np.asarray(score, dtype=np.float64)
    if not 0.0 < rate <= 1.0:
        raise ValueError(f"rate must be in (0, 1], got {rate}")
    n = max(1, math.ceil(rate * len(s) - 1e-9))
    return np.argsort(-s, kind="stable")[:n]


def top_mask(score: Any, rate: float) -> np.ndarray:
    """Boolean mask of the top ``rate`` of rows by score, the rows the metrics below count."""
    mask = np.zeros(len(np.asarray(score)), dtype=bool)
    mask[_top(score, rate)] = True
    return mask


def precision_at(y: Any, score: Any, rate: float) -> float:
    """Share of positives among the top ``rate`` of rows by score."""
    y = np.asarray(y, dtype=np.float64)
    return float(y[_top(score, rate)].mean())


def recall_at(y: Any, score: Any, rate: float) -> float:
    """Share of all positives found in the top ``rate`` of rows (NaN when there are none)."""
    y = np.asarray(y, dtype=np.float64)
    total = y.sum()
    return float(y[_top(score, rate)].sum() / total) if total > 0 else float("nan")


def revenue_share_at(revenue: Any, score: Any, rate: float) -> float:
    """Share of the total revenue held by the top ``rate`` of rows (NaN values count as 0)."""
    r = np.nan_to_num(np.asarray(revenue, dtype=np.float64))
    total = r.sum()
    return float(r[_top(score, rate)].sum() / total) if total > 0 else float("nan")


def ranking_report(
    y: Any,
    score: Any,
    revenue: Any = None,
    critical: Any = None,
    rates: Sequence[float] = (0.01, 0.02, 0.05, 0.10),
) -> dict[str, float]:
    """precision_at_k, recall_at_k (k = rate in percent), auc, pr_auc, brier (scores in [0, 1]),
    critical_recall_at_k and revenue_share_at_k when given."""
    y = np.asarray(y, dtype=np.float64)
    s = np.asarray(score, dtype=np.float64)
    out: dict[str, float] = {}
    for rate in rates:
        k = f"{round(rate * 100):d}"
        out[f"precision_at_{k}"] = precision_at(y, s, rate)
        out[f"recall_at_{k}"] = recall_at(y, s, rate)
        if critical is not None:
            out[f"critical_recall_at_{k}"] = recall_at(critical, s, rate)
        if revenue is not None:
            out[f"revenue_share_at_{k}"] = revenue_share_at(revenue, s, rate)
    both = 0 < y.sum() < len(y)
    out["auc"] = float(roc_auc_score(y, s)) if both else float("nan")
    out["pr_auc"] = float(average_precision_score(y, s)) if both else float("nan")
    if len(s) and s.min() >= 0.0 and s.max() <= 1.0:
        out["brier"] = float(brier_score_loss(y, s))
    return out
