"""Synthetic inputs for tests and benchmarks of the decision engine, until models exist.

``synthetic_declarations`` builds a contract-shaped batch with several offices; ``heuristic_scores``
turns any declarations frame into a plausible score frame (fraud_probability, expected_revenue,
trader_grade and ``contrib__`` columns) from a price-and-tariff heuristic.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

OFFICES = ("OF-NORTH", "OF-PORT", "OF-AIR", "OF-RAIL")
HS_CODES = ("851712", "851713", "870323", "610910", "640399", "300490", "940360", "392690")
ORIGINS = ("CN", "VN", "TR", "DE", "US", "IN", "BD", "AE")


def synthetic_declarations(
    n: int,
    seed: int = 0,
    start: str = "2024-01-01",
    days: int = 90,
    id_prefix: str = "D",
    office_weights: tuple[float, ...] = (0.4, 0.3, 0.2, 0.1),
) -> pd.DataFrame:
    """A batch of ``n`` single-item declarations over ``days`` days and four offices."""
    rng = np.random.default_rng(seed)
    office = rng.choice(len(OFFICES), size=n, p=list(office_weights))
    # each office sees its own goods mix, so score distributions differ by office
    mix = np.exp(np.sin(np.outer(np.arange(len(OFFICES)) + 1, np.arange(len(HS_CODES)))))
    cum = np.cumsum(mix / mix.sum(axis=1, keepdims=True), axis=1)
    hs = np.minimum((rng.random(n)[:, None] > cum[office]).sum(axis=1), len(HS_CODES) - 1)
    qty = np.round(rng.lognormal(3.0, 1.0, size=n) + 1.0)
    unit = rng.lognormal(3.0 + 0.3 * hs, 0.6, size=n)
    value = np.round(qty * unit, 2)
    tariff = np.array([0, 0, 10, 12, 8, 0, 4, 6.5], dtype=float)[hs]
    seconds = rng.integers(0, days * 86400, size=n)
    return pd.DataFrame(
        {
            "declaration_id": pd.Series([f"{id_prefix}{seed:03d}-{i:08d}" for i in range(n)]),
            "item_no": np.ones(n, dtype=np.int64),
            "declared_at": pd.Timestamp(start) + pd.to_timedelta(np.sort(seconds), unit="s"),
            "office_id": pd.Series(np.asarray(OFFICES)[office]).astype("str"),
            "importer_id": pd.Series([f"IMP{k:05d}" for k in rng.integers(0, 5000, size=n)]),
            "declarant_id": pd.Series([f"BRK{k:03d}" for k in rng.integers(0, 300, size=n)]),
            "hs_code": pd.Series(np.asarray(HS_CODES)[hs]).astype("str"),
            "origin_country": pd.Series(rng.choice(ORIGINS, size=n)).astype("str"),
            "departure_country": pd.Series(rng.choice(ORIGINS, size=n)).astype("str"),
            "transport_mode": pd.Series(rng.choice(["sea", "air", "road", "rail"], size=n)),
            "quantity": qty,
            "net_mass_kg": np.round(qty * rng.lognormal(0.0, 0.5, size=n), 3),
            "customs_value": value,
            "tariff_rate": tariff,
            "duty_declared": np.round(value * tariff / 100, 2),
        }
    )


def heuristic_scores(
    declarations: pd.DataFrame, seed: int = 0, model_version: str = "heuristic-0"
) -> pd.DataFrame:
    """Score rows by how far the unit value falls below its HS-4 median, tariff and origin."""
    rng = np.random.default_rng(seed)
    d = declarations.reset_index(drop=True)
    qty = d["quantity"].to_numpy(dtype=np.float64, na_value=np.nan)
    value = d["customs_value"].to_numpy(dtype=np.float64, na_value=np.nan)
    unit = value / np.where(qty > 0, qty, np.nan)
    hs4 = d["hs_code"].astype("str").str.slice(0, 4)
    reference = pd.Series(unit).groupby(hs4.to_numpy()).transform("median").to_numpy()
    ratio = np.nan_to_num(unit / reference, nan=1.0)
    tariff = d["tariff_rate"].to_numpy(dtype=np.float64, na_value=0.0)
    origin = d["origin_country"].astype("str").isin(["CN", "VN", "AE"]).to_numpy()
    offender = rng.random(len(d)) ** 3
    c_price = -1.5 * np.log(np.clip(ratio, 0.05, 20))
    c_tariff = 0.08 * tariff - 0.4
    c_origin = 0.6 * origin - 0.2
    c_history = 2.0 * offender - 0.3
    logit = -3.0 + c_price + c_tariff + c_origin + c_history + rng.normal(0, 0.3, len(d))
    fp = 1.0 / (1.0 + np.exp(-logit))
    codes = pd.util.hash_pandas_object(d["importer_id"].astype("str"), index=False).to_numpy()
    grades = np.asarray(["A", "B", "B", "C", "D"])[codes % np.uint64(5)]
    return pd.DataFrame(
        {
            "declaration_id": d["declaration_id"],
            "item_no": d["item_no"],
            "fraud_probability": fp,
            "expected_revenue": fp * value * (tariff + 5.0) / 100.0,
            "trader_grade": pd.Series(grades).astype("str"),
            "unit_value_ratio": ratio,
            "hs6": d["hs_code"].astype("str").str.slice(0, 6),
            "importer_offence_rate": offender,
            "contrib__unit_value_ratio": c_price,
            "contrib__tariff_rate": c_tariff,
            "contrib__origin_country": c_origin,
            "contrib__importer_offence_rate": c_history,
            "model_version": pd.Series([model_version] * len(d), dtype="str"),
        }
    )
