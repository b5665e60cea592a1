"""Tariff analysis from declarations and outcomes alone (no truth): duty declared and recovered
per unit of a dimension, the price tendency of each HS6 x origin, the reference-price table and
the ranked suspected price-fraud enterprises.

Unit values are those of the features (``features.declaration``): log customs value minus log
quantity (per unit), or minus log net mass (per kg) where the quantity is missing or zero; the
``basis`` column says which. Reference prices are those of ``features.prices``: per HS6 x origin,
HS6 and HS4 the median log unit value and a spread (interquartile range / 1.349), the finer
levels shrunk towards the coarser ones with weight n / (n + ``price_shrinkage``) and the spread
floored at ``min_spread`` (``reference_estimates``); only the set of items they are computed
from differs between the tables here.

Suspect score. For an importer's item the reference is computed from the other importers' items
(leave-importer-out, so that a big importer is not its own reference: exact order statistics of
the other items at each of the three levels, then the same shrinkage) and the item's deviation
is ``z = (log unit value - reference) / spread``, clipped to [-4, 4] so that one keying error
does not make a suspect. An importer's own price level (a trader of cheap goods sits below the
reference everywhere) is told apart from undervaluation by the duty-free items (tariff rate 0),
on which undervaluing gains nothing: per importer ``z = a + b * dutiable + noise``, ``a`` its
level, ``b`` how much further its dutiable items sit below (or above) the reference. Both are
estimated by empirical Bayes, so that one cheap item or a handful of them does not make a
suspect: ``a ~ N(mu_a, tau_a2)``, ``b ~ N(beta0 + beta1 * record, tau_b2)``, item noise ``s2``,
all fitted by moments over the eligible importers (a Fay-Herriot model for ``b``); ``record`` is
the importer's inspection record (share of its inspected items found undervalued, shrunk to the
pooled share with ``FeatureConfig.prior_inspections`` inspections, minus that share; 0 without
outcomes), so that beta1 says from the data how much a record of undervaluation predicts the
price shortfall. The score is the posterior mean of ``-b`` in spreads: how far the importer's
dutiable items sit below the reference beyond its own level, shrunk towards what its record
predicts; importers with much price data are judged on their prices, thin ones lean on the
prior. Ranked: importers with at least ``min_items`` priced items over at least ``min_months``
months; the ranking shows the months whose dutiable items sit below the reference on average,
so that consistency over time can be read off. A high score is evidence to examine, not an
offence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from customs_risk.data.contracts import KEY
from customs_risk.features.compute import as_ns, texts_of
from customs_risk.features.config import FeatureConfig
from customs_risk.features.declaration import declaration_features
from customs_risk.features.encoding import Batch
from customs_risk.features.prices import (
    PRICE_BASES,
    PRICE_COLUMNS,
    PRICE_LEVELS,
    QUANTILES,
    LevelStats,
    fit_tables,
    reference_estimates,
)

DIMENSIONS: dict[str, str] = {  # dimension -> what it is computed from
    "chapter": "hs_code",
    "origin_country": "origin_country",
    "office_id": "office_id",
    "district_id": "district_id",
    "month": "declared_at",
}
DUTY_FIGURES: tuple[str, ...] = (
    "items",
    "customs_value",
    "duty_declared",
    "inspected",
    "fraud_found",
    "recovered_duty",
    "recovered_share",
)
Z_CLIP = 4.0


@dataclass(frozen=True)
class Suspects:
    """Ranked importers and the items behind the top of the ranking."""

    ranking: pd.DataFrame  # importer_id, rank, score, n_items, n_below, months, evidence, ...
    evidence: pd.DataFrame  # the ranked importers' items: unit value, reference, deviation
    prior: Prior  # the fitted prior the scores were shrunk with


def require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    """Raise ValueError naming the first missing column."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what}: no column {', '.join(missing)}")


def _month(declared_at: pd.Series) -> pd.Series:
    return declared_at.dt.strftime("%Y-%m").astype("str")


