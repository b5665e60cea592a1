"""Tariff analysis: duty sums, price tendency, reference prices, suspected price-fraud importers
(the truth of generated worlds is read only here, to judge the ranking)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from customs_risk.cli import app
from customs_risk.data.contracts import KEY
from customs_risk.data.generator import generate_world
from customs_risk.data.world_config import WorldConfig
from customs_risk.evaluation.tariff import (
    EVIDENCE_COLUMNS,
    RANKING_COLUMNS,
    declared_duty,
    duty_collection,
    duty_tables,
    item_deviations,
    leave_out_quantiles,
    price_tendency,
    rank_suspects,
    reference_table,
)
from customs_risk.features.pipeline import FeaturePipeline

DIMENSIONS = ["chapter", "origin_country", "office_id", "month"]


def _items(rows: list[dict]) -> pd.DataFrame:
    """Declarations with the contract's columns from short row dicts."""
    frame = pd.DataFrame(rows)
    n = len(frame)
    defaults = {
        "declaration_id": [f"D{i:05d}" for i in range(n)],
        "item_no": 1,
        "office_id": "OFC001",
        "origin_country": "CN",
        "net_mass_kg": 10.0,
        "quantity": 10.0,
        "tariff_rate": 10.0,
    }
    for column, value in defaults.items():
        if column not in frame.columns:
            frame[column] = value
    frame["declared_at"] = pd.to_datetime(frame["declared_at"])
    frame["duty_declared"] = frame["customs_value"] * frame["tariff_rate"] / 100.0
    return frame.astype({"hs_code": "str", "importer_id": "str", "office_id": "str"})


def _item(importer: str, j: int, factor: float) -> dict:
    """Item j (0-23) of an importer: months 1-6, odd items dutiable (10 %, unit price 100),
    even ones duty-free (unit price 40), declared at ``factor`` times the price."""
    hs, price, rate = ("610910", 100.0, 10.0) if j % 2 else ("847130", 40.0, 0.0)
    return {
        "importer_id": importer,
        "declared_at": f"2024-{1 + j // 4:02d}-{1 + j:02d}",
        "hs_code": hs,
        "tariff_rate": rate,
        "customs_value": 10 * price * factor,
    }


def _market(seed: int = 0) -> list[dict]:
    """40 honest importers of 24 items each, with their own price level (log-normal, sd 0.3)
    and item noise (sd 0.3)."""
    rng = np.random.default_rng(seed)
    levels = rng.lognormal(0, 0.3, 40)
    return [
        _item(f"IMP{i:03d}", j, levels[i] * rng.lognormal(0, 0.3))
        for i in range(40)
        for j in range(24)
    ]


def test_duty_sums_match_the_inputs() -> None:
    declarations = _items(
        [
            {"importer_id": "A", "declared_at": "2024-01-05", "hs_code": "61091000",
             "customs_value": 1000.0, "tariff_rate": 10.0},
            {"importer_id": "A", "declared_at": "2024-01-20", "hs_code": "61102000",
             "customs_value": 500.0, "tariff_rate": 20.0},
            {"importer_id": "B", "declared_at": "2024-02-03", "hs_code": "84713000",
             "customs_value": 2000.0, "tariff_rate": 0.0},
        ]
    )  # fmt: skip
    declarations.loc[1, "duty_declared"] = np.nan  # computed: 500 * 20 / 100
    outcomes = pd.DataFrame(
        {
            "declaration_id": ["D00000", "D00001"],
            "item_no": [1, 1],
            "fraud_found": [True, False],
            "recovered_revenue": [30.0, None],
        }
    )
    by_chapter = duty_collection(declarations, outcomes, ["chapter"]).set_index("chapter")
    assert by_chapter.loc["61", "items"] == 2 and by_chapter.loc["84", "items"] == 1
    assert by_chapter.loc["61", "duty_declared"] == pytest.approx(100.0 + 100.0)
    assert by_chapter.loc["61", "inspected"] == 2 and by_chapter.loc["61", "fraud_found"] == 1
    assert by_chapter.loc["61", "recovered_duty"] == pytest.approx(30.0)
    assert by_chapter.loc["61", "recovered_share"] == pytest.approx(30.0 / 200.0)
    assert np.isnan(by_chapter.loc["84", "recovered_share"])  # nothing declared
    both = duty_collection(declarations, outcomes, ["chapter", "month"])
    assert list(both[["chapter", "month"]].itertuples(index=False, name=None)) == [
        ("61", "2024-01"),
        ("84", "2024-02"),
    ]


def test_duty_tables_add_up_on_every_dimension(small_world: Path) -> None:
    declarations = pd.read_parquet(small_world / "declarations.parquet")
    outcomes = pd.read_parquet(small_world / "outcomes.parquet")
    table = duty_tables(declarations, outcomes, DIMENSIONS)
    assert set(table["dimension"]) == set(DIMENSIONS)
    sums = table.groupby("dimension")[["items", "duty_declared", "inspected", "recovered_duty"]]
    for _, row in sums.sum().iterrows():
        assert row["items"] == len(declarations)
        assert row["duty_declared"] == pytest.approx(declared_duty(declarations).sum())
        assert row["inspected"] == len(outcomes)
        assert row["recovered_duty"] == pytest.approx(outcomes["recovered_revenue"].sum())


