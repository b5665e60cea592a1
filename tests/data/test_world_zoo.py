"""The zoo of worlds (experiments/worlds/*.yaml): every preset validates, generates a world that
follows the contracts, and shows the property it is built for against the default world."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from customs_risk.data.contracts import (
    DeclarationSchema,
    OutcomeSchema,
    outcome_rule_violations,
)
from customs_risk.data.generator import RINGS_FILE, World, generate_world, write_world
from customs_risk.data.world.rings import ring_sizes
from customs_risk.data.world_config import (
    OffenceConfig,
    WorldConfig,
    load_world_config,
)

REPO = Path(__file__).resolve().parents[2]
WORLDS = REPO / "experiments" / "worlds"
PRESETS = sorted(p.stem for p in WORLDS.glob("*.yaml"))
REQUIRED = {
    "undervaluation_heavy",
    "origin_fraud_heavy",
    "related_groups",
    "price_noise",
    "biased_legacy",
    "drift",
}
N_SMALL = 3_000
N_PROPERTY = 30_000
SEED = 5


def _config(name: str) -> WorldConfig:
    return load_world_config(WORLDS / f"{name}.yaml") if name != "default" else WorldConfig()


def _overridden(raw: dict[str, Any]) -> list[tuple[str, str]]:
    """(section, field) pairs a preset's ``world:`` mapping sets."""
    return [(section, field) for section, fields in raw.items() for field in fields]


@pytest.fixture(scope="module")
def worlds() -> dict[str, World]:
    """A world per preset and the default one, same size and seed."""
    return {name: generate_world(_config(name), N_PROPERTY, SEED) for name in ["default", *PRESETS]}


def _share(truth: pd.DataFrame, fraud_type: str) -> float:
    return float((truth.loc[truth["is_offence"], "fraud_type"] == fraud_type).mean())


# --- every preset -------------------------------------------------------------------------------


def test_the_zoo_has_the_required_presets() -> None:
    assert set(PRESETS) >= REQUIRED


@pytest.mark.parametrize("name", PRESETS)
def test_preset_validates_and_overrides_only_what_it_is_about(name: str) -> None:
    path = WORLDS / f"{name}.yaml"
    text = path.read_text()
    assert text.startswith("# "), "a preset starts with a comment saying what it changes and why"
    raw = yaml.safe_load(text)
    assert set(raw) == {"world"}
    config = load_world_config(path)
    assert config != WorldConfig()
    for section, field in _overridden(raw["world"]):
        ours = getattr(getattr(config, section), field)
        assert ours != getattr(getattr(WorldConfig(), section), field), f"{section}.{field}"


@pytest.mark.parametrize("name", PRESETS)
def test_preset_generates_a_world_that_follows_the_contracts(name: str, tmp_path: Path) -> None:
    world = generate_world(_config(name), N_SMALL, seed=1)
    assert len(world.declarations) == N_SMALL
    DeclarationSchema.validate(world.declarations)
    OutcomeSchema.validate(world.outcomes)
    assert outcome_rule_violations(world.outcomes) == []
    assert 0.01 < world.truth["is_offence"].mean() < 0.12
    assert 0.03 < world.truth["inspected"].mean() < 0.3
    write_world(world, tmp_path)
    assert (tmp_path / RINGS_FILE).exists() == (world.rings is not None)


# --- what each preset is about ------------------------------------------------------------------


def test_undervaluation_heavy_is_mostly_undervaluation(worlds: dict[str, World]) -> None:
    heavy, default = worlds["undervaluation_heavy"].truth, worlds["default"].truth
    assert _share(heavy, "undervaluation") > _share(default, "undervaluation") + 0.3
    assert _share(heavy, "undervaluation") > 0.6


def test_origin_fraud_heavy_is_mostly_laundered_origin_fraud(worlds: dict[str, World]) -> None:
    heavy, default = worlds["origin_fraud_heavy"], worlds["default"]
    assert _share(heavy.truth, "origin") > _share(default.truth, "origin") + 0.3

    def laundered(world: World) -> float:
        origin = world.truth["fraud_type"] == "origin"
        d = world.declarations[origin.to_numpy()]
        return float((d["departure_country"] == d["origin_country"]).mean())

    assert laundered(heavy) > laundered(default) + 0.15


