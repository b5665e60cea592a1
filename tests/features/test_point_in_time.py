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
