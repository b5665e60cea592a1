"""The channel-policy what-if helpers on a synthetic window (no model, no world needed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from customs_risk.evaluation import policy_whatif as whatif
from customs_risk.selection.policy import ChannelPolicy
from customs_risk.selection.synthetic import heuristic_scores, synthetic_declarations


@pytest.fixture(scope="module")
def window() -> whatif.TestWindow:
    """4,000 items over 20 days at four offices; offences drawn from the heuristic score."""
    decl = synthetic_declarations(4_000, seed=3, days=20)
    scores = heuristic_scores(decl, seed=3)
    rng = np.random.default_rng(3)
    fp = scores["fraud_probability"].to_numpy()
    offence = rng.random(len(decl)) < fp
    truth = decl[["declaration_id", "item_no", "declared_at", "office_id"]].assign(
        is_offence=offence,
        true_revenue=np.where(offence, decl["duty_declared"].to_numpy() + 10.0, 0.0),
        legacy_channel=np.where(rng.random(len(decl)) < 0.1, "red", "green"),
    )
    return whatif.TestWindow(decl, scores, truth)


def test_window_days_and_offices(window: whatif.TestWindow) -> None:
    assert window.offices == 4
    assert 19 <= window.days <= 20


def test_measure_counts_by_hand(window: whatif.TestWindow) -> None:
    channel = np.full(len(window.truth), "green", dtype=object)
    channel[:10] = "red"
    channel[10:30] = "orange"
    m = whatif.measure(channel, window)
    y = window.truth["is_offence"].to_numpy()
    rev = window.truth["true_revenue"].to_numpy()
    assert m["red_share"] == pytest.approx(10 / len(y))
    assert m["hit_red"] == pytest.approx(y[:10].mean())
    assert m["hit_orange"] == pytest.approx(y[10:30].mean())
    assert m["hit_inspected"] == pytest.approx(y[:30].mean())
    assert m["offences_found"] == pytest.approx(y[:30].sum() / y.sum())
    assert m["revenue_share"] == pytest.approx(rev[:30].sum() / rev.sum())
    assert m["inspections_per_office_day"] == pytest.approx(30 / (window.days * 4))


def test_measure_of_no_inspection_has_no_hit_rate(window: whatif.TestWindow) -> None:
    m = whatif.measure(np.full(len(window.truth), "green", dtype=object), window)
    assert np.isnan(m["hit_red"]) and m["revenue_share"] == 0.0


def test_scenario_policy_caps_random_shares() -> None:
    base = ChannelPolicy()
    policy = whatif.scenario_policy(base, 0.002, 0.03, "blend")
    assert policy.shares.red == 0.002 and policy.shares.random_red == 0.002
    assert policy.shares.random_orange == base.shares.random_orange
    assert policy.ranking == "blend" and policy.top_reasons == 0 and policy.offices == {}
    assert policy.version != base.version


def test_grid_meets_targets_and_more_inspection_finds_more(window: whatif.TestWindow) -> None:
    shares = ((0.01, 0.03), (0.05, 0.15))
    grid = whatif.policy_grid(window, ChannelPolicy(), shares=shares)
    assert len(grid) == 2 * len(whatif.RANKINGS)
    for row in grid.itertuples(index=False):
        assert row.red_share == pytest.approx(row.red, abs=0.01)
        assert row.orange_share == pytest.approx(row.orange, abs=0.015)
    for _, part in grid.groupby("ranking"):
        part = part.sort_values("red")
        assert part["offences_found"].is_monotonic_increasing
        assert part["inspections_per_office_day"].is_monotonic_increasing
    top = grid[(grid.ranking == "fraud_probability") & (grid.red == 0.01)].iloc[0]
    assert top["hit_red"] > window.truth["is_offence"].mean()  # the model beats random


def test_reference_rows_and_table(window: whatif.TestWindow) -> None:
    decisions = whatif.decide_window(window, ChannelPolicy())
    refs = whatif.reference_rows(window, decisions)
    assert list(refs["ranking"]) == ["legacy", "bundle"]
    table = whatif.tradeoff_table(refs.set_index("ranking"))
    assert "hit_red %" in table.columns and "inspections_per_office_day" in table.columns
    assert table.loc["bundle", "red_share %"] == pytest.approx(5.0, abs=1.0)


def test_office_workload_sums_to_totals(window: whatif.TestWindow) -> None:
    decisions = whatif.decide_window(window, ChannelPolicy())
    workload = whatif.office_workload(decisions, window)
    red = (decisions["channel"] == "red").sum()
    assert workload["red_per_day"].sum() * window.days == pytest.approx(red)
    assert workload["items_per_day"].is_monotonic_decreasing
    assert isinstance(workload, pd.DataFrame)