def test_price_tendency_band_holds_the_median(small_world: Path) -> None:
    declarations = pd.read_parquet(small_world / "declarations.parquet")
    table = price_tendency(declarations, min_items=5)
    assert len(table) > 0 and (table["n_items"] >= 5).all()
    assert (table["band_low"] <= table["median"]).all()
    assert (table["median"] <= table["band_high"]).all()
    assert set(table["basis"]) == {"unit"}  # every item of the world has a quantity
    cell = table.iloc[0]
    rows = declarations[
        (declarations["hs_code"].str.slice(0, 6) == cell["hs6"])
        & (declarations["origin_country"] == cell["origin_country"])
        & (declarations["declared_at"].dt.strftime("%Y-%m") == cell["month"])
    ]
    unit_values = rows["customs_value"] / rows["quantity"]
    assert cell["n_items"] == len(rows)
    assert cell["median"] == pytest.approx(unit_values.median())
    assert cell["band_low"] == pytest.approx(unit_values.quantile(0.1))


def test_reference_table_is_what_the_features_compare_with(small_world: Path) -> None:
    declarations = pd.read_parquet(small_world / "declarations.parquet")
    table = reference_table(declarations)
    unit = table[table["basis"] == "unit"].set_index(["hs6", "origin_country"])
    assert (unit["q25"] <= unit["median"]).all() and (unit["median"] <= unit["q75"]).all()
    pipeline = FeaturePipeline()
    state = pipeline.fit(declarations)
    later = declarations.tail(200).assign(
        declared_at=declarations["declared_at"].max() + pd.Timedelta(days=2)
    )
    features = pipeline.transform(later, state, isolated=True)
    pairs = list(zip(later["hs_code"].str.slice(0, 6), later["origin_country"], strict=True))
    expected = np.log(unit.loc[pairs, "reference"].to_numpy())
    np.testing.assert_allclose(features["uv_unit_ref"].to_numpy(), expected, rtol=1e-5)


def test_leave_out_quantiles_are_exact() -> None:
    rng = np.random.default_rng(3)
    n = 600
    group, owner = rng.integers(0, 8, n), rng.integers(0, 12, n)
    x = rng.normal(size=n).round(1)  # ties included
    x[rng.random(n) < 0.05] = np.nan
    group[rng.random(n) < 0.03] = -1
    counts, q = leave_out_quantiles(group, owner, x, [0.25, 0.5, 0.75])
    for i in range(n):
        if group[i] < 0 or np.isnan(x[i]):
            assert counts[i] == 0 and np.isnan(q[i]).all()
            continue
        others = x[(group == group[i]) & (owner != owner[i]) & ~np.isnan(x)]
        assert counts[i] == len(others)
        if len(others):
            np.testing.assert_allclose(q[i], np.quantile(others, [0.25, 0.5, 0.75]))


def test_a_big_importer_is_not_its_own_reference() -> None:
    rows = [
        {"importer_id": "BIG", "declared_at": "2024-01-01", "hs_code": "610910",
         "customs_value": 500.0}
        for _ in range(200)
    ] + [
        {"importer_id": f"S{i}", "declared_at": "2024-01-01", "hs_code": "610910",
         "customs_value": 1000.0}
        for i in range(20)
    ]  # fmt: skip
    declarations = _items(rows)
    dev = item_deviations(declarations)
    big = dev[declarations["importer_id"] == "BIG"]
    np.testing.assert_allclose(big["deviation"], np.log(0.5), atol=1e-9)  # others say 100
    small = dev[declarations["importer_id"] != "BIG"]
    np.testing.assert_allclose(small["deviation"], np.log(2.0), atol=1e-9)  # others: mostly BIG


def test_one_cheap_item_does_not_make_a_suspect_a_pattern_does() -> None:
    rows = _market()
    for j in range(24):
        rows.append(_item("ONCE", j, 0.2 if j == 1 else 1.0))  # one item at a fifth
        rows.append(_item("UNDER", j, 0.5 if j % 2 else 1.0))  # every dutiable item at half
        rows.append(_item("CHEAP", j, 0.7))  # a trader of cheap goods
    declarations = _items(rows)
    suspects = rank_suspects(declarations, evidence_top=3)
    ranking = suspects.ranking.set_index("importer_id")
    assert list(suspects.ranking.columns) == list(RANKING_COLUMNS)
    assert ranking.loc["UNDER", "rank"] == 1
    assert ranking.loc["ONCE", "rank"] > 5
    assert ranking.loc["CHEAP", "rank"] > 5  # cheap everywhere: its own level, not fraud
    assert ranking.loc["UNDER", "score"] > 3 * ranking.loc[["ONCE", "CHEAP"], "score"].max()
    assert ranking.loc["UNDER", "months_below"] == 6
    assert "12 of 12 dutiable items below the reference" in ranking.loc["UNDER", "evidence"]
    evidence = suspects.evidence
    assert list(evidence.columns) == list(EVIDENCE_COLUMNS)
    assert set(evidence["rank"]) == {1, 2, 3}
    assert (evidence["importer_id"] == "UNDER").sum() == 24
    under = evidence[(evidence["importer_id"] == "UNDER") & evidence["dutiable"]]
    assert (under["deviation"] < -0.4).all() and (under["duty_gap"] > 0).all()


