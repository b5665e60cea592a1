"""The example list entries hit items of the default generated world (the pipeline's: params.yaml,
200,000 items, seed 7): those of ``lists/world`` are what their comments say (this test derives
them again from that world) and, like the goods entries of ``lists/``, raise the items they hit."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from customs_risk.data.generator import generate_world
from customs_risk.data.world_config import load_world_config
from customs_risk.selection.decide import decide
from customs_risk.selection.lists import load_lists
from customs_risk.selection.policy import ChannelPolicy

ROOT = Path(__file__).resolve().parents[2]
CUT = pd.Timestamp("2024-10-01")  # the world examples' valid_from: derived from what came before
KEY = ["declaration_id", "item_no"]


@pytest.fixture(scope="module")
def default_world() -> tuple[pd.DataFrame, pd.DataFrame]:
    world = generate_world(load_world_config(ROOT / "params.yaml"), 200_000, seed=7)
    return world.declarations, world.outcomes


def test_the_world_examples_are_what_their_comments_say(default_world) -> None:
    declarations, outcomes = default_world
    past = declarations.merge(outcomes, on=KEY)
    past = past[past["declared_at"] < CUT]
    entries = {e.id: e for e in load_lists(ROOT / "lists" / "world")}
    brokers = past.groupby("declarant_id")["critical"].agg(["mean", "size"])
    broker = brokers[brokers["size"] >= 100].sort_values(["mean", "size"], ascending=False)
    assert entries["ML-WORLD-001"].declarant_id == broker.index[0]
    prohibited = past.assign(hit=past["fraud_type"].eq("prohibited"), hs4=past["hs_code"].str[:4])
    headings = prohibited.groupby("hs4")["hit"].agg(["mean", "size"])
    heading = headings[headings["size"] >= 50].sort_values(["mean", "size"], ascending=False)
    assert entries["ML-WORLD-002"].hs_prefix == heading.index[0]


def test_the_examples_raise_the_items_they_hit(default_world) -> None:
    declarations, _ = default_world
    last = declarations[declarations["declared_at"] >= CUT + pd.Timedelta(days=1)]
    last = last.reset_index(drop=True)
    policy = ChannelPolicy(version="w-1")
    lists = load_lists(ROOT / "lists", ROOT / "lists" / "world")
    out = decide(last, None, policy, None, None, seed=0, lists=lists)
    hits = out["list_hits"].explode().value_counts()
    for entry in ("ML-2026-002", "ML-2026-003", "ML-WORLD-001", "ML-WORLD-002"):
        assert hits.get(entry, 0) > 5, (entry, hits)
    assert "ML-2026-001" not in hits  # the generic one: no CFCs in a generated world
    arms = last["hs_code"].str.startswith("93").to_numpy()
    assert (out.loc[arms, "channel"] == "red").all()
    assert (out["selected_by"] == "list").sum() > 0
