"""Ranking metrics on hand-made arrays: exact values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from customs_risk.models.metrics import precision_at, ranking_report, recall_at, revenue_share_at

Y = np.array([1, 0, 1, 0, 0, 1, 0, 0, 0, 0])
SCORE = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0])
REVENUE = np.array([10.0, 0.0, 30.0, 0.0, 0.0, 60.0, 0.0, 0.0, 0.0, 0.0])


def test_precision_recall_top_ceil():
    # ceil(0.2 * 10) = 2 rows: [1, 0]; ceil(0.3 * 10) = 3 rows: [1, 0, 1]
    assert precision_at(Y, SCORE, 0.2) == 0.5
    assert precision_at(Y, SCORE, 0.3) == pytest.approx(2 / 3)
    assert recall_at(Y, SCORE, 0.3) == pytest.approx(2 / 3)
    assert recall_at(Y, SCORE, 0.6) == 1.0
    # ceil(0.01 * 10) = 1 row
    assert precision_at(Y, SCORE, 0.01) == 1.0
    assert precision_at(Y, SCORE, 0.15) == 0.5  # ceil(1.5) = 2


def test_revenue_share():
    assert revenue_share_at(REVENUE, SCORE, 0.3) == pytest.approx(0.4)
    assert revenue_share_at(REVENUE, SCORE, 0.1) == pytest.approx(0.1)
    assert revenue_share_at(REVENUE, -SCORE, 0.5) == pytest.approx(0.6)


def test_ties_are_stable():
    y = np.array([0, 1, 1, 0])
    flat = np.zeros(4)
    assert precision_at(y, flat, 0.25) == 0.0  # first row wins the tie
    assert precision_at(y[::-1], flat, 0.25) == 0.0
    assert precision_at(np.array([1, 0, 0, 0]), flat, 0.25) == 1.0


def test_ranking_report_keys_and_values():
    critical = np.array([0, 0, 0, 0, 0, 1, 0, 0, 0, 0])
    report = ranking_report(Y, SCORE, revenue=REVENUE, critical=critical, rates=(0.1, 0.5))
    assert report["precision_at_10"] == 1.0
    assert report["precision_at_50"] == 0.4
    assert report["recall_at_50"] == pytest.approx(2 / 3)
    assert report["critical_recall_at_10"] == 0.0
    assert report["critical_recall_at_50"] == 0.0
    assert report["revenue_share_at_50"] == pytest.approx(0.4)
    # positives at ranks 1, 3, 6 of 10: pairs won 7 + 6 + 4 = 17 of 21
    assert report["auc"] == pytest.approx(17 / 21)
    assert report["pr_auc"] == pytest.approx((1 + 2 / 3 + 3 / 6) / 3)
    assert report["brier"] == pytest.approx(np.mean((SCORE - Y) ** 2))


def test_default_rates_and_optional_keys():
    report = ranking_report(Y, SCORE * 10)
    for k in ("1", "2", "5", "10"):
        assert f"precision_at_{k}" in report and f"recall_at_{k}" in report
    assert "brier" not in report and "critical_recall_at_5" not in report
    assert "revenue_share_at_5" not in report
    assert math.isnan(ranking_report(np.zeros(4), np.arange(4.0))["auc"])
