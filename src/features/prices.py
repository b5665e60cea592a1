"""Reference prices and tariff structure (tariff analysis), as daily snapshots.

Reference tables describe, per HS6 x origin, HS6 and HS4, the distribution of log unit values
(per kg and per unit: median, and a robust spread from the interquartile range), the highest tariff
rate seen in each HS4 and the typical (median) rate of each HS6. A declaration lodged on day d is
compared with the tables built from the declarations lodged before day d (strictly before its own
instant, and like a reference-price database refreshed nightly). Offline, ``offline_stats``
computes that snapshot for every day; a state holds the snapshot of everything it was fitted on
(``fit_tables``) and serving looks it up (``lookup_stats``). Both go through the same counts and
arithmetic (``customs_risk.features.quantiles``), so they agree bit for bit on the day after the
fit. Finer levels shrink towards coarser ones when they hold few declarations.
"""

from __future__ import annotations

import numpy as np

from customs_risk.features.config import LOG_UNIT_VALUE_GRID, RATE_GRID, FeatureConfig
from customs_risk.features.duty import DUTY_NUMERIC
from customs_risk.features.keys import composite_keys, stack_keys
from customs_risk.features.quantiles import (
    prefix_max,
    prefix_quantiles,
    total_max,
    total_quantiles,
)

# Level -> the columns whose combination identifies a group, finest first.
PRICE_LEVELS: dict[str, tuple[str, ...]] = {
    "hs6_origin": ("hs6", "origin_country"),
    "hs6": ("hs6",),
    "hs4": ("hs4",),
}
PRICE_BASES: dict[str, str] = {"kg": "log_uv_kg", "unit": "log_uv_unit"}
QUANTILES = (0.25, 0.5, 0.75)
_IQR_TO_SIGMA = 1.349
PRICE_NUMERIC: list[str] = [
    "ref_n_hs6_origin",
    "ref_n_hs6",
    "ref_n_hs4",
    "uv_kg_ref",
    "uv_kg_spread",
    "uv_kg_dev",
    "uv_kg_z",
    "uv_unit_ref",
    "uv_unit_spread",
    "uv_unit_dev",
    "uv_unit_z",
    "hs4_max_rate",
    "tariff_gap_hs4",
    "hs6_typical_rate",
    "pref_margin",
    "is_preferential",
    *DUTY_NUMERIC,
]


def stat_names(level: str) -> list[str]:
    """Columns of a level's reference table (besides its key)."""
    names = [f"{b}_{s}" for b in PRICE_BASES for s in ("n", "q25", "q50", "q75")]
    if level == "hs4":
        names.append("max_rate")
    if level == "hs6":
        names.append("rate_median")
    return names


# A level's snapshot for one base, per row: (count, quantiles[rows, 3]).
LevelStats = dict[str, tuple[np.ndarray, np.ndarray]]


def offline_value_stats(
    groups: dict[str, np.ndarray], day: np.ndarray, x: np.ndarray
) -> LevelStats:
    """Per row and level, the snapshot of log unit values x as of the start of the row's day
    (the rows of the batch are the only contributors; ``groups``: batch group ids, -1 missing)."""
    return {
        level: prefix_quantiles(group, day, x, group, day, LOG_UNIT_VALUE_GRID, QUANTILES)
        for level, group in groups.items()
    }


