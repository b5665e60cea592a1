"""Capacity-calibrated thresholds on the adjusted ranking key, per office.

For an office with profile-forced shares p_red, p_orange (of all its rows), random shares r_red,
r_orange and targets T_red, T_orange, the rows left to the model are the share
q = (1 - p_red - p_orange) * (1 - r_red - r_orange). The model must select

    F_red    = (T_red - p_red - r_red * (1 - p_red - p_orange)) / q
    F_orange = (T_orange - p_orange - r_orange * (1 - p_red - p_orange)) / q

of the rows it ranks (clamped to [0, 1]); the thresholds are the (1 - F_red) and
(1 - F_red - F_orange) quantiles of the adjusted key over those rows. Since the random draw is
independent of the score, the quantiles are taken over all rows not forced by a profile.

``refresh_thresholds`` is the daily refresh the served model uses: it calibrates on the most recent
``window_days`` days and corrects each office's targets for what the current capacity period has
already selected (pacing), so that the shares of the period meet the targets although an office's
score distribution moves from one week to the next (importer mix, seasonality, growth).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping
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
    # targets the thresholds were calibrated for when they differ from the policy's (pacing)
    target_red: float | None = None
    target_orange: float | None = None


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
    window_days: float | None = None
    horizon_days: float | None = None

    def check_policy(self, policy: ChannelPolicy) -> None:
        """Raise ValueError unless these thresholds were calibrated for ``policy``."""
        if self.policy_version != policy.version:
            raise ValueError(
                f"thresholds were calibrated for policy {self.policy_version!r}, "
                f"not {policy.version!r}: recalibrate"
            )
        if self.ranking != policy.ranking:
            raise ValueError(f"thresholds rank by {self.ranking}, policy by {policy.ranking}")

    def arrays_for(self, office_ids: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        """Red and orange thresholds per row (the fallback for offices not calibrated)."""
        codes, uniques = pd.factorize(office_ids.astype("str"), use_na_sentinel=True)
        return self.cuts_of(np.asarray(codes), [str(u) for u in uniques])

    def cuts_of(self, codes: np.ndarray, offices: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Red and orange thresholds per row of factorised offices (codes, -1 missing)."""
        rows = [self.offices.get(o, self.fallback) for o in offices] + [self.fallback]
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


def recent_rows(declarations_df: pd.DataFrame, window_days: float | None) -> np.ndarray:
    """Mask of the rows declared in the last ``window_days`` days before the latest row."""
    n = len(declarations_df)
    if window_days is None or n == 0 or "declared_at" not in declarations_df.columns:
        return np.ones(n, dtype=bool)
    if window_days <= 0:
        raise ValueError(f"window_days must be > 0, got {window_days}")
    stamps = pd.to_datetime(declarations_df["declared_at"])
    start = stamps.max() - pd.Timedelta(days=window_days)
    return (stamps > start).to_numpy(dtype=bool, na_value=False)


def calibrate_thresholds(
    scores_df: pd.DataFrame,
    declarations_df: pd.DataFrame,
    policy: ChannelPolicy,
    profiles: ProfileSet | None = None,
    as_of: dt.date | None = None,
    *,
    window_days: float | None = None,
    targets: Mapping[str, Shares] | None = None,
) -> Thresholds:
    """Calibrate per-office thresholds on a window so that the targets of the policy are met.

    Offices with fewer than ``policy.min_office_rows`` rows, offices only named in the policy and
    the fallback for unknown offices use the pooled distribution of the window.
    ``window_days``: calibrate on the rows of the last ``window_days`` days only (None: all rows).
    ``targets``: per-office shares replacing the policy's (``refresh_thresholds`` passes the
    paced targets); recorded as ``target_red`` / ``target_orange`` on the office.
    """
    if len(scores_df) != len(declarations_df):
        got, want = len(scores_df), len(declarations_df)
        raise ValueError(f"scores ({got} rows) and declarations ({want} rows) differ")
    recent = recent_rows(declarations_df, window_days)
    scores_df = scores_df[recent].reset_index(drop=True)
    declarations_df = declarations_df[recent].reset_index(drop=True)
    targets = targets or {}
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
    names = sorted(set(offices.tolist()) | set(policy.offices) | set(targets))
    counts = pd.Series(offices).value_counts()
    for office in names:
        shares = targets.get(office) or policy.shares_for(office)
        n_office = int(counts.get(office, 0))
        if n_office >= policy.min_office_rows:
            rows = offices == office
            cut = _office_thresholds(key[rows], forced[rows], shares, office, warnings)
        else:
            cut = _office_thresholds(key, forced, shares, f"{office} (pooled)", warnings)
            cut = cut.model_copy(update={"n_rows": n_office, "pooled": True})
        if office in targets:
            cut = cut.model_copy(update={"target_red": shares.red, "target_orange": shares.orange})
        result[office] = cut
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
        window_days=window_days,
    )


