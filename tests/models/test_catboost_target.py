"""The CatBoost candidate: served rows equal frame rows, save/load, better than random."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from customs_risk.features.pipeline import FeaturePipeline
from customs_risk.models.bundle import ServedBatch, load_target_model
from customs_risk.models.catboost_target import CatBoostTarget, fit_catboost
from customs_risk.models.dataset import label_rows, load_training_data, time_split
from customs_risk.models.metrics import ranking_report

PARAMS = {"depth": 5, "learning_rate": 0.2}


@pytest.fixture(scope="module")
def fitted(small_world: Path):
    """A CatBoost offence model on the small world's inspected rows (train | valid | test)."""
    decl, outcomes = load_training_data(small_world)
    pipeline = FeaturePipeline()
    state = pipeline.fit(decl, outcomes)
    features = pipeline.transform(decl, outcomes=outcomes)
    labels = label_rows(decl, outcomes)
    split = time_split(decl["declared_at"], 60, 45)
    rows = {w: np.flatnonzero(getattr(split, w) & labels.inspected) for w in ("train", "valid")}
    model, stopped = fit_catboost(
        "offence",
        features.iloc[rows["train"]],
        labels.fraud[rows["train"]],
        features.iloc[rows["valid"]],
        labels.fraud[rows["valid"]],
        PARAMS,
        seed=0,
        max_iterations=150,
        early_stopping=30,
    )
    assert not stopped
    test = np.flatnonzero(split.test & labels.inspected)
    return model, state, decl, features, labels, test


def _later(decl: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """The rows as new declarations, two days after the state's data."""
    return rows.assign(declared_at=decl["declared_at"].max() + pd.Timedelta(days=2))


def _batch(matrix: np.ndarray, state) -> ServedBatch:
    def no_frame() -> pd.DataFrame:
        raise AssertionError("the served path reads the matrix only")

    return ServedBatch(matrix, state.feature_types, no_frame, no_frame)


def test_served_rows_equal_frame_rows(fitted) -> None:
    model, state, decl, *_ = fitted
    rows = _later(decl, decl.tail(300))
    pipeline = FeaturePipeline(state.config)
    frame = pipeline.transform(rows, state=state, isolated=True)
    matrix = pipeline.transform_array(rows, state=state, isolated=True)
    served = model.predict_served(_batch(matrix, state))
    np.testing.assert_allclose(served, model.predict_frame(frame), rtol=0, atol=1e-12)
    # the training and evaluation path (bundle.predict_target): an empty matrix, the frame
    empty = ServedBatch(np.empty((len(frame), 0)), [], lambda: frame, lambda: rows)
    np.testing.assert_array_equal(model.predict_served(empty), model.predict_frame(frame))
    contrib = model.contributions_served(_batch(matrix[:5], state))
    assert contrib.shape == (5, len(state.feature_columns))


def test_unknown_categories_score(fitted) -> None:
    model, state, decl, *_ = fitted
    row = _later(decl, decl.tail(1)).assign(
        hs_code="999999", origin_country="ZZ", office_id="NOWHERE"
    )
    matrix = FeaturePipeline(state.config).transform_array(row, state=state, isolated=True)
    assert np.isnan(matrix[0, len(state.numeric_columns) :]).any()
    (p,) = model.predict_served(_batch(matrix, state))
    assert 0.0 < p < 1.0


def test_save_load_identical(fitted, tmp_path: Path) -> None:
    model, state, decl, features, *_ = fitted
    model.save(tmp_path / "offence")
    assert sorted(p.name for p in (tmp_path / "offence").iterdir()) == ["meta.json", "model.cbm"]
    loaded = load_target_model(tmp_path / "offence")
    assert isinstance(loaded, CatBoostTarget) and loaded.kind == "catboost"
    assert loaded.iterations == model.iterations
    x = features.tail(500)
    np.testing.assert_array_equal(loaded.predict_frame(x), model.predict_frame(x))
    rows = _later(decl, decl.tail(50))
    matrix = FeaturePipeline(state.config).transform_array(rows, state=state, isolated=True)
    np.testing.assert_array_equal(
        loaded.contributions_served(_batch(matrix, state)),
        model.contributions_served(_batch(matrix, state)),
    )


def test_ranks_better_than_random(fitted) -> None:
    model, _, _, features, labels, test = fitted
    report = ranking_report(labels.fraud[test], model.predict_frame(features.iloc[test]))
    assert report["auc"] > 0.6
    assert report["precision_at_10"] > labels.fraud[test].mean()


def test_training_job_with_the_catboost_experiment(small_world: Path, mlflow_settings, tmp_path):
    """``customs-risk train`` with experiments/catboost.yaml beside xgboost.yaml: the CatBoost
    study runs, per-target choice sees it, and the saved bundle scores as the trained one."""
    from customs_risk.models.bundle import RiskModel
    from customs_risk.models.settings import TrainSettings
    from customs_risk.models.train import BUNDLE_DIR, TrainJob
    from tests.conftest import PROFILES, REPO, XGB_EXPERIMENT

    settings = TrainSettings(
        data=small_world,
        out=tmp_path / "out",
        experiments=[XGB_EXPERIMENT, REPO / "experiments" / "catboost.yaml"],
        trials=2,
        profiles=PROFILES,
        register_model=False,
    )
    result = TrainJob(settings, mlflow_settings).run()
    assert "valid_catboost_offence_auc" in result.metrics
    assert result.metrics["families"]["revenue"] != "catboost"  # revenue: not modelled here
    decl, _ = load_training_data(small_world)
    rows = _later(decl, decl.tail(200))
    loaded = RiskModel.load(tmp_path / "out" / BUNDLE_DIR)
    np.testing.assert_array_equal(
        loaded.score(rows)["fraud_probability"], result.bundle.score(rows)["fraud_probability"]
    )
