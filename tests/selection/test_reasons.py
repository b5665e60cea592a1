"""Reason texts from feature contributions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from customs_risk.selection.reasons import Over, build_reasons, humanise

TEMPLATES = {
    "unit_value_ratio": "declared unit value {value_below_pct:.0f}% below the reference for HS "
    "{hs6} from {origin_country}",
    "importer_offence_rate": "importer offence rate {value_pct:.0f}% over "
    "{importer_inspections:.0f} inspections",
    "tariff_gap": lambda row: f"tariff gap {row['value']:.0f} points within HS {row['hs6'][:4]}",
}
NAMES = ["unit_value_ratio", "importer_offence_rate", "tariff_gap", "transport_mode"]


def _values() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "unit_value_ratio": [0.38, 1.2, 0.9],
            "importer_offence_rate": [0.18, 0.02, np.nan],
            "importer_inspections": [40.0, 3.0, 0.0],
            "tariff_gap": [25.0, 0.0, 3.0],
            "transport_mode": pd.Series(["air", "sea", "road"], dtype="str"),
            "hs6": pd.Series(["851712", "870323", "610910"], dtype="str"),
            "origin_country": pd.Series(["CN", "DE", "BD"], dtype="str"),
        }
    )


def test_top_positive_contributions_in_words() -> None:
    contrib = np.array(
        [
            [0.9, 0.5, 0.7, -0.2],
            [-0.3, 0.1, -0.1, 0.05],
            [-1.0, -1.0, -1.0, -1.0],
        ]
    )
    reasons = build_reasons(contrib, NAMES, _values(), TEMPLATES, top_k=3)
    assert reasons[0] == [
        "declared unit value 62% below the reference for HS 851712 from CN",
        "tariff gap 25 points within HS 8517",
        "importer offence rate 18% over 40 inspections",
    ]
    assert reasons[1] == ["importer offence rate 2% over 3 inspections", "transport mode: sea"]
    assert reasons[2] == []


def test_xgboost_bias_column_dropped_and_dataframe_input() -> None:
    contrib = np.array([[0.0, 0.0, 0.0, 0.4, 5.0]])  # last column: bias
    values = _values().iloc[:1]
    assert build_reasons(contrib, NAMES, values, TEMPLATES, top_k=2) == [["transport mode: air"]]
    frame = pd.DataFrame(contrib[:, :4], columns=NAMES)
    assert build_reasons(frame, NAMES, values, TEMPLATES, top_k=2) == [["transport mode: air"]]


def test_broken_template_falls_back_to_feature_and_value() -> None:
    templates = {"unit_value_ratio": "ratio {no_such_column}", "tariff_gap": "{value:.0f"}
    contrib = np.array([[1.0, 0.0, 0.5, 0.0]])
    reasons = build_reasons(contrib, NAMES, _values().iloc[:1], templates)
    assert reasons == [["unit value ratio: 0.38", "tariff gap: 25"]]


def test_vectorised_equals_row_by_row() -> None:
    rng = np.random.default_rng(0)
    values = pd.concat([_values()] * 50, ignore_index=True)
    contrib = rng.normal(size=(len(values), len(NAMES)))
    batch = build_reasons(contrib, NAMES, values, TEMPLATES, top_k=3)
    for i in range(0, len(values), 7):
        single = build_reasons(contrib[i : i + 1], NAMES, values.iloc[i : i + 1], TEMPLATES)
        assert single[0] == batch[i]


def test_a_left_out_text_gives_its_place_to_the_next_feature_and_none_repeats() -> None:
    templates = {
        # no inspections: the rate says nothing, the template leaves it out
        "importer_offence_rate": Over(
            lambda rate, n: f"{rate:.0%} over {n:.0f} inspections" if n > 0 else None,
            "value",
            "importer_inspections",
        ),
        "unit_value_ratio": Over(lambda hs6: f"price of HS {hs6}", "hs6"),
        "tariff_gap": Over(lambda hs6: f"price of HS {hs6}", "hs6"),  # the same text
    }
    contrib = np.array([[0.1, 0.9, 0.5, 0.3], [0.1, 0.9, 0.5, 0.3], [0.0, 0.9, 0.0, 0.0]])
    reasons = build_reasons(contrib, NAMES, _values(), templates, top_k=2)
    assert reasons[0] == ["18% over 40 inspections", "price of HS 851712"]
    assert reasons[1] == ["2% over 3 inspections", "price of HS 870323"]
    assert reasons[2] == []  # left out, and no other positive contribution to take its place
    three = build_reasons(contrib[2:], NAMES, _values().iloc[2:], templates, top_k=1)
    assert three == [[]]
    swapped = np.array([[0.8, 0.9, 0.7, 0.6]])  # rank 1 left out, rank 3 repeats rank 2
    values = _values().iloc[2:].reset_index(drop=True)
    assert build_reasons(swapped, NAMES, values, templates, top_k=2) == [
        ["price of HS 610910", "transport mode: road"]
    ]


def test_over_reads_named_columns_and_none_for_absent_ones() -> None:
    templates = {
        "tariff_gap": Over(
            lambda v, c, f, o, absent: f"{f} {v:.0f} {o} {c:.1f} {absent}",
            "value",
            "contribution",
            "feature",
            "origin_country",
            "no_such_column",
        )
    }
    reasons = build_reasons(np.array([[0.0, 0.0, 0.5, 0.0]]), NAMES, _values().iloc[:1], templates)
    assert reasons == [["tariff_gap 25 CN 0.5 None"]]
    broken = {"tariff_gap": Over(lambda v: f"{v:.0f}", "value", "hs6")}  # too many columns
    assert build_reasons(np.array([[0.0, 0.0, 0.5, 0.0]]), NAMES, _values().iloc[:1], broken) == [
        ["tariff gap: 25"]
    ]


def test_shape_errors() -> None:
    with pytest.raises(ValueError, match="columns"):
        build_reasons(np.zeros((1, 2)), NAMES, _values().iloc[:1])
    with pytest.raises(ValueError, match="rows"):
        build_reasons(np.zeros((2, 4)), NAMES, _values().iloc[:1])
    assert humanise("importer__offence_rate") == "importer offence rate"