def offline_tariff_stats(
    groups: dict[str, np.ndarray], day: np.ndarray, rate: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the HS4's highest rate and the HS6's median rate on earlier days."""
    max_rate = prefix_max(groups["hs4"], day, rate, groups["hs4"], day)
    _, q = prefix_quantiles(groups["hs6"], day, rate, groups["hs6"], day, RATE_GRID, [0.5])
    return max_rate, q[:, 0]


PRICE_COLUMNS: tuple[str, ...] = ("hs6", "origin_country", "hs4")


def contributors(
    t: np.ndarray, codes: dict[str, np.ndarray], x: dict[str, np.ndarray], rate: np.ndarray
) -> dict[str, np.ndarray]:
    """What reference tables are fitted from, row by row: the declaration time, the codes of the
    level columns, the log unit values and the tariff rate (a state keeps them so that live
    history can refit its snapshot: ``refit_tables``)."""
    out = {"t": np.asarray(t, dtype=np.int64)}
    out |= {c: np.asarray(codes[c], dtype=np.int32) for c in PRICE_COLUMNS}
    out |= {column: np.asarray(x[column], dtype=np.float64) for column in PRICE_BASES.values()}
    out["tariff_rate"] = np.asarray(rate, dtype=np.float64)
    return out


def refit_tables(
    rows: dict[str, np.ndarray], sizes: dict[str, int], cut: int
) -> dict[str, dict[str, np.ndarray]]:
    """``fit_tables`` over the contributors lodged before ``cut`` (ns), keyed with ``sizes``."""
    keep = rows["t"] < cut
    codes = {c: rows[c][keep] for c in PRICE_COLUMNS}
    groups = {lv: composite_keys([comps], codes, sizes)[0] for lv, comps in PRICE_LEVELS.items()}
    x = {column: rows[column][keep] for column in PRICE_BASES.values()}
    return fit_tables(groups, x, rows["tariff_rate"][keep])


def fit_tables(
    groups: dict[str, np.ndarray], x: dict[str, np.ndarray], rate: np.ndarray
) -> dict[str, dict[str, np.ndarray]]:
    """Reference tables over all rows given, per level: key-sorted arrays of ``stat_names``."""
    tables: dict[str, dict[str, np.ndarray]] = {}
    for level, group in groups.items():
        keys = np.unique(group[group >= 0])
        table: dict[str, np.ndarray] = {"key": keys}
        for base, column in PRICE_BASES.items():
            g, n, q = total_quantiles(group, x[column], LOG_UNIT_VALUE_GRID, QUANTILES)
            pos = np.searchsorted(keys, g)
            table[f"{base}_n"] = np.zeros(len(keys), dtype=np.int64)
            table[f"{base}_n"][pos] = n
            for j, name in enumerate(("q25", "q50", "q75")):
                table[f"{base}_{name}"] = np.full(len(keys), np.nan)
                table[f"{base}_{name}"][pos] = q[:, j]
        if level == "hs4":
            g, m = total_max(group, rate)
            table["max_rate"] = np.full(len(keys), np.nan)
            table["max_rate"][np.searchsorted(keys, g)] = m
        if level == "hs6":
            g, _, q = total_quantiles(group, rate, RATE_GRID, [0.5])
            table["rate_median"] = np.full(len(keys), np.nan)
            table["rate_median"][np.searchsorted(keys, g)] = q[:, 0]
        tables[level] = table
    return tables


def _rows(table: dict[str, np.ndarray], row_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Position of each row's key in a key-sorted table, and whether it is there."""
    table_keys = table["key"]
    if len(table_keys) == 0:
        return np.zeros(len(row_keys), dtype=np.int64), np.zeros(len(row_keys), dtype=bool)
    pos = np.minimum(np.searchsorted(table_keys, row_keys), len(table_keys) - 1)
    return pos, (row_keys >= 0) & (table_keys[pos] == row_keys)


def _take(values: np.ndarray, pos: np.ndarray, hit: np.ndarray, missing: float) -> np.ndarray:
    if len(values) == 0:
        return np.full(len(pos), missing, dtype=values.dtype)
    return np.where(hit, values[pos], missing)


def lookup_value_stats(
    stack: dict[str, np.ndarray], keys: dict[str, np.ndarray]
) -> dict[str, LevelStats]:
    """Per base, level and row, the state's snapshot (unknown group: n 0, NaN), from the
    levels' tables stacked in one (``FeatureState.reference_stack``) with one lookup."""
    levels = list(keys)
    n = len(keys[levels[0]])
    pos, hit = _rows(stack, stack_keys([keys[lv] for lv in levels]))
    out: dict[str, LevelStats] = {}
    for base in PRICE_BASES:
        counts = _take(stack[f"{base}_n"], pos, hit, 0).astype(np.int64)
        q = np.stack(
            [_take(stack[f"{base}_{name}"], pos, hit, np.nan) for name in ("q25", "q50", "q75")],
            axis=1,
        )
        out[base] = {
            lv: (counts[i * n : (i + 1) * n], q[i * n : (i + 1) * n]) for i, lv in enumerate(levels)
        }
    return out


def lookup_tariff_stats(
    tables: dict[str, dict[str, np.ndarray]], keys: dict[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the state's HS4 highest rate and HS6 median rate."""
    pos4, hit4 = _rows(tables["hs4"], keys["hs4"])
    pos6, hit6 = _rows(tables["hs6"], keys["hs6"])
    return (
        _take(tables["hs4"]["max_rate"], pos4, hit4, np.nan),
        _take(tables["hs6"]["rate_median"], pos6, hit6, np.nan),
    )


def _blend(fine: np.ndarray, n: np.ndarray, coarse: np.ndarray, k: float) -> np.ndarray:
    """Shrink a finer estimate towards a coarser one with weight n / (n + k)."""
    w = n / (n + k)
    mixed = np.where(np.isnan(coarse), fine, w * fine + (1.0 - w) * coarse)
    return np.where(n > 0, mixed, coarse)


def reference_estimates(
    base: str, stats: LevelStats, config: FeatureConfig
) -> dict[str, np.ndarray]:
    """Reference (median) and spread (IQR as a standard deviation) of one base, shrunk
    HS4 -> HS6 -> HS6 x origin; for the kg base also the counts behind them."""
    k = config.price_shrinkage
    estimate = None  # rows: reference, spread
    for level in reversed(PRICE_LEVELS):
        n, q = stats[level]
        pair = np.array([q[:, 1], (q[:, 2] - q[:, 0]) / _IQR_TO_SIGMA])
        estimate = (
            np.where(n > 0, pair, np.nan) if estimate is None else _blend(pair, n, estimate, k)
        )
    assert estimate is not None
    out = {
        f"uv_{base}_ref": estimate[0],
        f"uv_{base}_spread": np.maximum(estimate[1], config.min_spread),
    }
    if base == "kg":
        for level in PRICE_LEVELS:
            out[f"ref_n_{level}"] = stats[level][0].astype(np.float64)
    return out


def deviation_features(base: str, ref: np.ndarray, spread: np.ndarray, x: np.ndarray) -> dict:
    """Log deviation of the declared unit value from the reference and its robust z-score."""
    dev = x - ref
    return {f"uv_{base}_dev": dev, f"uv_{base}_z": dev / spread}


def value_features(
    base: str, stats: LevelStats, x: np.ndarray, config: FeatureConfig
) -> dict[str, np.ndarray]:
    """Reference estimates and deviations of one base."""
    out = reference_estimates(base, stats, config)
    out.update(deviation_features(base, out[f"uv_{base}_ref"], out[f"uv_{base}_spread"], x))
    return out


def resolve_reference(
    tables: dict[str, dict[str, np.ndarray]],
    stack: dict[str, np.ndarray],
    n_origin: int,
    hs4_of_hs6: np.ndarray,
    config: FeatureConfig,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Everything a state's snapshot says about a row that does not depend on the row's own
    values, precomputed for every known HS6 x origin, every HS6 (origin unknown) and every HS4
    (HS6 unknown), plus one row for nothing known. Returns (stacked keys of those three levels,
    values[rows + 1, columns], columns); the last row is the nothing-known one."""
    pairs = tables["hs6_origin"]["key"]
    hs6 = tables["hs6"]["key"]
    hs4 = tables["hs4"]["key"]
    none = np.full(1, -1, dtype=np.int64)

    def minus(n: int) -> np.ndarray:
        return np.full(n, -1, dtype=np.int64)

    hs6_of_pair = pairs // max(n_origin, 1)
    keys = {
        "hs6_origin": np.concatenate([pairs, minus(len(hs6) + len(hs4)), none]),
        "hs6": np.concatenate([hs6_of_pair, hs6, minus(len(hs4)), none]),
        "hs4": np.concatenate([hs4_of_hs6[hs6_of_pair], hs4_of_hs6[hs6], hs4, none]).astype(
            np.int64
        ),
    }
    stats = lookup_value_stats(stack, keys)
    values: dict[str, np.ndarray] = {}
    for base in PRICE_BASES:
        values.update(reference_estimates(base, stats[base], config))
    values["hs4_max_rate"], values["hs6_rate_median"] = lookup_tariff_stats(tables, keys)
    columns = list(values)
    matrix = np.array([values[c] for c in columns]).T
    return stack_keys([pairs, hs6, hs4]), matrix, columns


def lookup_resolved(
    stacked: np.ndarray, matrix: np.ndarray, keys: dict[str, np.ndarray]
) -> np.ndarray:
    """Rows of ``resolve_reference``'s matrix for each row: its HS6 x origin if known, else its
    HS6, else its HS4, else nothing known."""
    n = len(keys["hs6_origin"])
    candidates = stack_keys([keys["hs6_origin"], keys["hs6"], keys["hs4"]]).reshape(3, n)
    pos = np.minimum(np.searchsorted(stacked, candidates), max(len(stacked) - 1, 0))
    hit = (candidates >= 0) & (stacked[pos] == candidates) if len(stacked) else candidates < -1
    first = np.argmax(hit, axis=0)
    chosen = pos[first, np.arange(n)]
    return matrix[np.where(hit.any(axis=0), chosen, len(matrix) - 1)]


def tariff_features(
    max_rate: np.ndarray, typical: np.ndarray, rate: np.ndarray, config: FeatureConfig
) -> dict[str, np.ndarray]:
    """Misclassification incentive (gap to the HS4's highest rate) and preferential origin."""
    preferential = rate < typical * (1.0 - config.preferential_tolerance)
    return {
        "hs4_max_rate": max_rate,
        "tariff_gap_hs4": max_rate - rate,
        "hs6_typical_rate": typical,
        "pref_margin": typical - rate,
        "is_preferential": np.where(np.isnan(typical), np.nan, preferential * 1.0),
    }
