"""Monitoring over time: score drift per period (PSI against the model's reference window,
``models.drift``), channel shares and hit rates per period."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from customs_risk.data.contracts import CHANNELS, KEY
from customs_risk.models.drift import bin_counts, psi, psi_level


def score_drift(scores: pd.DataFrame, reference: dict[str, Any], period: str = "M") -> pd.DataFrame:
    """PSI per period of ``scores`` (declared_at, risk_score) against ``reference``: period,
    items, psi, reading, and the period's score median."""
    periods = scores["declared_at"].dt.to_period(period).astype("str")
    rows = []
    for unit, part in scores.groupby(periods.to_numpy(), sort=True):
        values = part["risk_score"].to_numpy(dtype=np.float64)
        value = psi(reference, bin_counts(reference, values))
        rows.append(
            {
                "period": str(unit),
                "items": len(part),
                "psi": value,
                "reading": psi_level(value),
                "median_score": float(np.nanmedian(values)) if len(values) else np.nan,
            }
        )
    return pd.DataFrame(rows, columns=["period", "items", "psi", "reading", "median_score"])


def channel_trends(
    declarations: pd.DataFrame, outcomes: pd.DataFrame, period: str = "M"
) -> pd.DataFrame:
    """Per period and channel applied (an item without a result counts as green): items, share
    of the period's items, results, offences found and the hit rate among results."""
    merged = declarations[[*KEY, "declared_at"]].merge(
        outcomes[[*KEY, "channel", "fraud_found"]], on=KEY, how="left"
    )
    channel = merged["channel"].astype("object").fillna("green").astype("str")
    found = merged["fraud_found"].astype("boolean")
    frame = pd.DataFrame(
        {
            "period": merged["declared_at"].dt.to_period(period).astype("str").to_numpy(),
            "channel": channel.to_numpy(),
            "result": found.notna().to_numpy(),
            "found": found.fillna(False).to_numpy(dtype=bool),
        }
    )
    table = frame.groupby(["period", "channel"], sort=True).agg(
        items=("result", "size"), results=("result", "sum"), found=("found", "sum")
    )
    table = table.reindex(
        pd.MultiIndex.from_product(
            [sorted(frame["period"].unique()), list(CHANNELS)], names=["period", "channel"]
        ),
        fill_value=0,
    ).reset_index()
    totals = table.groupby("period")["items"].transform("sum")
    with np.errstate(divide="ignore", invalid="ignore"):
        table["share"] = table["items"] / totals
        table["hit_rate"] = np.where(
            table["results"] > 0, table["found"] / table["results"].clip(lower=1), np.nan
        )
    return table
