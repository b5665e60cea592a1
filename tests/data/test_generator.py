"""Tests of the synthetic customs world generator (small worlds, a few seconds in all)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from customs_risk.data.contracts import (
    DECLARATION_COLUMNS,
    DECLARATIONS_FILE,
    FRAUD_TYPES,
    KEY,
    OUTCOME_COLUMNS,
    OUTCOMES_FILE,
    TRUTH_FILE,
    DeclarationSchema,
    OutcomeSchema,
)
from customs_risk.data.generator import World, generate_world, summarize_world, write_world
from customs_risk.data.world.frames import EXTRA_DECLARATION_COLUMNS, TRUTH_COLUMNS
from customs_risk.data.world_config import (
    DeterrenceConfig,
    WorldConfig,
    load_world_config,
)

REPO = Path(__file__).resolve().parents[2]
N_SMALL = 20_000
N_MEDIUM = 50_000


@pytest.fixture(scope="module")
def config() -> WorldConfig:
    return WorldConfig()


@pytest.fixture(scope="module")
def world(config: WorldConfig) -> World:
    return generate_world(config, N_MEDIUM, seed=11)


@pytest.fixture(scope="module")
def small(config: WorldConfig) -> World:
    return generate_world(config, N_SMALL, seed=3)


def _keys(frame: pd.DataFrame) -> pd.MultiIndex:
    return pd.MultiIndex.from_frame(frame[KEY])


# --- contracts ---------------------------------------------------------------------------------


def test_declarations_follow_the_contract(world: World) -> None:
    d = world.declarations
    assert len(d) == N_MEDIUM
    assert list(d.columns) == [*DECLARATION_COLUMNS, *EXTRA_DECLARATION_COLUMNS]
    for column, kind in DECLARATION_COLUMNS.items():
        dtype = d[column].dtype
        if kind == "str":
            assert dtype == "str", column
        elif kind == "int":
            assert dtype == np.int64, column
        elif kind == "float":
            assert dtype == np.float64, column
        else:
            assert dtype == "datetime64[ns]", column
    DeclarationSchema.validate(d)
    assert d["declared_at"].is_monotonic_increasing
    assert not d.duplicated(KEY).any()
    assert (d["hs_code"].str.len() == 6).all()
    assert (d["customs_value"] > 0).all() and (d["net_mass_kg"] >= 0).all()
    np.testing.assert_allclose(
        d["duty_declared"], d["customs_value"] * d["tariff_rate"] / 100, atol=0.006
    )


def test_multi_item_declarations_share_their_header(world: World) -> None:
    d = world.declarations
    size = d.groupby("declaration_id")["item_no"].agg(["size", "min", "max"])
    assert (size["min"] == 1).all() and (size["max"] == size["size"]).all()
    assert 0.25 < (size["size"] > 1).mean() < 0.6
    header = ["declared_at", "importer_id", "declarant_id", "office_id", "departure_country"]
    assert (d.groupby("declaration_id")[header].nunique() == 1).all().all()


def test_outcomes_only_for_inspected_items_and_after_declaration(world: World) -> None:
    o, t = world.outcomes, world.truth
    assert list(o.columns) == list(OUTCOME_COLUMNS)
    OutcomeSchema.validate(o)
    assert _keys(o).equals(_keys(t[t["inspected"]]))
    joined = o.merge(world.declarations[[*KEY, "declared_at"]], on=KEY)
    delay = (joined["result_at"] - joined["declared_at"]).dt.total_seconds() / 86400
    assert (delay > 0).all()
    by_channel = delay.groupby(joined["channel"])
    assert by_channel.min()["red"] >= 1 and by_channel.max()["red"] <= 10
    assert by_channel.max()["orange"] <= 5
    assert by_channel.min()["green"] >= 21
    inspected = t[t["inspected"]].reset_index(drop=True)
    assert (o["fraud_found"] == inspected["detected"]).all()
    assert (o["fraud_type"] == np.where(o["fraud_found"], inspected["fraud_type"], "none")).all()
    np.testing.assert_allclose(
        o["recovered_revenue"], np.where(o["fraud_found"], inspected["true_revenue"], 0.0)
    )
    assert (o.loc[~o["fraud_found"], "recovered_revenue"] == 0).all()


def test_truth_covers_every_item(world: World) -> None:
    t = world.truth
    assert tuple(t.columns) == TRUTH_COLUMNS
    assert _keys(t).equals(_keys(world.declarations))
    assert set(t["fraud_type"]) == set(FRAUD_TYPES)
    assert (t["fraud_type"] != "none").eq(t["is_offence"]).all()
    assert (t.loc[~t["is_offence"], "true_revenue"] == 0).all()
    assert t.loc[t["fraud_type"] == "prohibited", "critical"].all()
    assert not t.loc[~t["is_offence"], "critical"].any()
    assert (t["detected"] <= (t["inspected"] & t["is_offence"])).all()
    assert t["result_at"].isna().eq(~t["inspected"]).all()
    assert set(t["selected_by_legacy"]) == {"rule", "random", "none"}
    assert set(t["regime"]) == {"before", "after"}


def test_offences_change_what_is_declared(world: World) -> None:
    d, t = world.declarations, world.truth
    kind = t["fraud_type"]
    honest = kind == "none"
    assert (d.loc[honest, "hs_code"] == t.loc[honest, "true_hs_code"]).all()
    assert (d.loc[honest, "customs_value"] == t.loc[honest, "true_customs_value"]).all()
    misc = kind == "misclassification"
    assert (d.loc[misc, "hs_code"] != t.loc[misc, "true_hs_code"]).all()
    assert (d.loc[misc, "hs_code"].str[:4] == t.loc[misc, "true_hs_code"].str[:4]).all()
    assert (d.loc[misc, "tariff_rate"] < t.loc[misc, "true_tariff_rate"]).all()
    origin = kind == "origin"
    assert (d.loc[origin, "origin_country"] != t.loc[origin, "true_origin_country"]).all()
    assert (d.loc[origin, "tariff_rate"] < t.loc[origin, "true_tariff_rate"]).all()
    quantity = kind == "quantity"
    assert (d.loc[quantity, "quantity"] < t.loc[quantity, "true_quantity"]).all()
    under = kind == "undervaluation"
    assert (d.loc[under, "customs_value"] < t.loc[under, "true_customs_value"]).all()
    revenue = t.loc[kind.isin(["undervaluation", "misclassification", "origin"]), "true_revenue"]
    assert (revenue > 0).all()


# --- determinism -------------------------------------------------------------------------------


def test_same_seed_gives_identical_frames(config: WorldConfig, small: World) -> None:
    again = generate_world(config, N_SMALL, seed=3)
    pd.testing.assert_frame_equal(small.declarations, again.declarations)
    pd.testing.assert_frame_equal(small.outcomes, again.outcomes)
    pd.testing.assert_frame_equal(small.truth, again.truth)


def test_different_seeds_differ(config: WorldConfig, small: World) -> None:
    other = generate_world(config, N_SMALL, seed=4)
    assert len(other.declarations) == N_SMALL
    assert not small.declarations["customs_value"].equals(other.declarations["customs_value"])
    assert not small.truth["is_offence"].equals(other.truth["is_offence"])


# --- rates and behaviour -----------------------------------------------------------------------


def test_default_rates_in_target_ranges(world: World) -> None:
    s = summarize_world(world)
    assert 0.03 <= s["offence_rate"] <= 0.08
    assert 0.10 <= s["inspection_rate"] <= 0.15
    t = world.truth
    random_share = (t["selected_by_legacy"] == "random").mean()
    assert 0.02 <= random_share <= 0.05
    # the legacy rules are better than chance, far from perfect
    assert s["hit_rate_red"] > t.loc[t["legacy_rule"] == "random", "detected"].mean()
    assert s["hit_rate"] < 0.5


def test_red_detects_more_than_orange(world: World) -> None:
    t = world.truth
    caught = t[t["is_offence"] & t["inspected"]].groupby("legacy_channel")["detected"].mean()
    assert caught["red"] > caught["orange"] + 0.1
    quantity = t[(t["fraud_type"] == "quantity") & t["inspected"]]
    by_channel = quantity.groupby("legacy_channel")["detected"].agg(["mean", "size"])
    if by_channel.loc[["red", "orange"], "size"].min() >= 10:
        assert by_channel.loc["orange", "mean"] < by_channel.loc["red", "mean"]


def test_drift_new_hub_after_regime_date(config: WorldConfig, world: World) -> None:
    d, t = world.declarations, world.truth
    hub = config.regime.hub_country
    after = t["regime"] == "after"
    in_hub_chapters = t["true_hs_code"].str[:2].astype(int).isin(config.regime.hub_chapters)
    via_hub = d["departure_country"] == hub
    offences = t["is_offence"]
    assert not (via_hub & ~after).any()
    assert (via_hub & offences & after).sum() / (offences & after).sum() > 0.05
    value_fraud = t["fraud_type"].isin(["undervaluation", "origin"])
    rate_before = value_fraud[in_hub_chapters & ~after].mean()
    rate_after = value_fraud[in_hub_chapters & after].mean()
    assert rate_after > 1.3 * rate_before
    assert value_fraud[via_hub].mean() > 2 * value_fraud[in_hub_chapters & ~via_hub].mean()


def _after_over_before(truth: pd.DataFrame, days: float) -> tuple[float, float]:
    """Offence rate of caught importers in the window after their first result, and before."""
    caught = (
        truth[truth["detected"]]
        .groupby("importer_id")
        .agg(first_decl=("declared_at", "min"), first_result=("result_at", "min"))
    )
    x = truth[["importer_id", "declared_at", "is_offence"]].merge(
        caught, left_on="importer_id", right_index=True
    )
    before = x.loc[x["declared_at"] < x["first_decl"], "is_offence"]
    window = (x["declared_at"] >= x["first_result"]) & (
        x["declared_at"] < x["first_result"] + pd.Timedelta(days=days)
    )
    assert len(caught) >= 30 and len(before) >= 500 and window.sum() >= 500
    return float(x.loc[window, "is_offence"].mean()), float(before.mean())


def test_deterrence_lowers_offending_after_being_caught(config: WorldConfig, world: World) -> None:
    days = config.deterrence.days
    after, before = _after_over_before(world.truth, days)
    assert after < before
    no_deterrence = config.model_copy(update={"deterrence": DeterrenceConfig(factor=1.0)})
    control = generate_world(no_deterrence, N_MEDIUM, seed=11)
    after_c, before_c = _after_over_before(control.truth, days)
    assert after / before < 0.8 * (after_c / before_c)
    assert world.truth["deterred"].any()


def test_undervalued_items_have_low_unit_value(world: World) -> None:
    d, t = world.declarations, world.truth
    unit = np.log(d["customs_value"] / d["quantity"])
    groups = unit.groupby([d["hs_code"], d["origin_country"]])
    deviation = (unit - groups.transform("median"))[groups.transform("size") >= 5]
    under = deviation[t["fraud_type"] == "undervaluation"].median()
    honest = deviation[t["fraud_type"] == "none"].median()
    assert under < honest - 0.2


def test_offending_grows_with_duty_at_stake(world: World) -> None:
    t = world.truth
    revenue_fraud = t["fraud_type"].isin(["undervaluation", "misclassification", "origin"])
    low = revenue_fraud[t["true_tariff_rate"].between(0.5, 5)].mean()
    high = revenue_fraud[t["true_tariff_rate"] >= 15].mean()
    assert high > 1.5 * low


# --- no leakage --------------------------------------------------------------------------------


def test_no_truth_leaks_into_declarations_or_outcomes(world: World) -> None:
    d, o, t = world.declarations, world.outcomes, world.truth
    truth_only = set(TRUTH_COLUMNS) - set(DECLARATION_COLUMNS) - set(OUTCOME_COLUMNS)
    assert not truth_only & set(d.columns)
    assert not truth_only & set(o.columns)
    y = t["is_offence"].to_numpy()
    for column in d.columns:
        values = d[column]
        if pd.api.types.is_numeric_dtype(values):
            corr = np.corrcoef(values.to_numpy(float), y)[0, 1]
            assert abs(corr) < 0.3, column
        elif values.nunique() < 5_000:
            rate = pd.Series(y).groupby(values.to_numpy()).agg(["mean", "size"])
            pure = rate[(rate["size"] >= 20) & ((rate["mean"] == 1) | (rate["mean"] == 0))]
            share_pure_offence = pure.loc[pure["mean"] == 1, "size"].sum() / y.sum()
            assert share_pure_offence < 0.05, column
    # the offence probability is informative but not a perfect rule
    p = t["offence_probability"]
    assert 0.3 < t.loc[p >= p.quantile(0.95), "is_offence"].mean() < 0.95


# --- config and files --------------------------------------------------------------------------


def test_load_world_config(tmp_path: Path) -> None:
    assert load_world_config(None) == WorldConfig()
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"other": {"x": 1}, "world": {"deterrence": {"factor": 0.5}}}))
    cfg = load_world_config(path)
    assert cfg.deterrence.factor == 0.5 and cfg.legacy == WorldConfig().legacy
    path.write_text(yaml.safe_dump({"world": {"deterrence": {"factr": 0.5}}}))
    with pytest.raises(ValueError, match="factr"):
        load_world_config(path)
    path.write_text(yaml.safe_dump({"other": 1}))
    assert load_world_config(path) == WorldConfig()


def test_repo_params_world_section_names_every_parameter() -> None:
    params = REPO / "params.yaml"
    load_world_config(params)
    section = yaml.safe_load(params.read_text())["world"]
    for name, sub in WorldConfig():
        assert set(section[name]) == set(type(sub).model_fields), name


def test_write_world_round_trip(small: World, tmp_path: Path) -> None:
    write_world(small, tmp_path / "w")
    for name, frame in (
        (DECLARATIONS_FILE, small.declarations),
        (OUTCOMES_FILE, small.outcomes),
        (TRUTH_FILE, small.truth),
    ):
        back = pd.read_parquet(tmp_path / "w" / name)
        pd.testing.assert_frame_equal(back, frame)


def test_cli_generate(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from customs_risk.cli import app

    out = tmp_path / "cli"
    result = CliRunner().invoke(
        app, ["generate", "--declarations", "3000", "--seed", "1", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "offence rate" in result.output
    assert len(pd.read_parquet(out / DECLARATIONS_FILE)) == 3000


def test_validator_accepts_the_world(small: World, tmp_path: Path) -> None:
    validation = pytest.importorskip("customs_risk.data.validation")
    if not hasattr(validation, "validate_dataset"):
        pytest.skip("validate_dataset not available")
    write_world(small, tmp_path)
    validation.validate_dataset(tmp_path)


def test_every_parameter_is_documented() -> None:
    text = (REPO / "docs" / "world.md").read_text()
    missing = [
        f"{section}.{name}"
        for section, sub in WorldConfig()
        for name in type(sub).model_fields
        if name not in text
    ]
    assert not missing


def test_catalogue_has_chapter_structure_and_realistic_tariffs(config: WorldConfig) -> None:
    from customs_risk.data.world.catalogue import build_catalogue

    cat = build_catalogue(config.catalogue, np.random.default_rng(0))
    assert 3_000 <= cat.size <= 8_000
    assert len(np.unique(cat.hs4)) > 800 and len(np.unique(cat.chapter)) == 96
    assert (cat.code // 100 == cat.hs4).all() and (cat.hs4 // 100 == cat.chapter).all()
    rates = cat.mfn_rate
    assert (rates <= 10).mean() > 0.7 and rates.max() >= 30 and (rates == 0).mean() > 0.1
    has_decoy = cat.decoy >= 0
    assert has_decoy.mean() > 0.3
    assert (cat.hs4[cat.decoy[has_decoy]] == cat.hs4[has_decoy]).all()
    assert (rates[cat.decoy[has_decoy]] < rates[has_decoy]).all()


@pytest.mark.parametrize("rows", [1, 7, 500])
def test_tiny_worlds(config: WorldConfig, rows: int) -> None:
    w = generate_world(config, rows, seed=2)
    assert len(w.declarations) == len(w.truth) == rows
    assert list(w.outcomes.columns) == list(OUTCOME_COLUMNS)