def dimension_values(declarations: pd.DataFrame, dimension: str) -> pd.Series:
    """The unit of every row on one of ``DIMENSIONS``."""
    if dimension not in DIMENSIONS:
        raise ValueError(f"dimension must be one of {', '.join(DIMENSIONS)}, got {dimension!r}")
    source = DIMENSIONS[dimension]
    require(declarations, [source], "declarations")
    if dimension == "chapter":
        return declarations[source].astype("str").str.slice(0, 2)
    if dimension == "month":
        return _month(declarations[source])
    return declarations[source].astype("str")


def declared_duty(declarations: pd.DataFrame) -> pd.Series:
    """``duty_declared``, or customs value x rate / 100 where it is missing (or absent)."""
    require(declarations, ["customs_value", "tariff_rate"], "declarations")
    computed = declarations["customs_value"] * declarations["tariff_rate"] / 100.0
    if "duty_declared" not in declarations.columns:
        return computed.astype(np.float64)
    return declarations["duty_declared"].astype(np.float64).fillna(computed)


def _item_outcomes(declarations: pd.DataFrame, outcomes: pd.DataFrame) -> pd.DataFrame:
    """Per declaration row: inspected, fraud found, recovered duty (0 without an outcome)."""
    require(outcomes, [*KEY, "fraud_found", "recovered_revenue"], "outcomes")
    per_item = (
        outcomes.assign(
            fraud_found=outcomes["fraud_found"].astype("boolean").fillna(False).astype(bool),
            recovered_revenue=outcomes["recovered_revenue"].astype(np.float64).fillna(0.0),
        )
        .groupby(KEY, sort=False)
        .agg(fraud_found=("fraud_found", "any"), recovered_revenue=("recovered_revenue", "sum"))
        .reset_index()
        .assign(inspected=True)
    )
    merged = declarations[KEY].merge(per_item, on=KEY, how="left")
    return pd.DataFrame(
        {
            "inspected": merged["inspected"].astype("boolean").fillna(False).to_numpy(bool),
            "fraud_found": merged["fraud_found"].astype("boolean").fillna(False).to_numpy(bool),
            "recovered_duty": merged["recovered_revenue"].fillna(0.0).to_numpy(np.float64),
        },
        index=declarations.index,
    )


def _duty_items(declarations: pd.DataFrame, outcomes: pd.DataFrame) -> pd.DataFrame:
    require(declarations, [*KEY], "declarations")
    frame = _item_outcomes(declarations, outcomes)
    frame["customs_value"] = declarations["customs_value"].astype(np.float64)
    frame["duty_declared"] = declared_duty(declarations)
    return frame


def _duty_sums(frame: pd.DataFrame, keys: list[pd.Series]) -> pd.DataFrame:
    table = (
        frame.groupby(keys, sort=True, dropna=False)
        .agg(
            items=("inspected", "size"),
            customs_value=("customs_value", "sum"),
            duty_declared=("duty_declared", "sum"),
            inspected=("inspected", "sum"),
            fraud_found=("fraud_found", "sum"),
            recovered_duty=("recovered_duty", "sum"),
        )
        .reset_index()
    )
    declared = table["duty_declared"].to_numpy()
    table["recovered_share"] = np.where(
        declared > 0, table["recovered_duty"] / np.where(declared > 0, declared, 1.0), np.nan
    )
    return table


def duty_collection(
    declarations: pd.DataFrame, outcomes: pd.DataFrame, by: Sequence[str]
) -> pd.DataFrame:
    """Per group of ``by`` (any of ``DIMENSIONS``; none: one row ``all``): items, customs
    value, duty declared, inspected items, items with fraud found, recovered duty (sum of the
    outcomes' recovered_revenue, null counted as 0) and recovered / declared (NaN where nothing
    is declared). Groups sorted by their keys; a missing key is a group of its own."""
    frame = _duty_items(declarations, outcomes)
    keys = [dimension_values(declarations, d).rename(d) for d in by]
    if not keys:
        keys = [pd.Series("all", index=frame.index, dtype="str", name="all")]
    return _duty_sums(frame, keys)


