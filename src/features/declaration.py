"""Features of a declaration item on its own: amounts, unit values, duty, route and calendar."""

from __future__ import annotations

import numpy as np

from customs_risk.features.encoding import NS_PER_DAY, Batch, Text

DECLARATION_NUMERIC: list[str] = [
    "item_number",
    "log_value",
    "log_mass",
    "log_quantity",
    "log_uv_kg",
    "log_uv_unit",
    "log_kg_per_unit",
    "tariff_rate",
    "duty_expected",
    "duty_gap",
    "duty_ratio",
    "value_is_round",
    "departure_differs",
    "hour",
    "day_of_week",
    "day_of_month",
    "month",
    "is_weekend",
]
# Categorical features taken from the declaration (hs2/hs4/hs6 are derived from hs_code).
DECLARATION_CATEGORICAL: list[str] = [
    "hs2",
    "hs4",
    "hs6",
    "origin_country",
    "departure_country",
    "transport_mode",
    "office_id",
]


def _log_positive(values: np.ndarray) -> np.ndarray:
    positive = values > 0
    return np.where(positive, np.log(np.where(positive, values, 1.0)), np.nan)


def _differs(first: Text, second: Text) -> np.ndarray:
    if isinstance(first, list) or isinstance(second, list):
        return np.array(
            [
                float(a != b) if isinstance(a, str) and isinstance(b, str) else np.nan
                for a, b in zip(first, second, strict=True)
            ],
            dtype=np.float64,
        )
    known = (first.notna() & second.notna()).to_numpy()
    differs = (first != second).to_numpy(dtype=bool, na_value=False)
    return np.where(known, differs.astype(np.float64), np.nan)


def calendar(t_ns: np.ndarray) -> dict[str, np.ndarray]:
    """Hour, weekday (Monday 0), day of month, month and weekend flag of each timestamp."""
    stamps = t_ns.view("datetime64[ns]")
    days = np.floor_divide(t_ns, NS_PER_DAY)
    months = stamps.astype("datetime64[M]")
    weekday = (days + 3) % 7
    return {
        "hour": (np.floor_divide(t_ns, 3_600_000_000_000) % 24).astype(np.float64),
        "day_of_week": weekday.astype(np.float64),
        "day_of_month": (stamps.astype("datetime64[D]") - months).astype(np.int64) + 1.0,
        "month": (months.astype(np.int64) % 12 + 1).astype(np.float64),
        "is_weekend": (weekday >= 5).astype(np.float64),
    }


def declaration_features(batch: Batch, t_ns: np.ndarray) -> dict[str, np.ndarray]:
    """Numeric per-item features (float64 arrays, NaN where undefined), see DECLARATION_NUMERIC."""
    value = batch.floats("customs_value")
    mass = batch.floats("net_mass_kg")
    quantity = batch.floats("quantity")
    rate = batch.floats("tariff_rate")
    duty = batch.floats("duty_declared")
    log_value = _log_positive(value)
    log_mass = _log_positive(mass)
    log_quantity = _log_positive(quantity)
    expected = value * rate / 100.0
    some = expected > 0
    ratio = np.where(some, duty / np.where(some, expected, 1.0), np.nan)
    out = {
        "item_number": batch.floats("item_no"),
        "log_value": log_value,
        "log_mass": np.log1p(np.where(mass >= 0, mass, np.nan)),
        "log_quantity": np.log1p(np.where(quantity >= 0, quantity, np.nan)),
        "log_uv_kg": log_value - log_mass,
        "log_uv_unit": log_value - log_quantity,
        "log_kg_per_unit": log_mass - log_quantity,
        "tariff_rate": rate,
        "duty_expected": expected,
        "duty_gap": expected - duty,
        "duty_ratio": ratio,
        "value_is_round": np.where(np.isnan(value), np.nan, (np.mod(value, 100.0) == 0) * 1.0),
        "departure_differs": _differs(
            batch.text("departure_country"), batch.text("origin_country")
        ),
    }
    out.update(calendar(t_ns))
    return out
