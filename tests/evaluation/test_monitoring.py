"""Score drift (PSI), its moving window, channel trends and the service's monitor."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import prometheus_client
import pytest

from customs_risk.evaluation.monitoring import channel_trends, score_drift
from customs_risk.models.drift import DriftWindow, bin_counts, psi, psi_level, score_reference
from customs_risk.serving.monitor import Gauges, ServiceMonitor


def test_psi_is_near_zero_on_the_same_distribution_and_large_on_a_shift() -> None:
    rng = np.random.default_rng(0)
    reference = score_reference(rng.beta(2, 30, 20_000))
    assert len(reference["shares"]) == 10 and math.isclose(sum(reference["shares"]), 1.0)
    same = psi(reference, bin_counts(reference, rng.beta(2, 30, 20_000)))
    shifted = psi(reference, bin_counts(reference, rng.beta(4, 30, 20_000)))
    assert same < 0.01 and psi_level(same) == "stable"
    assert shifted > 0.25 and psi_level(shifted) == "drift"
    assert math.isnan(psi(reference, np.zeros(10)))


def test_a_reference_with_ties_merges_its_bins() -> None:
    reference = score_reference(np.r_[np.zeros(900), np.linspace(0, 1, 100)])
    assert len(reference["edges"]) < 9
    assert psi(reference, bin_counts(reference, np.zeros(50))) >= 0


def test_the_drift_window_equals_the_psi_of_its_last_scores() -> None:
    rng = np.random.default_rng(1)
    reference = score_reference(rng.normal(size=5_000))
    window = DriftWindow(reference, size=1_000)
    seen: list[float] = []
    for size in [1, 7, 333, 999, 1_500, 2, 640]:
        batch = rng.normal(rng.uniform(-1, 1), 1, size)
        batch[::5] = np.nan  # unscored items are skipped
        window.add(batch)
        seen.extend(batch[np.isfinite(batch)])
        last = np.array(seen[-1_000:])
        assert window.items == len(last)
        expected = psi(reference, bin_counts(reference, last))
        assert window.value() == pytest.approx(expected, nan_ok=True)


def test_score_drift_flags_the_month_that_moved() -> None:
    rng = np.random.default_rng(2)
    reference = score_reference(rng.normal(size=10_000))
    days = pd.date_range("2024-01-01", periods=90, freq="D").repeat(100)
    scores = rng.normal(size=len(days)) + np.where(days >= "2024-03-01", 1.0, 0.0)
    table = score_drift(pd.DataFrame({"declared_at": days, "risk_score": scores}), reference)
    assert list(table["period"]) == ["2024-01", "2024-02", "2024-03"]
    assert list(table["reading"]) == ["stable", "stable", "drift"]


def test_channel_trends_share_and_hit_rate() -> None:
    declarations = pd.DataFrame(
        {
            "declaration_id": [f"D{i}" for i in range(6)],
            "item_no": 1,
            "declared_at": pd.to_datetime(["2024-01-05"] * 4 + ["2024-02-05"] * 2),
        }
    )
    outcomes = pd.DataFrame(
        {
            "declaration_id": ["D0", "D1", "D4"],
            "item_no": 1,
            "channel": ["red", "red", "orange"],
            "fraud_found": [True, False, True],
        }
    )
    table = channel_trends(declarations, outcomes).set_index(["period", "channel"])
    assert table.loc[("2024-01", "red"), "share"] == 0.5
    assert table.loc[("2024-01", "red"), "hit_rate"] == 0.5
    assert table.loc[("2024-01", "green"), "items"] == 2
    assert np.isnan(table.loc[("2024-01", "green"), "hit_rate"])  # no results
    assert table.loc[("2024-02", "orange"), "hit_rate"] == 1.0
    assert table.groupby("period")["share"].sum().tolist() == [1.0, 1.0]


def _value(registry: prometheus_client.CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, labels)
    assert value is not None, (name, labels)
    return value


def test_the_service_monitor_writes_its_gauges() -> None:
    registry = prometheus_client.CollectorRegistry()

    class Metrics:  # prometheus_client's metrics on a private registry (bentoml.metrics' API)
        @staticmethod
        def Gauge(**kwargs):  # noqa: N802
            kwargs.pop("multiprocess_mode")
            return prometheus_client.Gauge(registry=registry, **kwargs)

        @staticmethod
        def Counter(**kwargs):  # noqa: N802
            return prometheus_client.Counter(registry=registry, **kwargs)

    rng = np.random.default_rng(3)
    reference = score_reference(rng.normal(size=5_000))
    monitor = ServiceMonitor(Gauges(Metrics), reference)
    decisions = [
        {"channel": c, "risk_score": float(s)}
        for c, s in zip(
            ["red", "green", "green", "orange"] * 50, rng.normal(2, 1, 200), strict=True
        )
    ]
    monitor.observe_decisions(decisions)
    assert _value(registry, "customs_risk_score_psi") > 0.25  # shifted by 2 sd
    assert _value(registry, "customs_risk_channel_share", channel="green") == 0.5
    assert _value(registry, "customs_risk_decisions_total", channel="red") == 50
    monitor.observe_results(
        [{"channel": "red", "fraud_found": f} for f in [True, False, False, True]]
    )
    assert _value(registry, "customs_risk_hit_rate", channel="red") == 0.5
    assert _value(registry, "customs_risk_results_total", channel="red", fraud_found="True") == 2
