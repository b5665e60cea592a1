"""Reference prices: the quantile engine against brute force, shrinkage, tariff structure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from customs_risk.features.config import LOG_UNIT_VALUE_GRID, RATE_GRID, Grid
from customs_risk.features.pipeline import FeaturePipeline
from customs_risk.features.quantiles import (
    bins,
    prefix_max,
    prefix_quantiles,
    total_max,
    total_quantiles,
)

QS = (0.25, 0.5, 0.75)


def _brute(values: np.ndarray, grid: Grid, q: float) -> float:
    """The grouped-data quantile on the grid, computed directly from the values."""
    coarse, fine = bins(values, grid)
    cell = coarse * grid.n_fine + fine
    counts = np.bincount(cell, minlength=grid.n_coarse * grid.n_fine)
    cum = np.cumsum(counts)
    target = q * len(values)
    where = int(np.searchsorted(cum, np.floor(target), side="right"))
    before = cum[where - 1] if where else 0
    c, f = divmod(where, grid.n_fine)
    inside = (target - before) / counts[where] if grid.interpolate else 0.0
    return grid.low + c * grid.width + (f + inside) * grid.width / grid.n_fine


@pytest.mark.parametrize("grid", [LOG_UNIT_VALUE_GRID, RATE_GRID])
def test_prefix_quantiles_match_brute_force(grid) -> None:
    rng = np.random.default_rng(1)
    n = 3000
    group = rng.integers(-1, 12, n)
    day = rng.integers(0, 40, n)
    if grid is RATE_GRID:
        x = rng.choice([0.0, 2.5, 5.0, 12.0, 17.5, 40.0], n)
    else:
        x = rng.normal(group * 0.7, 0.4 + 0.1 * (group % 3), n)
        x[rng.random(n) < 0.01] = 40.0  # clipped into the last bin
    x[rng.random(n) < 0.05] = np.nan
    counts, values = prefix_quantiles(group, day, x, group, day, grid, QS)
    for i in rng.choice(n, 300, replace=False):
        past = (group == group[i]) & (day < day[i]) & np.isfinite(x) & (group[i] >= 0)
        assert counts[i] == past.sum()
        for j, q in enumerate(QS):
            if past.any():
                assert values[i, j] == pytest.approx(_brute(x[past], grid, q), abs=1e-12)
                step = grid.width / grid.n_fine
                exact = np.quantile(np.clip(x[past], grid.low, grid.high), q, method="lower")
                assert abs(values[i, j] - exact) <= max(np.ptp(x[past]), 0) + step
            else:
                assert np.isnan(values[i, j])


def test_total_equals_prefix_on_the_next_day() -> None:
    rng = np.random.default_rng(2)
    n = 2000
    group = rng.integers(0, 30, n)
    day = rng.integers(0, 20, n)
    x = rng.normal(3, 1, n)
    groups, n_total, total = total_quantiles(group, x, LOG_UNIT_VALUE_GRID, QS)
    n_next, nxt = prefix_quantiles(
        group, day, x, groups, np.full(len(groups), 20), LOG_UNIT_VALUE_GRID, QS
    )
    np.testing.assert_array_equal(n_total, n_next)
    np.testing.assert_array_equal(total, nxt)
    g_max, m = total_max(group, x)
    np.testing.assert_array_equal(m, prefix_max(group, day, x, g_max, np.full(len(g_max), 20)))


def test_median_is_accurate_to_the_grid() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(2.0, 0.3, 5000)
    group = np.zeros(5000, dtype=np.int64)
    _, _, values = total_quantiles(group, x, LOG_UNIT_VALUE_GRID, QS)
    np.testing.assert_allclose(values[0], np.quantile(x, QS), atol=2 / 64)


def _frame(rows: list[tuple[str, str, float, float, int]]) -> pd.DataFrame:
    """(hs6, origin, unit value per kg, rate, day) -> declarations."""
    out = []
    for i, (hs6, origin, uv, rate, day) in enumerate(rows):
        out.append(
            {
                "declaration_id": f"D{i}",
                "item_no": 1,
                "declared_at": pd.Timestamp("2024-03-01 10:00") + pd.Timedelta(days=day),
                "office_id": "O1",
                "importer_id": f"I{i % 7}",
                "declarant_id": "B1",
                "hs_code": hs6 + "00",
                "origin_country": origin,
                "departure_country": origin,
                "transport_mode": "sea",
                "quantity": 100.0,
                "net_mass_kg": 100.0,
                "customs_value": 100.0 * uv,
                "tariff_rate": rate,
                "duty_declared": uv * rate,
            }
        )
    return pd.DataFrame(out)


def test_reference_deviation_shrinkage_and_tariff_structure() -> None:
    rng = np.random.default_rng(4)
    rows = [("847130", "CN", float(np.exp(rng.normal(3, 0.1))), 12.0, d % 5) for d in range(60)]
    rows += [("847130", "VN", 20.0 * np.exp(3), 0.0, 1), ("847130", "VN", 20.0 * np.exp(3), 0.0, 2)]
    rows += [("847141", "CN", float(np.exp(rng.normal(3, 0.1))), 4.0, d % 5) for d in range(30)]
    rows += [("847130", "VN", np.exp(3) / 10, 0.0, 6), ("847130", "CN", np.exp(3) / 10, 12.0, 6)]
    rows += [("847141", "CN", np.exp(3), 4.0, 6)]
    frame = _frame(rows)
    pipeline = FeaturePipeline()
    pipeline.fit(frame)
    f = pipeline.transform(frame)
    vn, cn, low_rate = f.iloc[-3], f.iloc[-2], f.iloc[-1]
    # the CN pair has ~48 earlier rows: its reference is the CN price, the row is 10x below it
    assert cn["uv_kg_ref"] == pytest.approx(3.0, abs=0.05)
    assert cn["uv_kg_dev"] == pytest.approx(-np.log(10), abs=0.1)
    assert cn["uv_kg_z"] < -10
    # the VN pair has 2 earlier rows at 20x: shrunk most of the way to the HS6 reference
    pair_only, hs6_ref = 3.0 + np.log(20), 3.0
    assert hs6_ref < vn["uv_kg_ref"] < hs6_ref + 0.5 * (pair_only - hs6_ref)
    assert vn["ref_n_hs6_origin"] == 2 and vn["ref_n_hs6"] > 40
    # tariff: the HS4 saw 12 % and 4 %; the 4 % line has a gap of 8 points
    assert low_rate["hs4_max_rate"] == 12.0
    assert low_rate["tariff_gap_hs4"] == 8.0
    # VN pays 0 where the HS6 typically pays 12: preferential; CN is not
    assert vn["hs6_typical_rate"] == 12.0 and vn["is_preferential"] == 1.0
    assert cn["is_preferential"] == 0.0
    # the first day has no reference at all
    assert np.isnan(f.iloc[0]["uv_kg_ref"]) and f.iloc[0]["ref_n_hs4"] == 0


def test_same_day_rows_do_not_enter_the_reference() -> None:
    rows = [("847130", "CN", 10.0, 5.0, 0)] * 5 + [("847130", "CN", 1000.0, 5.0, 1)] * 5
    f = FeaturePipeline().fit_transform(_frame(rows))[0]
    assert (f["ref_n_hs6_origin"].iloc[5:] == 5).all()
    np.testing.assert_allclose(f["uv_kg_ref"].iloc[5:], np.log(10.0), atol=1 / 64)
