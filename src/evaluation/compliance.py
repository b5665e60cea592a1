"""Compliance measurement: the offence rate and the duty at risk in the green channel per unit of
a level (all, month, office, HS chapter, origin; trader grade where decisions record it),
estimated from the random control with 95 % intervals.

The green population of a cell is its items that nothing but the random draw could send to
inspection: decided green by the model, profiles and rules. The control sample of
``models.control_estimates`` holds, among them, those the draw sent (propensity below 1, weight
1 / propensity), a uniform sample of the green population. Per cell: the offence rate is the
Hajek estimate sum(w * found) / sum(w) (what an inspection finds: detection is imperfect) with an
exact (Clopper-Pearson) interval on the effective sample size (Kish's, divided by the design
effect of sampling whole declarations, from a bootstrap over them); the duty at risk is the
Horvitz-Thompson total sum(w * recovered revenue) with the percentile interval of the same
bootstrap. A percentile interval of a rate collapses to [0, 0] in a cell where the sample found
no offence, so the rate's interval is the exact one (offences are rare: most cells). Cells
with fewer than ``min_sample`` sample items are kept and marked ``small_sample``; their figures
are the same estimates, only less sure.

On a generated world the truth-based offence rate of each cell's green population is beside the
estimate (``true_rate``: each item's chance that an inspection finds an offence, from
``truth.parquet`` and the world's detection table).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from customs_risk.data.contracts import DECISIONS_FILE, KEY, TRUTH_FILE
from customs_risk.data.world_config import WorldConfig
from customs_risk.evaluation.units import district_of, read_districts
from customs_risk.models.control_estimates import (
    ControlSample,
    bootstrap_sums,
    control_sample,
    expected_outcomes,
    percentile_interval,
)

LEVELS: tuple[str, ...] = (
    "all",
    "month",
    "district",
    "office",
    "hs_chapter",
    "origin",
    "trader_grade",
)
COLUMNS: tuple[str, ...] = (
    "level",
    "unit",
    "offence_rate",
    "ci_low",
    "ci_high",
    "duty_at_risk",
    "duty_ci_low",
    "duty_ci_high",
    "n_control",
    "n_green",
    "small_sample",
)


@dataclass(frozen=True)
class ComplianceSettings:
    """How the cells are estimated."""

    min_sample: int = 30
    resamples: int = 1000
    seed: int = 0
    confidence: float = 0.95


def units(declarations: pd.DataFrame, data_dir: Path | None = None) -> dict[str, np.ndarray]:
    """The unit of every declaration row at each level (districts from the folder's
    ``districts.parquet``, else all ``UNASSIGNED``; trader grade only from the grades recorded
    in ``decisions.parquet``)."""
    districts = None if data_dir is None else read_districts(Path(data_dir))
    out = {
        "all": np.full(len(declarations), "all", dtype=object),
        "month": declarations["declared_at"].dt.strftime("%Y-%m").to_numpy(dtype=object),
        "district": district_of(declarations["office_id"], districts),
        "office": declarations["office_id"].astype("str").to_numpy(dtype=object),
        "hs_chapter": declarations["hs_code"].astype("str").str.slice(0, 2).to_numpy(dtype=object),
        "origin": declarations["origin_country"].astype("str").to_numpy(dtype=object),
    }
    path = None if data_dir is None else Path(data_dir) / DECISIONS_FILE
    if path is not None and path.exists():
        decisions = pd.read_parquet(path, columns=[*KEY, "trader_grade"])
        latest = decisions.drop_duplicates(KEY, keep="last")
        grades = declarations[KEY].merge(latest, on=KEY, how="left")["trader_grade"]
        out["trader_grade"] = grades.astype("object").fillna("unknown").to_numpy(dtype=object)
    return out


def compliance(
    declarations: pd.DataFrame,
    outcomes: pd.DataFrame,
    sample: ControlSample,
    unit_of: dict[str, np.ndarray],
    settings: ComplianceSettings | None = None,
    expected_found: np.ndarray | None = None,
) -> pd.DataFrame:
    """One row per (level, unit): the columns of ``COLUMNS`` (and ``true_rate`` when
    ``expected_found``, per declaration row, is given)."""
    s = settings or ComplianceSettings()
    labels = declarations[KEY].merge(
        outcomes[[*KEY, "fraud_found", "recovered_revenue"]], on=KEY, how="left"
    )
    has_result = labels["fraud_found"].notna().to_numpy()
    green = ~(sample.propensity >= 1.0)  # 1: a rule, profile or the model sent it
    in_sample = sample.member & green & has_result
    rows = np.flatnonzero(in_sample)
    w = sample.weights()[rows]
    found = labels["fraud_found"].to_numpy(dtype=object)[rows].astype(bool).astype(np.float64)
    revenue = labels["recovered_revenue"].to_numpy(dtype=np.float64, na_value=np.nan)[rows]
    revenue = np.nan_to_num(revenue)
    cluster = pd.factorize(declarations["declaration_id"].to_numpy()[rows])[0]
    n_clusters = int(cluster.max()) + 1 if len(cluster) else 0

    cells: list[tuple[str, str]] = []
    blocks = []  # per level: clusters x (3 * cells of the level) sums
    counts, squares = [], []  # per level: sample items and sum of w^2 per cell
    for level, unit in unit_of.items():
        names, code = np.unique(unit[rows].astype(str), return_inverse=True)
        per_level = np.zeros((n_clusters, 3 * len(names)))
        for j, values in enumerate((w * found, w, w * revenue)):
            np.add.at(per_level, (cluster, 3 * code + j), values)
        blocks.append(per_level)
        counts.append(np.bincount(code, minlength=len(names)))
        squares.append(np.bincount(code, weights=w**2, minlength=len(names)))
        cells += [(level, str(n)) for n in names]
    columns = np.hstack(blocks) if blocks else np.zeros((0, 0))
    point = columns.sum(axis=0)
    draws = bootstrap_sums(columns, s.resamples, s.seed)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = point[0::3] / point[1::3]
        rate_draws = draws[:, 0::3] / draws[:, 1::3]
    rate_low, rate_high = exact_interval(
        rate, point[1::3], np.concatenate(squares), np.nanvar(rate_draws, axis=0), s.confidence
    )
    duty_low, duty_high = percentile_interval(draws[:, 2::3], s.confidence)
    green_counts = _cell_counts(unit_of, np.flatnonzero(green), cells)
    table = pd.DataFrame(
        {
            "level": [c[0] for c in cells],
            "unit": [c[1] for c in cells],
            "offence_rate": rate,
            "ci_low": rate_low,
            "ci_high": rate_high,
            "duty_at_risk": point[2::3],
            "duty_ci_low": duty_low,
            "duty_ci_high": duty_high,
            "n_control": np.concatenate(counts).astype(np.int64),
            "n_green": green_counts,
        }
    )
    table["small_sample"] = table["n_control"] < s.min_sample
    if expected_found is not None:
        table["true_rate"] = _true_rates(unit_of, np.flatnonzero(green), expected_found, cells)
    return table


def exact_interval(
    rate: np.ndarray,
    weight_sum: np.ndarray,
    weight_squares: np.ndarray,
    boot_var: np.ndarray,
    confidence: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Clopper-Pearson bounds of weighted rates on the effective sample size: Kish's
    (sum w)^2 / sum w^2, divided by the design effect (the bootstrap variance over the
    binomial one, when above 1)."""
    from scipy.stats import beta

    with np.errstate(divide="ignore", invalid="ignore"):
        n = weight_sum**2 / weight_squares
        binomial = rate * (1.0 - rate) / n
        deff = np.where((binomial > 0) & np.isfinite(boot_var), boot_var / binomial, 1.0)
        n = n / np.maximum(deff, 1.0)
    x = rate * n
    alpha = 1.0 - confidence
    ok = np.isfinite(rate) & (n > 0)
    low = np.full(len(rate), np.nan)
    high = np.full(len(rate), np.nan)
    low[ok] = np.where(x[ok] > 0, beta.ppf(alpha / 2, x[ok], n[ok] - x[ok] + 1), 0.0)
    high[ok] = np.where(x[ok] < n[ok], beta.ppf(1 - alpha / 2, x[ok] + 1, n[ok] - x[ok]), 1.0)
    return low, high