def duty_tables(
    declarations: pd.DataFrame, outcomes: pd.DataFrame, dimensions: Sequence[str]
) -> pd.DataFrame:
    """``duty_collection`` of each dimension alone, stacked: dimension, unit, ``DUTY_FIGURES``."""
    frame = _duty_items(declarations, outcomes)
    parts = [
        _duty_sums(frame, [dimension_values(declarations, d).rename("unit")]).assign(dimension=d)
        for d in dimensions
    ]
    table = pd.concat(parts, ignore_index=True)[["dimension", "unit", *DUTY_FIGURES]]
    return table.astype({"dimension": "str", "unit": "str"})


def unit_values(declarations: pd.DataFrame) -> pd.DataFrame:
    """Per row: hs6, hs4, origin, month, the log unit values of both bases and the row's own
    basis (unit where the quantity gives one, else kg; missing where neither does)."""
    require(
        declarations,
        ["hs_code", "origin_country", "declared_at", "customs_value", "quantity", "net_mass_kg"],
        "declarations",
    )
    batch = Batch(declarations)
    t = declarations["declared_at"].to_numpy("datetime64[ns]").astype(np.int64)
    numeric = declaration_features(batch, t)
    texts = texts_of(batch, list(PRICE_COLUMNS))
    out = pd.DataFrame(
        {c: pd.Series(texts[c]).to_numpy(dtype=object) for c in PRICE_COLUMNS},
        index=declarations.index,
    ).astype("str")
    out["month"] = _month(declarations["declared_at"])
    for column in PRICE_BASES.values():
        x = numeric[column]
        out[column] = np.where(np.isfinite(x), x, np.nan)
    unit = np.isfinite(out["log_uv_unit"].to_numpy())
    kg = np.isfinite(out["log_uv_kg"].to_numpy())
    basis = pd.Series(np.where(unit, "unit", "kg"), index=out.index, dtype="str")
    out["basis"] = basis.where(unit | kg)
    out["log_uv"] = np.where(unit, out["log_uv_unit"], out["log_uv_kg"])
    return out


def price_tendency(
    declarations: pd.DataFrame, min_items: int = 5, band: tuple[float, float] = (0.1, 0.9)
) -> pd.DataFrame:
    """Per HS6 x origin x month and basis: n items, the median unit value and its band (by
    default the 10th to 90th percentile of the items' unit values, linear interpolation);
    cells with fewer than ``min_items`` items are left out (``min_items=1`` keeps all)."""
    values = unit_values(declarations)
    values = values[values["basis"].notna()]
    values = values.assign(unit_value=np.exp(values["log_uv"]))
    keys = ["hs6", "origin_country", "basis", "month"]
    grouped = values.groupby(keys, sort=True)["unit_value"]
    table = grouped.size().rename("n_items").to_frame()
    table = table[table["n_items"] >= min_items]
    if table.empty:
        return pd.DataFrame(columns=[*keys, "n_items", "band_low", "median", "band_high"])
    kept = values.join(table, on=keys, how="inner").groupby(keys, sort=True)["unit_value"]
    quantiles = kept.quantile(np.array([band[0], 0.5, band[1]])).unstack()
    quantiles.columns = ["band_low", "median", "band_high"]
    return table.join(quantiles).reset_index()


def _codes(values: pd.DataFrame) -> dict[str, np.ndarray]:
    """Group ids of each price level, -1 where a part is missing."""
    codes = {c: pd.factorize(values[c])[0].astype(np.int64) for c in PRICE_COLUMNS}
    sizes = {c: int(codes[c].max()) + 1 if len(codes[c]) else 1 for c in PRICE_COLUMNS}
    out: dict[str, np.ndarray] = {}
    for level, columns in PRICE_LEVELS.items():
        key = np.zeros(len(values), dtype=np.int64)
        missing = np.zeros(len(values), dtype=bool)
        for column in columns:
            key = key * max(sizes[column], 1) + codes[column]
            missing |= codes[column] < 0
        out[level] = np.where(missing, -1, key)
    return out


