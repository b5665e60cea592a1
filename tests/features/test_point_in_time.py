"""Point-in-time correctness: changing the future never moves the features of the past."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from customs_risk.features.pipeline import FeaturePipeline

from .conftest import assert_same_features

CUT = pd.Timestamp("2024-01-31 13:00")


def _features(declarations: pd.DataFrame, outcomes: pd.DataFrame) -> pd.DataFrame:
    pipeline = FeaturePipeline()
    pipeline.fit(declarations, outcomes)
    return pipeline.transform(declarations, outcomes=outcomes)


def _past(declarations: pd.DataFrame, features: pd.DataFrame) -> pd.DataFrame:
    mask = (declarations["declared_at"] < CUT).to_numpy()
    keys = declarations.loc[mask, ["declaration_id", "item_no"]].astype(str).agg("/".join, axis=1)
    return features.loc[mask].set_index(pd.Index(keys.to_numpy())).sort_index()


def _rewrite_future(
    declarations: pd.DataFrame, outcomes: pd.DataFrame, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Delete some future rows and outcomes, change the others, add new future rows."""
    rng = np.random.default_rng(seed)
    d, o = declarations.copy(), outcomes.copy()
    future = d["declared_at"] >= CUT
    drop = future & (rng.random(len(d)) < 0.3)
    d = d[~drop].copy()
    future = d["declared_at"] >= CUT
    n = int(future.sum())
    d.loc[future, "customs_value"] = d.loc[future, "customs_value"] * rng.uniform(0.1, 3, n)
    d.loc[future, "tariff_rate"] = rng.choice([0.0, 5.0, 40.0], n)
    d.loc[future, "importer_id"] = rng.choice(["I0001", "I0002", "NEW1"], n)
    d.loc[future, "hs_code"] = rng.choice(["99999900", "01012100"], n)
    d.loc[future, "origin_country"] = "ZZ"
    d.loc[future, "procedure"] = "9999"
    extra = d[future].head(50).copy()
    extra["declaration_id"] = "X" + extra["declaration_id"]
    extra["transport_mode"] = "rail"
    d = pd.concat([d, extra], ignore_index=True)
    late = o["result_at"] >= CUT
    o = o[~(late & (rng.random(len(o)) < 0.3))].copy()
    late = o["result_at"] >= CUT
    o.loc[late, "fraud_found"] = ~o.loc[late, "fraud_found"]
    o.loc[late, "critical"] = o.loc[late, "fraud_found"]
    o.loc[late, "recovered_revenue"] = 12345.67
    return d, o.reset_index(drop=True)


@pytest.mark.parametrize("seed", [0, 1])
def test_changing_the_future_leaves_past_features_identical(world, seed) -> None:
    declarations, outcomes = world
    before = _past(declarations, _features(declarations, outcomes))
    d2, o2 = _rewrite_future(declarations, outcomes, seed)
    after = _past(d2, _features(d2, o2))
    assert len(before) > 1000
    assert_same_features(before, after)


def test_the_check_can_fail_when_the_past_changes(world) -> None:
    """Control: an outcome known before the cut does move past features."""
    declarations, outcomes = world
    before = _past(declarations, _features(declarations, outcomes))
    changed = outcomes.copy()
    early = (changed["result_at"] < CUT - pd.Timedelta(days=10)).to_numpy()
    changed.loc[early, "fraud_found"] = ~changed.loc[early, "fraud_found"]
    after = _past(declarations, _features(declarations, changed))
    with pytest.raises(AssertionError):
        assert_same_features(before, after)


def test_row_order_does_not_matter(world) -> None:
    declarations, outcomes = world
    features = _features(declarations, outcomes)
    shuffled = declarations.sample(frac=1.0, random_state=5)
    again = _features(shuffled, outcomes.sample(frac=1.0, random_state=6)).loc[features.index]
    assert_same_features(features, again)


def test_network_features_count_neighbours_results_before_the_day() -> None:
    """Importer I1 buys from S1 (day 0) and S2 (day 2); S2's offence found on day 1 counts for
    I1's rows from day 2 on (the link is dated day 2), S1's from the day after its result."""
    from customs_risk.features.history import Events
    from customs_risk.features.network import offline_network

    day = 86_400 * 10**9
    entities = {"importer": ("importer_id",), "seller": ("seller_id",)}
    keys = {
        "importer": np.array([0, 0, 1, 0, 0]),  # I1, I1, I2, I1, I1
        "seller": np.array([0, 1, 1, 1, 0]),  # S1, S2, S2, S2, S1
    }
    t = np.array([0, 2, 0, 3, 3]) * day + 3600 * 10**9
    event_rows = np.array([2, 0])  # I2's row with S2: offence; I1's row with S1: clean
    events = Events(
        r=np.array([1, 2]) * day + 7200 * 10**9,
        fraud=np.array([True, False]),
        critical=np.zeros(2, dtype=bool),
        rev_cents=np.zeros(2, dtype=np.int64),
        has_rev=np.zeros(2, dtype=bool),
    )
    out = offline_network(keys, t, event_rows, events, entities)
    # row 1 (day 2): link to S2 is dated day 2 itself, only S1 counts (no result yet)
    np.testing.assert_array_equal(out["importer_sellers_n_insp"], [0, 0, 0, 2, 2])
    np.testing.assert_array_equal(out["importer_sellers_fraud_rate"][3:], [0.5, 0.5])
    # S2 sold to I2 (offence, day 1) before day 2, and to I1 (clean result, day 2) before day 3
    np.testing.assert_array_equal(out["seller_importers_n_insp"], [0, 1, 0, 2, 1])
    np.testing.assert_array_equal(out["seller_importers_fraud_rate"][[1, 3]], [1.0, 0.5])
