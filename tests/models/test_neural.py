"""The neural models on a small generated world: they learn, are deterministic, round-trip and
serve rows they have never seen."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from customs_risk.data.generator import generate_world
from customs_risk.data.world_config import WorldConfig
from customs_risk.features.pipeline import FeaturePipeline
from customs_risk.models.neural import (
    ID_COLUMNS,
    NeuralModel,
    NeuralParams,
    fit_neural,
    roc_auc,
    stable_hash,
)

N_ITEMS = 40_000
FAST = NeuralParams(
    hidden=(64, 32), max_epochs=6, patience=3, lr=5e-3, batch_size=512, n_trees=32, seed=7
)


@dataclass(frozen=True)
class Split:
    """Inspected rows split by time: the first 70% train, the rest validate."""

    features: pd.DataFrame
    ids: pd.DataFrame
    offence: np.ndarray
    revenue: np.ndarray
    train: np.ndarray
    valid: np.ndarray

    def fit(self, kind: str, params: NeuralParams = FAST, **kwargs: object) -> NeuralModel:
        t, v = self.train, self.valid
        return fit_neural(
            kind,
            self.features.iloc[t],
            self.ids.iloc[t],
            self.offence[t],
            self.revenue[t],
            self.features.iloc[v],
            self.ids.iloc[v],
            self.offence[v],
            self.revenue[v],
            params,
            **kwargs,
        )

    def predict_valid(self, model: NeuralModel) -> tuple[np.ndarray, np.ndarray]:
        return model.predict(self.features.iloc[self.valid], self.ids.iloc[self.valid])


@pytest.fixture(scope="module")
def split() -> Split:
    world = generate_world(WorldConfig(), N_ITEMS, seed=3)
    decls, outcomes = world.declarations, world.outcomes
    features, _ = FeaturePipeline().fit_transform(decls, outcomes)
    labels = decls[["declaration_id", "item_no"]].merge(
        outcomes[["declaration_id", "item_no", "fraud_found", "recovered_revenue"]],
        on=["declaration_id", "item_no"],
        how="left",
        validate="1:1",
    )
    inspected = np.flatnonzero(labels["fraud_found"].notna().to_numpy())
    by_time = inspected[np.argsort(decls["declared_at"].to_numpy()[inspected], kind="stable")]
    cut = int(0.7 * len(by_time))
    return Split(
        features=features.reset_index(drop=True),
        ids=decls[list(ID_COLUMNS)].reset_index(drop=True),
        offence=labels["fraud_found"].to_numpy(dtype=np.float64, na_value=np.nan),
        revenue=labels["recovered_revenue"].to_numpy(dtype=np.float64, na_value=np.nan),
        train=np.sort(by_time[:cut]),
        valid=np.sort(by_time[cut:]),
    )


@pytest.fixture(scope="module")
def tabular(split: Split) -> NeuralModel:
    return split.fit("tabular")


@pytest.fixture(scope="module")
def date(split: Split) -> NeuralModel:
    return split.fit("date")


@pytest.mark.parametrize("kind", ["tabular", "date"])
def test_learns_on_a_later_time_slice(
    kind: str, split: Split, request: pytest.FixtureRequest
) -> None:
    model: NeuralModel = request.getfixturevalue(kind)
    probability, revenue = split.predict_valid(model)
    assert roc_auc(split.offence[split.valid], probability) > 0.6
    assert np.all((probability >= 0) & (probability <= 1))
    assert np.all(np.isfinite(revenue) & (revenue >= 0))
    assert 1 <= len(model.history) <= FAST.max_epochs
    assert set(model.history[0]) >= {"epoch", "train_loss", "valid_loss", "valid_auc"}


@pytest.mark.parametrize("kind", ["tabular", "date"])
def test_save_load_round_trip(
    kind: str, split: Split, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    model: NeuralModel = request.getfixturevalue(kind)
    loaded = NeuralModel.load(model.save(tmp_path / kind))
    for before, after in zip(split.predict_valid(model), split.predict_valid(loaded), strict=True):
        np.testing.assert_array_equal(before, after)
    assert loaded.history == model.history
    assert not list(tmp_path.rglob("*.pkl"))


def test_same_seed_same_predictions(split: Split) -> None:
    params = replace(FAST, max_epochs=1)
    first, second = split.fit("tabular", params), split.fit("tabular", params)
    for a, b in zip(split.predict_valid(first), split.predict_valid(second), strict=True):
        np.testing.assert_array_equal(a, b)
    other = split.fit("tabular", replace(params, seed=8))
    assert not np.array_equal(split.predict_valid(other)[0], split.predict_valid(first)[0])


@pytest.mark.parametrize("kind", ["tabular", "date"])
def test_unknown_categories_and_unseen_ids(
    kind: str, split: Split, request: pytest.FixtureRequest
) -> None:
    model: NeuralModel = request.getfixturevalue(kind)
    rows = split.valid[:5]
    frame = split.features.iloc[rows].copy()
    frame["hs6"] = pd.Categorical([None] * 5, categories=frame["hs6"].cat.categories)
    frame["origin_country"] = frame["origin_country"].cat.set_categories(["ZZ"])  # recoded
    frame.iloc[0, 0] = np.nan
    ids = pd.DataFrame({"importer_id": ["never-seen", None, "x", "y", "z"], "declarant_id": None})
    probability, revenue = model.predict(frame, ids)
    assert probability.shape == revenue.shape == (5,)
    assert np.all((probability >= 0) & (probability <= 1)) and np.all(revenue >= 0)
    one, _ = model.predict(frame.iloc[:1], ids.iloc[:1])
    assert one[0] == pytest.approx(probability[0], rel=1e-5)


def test_sample_weights_shift_the_fit(split: Split) -> None:
    params = replace(FAST, max_epochs=1)
    heavy_positives = np.where(split.offence[split.train] > 0, 5.0, 1.0)
    plain = split.predict_valid(split.fit("tabular", params))[0]
    weighted = split.predict_valid(split.fit("tabular", params, weights=heavy_positives))[0]
    assert weighted.mean() > 1.5 * plain.mean()


def test_on_epoch_exception_propagates(split: Split) -> None:
    class Pruned(Exception):
        pass

    seen: list[tuple[int, float]] = []

    def prune(epoch: int, valid_auc: float) -> None:
        seen.append((epoch, valid_auc))
        if epoch == 2:
            raise Pruned

    with pytest.raises(Pruned):
        split.fit("tabular", replace(FAST, max_epochs=5, patience=5), on_epoch=prune)
    assert [e for e, _ in seen] == [1, 2]
    assert all(isinstance(a, float) for _, a in seen)


def test_stable_hash() -> None:
    values = np.array(["IMP-1", "IMP-2", None, "IMP-1"], dtype=object)
    buckets = stable_hash(values, 1024)
    assert buckets[2] == 0 and buckets[0] == buckets[3]
    assert np.all((buckets[[0, 1]] >= 1) & (buckets[[0, 1]] < 1024))
    # pinned: blake2b does not change between processes or runs (Python's salted hash() would)
    assert buckets[:2].tolist() == [154, 534]
    assert (
        stable_hash(np.array(["IMP-1"], dtype=object), 2**20)[0]
        == stable_hash(np.array(["IMP-1", "Q"], dtype=object), 2**20)[0]
    )