def reference_table(
    declarations: pd.DataFrame, as_of: Any = None, config: FeatureConfig | None = None
) -> pd.DataFrame:
    """The reference prices a feature state fitted on the declarations lodged before ``as_of``
    (default: all) holds (``features.prices.fit_tables``), one row per HS6 x origin and basis:
    n at the HS6 x origin, HS6 and HS4 levels, the pair's own quartiles of the unit value, and
    the reference the features compare with (shrunk median) with its spread (log sd)."""
    cfg = config or FeatureConfig()
    frame = declarations
    if as_of is not None:
        frame = declarations[
            declarations["declared_at"].to_numpy("datetime64[ns]").astype(np.int64) < as_ns(as_of)
        ]
    values = unit_values(frame).reset_index(drop=True)
    groups = _codes(values)
    x = {column: values[column].to_numpy(np.float64) for column in PRICE_BASES.values()}
    tables = fit_tables(groups, x, np.zeros(len(values)))  # the rate tables are not shown
    pairs = values[groups["hs6_origin"] >= 0].drop_duplicates(["hs6", "origin_country"])
    rows = pairs.index.to_numpy()
    parts = []
    for base in PRICE_BASES:
        stats: LevelStats = {}
        for level in PRICE_LEVELS:
            fitted = tables[level]
            pos = np.searchsorted(fitted["key"], groups[level][rows])
            q = np.stack([fitted[f"{base}_{s}"][pos] for s in ("q25", "q50", "q75")], axis=1)
            stats[level] = (fitted[f"{base}_n"][pos], q)
        estimates = reference_estimates(base, stats, cfg)
        n, q = stats["hs6_origin"]
        part = pd.DataFrame(
            {
                "hs6": pairs["hs6"].to_numpy(),
                "origin_country": pairs["origin_country"].to_numpy(),
                "hs4": pairs["hs4"].to_numpy(),
                "basis": base,
                "n": n,
                "n_hs6": stats["hs6"][0],
                "n_hs4": stats["hs4"][0],
                "q25": np.exp(q[:, 0]),
                "median": np.exp(q[:, 1]),
                "q75": np.exp(q[:, 2]),
                "reference": np.exp(estimates[f"uv_{base}_ref"]),
                "spread": estimates[f"uv_{base}_spread"],
            }
        )
        parts.append(part[part["n"] > 0])
    table = pd.concat(parts, ignore_index=True)
    table = table.astype({"hs6": "str", "origin_country": "str", "hs4": "str", "basis": "str"})
    return table.sort_values(["hs6", "origin_country", "basis"], ignore_index=True)


