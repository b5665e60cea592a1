"""Risk profiles on history: testing a draft (:func:`try_profiles`) and monitoring the profiles
in force (:func:`monitor_profiles`).

A draft is evaluated over the window whatever its validity dates (it is tested before it
applies): how many items of the last days it would hit, the inspection workload that makes per
office and day, and what inspections of those items found (its historical hit rate among the
inspected ones, with an exact interval). Monitoring keeps the validity dates and sets each
profile's hit rate against the control group's: the offence rate found by inspection among the
random-control items of the same window (Hajek, weighted by 1 / propensity), the ratio being the
profile's lift, with a Katz log-ratio interval (the control's effective sample size is Kish's;
half an offence is added to an empty count so the bounds stay finite). Criteria on model outputs
(scores, grades) cannot be evaluated on a dataset alone and are refused by the profile evaluator
with the field named.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from customs_risk.data.contracts import KEY
from customs_risk.evaluation.compliance import exact_interval
from customs_risk.models.control_estimates import ControlSample
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


MONITOR_COLUMNS: tuple[str, ...] = (
    "profile_id",
    "title",
    "action",
    "hits",
    "inspected",
    "found",
    "hit_rate",
    "hit_rate_low",
    "hit_rate_high",
    "recovered_revenue",
    "control_rate",
    "n_control",
    "lift",
    "ci_low",
    "ci_high",
)


def _labels(window: pd.DataFrame, outcomes: pd.DataFrame) -> tuple[np.ndarray, ...]:
    """Per window row: has a result, offence found, recovered revenue (NaN: none)."""
    labels = window[KEY].merge(
        outcomes[[*KEY, "fraud_found", "recovered_revenue"]], on=KEY, how="left"
    )
    inspected = labels["fraud_found"].notna().to_numpy()
    found = labels["fraud_found"].fillna(False).astype(bool).to_numpy()
    revenue = labels["recovered_revenue"].to_numpy(dtype=np.float64, na_value=np.nan)
    return inspected, found, revenue


def _katz_lift(
    found: int, inspected: int, control_rate: float, n_control: float, z: float
) -> tuple[float, float, float]:
    """The ratio of a hit rate (found / inspected) to the control rate and its Katz interval:
    var(log ratio) = (1 - p1) / x1 + (1 - p2) / x2, counts floored at one half."""
    if not inspected or not control_rate > 0:
        return np.nan, np.nan, np.nan
    rate = found / inspected
    x1, x2 = max(found, 0.5), max(control_rate * n_control, 0.5)
    se = np.sqrt((1 - rate) / x1 + max(1 - control_rate, 0.0) / x2)
    centre = x1 / inspected / control_rate
    return rate / control_rate, centre * np.exp(-z * se), centre * np.exp(z * se)


def monitor_profiles(
    profiles: ProfileSet,
    declarations: pd.DataFrame,
    outcomes: pd.DataFrame,
    sample: ControlSample,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """One row per profile (``MONITOR_COLUMNS``) over ``declarations`` (the window monitored;
    ``sample`` aligned with its rows), validity dates applied."""
    from scipy.stats import norm

    window = declarations.reset_index(drop=True)
    days = window["declared_at"].to_numpy(dtype="datetime64[D]")
    hits = evaluate_profiles(profiles, Columns.of_frames(window), days)
    inspected, found, revenue = _labels(window, outcomes)
    control = sample.member & (sample.propensity < 1.0) & inspected
    w = sample.weights()[control]
    control_rate = float(np.sum(w * found[control]) / np.sum(w)) if control.any() else np.nan
    n_control = float(np.sum(w) ** 2 / np.sum(w**2)) if control.any() else 0.0
    z = float(norm.ppf(0.5 + confidence / 2))
    rows = []
    for j, profile in enumerate(profiles):
        mask = hits.matrix[:, j]
        n_insp, n_found = int((mask & inspected).sum()), int((mask & found).sum())
        rate = n_found / n_insp if n_insp else np.nan
        lift, low, high = _katz_lift(n_found, n_insp, control_rate, n_control, z)
        rows.append(
            {
                "profile_id": profile.id,
                "title": profile.title,
                "action": profile.action,
                "hits": int(mask.sum()),
                "inspected": n_insp,
                "found": n_found,
                "hit_rate": rate,
                "recovered_revenue": float(np.nansum(revenue[mask & inspected])),
                "control_rate": control_rate,
                "n_control": n_control,
                "lift": lift,
                "ci_low": low,
                "ci_high": high,
            }
        )
    table = pd.DataFrame(rows, columns=[c for c in MONITOR_COLUMNS if "hit_rate_" not in c])
    n = table["inspected"].to_numpy(dtype=np.float64)
    rate_low, rate_high = exact_interval(
        table["hit_rate"].to_numpy(dtype=np.float64), n, n, np.full(len(n), np.nan), confidence
    )
    table["hit_rate_low"], table["hit_rate_high"] = rate_low, rate_high
    return table[list(MONITOR_COLUMNS)]


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
    inspected, found, revenue = _labels(window, outcomes)
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
