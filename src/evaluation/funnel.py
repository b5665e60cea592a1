"""Funnel-plot test of units' performance against indirectly standardised expectations
(Spiegelhalter 2005, "Funnel plots for comparing institutional performance", Stat Med 24:1185).

Each unit has ``observed`` events (hits), ``expected`` events (the sum over its cases of the
rate of each case's stratum) and the binomial ``variance`` of that sum (sum of p (1 - p)); its
ratio is O / E with standard error s = sqrt(V) / E and its z-score (O - E) / sqrt(V). Units
differ by more than chance in most real settings (offices see different traders, offences
cluster in declarations and importers), so the z-scores are first winsorised at their 10th and
90th percentiles (the outliers the test looks for must not inflate the correction) and
phi = mean of their squares. Then, as ``method``:

- ``multiplicative`` (the default): the variance is phi V where phi > 1; z / sqrt(phi) is the
  statistic, the limits of the ratio 1 +- z_alpha sqrt(phi) s;
- ``additive`` (random effects): a between-unit variance tau^2 (DerSimonian-Laird from the
  winsorised phi) is added to each s^2; limits 1 +- z_alpha sqrt(s^2 + tau^2).

Too few units (``min_units``) to estimate the spread: no correction. The flag compares the
statistic with the two-sided normal quantile of ``confidence`` (99.8 %: 3.09). The limits are
normal ones: fine at the tens of expected events of an office, only indicative below a handful.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

FLAG_LOW, FLAG_HIGH, NO_FLAG = "low", "high", ""
METHODS: tuple[str, ...] = ("multiplicative", "additive")


@dataclass(frozen=True)
class FunnelSettings:
    """The test's parameters."""

    confidence: float = 0.998
    method: str = "multiplicative"
    winsor: float = 0.10  # winsorising quantile of the z-scores (each tail)
    min_units: int = 10  # fewer units: no overdispersion estimated
    grid_points: int = 60

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if not 0 < self.confidence < 1:
            raise ValueError(f"confidence must lie in (0, 1), got {self.confidence}")


@dataclass(frozen=True)
class FunnelResult:
    """``table`` per unit (input order): expected, observed, ratio, flag_statistic (after the
    correction), z_raw, lower_limit and upper_limit of the ratio at the unit's volume, flag;
    ``curve``: the limits of the ratio over a grid of expected events (expected, lower,
    upper); ``phi``: the multiplicative factor used (1: none), ``phi_estimate``: the winsorised
    estimate (NaN: too few units), ``tau2``: the between-unit variance used (additive),
    ``z_limit``: the normal quantile of the limits."""

    table: pd.DataFrame
    curve: pd.DataFrame
    phi: float
    phi_estimate: float
    tau2: float
    z_limit: float


def overdispersion(z: np.ndarray, winsor: float, min_units: int) -> float:
    """Spiegelhalter's phi: the mean squared z-score after winsorising each tail at
    ``winsor`` (NaN with fewer than ``min_units`` finite z-scores)."""
    z = z[np.isfinite(z)]
    if len(z) < max(min_units, 2):
        return float("nan")
    low, high = np.quantile(z, [winsor, 1.0 - winsor])
    return float(np.mean(np.clip(z, low, high) ** 2))


def between_variance(phi: float, se2: np.ndarray) -> float:
    """DerSimonian-Laird tau^2 from the winsorised phi (Spiegelhalter 2005, section 5.2): 0
    unless I phi exceeds I - 1."""
    i = len(se2)
    if not np.isfinite(phi) or i * phi <= i - 1:
        return 0.0
    w = 1.0 / se2
    return float((i * phi - (i - 1)) / (w.sum() - (w**2).sum() / w.sum()))


def funnel_test(
    observed: np.ndarray,
    expected: np.ndarray,
    variance: np.ndarray,
    settings: FunnelSettings | None = None,
) -> FunnelResult:
    """The funnel test of units with ``observed`` events, ``expected`` events and the variance
    of the expected count under the null (a unit without variance gets no statistic, no
    flag)."""
    from scipy.stats import norm

    s = settings or FunnelSettings()
    o, e, v = (np.asarray(a, dtype=np.float64) for a in (observed, expected, variance))
    z_limit = float(norm.ppf(1.0 - (1.0 - s.confidence) / 2.0))
    ok = (v > 0) & (e > 0)
    safe_e = np.where(ok, e, 1.0)
    ratio = np.where(e > 0, o / np.where(e > 0, e, 1.0), np.nan)
    se2 = np.where(ok, v / safe_e**2, np.nan)
    z_raw = np.where(ok, (o - e) / np.sqrt(np.where(ok, v, 1.0)), np.nan)
    phi_estimate = overdispersion(z_raw, s.winsor, s.min_units)
    phi, tau2 = 1.0, 0.0
    if s.method == "additive":
        tau2 = between_variance(phi_estimate, se2[ok])
    elif np.isfinite(phi_estimate):
        phi = max(1.0, phi_estimate)
    scale = np.sqrt(phi * se2 + tau2)
    z = np.where(ok, (ratio - 1.0) / np.where(ok, scale, 1.0), np.nan)
    half = z_limit * scale
    flag = np.where(z < -z_limit, FLAG_LOW, np.where(z > z_limit, FLAG_HIGH, NO_FLAG))
    table = pd.DataFrame(
        {
            "expected": e,
            "observed": o,
            "ratio": ratio,
            "flag_statistic": z,
            "z_raw": z_raw,
            "lower_limit": np.maximum(1.0 - half, 0.0),
            "upper_limit": 1.0 + half,
            "flag": pd.array(flag, dtype="str"),
        }
    )
    curve = _curve(e[ok], v[ok], phi, tau2, z_limit, s.grid_points)
    return FunnelResult(table, curve, phi, phi_estimate, tau2, z_limit)


def _curve(
    e: np.ndarray, v: np.ndarray, phi: float, tau2: float, z_limit: float, points: int
) -> pd.DataFrame:
    """Limits of the ratio over expected events; the variance of a count is taken as k E,
    k the units' pooled variance-to-mean ratio (binomial cases of their mix)."""
    if not len(e):
        return pd.DataFrame({"expected": [], "lower": [], "upper": []}, dtype=np.float64)
    k = float(v.sum() / e.sum())
    grid = np.geomspace(min(float(e.min()), 1.0), 1.2 * float(e.max()), points)
    half = z_limit * np.sqrt(phi * k / grid + tau2)
    return pd.DataFrame(
        {"expected": grid, "lower": np.maximum(1.0 - half, 0.0), "upper": 1.0 + half}
    )