def test_suspects_without_any_reference_are_an_empty_ranking() -> None:
    one = _items(
        [{"importer_id": "A", "declared_at": f"2024-0{m}-01", "hs_code": "610910",
          "customs_value": 100.0} for m in range(1, 7)]
    )  # fmt: skip
    suspects = rank_suspects(one)
    assert suspects.ranking.empty and suspects.evidence.empty
    assert list(suspects.ranking.columns) == list(RANKING_COLUMNS)


def _hit_rates(ranking: pd.DataFrame, truth: pd.DataFrame) -> tuple[float, float]:
    """Top-50 and base rate of truly undervaluing importers among the ranked: at least 2, and
    at least 10 %, of its priced items are undervaluation in truth."""
    undervalued = (truth["fraud_type"] == "undervaluation").groupby(truth["importer_id"]).sum()
    table = ranking.set_index("importer_id")
    count = undervalued.reindex(table.index, fill_value=0)
    truly = (count >= 2) & (count >= 0.1 * table["n_items"])
    return float(truly[table["rank"] <= 50].mean()), float(truly.mean())


def test_top_suspects_are_undervaluing_importers_at_three_times_the_base_rate() -> None:
    world = generate_world(WorldConfig(), 400_000, seed=12)
    suspects = rank_suspects(world.declarations, world.outcomes)
    top, base = _hit_rates(suspects.ranking, world.truth)
    prices_only = rank_suspects(world.declarations)
    top_p, base_p = _hit_rates(prices_only.ranking, world.truth)
    print(
        f"\ntop 50 {top:.2f}, base {base:.3f}, ratio {top / base:.1f}; prices alone: top 50 "
        f"{top_p:.2f}, base {base_p:.3f}, ratio {top_p / base_p:.1f}; {len(suspects.ranking)} "
        f"ranked; {suspects.prior}"
    )
    assert len(suspects.ranking) > 1000
    assert top >= 3 * base
    assert top_p >= 2 * base_p  # the prices carry the evidence, not only the record


def test_cli_writes_the_tables(small_world: Path, tmp_path: Path) -> None:
    out = tmp_path / "tariff"
    result = CliRunner().invoke(
        app, ["report", "tariff", "--data", str(small_world), "--out", str(out), "--top", "5"]
    )
    assert result.exit_code == 0, result.output
    assert "suspected price-fraud enterprises" in result.output
    duty = pd.read_parquet(out / "duty.parquet")
    assert {"chapter", "origin_country", "office_id", "month"} <= set(duty["dimension"])
    assert {"dimension", "unit", "duty_declared", "recovered_duty"} <= set(duty.columns)
    prices = pd.read_parquet(out / "prices.parquet")
    assert {"hs6", "origin_country", "month", "median", "band_low", "band_high"} <= set(prices)
    references = pd.read_parquet(out / "references.parquet")
    assert {"hs6", "origin_country", "basis", "n", "median", "reference", "spread"} <= set(
        references.columns
    )
    suspects = pd.read_parquet(out / "suspects.parquet")
    assert {"importer_id", "rank", "score", "n_items", "evidence"} <= set(suspects.columns)
    assert list(suspects["rank"]) == list(range(1, len(suspects) + 1))
    evidence = pd.read_parquet(out / "suspect_evidence.parquet")
    assert set(evidence["rank"]) == set(range(1, 6))
    assert {*KEY, "unit_value", "reference_value", "deviation"} <= set(evidence.columns)
    prices_only = CliRunner().invoke(
        app, ["report", "tariff", "--data", str(small_world), "--out", str(out), "--no-record"]
    )
    assert prices_only.exit_code == 0, prices_only.output
    again = pd.read_parquet(out / "suspects.parquet")
    assert set(again["importer_id"]) == set(suspects["importer_id"])
    assert not np.allclose(again.sort_values("importer_id")["score"],
                           suspects.sort_values("importer_id")["score"])  # fmt: skip


def test_cli_names_a_missing_file_or_column(small_world: Path, tmp_path: Path) -> None:
    missing = CliRunner().invoke(app, ["report", "tariff", "--data", str(tmp_path / "none")])
    assert missing.exit_code == 2
    assert "declarations.parquet" in missing.output.replace("\n", "")  # rich wraps lines
    folder = tmp_path / "no-value"
    folder.mkdir()
    declarations = pd.read_parquet(small_world / "declarations.parquet")
    declarations.drop(columns=["customs_value"]).to_parquet(folder / "declarations.parquet")
    pd.read_parquet(small_world / "outcomes.parquet").to_parquet(folder / "outcomes.parquet")
    result = CliRunner().invoke(app, ["report", "tariff", "--data", str(folder)])
    output = result.output.replace("\n", "")
    assert result.exit_code == 2
    assert "no column customs_value" in output and "declarations.parquet" in output
