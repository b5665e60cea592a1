"""Testing a draft risk profile on history: how many items of the last days it would hit, the
inspection workload that makes per office and day, and what inspections of those items found
(its historical hit rate among the inspected ones, with an exact interval).

The profile is evaluated over the window whatever its validity dates (a draft is tested before
it applies); criteria on model outputs (scores, grades) cannot be tested on a dataset alone and
are refused by the profile evaluator with the field named.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from customs_risk.data.contracts import KEY
from customs_risk.evaluation.compliance import exact_interval
from customs_risk.selection.columns import Columns
from customs_risk.selection.profiles import ProfileSet, evaluate_profiles

COLUMNS: tuple[str, ...] = (
    "profile_id",
    "title",
    "action",
    "window_items",
    "hits",
    "hit_share",
    "office_days",
    "hits_per_office_day",
    "max_hits_office_day",
    "inspected",
    "found",
    "hit_rate",
    "ci_low",
    "ci_high",
    "recovered_revenue",
)


def try_profiles(
    profiles: ProfileSet,
    declarations: pd.DataFrame,
    outcomes: pd.DataFrame,
    window_days: int = 90,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """One row per profile (``COLUMNS``) over the declarations of the last ``window_days``."""
    last = declarations["declared_at"].max().normalize() + pd.Timedelta(days=1)
    window = declarations[declarations["declared_at"] >= last - pd.Timedelta(days=window_days)]
    window = window.reset_index(drop=True)
    drafts = ProfileSet(
        p.model_copy(update={"valid_from": dt.date(1900, 1, 1), "valid_to": None}) for p in profiles
    )
    days = window["declared_at"].to_numpy(dtype="datetime64[D]")
    hits = evaluate_profiles(drafts, Columns.of_frames(window), days)
    labels = window[KEY].merge(
        outcomes[[*KEY, "fraud_found", "recovered_revenue"]], on=KEY, how="left"
    )
    inspected = labels["fraud_found"].notna().to_numpy()
    found = labels["fraud_found"].fillna(False).astype(bool).to_numpy()
    revenue = labels["recovered_revenue"].to_numpy(dtype=np.float64, na_value=np.nan)
    office_day = window["office_id"].astype("str") + "/" + window["declared_at"].dt.strftime("%F")
    n_office_days = office_day.nunique()
    rows = []
    for j, profile in enumerate(drafts):
        mask = hits.matrix[:, j]
        per_office_day = office_day[mask].value_counts()
        n_insp, n_found = int((mask & inspected).sum()), int((mask & found).sum())
        rows.append(
            {
                "profile_id": profile.id,
                "title": profile.title,
                "action": profile.action,
                "window_items": len(window),
                "hits": int(mask.sum()),
                "hit_share": float(mask.mean()) if len(mask) else np.nan,
                "office_days": n_office_days,
                "hits_per_office_day": mask.sum() / n_office_days if n_office_days else np.nan,
                "max_hits_office_day": int(per_office_day.max()) if len(per_office_day) else 0,
                "inspected": n_insp,
                "found": n_found,
                "hit_rate": n_found / n_insp if n_insp else np.nan,
                "recovered_revenue": float(np.nansum(revenue[mask & inspected])),
            }
        )
    table = pd.DataFrame(rows)
    n = table["inspected"].to_numpy(dtype=np.float64)
    low, high = exact_interval(
        table["hit_rate"].to_numpy(dtype=np.float64), n, n, np.full(len(n), np.nan), confidence
    )
    table["ci_low"], table["ci_high"] = low, high
    return table[list(COLUMNS)]
