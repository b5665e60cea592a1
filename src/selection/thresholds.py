"""Capacity-calibrated thresholds on the adjusted ranking key, per office.

For an office with profile-forced shares p_red, p_orange (of all its rows), random shares r_red,
r_orange and targets T_red, T_orange, the rows left to the model are the share
q = (1 - p_red - p_orange) * (1 - r_red - r_orange). The model must select

    F_red    = (T_red - p_red - r_red * (1 - p_red - p_orange)) / q
    F_orange = (T_orange - p_orange - r_orange * (1 - p_red - p_orange)) / q

of the rows it ranks (clamped to [0, 1]); the thresholds are the (1 - F_red) and
(1 - F_red - F_orange) quantiles of the adjusted key over those rows. Since the random draw is
independent of the score, the quantiles are taken over all rows not forced by a profile.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from customs_risk.selection.policy import ChannelPolicy, Shares
from customs_risk.selection.profiles import ProfileSet, decision_days, evaluate_profiles

log = logging.getLogger(__name__)


class OfficeThresholds(BaseModel):
    """Adjusted key >= red: model red; >= orange: model orange; inf: nobody, -inf: everybody."""

    model_config = ConfigDict(frozen=True, ser_json_inf_nan="strings")

    red: float
    orange: float
    n_rows: int = Field(ge=0)
    pooled: bool = False


class Thresholds(BaseModel):
    """Calibrated state stored with the model (to_dict / to_json / save / load)."""

    model_config = ConfigDict(frozen=True, ser_json_inf_nan="strings")

    policy_version: str
    ranking: str
    revenue_scale: float = Field(gt=0)
    offices: dict[str, OfficeThresholds]
    fallback: OfficeThresholds
    n_rows: int = Field(ge=0)
    window_start: dt.datetime | None = None
    window_end: dt.datetime | None = None
    warnings: list[str] = Field(default_factory=list)

    def arrays_for(self, office_ids: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        """Red and orange thresholds per row (the fallback for offices not calibrated)."""
        codes, uniques = pd.factorize(office_ids.astype("str"), use_na_sentinel=True)
        rows = [self.offices.get(o, self.fallback) for o in uniques] + [self.fallback]
        red = np.array([t.red for t in rows], dtype=np.float64)[codes]
        orange = np.array([t.orange for t in rows], dtype=np.float64)[codes]
        return red, orange

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (infinite thresholds as "Infinity"/"-Infinity")."""
        return json.loads(self.model_dump_json())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Thresholds:
        """Inverse of to_dict."""
        return cls.model_validate_json(json.dumps(data))

    def to_json(self) -> str:
        """JSON text."""
        return self.model_dump_json(indent=2)

    @classmethod
    def from_json(cls, text: str) -> Thresholds:
        """Inverse of to_json."""
        return cls.model_validate_json(text)

    def save(self, path: str | Path) -> None:
        """Write JSON to path."""
        Path(path).write_text(self.to_json(), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Thresholds:
        """Read JSON from path."""
        return cls.from_json(Path(path).read_text(encoding="utf-8"))


def _fractions(
    shares: Shares, p_red: float, p_orange: float, label: str, warnings: list[str]
) -> tuple[float, float]:
    """Fractions of the model-ranked rows to send red and red-or-orange."""
    free = 1.0 - p_red - p_orange
    need_red = shares.red - p_red - shares.random_red * free
    need_orange = shares.orange - p_orange - shares.random_orange * free
    if need_red < 0 or need_orange < 0:
        warnings.append(
            f"{label}: profiles and random control alone exceed the target "
            f"(profiles red {p_red:.4f}, orange {p_orange:.4f})"
        )
    q = free * (1.0 - shares.random_red - shares.random_orange)
    if q <= 0:
        return 0.0, 0.0
    f_red, f_orange = need_red / q, need_orange / q
    f_red = min(max(f_red, 0.0), 1.0)
    f_both = min(max(f_red + max(f_orange, 0.0), 0.0), 1.0)
    return f_red, f_both


def _cut(values: np.ndarray, fraction: float) -> float:
    """Threshold t with mean(values >= t) ~= fraction."""
    if fraction <= 0 or len(values) == 0:
        return float("inf")
    if fraction >= 1:
        return float("-inf")
    return float(np.quantile(values, 1.0 - fraction, method="linear"))


def _office_thresholds(
    key: np.ndarray, forced: np.ndarray, shares: Shares, label: str, warnings: list[str]
) -> OfficeThresholds:
    n = len(key)
    p_red = float((forced == 2).mean()) if n else 0.0
    p_orange = float((forced == 1).mean()) if n else 0.0
    f_red, f_both = _fractions(shares, p_red, p_orange, label, warnings)
    ranked = key[(forced == 0) & np.isfinite(key)]
    return OfficeThresholds(red=_cut(ranked, f_red), orange=_cut(ranked, f_both), n_rows=n)


def revenue_scale_of(scores: pd.DataFrame, policy: ChannelPolicy) -> float:
    """The policy's revenue scale, else the 99th percentile of positive expected revenue."""
    if policy.revenue_scale is not None:
        return policy.revenue_scale
    if "expected_revenue" not in scores.columns:
        return 1.0
    er = scores["expected_revenue"].to_numpy(dtype=np.float64, na_value=np.nan)
    er = er[np.isfinite(er) & (er > 0)]
    return float(np.quantile(er, 0.99)) if len(er) else 1.0


def calibrate_thresholds(
    scores_df: pd.DataFrame,
    declarations_df: pd.DataFrame,
    policy: ChannelPolicy,
    profiles: ProfileSet | None = None,
    as_of: dt.date | None = None,
) -> Thresholds:
    """Calibrate per-office thresholds on a window so that the targets of the policy are met.

    Offices with fewer than ``policy.min_office_rows`` rows, offices only named in the policy and
    the fallback for unknown offices use the pooled distribution of the window.
    """
    if len(scores_df) != len(declarations_df):
        got, want = len(scores_df), len(declarations_df)
        raise ValueError(f"scores ({got} rows) and declarations ({want} rows) differ")
    scores_df = scores_df.reset_index(drop=True)
    declarations_df = declarations_df.reset_index(drop=True)
    scale = revenue_scale_of(scores_df, policy)
    key = policy.adjusted_score(scores_df, declarations_df, scale)
    n = len(key)
    forced = np.zeros(n, dtype=np.int8)
    if profiles is not None and len(profiles):
        days = decision_days(declarations_df, as_of)
        _, forced = evaluate_profiles(profiles, [declarations_df, scores_df], days).forced()
    offices = declarations_df["office_id"].astype("str").to_numpy()
    warnings: list[str] = []
    result: dict[str, OfficeThresholds] = {}
    names = sorted(set(offices.tolist()) | set(policy.offices))
    counts = pd.Series(offices).value_counts()
    for office in names:
        shares = policy.shares_for(office)
        n_office = int(counts.get(office, 0))
        if n_office >= policy.min_office_rows:
            rows = offices == office
            result[office] = _office_thresholds(key[rows], forced[rows], shares, office, warnings)
        else:
            pooled = _office_thresholds(key, forced, shares, f"{office} (pooled)", warnings)
            result[office] = pooled.model_copy(update={"n_rows": n_office, "pooled": True})
    fallback = _office_thresholds(key, forced, policy.shares, "fallback", warnings)
    for w in warnings:
        log.warning("calibration: %s", w)
    start = end = None
    if "declared_at" in declarations_df.columns and n:
        start = pd.Timestamp(declarations_df["declared_at"].min()).to_pydatetime()
        end = pd.Timestamp(declarations_df["declared_at"].max()).to_pydatetime()
    return Thresholds(
        policy_version=policy.version,
        ranking=policy.ranking,
        revenue_scale=scale,
        offices=result,
        fallback=fallback.model_copy(update={"pooled": True}),
        n_rows=n,
        window_start=start,
        window_end=end,
        warnings=warnings,
    )
