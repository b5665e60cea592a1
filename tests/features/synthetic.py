"""A small hand-made world following the contracts, for the feature tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

START = pd.Timestamp("2024-01-01")


def make_world(n: int = 3000, seed: int = 0, days: int = 60) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Declarations and outcomes with multi-item declarations, exact time ties between results
    and declarations, missing values and two extra categorical columns."""
    rng = np.random.default_rng(seed)
    n_decl = max(n // 2, 1)
    n_imp = max(n // 40, 5)
    propensity = rng.beta(1, 12, n_imp)
    propensity[: max(n_imp // 8, 1)] = 0.6
    # a declaration's instant, on a coarse 10-minute grid so that ties happen often
    minutes = rng.integers(0, days * 24 * 6, n_decl) * 10
    items = rng.integers(1, 4, n_decl)
    decl_of_item = np.repeat(np.arange(n_decl), items)[:n]
    item_no = np.concatenate([np.arange(1, k + 1) for k in items])[:n]
    m = len(decl_of_item)
    imp = rng.integers(0, n_imp, n_decl)[decl_of_item]
    hs6 = rng.choice(
        ["010121", "010129", "020110", "020120", "847130", "847141", "850440", "850450"], m
    )
    origin = rng.choice(["CN", "DE", "VN", "US", "TR"], m)
    departure = np.where(rng.random(m) < 0.1, "NL", origin)
    base_price = {h: 2.0 + i * 0.7 for i, h in enumerate(sorted(set(hs6)))}
    mass = np.exp(rng.normal(4, 1, m)).round(1)
    log_uv = np.array([base_price[h] for h in hs6]) + rng.normal(0, 0.3, m)
    value = np.round(mass * np.exp(log_uv), 2)
    rate = np.select(
        [origin == "VN", np.char.startswith(hs6.astype(str), "01")], [0.0, 12.0], default=5.0
    )
    declared_at = START + pd.to_timedelta(minutes[decl_of_item], unit="min")
    frame = pd.DataFrame(
        {
            "declaration_id": pd.Series([f"D{d:07d}" for d in decl_of_item], dtype="str"),
            "item_no": item_no.astype(np.int64),
            "declared_at": declared_at,
            "office_id": pd.Series(
                rng.choice(["O1", "O2", "O3"], n_decl)[decl_of_item], dtype="str"
            ),
            "importer_id": pd.Series([f"I{i:04d}" for i in imp], dtype="str"),
            "declarant_id": pd.Series(
                [f"B{i:02d}" for i in rng.integers(0, 12, n_decl)[decl_of_item]], dtype="str"
            ),
            "seller_id": pd.Series(
                [None if rng.random() < 0.05 else f"S{i:03d}" for i in rng.integers(0, 80, m)],
                dtype="str",
            ),
            "hs_code": pd.Series([h + "00" for h in hs6], dtype="str"),
            "origin_country": pd.Series(origin, dtype="str"),
            "departure_country": pd.Series(departure, dtype="str"),
            "transport_mode": pd.Series(rng.choice(["sea", "air", "road"], m), dtype="str"),
            "quantity": np.where(rng.random(m) < 0.05, np.nan, rng.integers(1, 500, m) * 1.0),
            "net_mass_kg": np.where(rng.random(m) < 0.03, np.nan, mass),
            "customs_value": value,
            "tariff_rate": rate,
            "duty_declared": np.round(value * rate / 100, 2),
            "procedure": pd.Series(rng.choice(["4000", "4071"], m), dtype="str"),
            "payment_type": pd.Series(rng.choice(["cash", "deferred"], m), dtype="str"),
        }
    )
    # outcomes: about 30% inspected; results 0-5 days later on the same 10-minute grid, some at
    # exactly the instant of another declaration
    inspected = np.flatnonzero(rng.random(m) < 0.3)
    delay = rng.integers(0, 5 * 24 * 6, len(inspected)) * 10
    fraud = rng.random(len(inspected)) < propensity[imp[inspected]]
    revenue = np.where(fraud, np.round(rng.exponential(500, len(inspected)), 2), 0.0)
    revenue[rng.random(len(inspected)) < 0.05] = np.nan
    outcomes = pd.DataFrame(
        {
            "declaration_id": frame["declaration_id"].iloc[inspected].to_numpy(),
            "item_no": frame["item_no"].iloc[inspected].to_numpy(),
            "channel": pd.Series(
                rng.choice(["red", "orange", "green"], len(inspected)), dtype="str"
            ),
            "result_at": declared_at[inspected] + pd.to_timedelta(delay, unit="min"),
            "fraud_found": fraud,
            "fraud_type": pd.Series(np.where(fraud, "undervaluation", "none"), dtype="str"),
            "critical": fraud & (rng.random(len(inspected)) < 0.2),
            "recovered_revenue": revenue,
        }
    )
    outcomes["declaration_id"] = outcomes["declaration_id"].astype("str")
    return frame, outcomes.reset_index(drop=True)
