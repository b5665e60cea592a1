"""Figures of one simulated week against the truth (never shown to the strategy), and the
oracle at the same budget: the best k rows by the truth, inspected red (the oracle meets the
red detection rates too, as an expected value)."""

from __future__ import annotations

import numpy as np

from customs_risk.simulation.world import Truth


def week_figures(
    truth: Truth,
    chosen: np.ndarray,
    found: np.ndarray,
    red_detect: np.ndarray,
) -> dict[str, float]:
    """``truth`` of the week's rows, ``chosen`` the inspected mask, ``found`` the offences
    found among all rows, ``red_detect`` each row's probability that a red inspection finds
    its offence (0 without one)."""
    k = int(chosen.sum())
    revenue = truth.revenue
    captured = float(revenue[found].sum())
    total = float(revenue.sum())
    expected_red = red_detect * revenue
    oracle_revenue = float(np.sort(expected_red)[::-1][:k].sum())
    oracle_hits = float(np.sort(red_detect)[::-1][:k].sum())
    perfect_revenue = float(np.sort(revenue)[::-1][:k].sum())
    hits = int(found.sum())
    n_critical = int(truth.critical.sum())
    return {
        "items": float(len(chosen)),
        "offences": float(truth.offence.sum()),
        "inspected": float(k),
        "hits": float(hits),
        "precision": hits / k if k else float("nan"),
        "revenue_captured": captured,
        "revenue_total": total,
        "revenue_share": captured / total if total > 0 else float("nan"),
        "oracle_revenue": oracle_revenue,
        "oracle_hits": oracle_hits,
        "precision_of_oracle_week": oracle_hits / k if k else float("nan"),
        "revenue_of_oracle": captured / oracle_revenue if oracle_revenue > 0 else float("nan"),
        "precision_of_oracle": hits / oracle_hits if oracle_hits > 0 else float("nan"),
        "revenue_of_perfect": captured / perfect_revenue if perfect_revenue > 0 else float("nan"),
        "critical": float(n_critical),
        "critical_found": float((found & truth.critical).sum()),
        "critical_recall": float((found & truth.critical).sum()) / n_critical
        if n_critical
        else float("nan"),
        "hub_offences": float(truth.hub.sum()),
        "hub_found": float((found & truth.hub).sum()),
    }
