"""The example profiles of ``profiles/world`` hit items of the default generated world (the
pipeline's: params.yaml, 200,000 items, seed 7) and are what their comments say they are: this
test derives them again from that world."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from customs_risk.data.generator import generate_world
from customs_risk.data.world_config import load_world_config
from customs_risk.evaluation.profile_trial import try_profiles
from customs_risk.selection.profiles import load_profiles

ROOT = Path(__file__).resolve().parents[2]
CUT = pd.Timestamp("2024-10-01")  # the examples' valid_from: derived from what came before


@pytest.fixture(scope="module")
def default_world() -> tuple[pd.DataFrame, pd.DataFrame]:
    world = generate_world(load_world_config(ROOT / "params.yaml"), 200_000, seed=7)
    return world.declarations, world.outcomes


def _inspected(declarations: pd.DataFrame, outcomes: pd.DataFrame) -> pd.DataFrame:
    return declarations.merge(outcomes, on=["declaration_id", "item_no"])


def test_each_example_profile_hits_items_of_the_default_world(default_world) -> None:
    declarations, outcomes = default_world
    table = try_profiles(load_profiles(ROOT / "profiles" / "world"), declarations, outcomes, 90)
    assert len(table) == 2
    assert (table["hits"] > 0).all(), table
    assert (table["inspected"] > 0).all(), table


def test_the_examples_are_what_their_comments_say(default_world) -> None:
    declarations, outcomes = default_world
    past = _inspected(declarations, outcomes)
    past = past[past["declared_at"] < CUT]
    by_importer = past.groupby("importer_id")["fraud_found"].agg(["sum", "size"])
    top = by_importer.sort_values(["sum", "size"], ascending=False).head(5).index.tolist()
    profiles = {p.id: p for p in load_profiles(ROOT / "profiles" / "world")}
    assert profiles["RP-WORLD-001"].criteria[0].value == top
    cn = past[past["origin_country"] == "CN"]
    headings = cn.groupby(cn["hs_code"].str.slice(0, 4))["fraud_found"].agg(["mean", "size"])
    best = headings[headings["size"] >= 60].sort_values("mean", ascending=False).head(3)
    assert sorted(profiles["RP-WORLD-002"].criteria[0].value) == sorted(best.index.tolist())