def _cell_counts(
    unit_of: dict[str, np.ndarray], rows: np.ndarray, cells: list[tuple[str, str]]
) -> np.ndarray:
    counts: dict[tuple[str, str], int] = {}
    for level, unit in unit_of.items():
        names, n = np.unique(unit[rows].astype(str), return_counts=True)
        counts |= {(level, str(a)): int(b) for a, b in zip(names, n, strict=True)}
    return np.array([counts.get(c, 0) for c in cells], dtype=np.int64)


def _true_rates(
    unit_of: dict[str, np.ndarray],
    rows: np.ndarray,
    expected: np.ndarray,
    cells: list[tuple[str, str]],
) -> np.ndarray:
    rates: dict[tuple[str, str], float] = {}
    for level, unit in unit_of.items():
        frame = pd.DataFrame({"unit": unit[rows].astype(str), "p": expected[rows]})
        means = frame.groupby("unit")["p"].mean()
        rates |= {(level, str(k)): float(v) for k, v in means.items()}
    return np.array([rates.get(c, np.nan) for c in cells], dtype=np.float64)


def compliance_report(
    data_dir: Path,
    settings: ComplianceSettings | None = None,
    world: WorldConfig | None = None,
) -> tuple[pd.DataFrame, str]:
    """The compliance table of a dataset folder and where its sample comes from (raises
    ValueError without a control sample)."""
    from customs_risk.models.dataset import load_training_data

    declarations, outcomes = load_training_data(Path(data_dir))
    sample = control_sample(Path(data_dir), declarations)
    if sample is None:
        raise ValueError(
            f"{data_dir}: no control sample (no {DECISIONS_FILE} with propensities, no "
            "generated world's legacy record): compliance cannot be estimated"
        )
    expected = None
    truth_path = Path(data_dir) / TRUTH_FILE
    if truth_path.exists():
        truth = pd.read_parquet(
            truth_path, columns=[*KEY, "is_offence", "fraud_type", "true_revenue"]
        )
        detection = (world or WorldConfig()).legacy.detection
        expected, _ = expected_outcomes(truth, declarations, sample.red_share, detection)
    table = compliance(
        declarations, outcomes, sample, units(declarations, data_dir), settings, expected
    )
    return table, sample.source