def paced_targets(
    policy: ChannelPolicy,
    decided: pd.DataFrame | None,
    rows_per_day: Mapping[str, float],
    horizon_days: float,
    max_correction: float = 0.5,
) -> dict[str, Shares]:
    """Per-office targets that bring the period's shares back to the policy's within the horizon.

    With n rows of the office decided so far in the period, of which s in a channel with target T,
    and m expected rows a day, the next day's target is T + (T * n - s) / (horizon_days * m):
    an office that selected too many so far selects fewer until the period's share is back on
    target. The correction is bounded by ``max_correction`` times T (and by the random share
    below), so one unusual day cannot swing the thresholds far.
    """
    if horizon_days <= 0:
        raise ValueError(f"horizon_days must be > 0, got {horizon_days}")
    out: dict[str, Shares] = {}
    if decided is None or len(decided) == 0:
        return out
    channel = decided["channel"].astype("str").to_numpy()
    tally = pd.DataFrame(
        {
            "office": decided["office_id"].astype("str").to_numpy(),
            "red": channel == "red",
            "orange": channel == "orange",
        }
    ).groupby("office")
    n = tally.size()
    picked = tally[["red", "orange"]].sum()
    for office in n.index:
        base = policy.shares_for(str(office))
        per_day = max(float(rows_per_day.get(office, 0.0)), 1.0)
        new = {}
        for name, floor in (("red", base.random_red), ("orange", base.random_orange)):
            target = getattr(base, name)
            gap = (target * n[office] - picked.loc[office, name]) / (horizon_days * per_day)
            gap = min(max(gap, -max_correction * target), max_correction * target)
            new[name] = min(max(target + gap, floor), 1.0)
        new["orange"] = min(new["orange"], 1.0 - new["red"])
        if new["orange"] < base.random_orange:  # red + orange near 1: keep the model's order valid
            new["red"] = 1.0 - base.random_orange
            new["orange"] = base.random_orange
        out[str(office)] = Shares.model_validate(base.model_dump() | new)
    return out


def refresh_thresholds(
    scores_df: pd.DataFrame,
    declarations_df: pd.DataFrame,
    policy: ChannelPolicy,
    profiles: ProfileSet | None = None,
    as_of: dt.date | None = None,
    *,
    window_days: float = 28.0,
    decided: pd.DataFrame | None = None,
    horizon_days: float = 3.0,
    max_correction: float = 0.5,
) -> Thresholds:
    """The daily refresh: calibrate on the last ``window_days`` days, paced by the period so far.

    ``scores_df`` / ``declarations_df``: the recent declarations (at least ``window_days`` days;
    older rows are ignored) and their scores. ``decided``: the decisions (``decide`` output, at
    least ``office_id`` and ``channel``) of the current capacity period so far, e.g. since the
    first of the month; None or empty at the start of a period: the policy's targets.
    Run it once a day (or more often) and decide the next declarations with the result.
    """
    recent = recent_rows(declarations_df, window_days)
    rows_per_day: dict[str, float] = {}
    if decided is not None and len(decided):
        counts = declarations_df.loc[recent, "office_id"].astype("str").value_counts()
        rows_per_day = {str(o): float(c) / window_days for o, c in counts.items()}
    targets = paced_targets(policy, decided, rows_per_day, horizon_days, max_correction)
    thresholds = calibrate_thresholds(
        scores_df,
        declarations_df,
        policy,
        profiles,
        as_of,
        window_days=window_days,
        targets=targets,
    )
    return thresholds.model_copy(update={"horizon_days": horizon_days})
