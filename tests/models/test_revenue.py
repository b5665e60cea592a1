"""Model behaviour of the revenue ranking: duty at stake, the two-part model, the rule guard."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from customs_risk.features.duty import duty_features
from customs_risk.models.boosting import fit_boosted
from customs_risk.models.bundle import RiskModel
from customs_risk.models.guard import MODEL, RevenueGuard
from customs_risk.models.train import BUNDLE_DIR
from customs_risk.models.two_part import MIN_ROUNDS, TwoPartRevenue


def test_duty_at_stake_brings_the_declaration_to_its_reference():
    value, rate = np.array([1000.0, 1000.0]), np.array([10.0, 10.0])
    half = -np.log(2.0)  # declared at half the reference unit value
    out = duty_features(
        value,
        rate,
        {"kg": (np.array([half, 0.3]), np.array([0.1, 0.1])), "unit": (np.full(2, np.nan),) * 2},
        tariff_gap=np.array([5.0, 0.0]),
        pref_margin=np.array([2.0, 4.0]),
        is_preferential=np.array([1.0, 0.0]),
    )
    np.testing.assert_allclose(out["duty_gap_kg"], [100.0, 0.0])  # 1000 more value x 10 %
    assert 0 < out["duty_gap_kg_sure"][0] < 100.0  # one spread short of the reference
    np.testing.assert_allclose(out["duty_gap_class"], [50.0, 0.0])
    np.testing.assert_allclose(out["duty_gap_origin"], [20.0, 0.0])  # not preferential: none
    np.testing.assert_allclose(out["duty_at_stake"], [170.0, 0.0])


def test_early_stopping_cannot_stop_before_the_floor():
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"a": rng.normal(size=600), "b": rng.normal(size=600)})
    y = rng.gamma(1.0, 100.0, size=600)  # noise: the validation deviance is best at once
    model = fit_boosted(
        "severity", x[:400], y[:400], x[400:], y[400:], {}, 0, early_stopping=1, min_rounds=50
    )
    assert model.rounds >= 50
    assert model.booster.num_boosted_rounds() >= 50


def test_revenue_model_is_two_part_and_not_constant(trained, small_world):
    bundle = RiskModel.load(trained.out / BUNDLE_DIR)
    revenue = bundle.models["revenue"]
    assert isinstance(revenue, TwoPartRevenue)
    assert revenue.severity.rounds >= MIN_ROUNDS
    scores = pd.read_parquet(trained.out / "scores.parquet")
    expected = scores["expected_revenue"].to_numpy()
    assert np.unique(expected).size > len(expected) // 2
    rho = spearmanr(expected, scores["rule_duty_at_stake"]).statistic
    assert rho > 0.3, rho  # it learnt what the duty at stake says, and more


def test_metrics_and_bundle_say_which_revenue_ranker_serves(trained):
    metrics, bundle = trained.result.metrics, RiskModel.load(trained.out / BUNDLE_DIR)
    guard = bundle.revenue_guard
    assert guard is not None and metrics["revenue_ranker"] == guard.ranker
    assert bundle.meta["revenue_ranker"] == guard.ranker
    chosen = metrics[f"valid_ranker_{guard.ranker.replace(':', '_')}"]
    rules = [v for k, v in metrics.items() if k.startswith("valid_ranker_rule_")]
    assert rules and chosen >= max(rules)  # never worse than the best rule on validation


def _guard_case(rule_is_right: bool) -> tuple[RevenueGuard, np.ndarray, dict, np.ndarray]:
    rng = np.random.default_rng(1)
    revenue = np.where(rng.random(4000) < 0.05, rng.gamma(2.0, 500.0, 4000), 0.0)
    truth_like = revenue + rng.random(4000)
    noise = rng.gamma(2.0, 50.0, 4000)
    model = noise if rule_is_right else truth_like
    rules = {"duty_at_stake": truth_like if rule_is_right else noise, "price_z": rng.random(4000)}
    guard = RevenueGuard.choose(model, rules, revenue, np.ones(4000, dtype=bool))
    return guard, model, rules, revenue


def test_guard_keeps_a_better_model():
    guard, model, rules, _ = _guard_case(rule_is_right=False)
    assert guard.ranker == MODEL
    np.testing.assert_array_equal(guard.apply(model, rules), model)


def test_guard_takes_a_better_rule_and_keeps_the_money_scale(tmp_path):
    guard, model, rules, revenue = _guard_case(rule_is_right=True)
    assert guard.ranker in {"rule:duty_at_stake", "blend:duty_at_stake"}
    served = guard.apply(model, rules)
    assert model.min() <= served.min() and served.max() <= model.max()
    top = np.argsort(-served)[:200]
    assert revenue[top].sum() > revenue[np.argsort(-model)[:200]].sum() * 2
    guard.save(tmp_path / "guard.json")
    np.testing.assert_array_equal(
        RevenueGuard.load(tmp_path / "guard.json").apply(model, rules), served
    )
