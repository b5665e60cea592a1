"""Training/serving skew: offline features of the last day equal online features served from a
state fitted on everything before that day (and saved to disk and loaded back)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from customs_risk.features.pipeline import FeaturePipeline
from customs_risk.features.state import FeatureState

from .conftest import assert_same_features


@pytest.fixture(scope="module")
def offline(world):
    declarations, outcomes = world
    pipeline = FeaturePipeline()
    pipeline.fit(declarations, outcomes)
    return pipeline, pipeline.transform(declarations, outcomes=outcomes)


def _day(declarations: pd.DataFrame, day: pd.Timestamp) -> np.ndarray:
    stamp = declarations["declared_at"]
    return ((stamp >= day) & (stamp < day + pd.Timedelta(days=1))).to_numpy()


@pytest.mark.parametrize("day", ["2024-02-29", "2024-02-10"])
def test_online_day_equals_offline(world, offline, tmp_path, day) -> None:
    declarations, outcomes = world
    _, features = offline
    day = pd.Timestamp(day)
    today = _day(declarations, day)
    assert today.sum() > 20
    pipeline = FeaturePipeline()
    state = pipeline.fit(declarations[declarations["declared_at"] < day], outcomes, as_of=day)
    assert state.n_pending > 0  # results known later are kept, dated
    state = FeatureState.load(state.save(tmp_path / "state"))
    batch = declarations[today]
    # outcomes of today's own declarations that come back during the day count for later rows
    todays = outcomes.merge(batch[["declaration_id", "item_no"]], on=["declaration_id", "item_no"])
    online = pipeline.transform(batch, state=state, outcomes=todays)
    assert_same_features(features[today], online)


def test_online_single_row_and_array_forms(world, offline, tmp_path) -> None:
    declarations, outcomes = world
    _, features = offline
    day = pd.Timestamp("2024-02-29")
    pipeline = FeaturePipeline()
    state = pipeline.fit(declarations[declarations["declared_at"] < day], outcomes, as_of=day)
    today = np.flatnonzero(_day(declarations, day))
    first = declarations.iloc[today]["declared_at"].min()
    single = today[(declarations.iloc[today]["declared_at"] == first).to_numpy()][:1]
    row = declarations.iloc[single]
    record = row.iloc[0].to_dict()
    for form in (row, record, [record]):
        online = pipeline.transform(form, state=state)
        online.index = row.index
        assert_same_features(features.iloc[single], online)
    array = pipeline.transform_array(record, state=state)
    frame = features.iloc[single]
    expected = np.concatenate(
        [
            frame[state.numeric_columns].to_numpy(np.float64),
            np.stack(
                [
                    np.where(frame[c].cat.codes >= 0, frame[c].cat.codes, np.nan)
                    for c in state.categorical_columns
                ],
                axis=1,
            ),
        ],
        axis=1,
    )
    # transform() rounds to float32, transform_array() keeps float64
    np.testing.assert_allclose(array, expected, rtol=1e-6, equal_nan=True)
    assert array.shape == (1, len(state.feature_columns)) == (1, len(state.feature_types))


def test_small_and_large_batches_agree(world, offline) -> None:
    """Records run through plain Python, frames of more than 256 rows through pandas."""
    declarations, outcomes = world
    pipeline, _ = offline
    head = declarations.head(400)
    mine = outcomes.merge(head[["declaration_id", "item_no"]], on=["declaration_id", "item_no"])
    large = pipeline.transform(head, outcomes=mine)
    records = pipeline.transform(head.to_dict("records"), outcomes=mine)
    records.index = head.index
    assert_same_features(large, records)
    assert large["importer_n_insp"].max() > 0


def test_unknown_categories_never_fail(world, offline) -> None:
    declarations, outcomes = world
    pipeline, _ = offline
    state = pipeline.state_
    row = declarations.iloc[0].to_dict()
    row.update(
        declared_at=pd.Timestamp("2030-01-01"),
        importer_id="NEVER-SEEN",
        origin_country="QQ",
        hs_code="99999999",
        transport_mode="teleport",
        procedure="0000",
    )
    row.pop("seller_id")
    online = pipeline.transform(row, state=state)
    for column in ("origin_country", "hs6", "transport_mode", "procedure"):
        assert pd.isna(online[column].iloc[0])
        assert online[column].dtype == state.category_dtype(column)
    assert online["importer_n_decl"].iloc[0] == 0
    assert np.isnan(online["seller_n_decl"].iloc[0])
    assert np.isnan(online["uv_kg_ref"].iloc[0])


def test_isolated_rows_equal_single_row_calls(world, offline) -> None:
    """Serving form: each row against the state alone, whatever else the batch carries."""
    declarations, outcomes = world
    day = pd.Timestamp("2024-02-29")
    pipeline = FeaturePipeline()
    state = pipeline.fit(declarations[declarations["declared_at"] < day], outcomes, as_of=day)
    batch = declarations[_day(declarations, day)].reset_index(drop=True)
    repeated = batch["importer_id"].duplicated()
    assert repeated.sum() > 5  # later rows of the same importer would see earlier ones
    isolated = pipeline.transform_array(batch, state=state, isolated=True)
    singles = np.vstack(
        [pipeline.transform_array(batch.iloc[[i]], state=state) for i in range(len(batch))]
    )
    np.testing.assert_array_equal(isolated, singles)
    together = pipeline.transform_array(batch, state=state)
    n_decl = state.feature_columns.index("importer_n_decl")
    # items of one declaration share a time and never see each other; later declarations do
    assert (together[:, n_decl] >= isolated[:, n_decl]).all()
    assert (together[repeated, n_decl] > isolated[repeated, n_decl]).sum() > 5
    frame = pipeline.transform(batch, state=state, isolated=True)
    np.testing.assert_allclose(
        frame[state.numeric_columns].to_numpy(np.float64),
        isolated[:, : len(state.numeric_columns)],
        rtol=1e-6,
        equal_nan=True,
    )
    with pytest.raises(ValueError, match="fitted state"):
        pipeline.transform(batch, isolated=True)


def test_overflowing_ratios_are_missing_not_infinite(world, offline) -> None:
    """A near-zero customs value under a huge declared duty: duty_ratio beyond float32 (what
    XGBoost reads) is missing."""
    declarations, _ = world
    pipeline, _ = offline
    row = declarations.iloc[0].to_dict()
    row.update(customs_value=4.9e-225, quantity=4.9e-225, tariff_rate=972.9, duty_declared=9e14)
    array = pipeline.transform_array(row, state=pipeline.state_)
    frame = pipeline.transform(row, state=pipeline.state_)
    assert not (np.abs(array) > np.finfo(np.float32).max).any()
    assert not np.isinf(frame[pipeline.state_.numeric_columns].to_numpy(np.float64)).any()
    ratio = pipeline.state_.feature_columns.index("duty_ratio")
    assert np.isnan(array[0, ratio]) and np.isnan(frame["duty_ratio"].iloc[0])
