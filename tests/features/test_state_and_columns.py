"""The state on disk, the column lists, the vocabularies and the declaration features."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from customs_risk.features.declaration import DECLARATION_NUMERIC
from customs_risk.features.history import HISTORY_STATS
from customs_risk.features.pipeline import FeaturePipeline
from customs_risk.features.prices import PRICE_NUMERIC
from customs_risk.features.state import FeatureState

from .conftest import assert_same_features


def test_columns_and_dtypes(world) -> None:
    declarations, outcomes = world
    features, state = FeaturePipeline().fit_transform(declarations, outcomes)
    assert list(features.columns) == state.feature_columns
    assert state.categorical_columns == [
        "hs2",
        "hs4",
        "hs6",
        "origin_country",
        "departure_country",
        "transport_mode",
        "office_id",
        "procedure",
        "payment_type",
        "importer_grade",
    ]
    assert set(DECLARATION_NUMERIC) | set(PRICE_NUMERIC) <= set(state.numeric_columns)
    for entity in ("importer", "declarant", "seller", "importer_hs4", "declarant_office"):
        assert {f"{entity}_{s}" for s in HISTORY_STATS} <= set(state.numeric_columns)
    for column in state.categorical_columns:
        assert features[column].dtype == state.category_dtype(column)
    for column in state.numeric_columns:
        assert features[column].dtype == np.float32
    assert state.feature_types.count("c") == len(state.categorical_columns)


def test_save_load_round_trip_without_pickle(world, tmp_path) -> None:
    declarations, outcomes = world
    pipeline = FeaturePipeline()
    cut = pd.Timestamp("2024-02-20")
    state = pipeline.fit(declarations[declarations["declared_at"] < cut], outcomes, as_of=cut)
    path = state.save(tmp_path / "state")
    assert {p.suffix for p in path.iterdir()} == {".json", ".parquet"}
    doc = json.loads((path / "state.json").read_text())
    assert doc["numeric_columns"] == state.numeric_columns
    loaded = FeatureState.load(path)
    assert loaded.as_of == state.as_of and loaded.feature_columns == state.feature_columns
    for column in state.vocab:
        assert loaded.vocab[column].values == state.vocab[column].values
    batch = declarations[declarations["declared_at"] >= cut]
    assert_same_features(
        pipeline.transform(batch, state=state), pipeline.transform(batch, state=loaded.warm())
    )


def test_vocabulary_codes_do_not_depend_on_row_order(world) -> None:
    declarations, outcomes = world
    a = FeaturePipeline().fit(declarations, outcomes)
    b = FeaturePipeline().fit(declarations.sample(frac=1.0, random_state=1), outcomes)
    for column in a.vocab:
        assert a.vocab[column].values == b.vocab[column].values


def test_declaration_features() -> None:
    row = {
        "declaration_id": "D1",
        "item_no": 2,
        "declared_at": pd.Timestamp("2024-03-02 14:30"),  # a Saturday
        "office_id": "O1",
        "importer_id": "I1",
        "declarant_id": "B1",
        "hs_code": "8471300000",
        "origin_country": "CN",
        "departure_country": "HK",
        "transport_mode": "air",
        "quantity": 4.0,
        "net_mass_kg": 2.0,
        "customs_value": 800.0,
        "tariff_rate": 10.0,
        "duty_declared": 60.0,
        "incoterm": "FOB",
        "n_packages": 3,
    }
    pipeline = FeaturePipeline()
    state = pipeline.fit(pd.DataFrame([row]))
    assert state.extra_categorical == ["incoterm"] and state.extra_numeric == ["n_packages"]
    f = pipeline.transform(row).iloc[0]
    assert f["log_uv_kg"] == pytest.approx(np.log(400.0))
    assert f["log_uv_unit"] == pytest.approx(np.log(200.0))
    assert f["duty_expected"] == pytest.approx(80.0)
    assert f["duty_gap"] == pytest.approx(20.0)
    assert f["duty_ratio"] == pytest.approx(0.75)
    assert f["value_is_round"] == 1.0 and f["departure_differs"] == 1.0
    assert (f["hour"], f["day_of_week"], f["day_of_month"], f["month"]) == (14, 5, 2, 3)
    assert f["is_weekend"] == 1.0 and f["n_packages"] == 3.0
    assert (f["hs2"], f["hs4"], f["hs6"], f["incoterm"]) == ("84", "8471", "847130", "FOB")
    missing = dict(row, net_mass_kg=None, quantity=0.0, departure_country=None)
    g = pipeline.transform(missing).iloc[0]
    assert np.isnan(g["log_uv_kg"]) and np.isnan(g["log_uv_unit"])
    assert np.isnan(g["departure_differs"])