def test_related_groups_offend_together(worlds: dict[str, World]) -> None:
    world = worlds["related_groups"]
    assert worlds["default"].rings is None and world.rings is not None
    rings, truth = world.rings, world.truth
    assert rings["importer_id"].is_unique and rings["ring_id"].value_counts().min() >= 2
    per = truth.groupby("importer_id").agg(rate=("is_offence", "mean"), n=("is_offence", "size"))
    per = per.join(rings.set_index("importer_id"), how="inner")
    per = per[per["n"] >= 5]
    sums = per.groupby("ring_id")["rate"].transform("sum")
    counts = per.groupby("ring_id")["rate"].transform("size")
    mates = per[counts >= 2]
    leave_one_out = (sums - per["rate"])[counts >= 2] / (counts[counts >= 2] - 1)
    correlation = np.corrcoef(mates["rate"], leave_one_out)[0, 1]
    assert correlation > 0.3
    members = truth["importer_id"].isin(rings["importer_id"])
    assert truth.loc[members, "is_offence"].mean() > 3 * truth.loc[~members, "is_offence"].mean()
    # members are linked: a ring trades through few sellers and mostly one declarant
    items = truth[members].merge(rings, on="importer_id")
    by_ring = items.groupby("ring_id").agg(
        importers=("importer_id", "nunique"),
        sellers=("seller_id", "nunique"),
        top_declarant=("declarant_id", lambda s: s.value_counts(normalize=True).iloc[0]),
    )
    assert by_ring["top_declarant"].median() > 0.6
    assert (by_ring["sellers"] / by_ring["importers"]).median() < 2.0


def test_price_noise_scatters_honest_unit_values(worlds: dict[str, World]) -> None:
    def spread(world: World) -> float:
        honest = ~world.truth["is_offence"].to_numpy()
        d = world.declarations[honest]
        log_unit = np.log(d["customs_value"] / d["quantity"])
        return float(log_unit.groupby(d["hs_code"]).std().median())

    assert spread(worlds["price_noise"]) > 1.4 * spread(worlds["default"])


def test_biased_legacy_inspects_a_narrow_corner(worlds: dict[str, World]) -> None:
    legacy = _config("biased_legacy").legacy

    def random_share(truth: pd.DataFrame) -> float:
        inspected = truth[truth["inspected"]]
        return float((inspected["selected_by_legacy"] == "random").mean())

    biased = worlds["biased_legacy"]
    assert random_share(biased.truth) < 0.05 < 0.15 < random_share(worlds["default"].truth)

    def corner(world: World) -> float:
        """Share of the inspected declarations with an item in the preset's chapters or origins
        (the other items of a declaration go with it)."""
        d = world.declarations
        inside = d["hs_code"].str[:2].astype(int).isin(legacy.sensitive_chapters) | d[
            "origin_country"
        ].isin(legacy.risky_origins)
        per_declaration = inside.groupby(d["declaration_id"]).transform("max")
        return float(per_declaration[world.truth["inspected"].to_numpy()].mean())

    assert corner(biased) > 0.9
    assert corner(biased) > corner(worlds["default"]) + 0.3


def test_drift_shifts_the_offence_mix_and_opens_the_hub_late(worlds: dict[str, World]) -> None:
    def mix_shift(truth: pd.DataFrame, fraud_type: str) -> float:
        t = truth[truth["is_offence"]]
        days = (t["declared_at"] - t["declared_at"].min()).dt.days
        early, late = t[days < 180], t[days >= days.max() - 180]
        return _share(late, fraud_type) - _share(early, fraud_type)

    drift, default = worlds["drift"].truth, worlds["default"].truth
    assert mix_shift(drift, "origin") > mix_shift(default, "origin") + 0.1
    assert mix_shift(drift, "undervaluation") < mix_shift(default, "undervaluation") - 0.1
    end = drift["declared_at"].max()
    hub = drift.loc[drift["route"] == "hub", "declared_at"]
    assert hub.min() > end - pd.Timedelta(days=150)
    days = (drift["declared_at"] - drift["declared_at"].min()).dt.days
    volume_ratio = (days >= 365).sum() / (days < 365).sum()
    default_days = (default["declared_at"] - default["declared_at"].min()).dt.days
    assert volume_ratio > (default_days >= 365).sum() / (default_days < 365).sum() + 0.15


# --- the mechanisms added for the zoo -----------------------------------------------------------


def test_ring_sizes_sum_to_the_members_and_are_at_least_two() -> None:
    rng = np.random.default_rng(0)
    for n in (2, 3, 7, 100, 1_001):
        sizes = ring_sizes(n, 6.0, rng)
        assert sizes.sum() == n and sizes.min() >= 2


def test_new_world_fields_are_off_by_default_and_checked() -> None:
    config = WorldConfig()
    assert config.rings.importer_share == 0.0 and config.offences.type_trend == {}
    assert generate_world(config, N_SMALL, seed=1).rings is None
    with pytest.raises(ValueError, match="type_trend"):
        OffenceConfig(type_trend={"smuggling": 1.0})


def test_a_zero_trend_leaves_the_world_unchanged() -> None:
    zero = WorldConfig(offences=OffenceConfig(type_trend=dict.fromkeys(("origin",), 0.0)))
    a, b = generate_world(WorldConfig(), N_SMALL, 2), generate_world(zero, N_SMALL, 2)
    pd.testing.assert_frame_equal(a.truth, b.truth)
    pd.testing.assert_frame_equal(a.declarations, b.declarations)
