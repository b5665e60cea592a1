"""Entity history: strictly-before semantics for declarations and results, ties, own outcomes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from customs_risk.features.pipeline import FeaturePipeline

from .conftest import assert_same_features

T = pd.Timestamp("2024-01-01 08:00")
DAY = pd.Timedelta(days=1)


def _row(declaration: str, item: int, at: pd.Timestamp, importer: str = "I1") -> dict:
    return {
        "declaration_id": declaration,
        "item_no": item,
        "declared_at": at,
        "office_id": "O1",
        "importer_id": importer,
        "declarant_id": "B1",
        "seller_id": "S1",
        "hs_code": "84713000",
        "origin_country": "CN",
        "departure_country": "CN",
        "transport_mode": "sea",
        "quantity": 10.0,
        "net_mass_kg": 5.0,
        "customs_value": 1000.0,
        "tariff_rate": 5.0,
        "duty_declared": 50.0,
    }


def _outcome(declaration: str, item: int, at: pd.Timestamp, fraud: bool, revenue: float) -> dict:
    return {
        "declaration_id": declaration,
        "item_no": item,
        "channel": "red",
        "result_at": at,
        "fraud_found": fraud,
        "fraud_type": "undervaluation" if fraud else "none",
        "critical": False,
        "recovered_revenue": revenue,
    }


@pytest.fixture()
def tiny() -> tuple[pd.DataFrame, pd.DataFrame]:
    """A at T (result at T+2d), B at T+1d (result at its own instant), C/1 and C/2 at T+2d
    (C/1's result at T+3d), D at T+3d, E at T+31d, and a row of another importer."""
    declarations = pd.DataFrame(
        [
            _row("A", 1, T),
            _row("B", 1, T + DAY),
            _row("C", 1, T + 2 * DAY),
            _row("C", 2, T + 2 * DAY),
            _row("D", 1, T + 3 * DAY),
            _row("E", 1, T + 31 * DAY),
            _row("Z", 1, T + 2 * DAY, importer="I2"),
        ]
    )
    outcomes = pd.DataFrame(
        [
            _outcome("A", 1, T + 2 * DAY, True, 100.25),
            _outcome("B", 1, T + DAY, True, 40.0),
            _outcome("C", 1, T + 3 * DAY, False, 0.0),
        ]
    )
    return declarations, outcomes


def _history(declarations: pd.DataFrame, outcomes: pd.DataFrame) -> pd.DataFrame:
    pipeline = FeaturePipeline()
    pipeline.fit(declarations, outcomes)
    features = pipeline.transform(declarations, outcomes=outcomes)
    return features.set_index(
        declarations["declaration_id"] + "/" + declarations["item_no"].astype(str)
    )


def test_strictly_before_for_declarations_and_results(tiny) -> None:
    h = _history(*tiny).astype({"importer_grade": object})
    n_decl = h["importer_n_decl"].to_dict()
    assert n_decl == {"A/1": 0, "B/1": 1, "C/1": 2, "C/2": 2, "D/1": 4, "E/1": 5, "Z/1": 0}
    n_insp = h["importer_n_insp"].to_dict()
    # A's result at T+2d is not seen by C (same instant); B's own result is never seen by B
    assert n_insp == {"A/1": 0, "B/1": 0, "C/1": 1, "C/2": 1, "D/1": 2, "E/1": 3, "Z/1": 0}
    assert h.loc["D/1", "importer_n_fraud"] == 2
    assert h.loc["D/1", "importer_rev_sum"] == pytest.approx(140.25)
    assert h.loc["D/1", "importer_rev_mean"] == pytest.approx(70.125)
    assert h.loc["D/1", "importer_days_since_fraud"] == pytest.approx(1.0)
    assert h.loc["D/1", "importer_days_since_first"] == pytest.approx(3.0)
    assert h.loc["D/1", "importer_days_since_last"] == pytest.approx(1.0)
    assert np.isnan(h.loc["A/1", "importer_days_since_first"])
    # the declarant also saw Z (another importer, lodged at T+2d) by the time of D
    assert h.loc["D/1", "declarant_n_decl"] == 5
    assert h.loc["C/1", "declarant_n_decl"] == 2


def test_smoothed_rate_is_not_one_for_one_of_one(tiny) -> None:
    h = _history(*tiny)
    # at C: one inspection (B), one offence; prior = (1 + 1) / (1 + 10) globally
    prior = h.loc["C/1", "hist_prior_rate"]
    assert prior == pytest.approx(2 / 11, rel=1e-6)
    rate = h.loc["C/1", "importer_fraud_rate"]
    assert rate == pytest.approx((1 + 5 * 2 / 11) / 6, rel=1e-6)
    assert 0 < rate < 0.5


def test_own_outcome_never_enters_own_features(tiny) -> None:
    declarations, outcomes = tiny
    # B's result is even dated before B was lodged (bad data): still invisible to B itself
    early = outcomes.copy()
    early.loc[early["declaration_id"] == "B", "result_at"] = T + DAY - pd.Timedelta(hours=5)
    with_own = _history(declarations, early)
    without = _history(declarations, early[early["declaration_id"] != "B"])
    assert_same_features(with_own.loc[["B/1"]], without.loc[["B/1"]])
    # ...while later rows do see it (the check can fail)
    assert with_own.loc["C/1", "importer_n_insp"] == without.loc["C/1", "importer_n_insp"] + 1


def test_own_outcomes_on_a_world(world) -> None:
    """Sampled rows: dropping their own result (made immediate) leaves their features intact."""
    declarations, outcomes = world
    rng = np.random.default_rng(0)
    keyed = outcomes.merge(
        declarations[["declaration_id", "item_no", "declared_at"]], on=["declaration_id", "item_no"]
    )
    sample = keyed.iloc[rng.choice(len(keyed), 15, replace=False)]
    immediate = outcomes.copy()
    at = immediate.set_index(["declaration_id", "item_no"]).index
    chosen = at.isin(sample.set_index(["declaration_id", "item_no"]).index)
    immediate.loc[chosen, "result_at"] = (
        sample.set_index(["declaration_id", "item_no"]).loc[at[chosen], "declared_at"].to_numpy()
    )
    full = _history(declarations, immediate)
    for _, own in sample.iterrows():
        key = f"{own['declaration_id']}/{own['item_no']}"
        mine = (immediate["declaration_id"] == own["declaration_id"]) & (
            immediate["item_no"] == own["item_no"]
        )
        reduced = _history(declarations, immediate[~mine])
        assert_same_features(full.loc[[key]], reduced.loc[[key]])
