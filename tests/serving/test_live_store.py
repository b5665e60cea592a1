"""Live history from the store: the history events of decided items and posted results, read
back through SQL, give the state a refit gives (the path every worker of the service tails)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from customs_risk.data.contracts import DECLARATION
from customs_risk.features.history import HISTORY_STATS, PRIOR_COLUMN
from customs_risk.features.pipeline import FeaturePipeline
from customs_risk.serving.harness import decided_rows
from customs_risk.serving.live_history import LiveHistory
from customs_risk.serving.store import Store

from ..features.conftest import assert_same_features
from ..features.synthetic import START, make_world

C0 = START + pd.Timedelta(days=40)
C1 = START + pd.Timedelta(days=50)
STORED = [f.name for f in DECLARATION.fields_in("store")]


def _store_decided(store: Store, frame: pd.DataFrame) -> None:
    """What /score stores for these items: a decision and the item as received."""
    store.add_decision_records(*decided_rows(frame))


@pytest.fixture(scope="module")
def world() -> tuple[pd.DataFrame, pd.DataFrame]:
    declarations, outcomes = make_world(3000, seed=3)
    keep = [c for c in declarations.columns if c in STORED]  # the store keeps the contract
    return declarations[keep], outcomes


def test_store_events_replayed_equal_a_refit(world, tmp_path: Path) -> None:
    declarations, outcomes = world
    t = declarations["declared_at"]
    pipeline = FeaturePipeline()
    before = pipeline.fit(declarations, outcomes, as_of=C0)
    period = declarations[(t >= C0) & (t < C1)]
    results = outcomes.merge(
        period[["declaration_id", "item_no"]], on=["declaration_id", "item_no"]
    )
    model = SimpleNamespace(state=before)  # LiveHistory reads and swaps model.state only
    with Store(f"sqlite:///{tmp_path / 'store.db'}") as store:
        half = len(period) // 2
        _store_decided(store, period.iloc[:half])
        live = LiveHistory(store, model)  # type: ignore[arg-type]
        assert live.catch_up() == half
        _store_decided(store, period.iloc[half:])
        _store_decided(store, period.iloc[:10])  # sent again: no new event
        store.add_outcomes(results)
        store.add_outcomes(results.iloc[:5])  # repeated results: duplicates, no new event
        assert live.catch_up() == len(period) - half + len(results)
        assert live.catch_up() == 0
        cold = SimpleNamespace(state=before)
        assert LiveHistory(store, cold).catch_up() == len(period) + len(results)  # type: ignore[arg-type]
    assert model.state.n_pending_declarations == len(period)
    assert live.applied == {"declarations": len(period), "results": len(results)}

    probe = declarations[t >= C1]
    refit = FeaturePipeline().fit(declarations, outcomes, as_of=C1)
    mine = pipeline.transform(probe, state=model.state, isolated=True)
    theirs = pipeline.transform(probe, state=refit, isolated=True)
    restarted = pipeline.transform(probe, state=cold.state, isolated=True)
    assert_same_features(mine, restarted)  # a cold start replays to the same state
    np.testing.assert_array_equal(mine[PRIOR_COLUMN], theirs[PRIOR_COLUMN])
    known = probe["importer_id"].isin(before.vocab["importer_id"].values).to_numpy()
    columns = [f"importer_{s}" for s in HISTORY_STATS]
    assert_same_features(mine.loc[known, columns], theirs.loc[known, columns])
