"""Live history: a state that learns declarations and results after its fit equals a refit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from customs_risk.features.history import HISTORY_STATS, PRIOR_COLUMN
from customs_risk.features.live import compact, with_events
from customs_risk.features.pipeline import FeaturePipeline
from customs_risk.features.state import FeatureState

from .conftest import assert_same_features
from .synthetic import START

C0 = START + pd.Timedelta(days=40)
C1 = START + pd.Timedelta(days=50)


def _results(declarations: pd.DataFrame, outcomes: pd.DataFrame) -> pd.DataFrame:
    """Outcomes with the fields of their declarations (what the store's history events give)."""
    return outcomes.merge(declarations, on=["declaration_id", "item_no"], how="inner")


@pytest.fixture(scope="module")
def replay(world: tuple[pd.DataFrame, pd.DataFrame]) -> dict:
    declarations, outcomes = world
    t = declarations["declared_at"]
    pipeline = FeaturePipeline()
    before = pipeline.fit(declarations, outcomes, as_of=C0)
    period = declarations[(t >= C0) & (t < C1)]
    results = _results(period, outcomes)
    live = before
    # in several updates, as a server applies them: declarations and results interleaved
    shuffled = results.sample(frac=1, random_state=0)
    for d, r in zip(_quarters(period), _quarters(shuffled), strict=True):
        live = with_events(live, d, r)
    refit = FeaturePipeline().fit(declarations, outcomes, as_of=C1)
    probe = declarations[t >= C1]
    return {
        "pipeline": pipeline,
        "before": before,
        "live": live,
        "refit": refit,
        "probe": probe,
        "n_period": len(period),
        "n_results": len(results),
    }


def _quarters(frame: pd.DataFrame) -> list[pd.DataFrame]:
    bounds = np.linspace(0, len(frame), 5).astype(int)
    return [frame.iloc[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def _features(pipeline: FeaturePipeline, probe: pd.DataFrame, state: FeatureState) -> pd.DataFrame:
    return pipeline.transform(probe, state=state, isolated=True)


def _history_columns(state: FeatureState) -> list[str]:
    return [PRIOR_COLUMN] + [f"{e}_{s}" for e in state.entities for s in HISTORY_STATS]


def _known(state: FeatureState, probe: pd.DataFrame, columns: tuple[str, ...]) -> np.ndarray:
    """Rows whose entity parts are all in the state's vocabulary."""
    ok = np.ones(len(probe), dtype=bool)
    for column in columns:
        values = (
            probe["hs_code"].str.slice(0, int(column[2:]))
            if column.startswith("hs")
            else (probe[column])
        )
        ok &= values.isin(state.vocab[column].values).to_numpy()
    return ok


def test_live_state_counts_what_it_was_given(replay: dict) -> None:
    live, before = replay["live"], replay["before"]
    assert live.n_pending_declarations == replay["n_period"]
    assert live.n_pending == before.n_pending + replay["n_results"]
    assert before.n_pending_declarations == 0  # the old state is left as it was
    assert live.meta["live"] == {"declarations": replay["n_period"], "results": replay["n_results"]}


def test_replayed_history_equals_refit_bit_for_bit(replay: dict) -> None:
    """Every history feature and the prior rate of the probe rows equal those of
    ``FeaturePipeline.fit`` on the same declarations and outcomes, for entities the model's
    vocabulary knows (the live state keeps it)."""
    pipeline, probe = replay["pipeline"], replay["probe"]
    live = _features(pipeline, probe, replay["live"])
    refit = _features(pipeline, probe, replay["refit"])
    np.testing.assert_array_equal(live[PRIOR_COLUMN], refit[PRIOR_COLUMN])
    compared = 0
    for entity, parts in replay["before"].entities.items():
        rows = _known(replay["before"], probe, parts)
        assert rows.sum() > 20, entity
        columns = [f"{entity}_{s}" for s in HISTORY_STATS]
        assert_same_features(live.loc[rows, columns], refit.loc[rows, columns])
        compared += int(rows.sum())
    assert compared > 0
    # and the history moved: the state before the period gives other figures
    old = _features(pipeline, probe, replay["before"])
    assert not np.array_equal(old["importer_n_decl"], live["importer_n_decl"])
    assert not np.array_equal(old[PRIOR_COLUMN], live[PRIOR_COLUMN])


def test_compacted_state_gives_the_same_features(replay: dict, tmp_path) -> None:
    """Folding the period into the settled tables changes no history feature (the reference
    prices move to the new day's snapshot); saved and loaded, no feature changes."""
    pipeline, probe, live = replay["pipeline"], replay["probe"], replay["live"]
    folded = compact(live, int(C1.value))
    assert folded.as_of == int(C1.value)
    assert folded.n_pending_declarations == 0
    assert folded.n_pending == replay["refit"].n_pending
    assert folded.global_base == replay["refit"].global_base
    history = _history_columns(live)
    assert_same_features(
        _features(pipeline, probe, live)[history], _features(pipeline, probe, folded)[history]
    )
    loaded = FeatureState.load(live.save(tmp_path / "live"))
    assert_same_features(_features(pipeline, probe, live), _features(pipeline, probe, loaded))
    importer = replay["refit"].entity_table("importer")
    mine = folded.entity_table("importer")
    known = np.isin(importer["key"], mine["key"])
    for field, values in mine.items():
        np.testing.assert_array_equal(values, importer[field][known], err_msg=field)


def test_partial_compaction_keeps_later_events_pending(replay: dict) -> None:
    pipeline, probe, live = replay["pipeline"], replay["probe"], replay["live"]
    middle = int((C0 + pd.Timedelta(days=5)).value)
    folded = compact(live, middle)
    assert 0 < folded.n_pending_declarations < live.n_pending_declarations
    history = _history_columns(live)
    assert_same_features(
        _features(pipeline, probe, live)[history], _features(pipeline, probe, folded)[history]
    )
    assert compact(folded, int(C0.value)) is folded  # never back in time


def test_compacted_at_the_cut_equals_refit_on_every_feature(replay: dict) -> None:
    """Folded in at the day the refit is cut at, the reference prices are refitted too: every
    feature of the probe rows the model's vocabulary knows equals the refit's, bit for bit."""
    pipeline, probe, before = replay["pipeline"], replay["probe"], replay["before"]
    folded = compact(replay["live"], int(C1.value))
    rows = np.ones(len(probe), dtype=bool)
    for column in before.vocab:
        rows &= _known(before, probe, (column,))
    assert rows.sum() > 100
    mine = _features(pipeline, probe, folded).loc[rows]
    theirs = _features(pipeline, probe, replay["refit"]).loc[rows]
    assert_same_features(mine, theirs)
    old = _features(pipeline, probe, before).loc[rows]
    assert not np.array_equal(old["ref_n_hs6"], mine["ref_n_hs6"])  # the snapshot moved