def leave_out_quantiles(
    group: np.ndarray, owner: np.ndarray, x: np.ndarray, probs: Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the count and quantiles (linear interpolation between order statistics) of the
    finite x of its group's rows held by other owners (n 0 and NaN where there are none).

    Exact and vectorised: with the group sorted, the k-th smallest value left once an owner's
    positions p_0 < ... < p_{m-1} are removed sits at position k + #{t: p_t - t <= k}."""
    n_rows = len(x)
    counts = np.zeros(n_rows, dtype=np.int64)
    quantiles = np.full((n_rows, len(probs)), np.nan)
    rows = np.flatnonzero((group >= 0) & np.isfinite(x))
    if len(rows) == 0:
        return counts, quantiles
    g, o, v = group[rows], owner[rows], x[rows]
    order = np.lexsort((v, g))
    g, o, v, rows = g[order], o[order], v[order], rows[order]
    g_start = np.searchsorted(g, g, side="left")
    g_size = np.searchsorted(g, g, side="right") - g_start
    position = np.arange(len(g)) - g_start
    cell = g * (int(o.max()) + 1) + o
    by_cell = np.lexsort((position, cell))
    cell, position = cell[by_cell], position[by_cell]
    c_start = np.searchsorted(cell, cell, side="left")
    m = np.searchsorted(cell, cell, side="right") - c_start
    cell_id = np.cumsum(np.r_[True, cell[1:] != cell[:-1]]) - 1
    gap = position - (np.arange(len(cell)) - c_start)  # others' values before each own value
    width = int(g_size.max()) + 1
    search = cell_id * width + gap  # sorted: gap never decreases within a cell
    left = g_size[by_cell] - m
    base = g_start[by_cell]

    def order_statistic(k: np.ndarray) -> np.ndarray:
        removed = np.searchsorted(search, cell_id * width + k, side="right") - c_start
        return v[np.minimum(base + k + removed, len(v) - 1)]

    has = left > 0
    out = np.full((len(cell), len(probs)), np.nan)
    for j, p in enumerate(probs):
        h = p * np.maximum(left - 1, 0)
        lo = np.floor(h).astype(np.int64)
        hi = np.minimum(lo + 1, np.maximum(left - 1, 0))
        frac = h - lo
        low = np.where(has, order_statistic(np.where(has, lo, 0)), np.nan)
        high = np.where(has, order_statistic(np.where(has, hi, 0)), np.nan)
        out[:, j] = low + frac * (high - low)
    target = rows[by_cell]
    counts[target] = left
    quantiles[target] = out
    return counts, quantiles


def item_deviations(
    declarations: pd.DataFrame, config: FeatureConfig | None = None
) -> pd.DataFrame:
    """Per row with a unit value: its basis, log unit value, the leave-importer-out reference
    and spread (``reference_estimates`` of the other importers' items), how many of those items
    share its HS6 x origin (``reference_n``), the log deviation and its z-score; rows without a
    unit value or any reference have NaN there."""
    require(declarations, ["importer_id"], "declarations")
    cfg = config or FeatureConfig()
    values = unit_values(declarations).reset_index(drop=True)
    groups = _codes(values)
    owner = pd.factorize(declarations["importer_id"].astype("str"))[0].astype(np.int64)
    basis = values["basis"].to_numpy(dtype=object)
    ref = np.full(len(values), np.nan)
    spread = np.full(len(values), np.nan)
    reference_n = np.zeros(len(values), dtype=np.int64)
    for base, column in PRICE_BASES.items():
        use = basis == base
        if not use.any():
            continue
        x = values[column].to_numpy(np.float64)
        stats: LevelStats = {}
        for level, key in groups.items():
            n, q = leave_out_quantiles(key, owner, x, QUANTILES)
            stats[level] = (n[use], q[use])
        estimates = reference_estimates(base, stats, cfg)
        ref[use] = estimates[f"uv_{base}_ref"]
        spread[use] = estimates[f"uv_{base}_spread"]
        reference_n[use] = stats["hs6_origin"][0]
    x = values["log_uv"].to_numpy(np.float64)
    return values.assign(
        reference=ref,
        spread=spread,
        reference_n=reference_n,
        deviation=x - ref,
        z=(x - ref) / spread,
    ).set_index(declarations.index)


@dataclass(frozen=True)
class Prior:
    """What the importers' levels look like: the duty-free level ``a`` ~ N(mu_a, tau_a2), the
    dutiable shift ``b`` ~ N(beta0 + beta1 * record, tau_b2); ``s2`` the variance of an item's z
    around its importer's mean of its kind."""

    mu_a: float
    tau_a2: float
    beta0: float
    beta1: float
    tau_b2: float
    s2: float


DEFAULT_PRIOR = Prior(mu_a=0.0, tau_a2=0.25, beta0=0.0, beta1=0.0, tau_b2=0.25, s2=1.0)
MIN_PRIOR_IMPORTERS = 20  # below this the moments are too noisy: DEFAULT_PRIOR
FLOOR = 1e-3  # smallest variance a moment estimate may give


def _kind_sums(owner: np.ndarray, dutiable: np.ndarray, z: np.ndarray, n_owners: int) -> dict:
    """Per importer and kind (d dutiable, f duty-free): item count, sum and sum of squares of z."""

    def total(mask: np.ndarray, values: np.ndarray) -> np.ndarray:
        return np.bincount(owner[mask], weights=values[mask], minlength=n_owners)

    one = np.ones(len(z))
    out: dict[str, np.ndarray] = {}
    for kind, mask in (("d", dutiable), ("f", ~dutiable)):
        out |= {f"n_{kind}": total(mask, one), f"sum_{kind}": total(mask, z)}
        out[f"sq_{kind}"] = total(mask, z * z)
    return out


def inspection_record(
    declarations: pd.DataFrame,
    outcomes: pd.DataFrame | None,
    names: pd.Index,
    strength: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per importer of ``names``: inspected items, items found undervalued, and the record: the
    share found, shrunk to the pooled share p with ``strength`` inspections, minus p (all 0
    without outcomes or without their fraud_type)."""
    zero = np.zeros(len(names))
    if outcomes is None or "fraud_type" not in outcomes.columns:
        return zero, zero, zero
    require(outcomes, KEY, "outcomes")
    matched = outcomes[[*KEY, "fraud_type"]].merge(
        declarations[[*KEY, "importer_id"]], on=KEY, how="inner"
    )
    owner = names.get_indexer(pd.Index(matched["importer_id"].astype("str")))
    keep = owner >= 0
    undervalued = (matched["fraud_type"].astype("str") == "undervaluation").to_numpy()
    inspected = np.bincount(owner[keep], minlength=len(names)).astype(np.float64)
    found = np.bincount(owner[keep], weights=undervalued[keep] * 1.0, minlength=len(names))
    pooled = found.sum() / max(inspected.sum(), 1.0)
    return inspected, found, (found + strength * pooled) / (inspected + strength) - pooled


def _within_variance(sums: dict[str, np.ndarray], eligible: np.ndarray) -> tuple[float, float]:
    ss, dof = 0.0, 0.0
    for kind in ("d", "f"):
        n, s = sums[f"n_{kind}"][eligible], sums[f"sum_{kind}"][eligible]
        ss += float(np.sum(sums[f"sq_{kind}"][eligible] - s * s / np.maximum(n, 1)))
        dof += float(np.sum(np.maximum(n - 1, 0)))
    return ss, dof


def fit_prior(sums: dict[str, np.ndarray], eligible: np.ndarray, record: np.ndarray) -> Prior:
    """Moments over the eligible importers with two items of each kind: the duty-free mean
    ``a_hat`` has variance tau_a2 + s2 / n_f; the difference of the means ``b_hat`` is
    beta0 + beta1 * record + N(0, tau_b2 + psi), psi = s2 (1 / n_d + 1 / n_f) (a Fay-Herriot
    model: beta by weighted least squares, tau_b2 by moments of the residuals, iterated)."""
    ss, dof = _within_variance(sums, eligible)
    both = eligible & (sums["n_d"] >= 2) & (sums["n_f"] >= 2)
    if both.sum() < MIN_PRIOR_IMPORTERS or dof < 1:
        return DEFAULT_PRIOR
    s2 = ss / dof
    n_d, n_f = sums["n_d"][both], sums["n_f"][both]
    a = sums["sum_f"][both] / n_f
    b = sums["sum_d"][both] / n_d - a
    psi = s2 * (1 / n_d + 1 / n_f)
    tau_a2 = max(float(np.var(a) - s2 * np.mean(1 / n_f)), FLOOR)
    x = np.stack([np.ones(len(b)), record[both]], axis=1)
    tau_b2 = max(float(np.var(b) - np.mean(psi)), FLOOR)
    beta = np.array([float(np.mean(b)), 0.0])
    for _ in range(3):
        w = 1 / (tau_b2 + psi)
        gram = x.T @ (x * w[:, None])
        if np.linalg.cond(gram) < 1e12:  # no record (all zero): the mean alone
            beta = np.linalg.solve(gram, x.T @ (w * b))
        else:
            beta = np.array([float(np.sum(w * b) / np.sum(w)), 0.0])
        tau_b2 = max(float(np.mean((b - x @ beta) ** 2 - psi)), FLOOR)
    return Prior(float(np.mean(a)), tau_a2, float(beta[0]), float(beta[1]), tau_b2, s2)


def posterior_levels(
    sums: dict[str, np.ndarray], prior: Prior, record: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Posterior means of each importer's (a, b) under z = a + b * dutiable + noise (the normal
    linear model with the prior, one 2 x 2 system per importer)."""
    n_d, n_f, s2 = sums["n_d"], sums["n_f"], prior.s2
    mu_b = prior.beta0 + prior.beta1 * record
    p11 = (n_d + n_f) / s2 + 1 / prior.tau_a2
    p12 = n_d / s2
    p22 = n_d / s2 + 1 / prior.tau_b2
    r1 = (sums["sum_d"] + sums["sum_f"]) / s2 + prior.mu_a / prior.tau_a2
    r2 = sums["sum_d"] / s2 + mu_b / prior.tau_b2
    det = p11 * p22 - p12 * p12
    return (p22 * r1 - p12 * r2) / det, (p11 * r2 - p12 * r1) / det


RANKING_COLUMNS: tuple[str, ...] = (
    "importer_id",
    "rank",
    "score",
    "n_items",
    "n_below",
    "months",
    "months_below",
    "n_dutiable",
    "dutiable_z",
    "duty_free_z",
    "level",
    "inspected",
    "undervaluation_found",
    "duty_gap",
    "evidence",
)
EVIDENCE_COLUMNS: tuple[str, ...] = (
    "importer_id",
    "rank",
    *KEY,
    "declared_at",
    "month",
    "hs6",
    "origin_country",
    "basis",
    "tariff_rate",
    "customs_value",
    "unit_value",
    "reference_value",
    "reference_n",
    "deviation",
    "z",
    "dutiable",
    "duty_gap",
)


def _priced_items(declarations: pd.DataFrame, config: FeatureConfig | None) -> pd.DataFrame:
    """The rows with a unit value and a reference: deviation, z (clipped), duty gap (the duty
    on the difference between the reference value and the declared value, where positive)."""
    require(declarations, [*KEY, "importer_id", "tariff_rate"], "declarations")
    dev = item_deviations(declarations, config)
    keep = np.isfinite(dev["z"].to_numpy())
    items = declarations.loc[keep, [*KEY, "importer_id", "declared_at", "customs_value"]].copy()
    items["importer_id"] = items["importer_id"].astype("str")
    dev = dev.loc[keep]
    for column in ("month", "hs6", "origin_country", "basis", "reference_n", "deviation"):
        items[column] = dev[column]
    items["z"] = dev["z"].clip(-Z_CLIP, Z_CLIP)
    rate = declarations.loc[keep, "tariff_rate"].astype(np.float64)
    items["tariff_rate"] = rate
    items["dutiable"] = (rate > 0).to_numpy()
    amount = np.where(
        items["basis"] == "unit",
        declarations.loc[keep, "quantity"].to_numpy(np.float64, na_value=np.nan),
        declarations.loc[keep, "net_mass_kg"].to_numpy(np.float64, na_value=np.nan),
    )
    items["unit_value"] = np.exp(dev["log_uv"])
    items["reference_value"] = np.exp(dev["reference"])
    shortfall = np.maximum(items["reference_value"] * amount - items["customs_value"], 0.0)
    items["duty_gap"] = shortfall * rate.fillna(0.0) / 100.0
    return items.reset_index(drop=True)


def _evidence_text(table: pd.DataFrame) -> list[str]:
    return [
        f"{int(bd)} of {int(nd)} dutiable items below the reference (mean {dz:+.2f} spreads, "
        f"below in {int(mb)} of {int(md)} months); duty-free items "
        + (f"{fz:+.2f} spreads ({int(nf)})" if nf else "none")
        + f"; undervaluation found in {int(found)} of {int(k)} inspected; duty gap {gap:,.0f}"
        for bd, nd, dz, mb, md, fz, nf, found, k, gap in zip(
            table["n_below_dutiable"],
            table["n_dutiable"],
            table["dutiable_z"].fillna(0.0),
            table["months_below"],
            table["months_dutiable"],
            table["duty_free_z"].fillna(0.0),
            table["n_items"] - table["n_dutiable"],
            table["undervaluation_found"],
            table["inspected"],
            table["duty_gap"],
            strict=True,
        )
    ]


def _months(items: pd.DataFrame, owner: np.ndarray, n_owners: int) -> dict[str, np.ndarray]:
    """Per importer: months with priced items, months with dutiable ones, months whose
    dutiable items sit below the reference on average."""
    dutiable = items["dutiable"].to_numpy()
    cells = pd.DataFrame({"owner": owner, "month": items["month"].to_numpy()})
    months = np.bincount(cells.drop_duplicates()["owner"].to_numpy(), minlength=n_owners)
    monthly = (
        (items.loc[dutiable, ["z"]].assign(owner=owner[dutiable], month=cells["month"][dutiable]))
        .groupby(["owner", "month"])["z"]
        .mean()
    )
    month_owner = monthly.index.get_level_values(0).to_numpy()
    below = np.bincount(month_owner, weights=(monthly.to_numpy() < 0) * 1.0, minlength=n_owners)
    return {
        "months": months.astype(np.int64),
        "months_dutiable": np.bincount(month_owner, minlength=n_owners).astype(np.int64),
        "months_below": below.astype(np.int64),
    }


def rank_suspects(
    declarations: pd.DataFrame,
    outcomes: pd.DataFrame | None = None,
    min_items: int = 5,
    min_months: int = 2,
    evidence_top: int = 50,
    config: FeatureConfig | None = None,
) -> Suspects:
    """Importers ranked by the suspect score of the module docstring (highest first): those
    with at least ``min_items`` priced items over at least ``min_months`` months, a dutiable
    one among them. Without
    outcomes (or without their fraud_type) the score rests on the prices alone. The evidence
    rows are the items of the first ``evidence_top``."""
    cfg = config or FeatureConfig()
    items = _priced_items(declarations, cfg)
    owner, names = pd.factorize(items["importer_id"])
    names = pd.Index(names.astype("str"))
    n_owners = len(names)
    z, dutiable = items["z"].to_numpy(), items["dutiable"].to_numpy()
    sums = _kind_sums(owner, dutiable, z, n_owners)
    months = _months(items, owner, n_owners)
    n_items = sums["n_d"] + sums["n_f"]
    # without a dutiable item there is no duty to undervalue
    eligible = (n_items >= min_items) & (months["months"] >= min_months) & (sums["n_d"] > 0)
    inspected, found, record = inspection_record(
        declarations, outcomes, names, cfg.prior_inspections
    )
    prior = fit_prior(sums, eligible, record)
    level, shift = posterior_levels(sums, prior, record)

    def total(values: np.ndarray) -> np.ndarray:
        return np.bincount(owner, weights=values, minlength=n_owners)

    def mean_of(kind: str) -> np.ndarray:
        n = sums[f"n_{kind}"]
        return np.where(n > 0, sums[f"sum_{kind}"] / np.maximum(n, 1), np.nan)

    table = pd.DataFrame(
        {
            "importer_id": pd.array(names, dtype="str"),
            "score": -shift,
            "n_items": n_items.astype(np.int64),
            "n_below": total((z < 0) * 1.0).astype(np.int64),
            **months,
            "n_dutiable": sums["n_d"].astype(np.int64),
            "n_below_dutiable": total(((z < 0) & dutiable) * 1.0).astype(np.int64),
            "dutiable_z": mean_of("d"),
            "duty_free_z": mean_of("f"),
            "level": level,
            "inspected": inspected.astype(np.int64),
            "undervaluation_found": found.astype(np.int64),
            "duty_gap": total(items["duty_gap"].to_numpy(np.float64)),
        }
    )[eligible]
    table = table.sort_values(["score", "importer_id"], ascending=[False, True], ignore_index=True)
    table.insert(1, "rank", np.arange(1, len(table) + 1, dtype=np.int64))
    table["evidence"] = pd.array(_evidence_text(table), dtype="str")
    ranking = table[list(RANKING_COLUMNS)]
    top = ranking.head(evidence_top)[["importer_id", "rank"]]
    evidence = items.merge(top, on="importer_id", how="inner")[list(EVIDENCE_COLUMNS)]
    evidence = evidence.sort_values(["rank", "declared_at", *KEY], ignore_index=True)
    return Suspects(ranking, evidence, prior)
