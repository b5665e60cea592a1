"""Data contracts: each kind of corruption is reported (column, row, reason) and quarantined."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from customs_risk.cli import app
from customs_risk.data.contracts import QUARANTINE_FILE
from customs_risk.data.generator import generate_world, write_world
from customs_risk.data.validation import validate_dataset, validate_frames
from customs_risk.data.world_config import WorldConfig

runner = CliRunner()


@pytest.fixture(scope="module")
def world():
    return generate_world(WorldConfig(), 5_000, seed=5)


def _write(tmp_path: Path, world, decl=None, outc=None) -> Path:
    write_world(world, tmp_path)
    if decl is not None:
        decl.to_parquet(tmp_path / "declarations.parquet", index=False)
    if outc is not None:
        outc.to_parquet(tmp_path / "outcomes.parquet", index=False)
    return tmp_path


def _expect_rejected(folder: Path, file: str, column: str, row: int, reason_part: str) -> None:
    result = runner.invoke(app, ["validate", str(folder)])
    assert result.exit_code == 1, result.output
    report = validate_dataset(folder)
    hits = report.violations.query("file == @file and column == @column and row == @row")
    assert not hits.empty, report.violations.head()
    assert reason_part in " ".join(hits["reason"])
    quarantine = pd.read_parquet(folder / QUARANTINE_FILE)
    assert ((quarantine["source_file"] == file) & (quarantine["row"] == row)).any()


def test_clean_world_validates(tmp_path, world):
    folder = _write(tmp_path, world)
    (folder / QUARANTINE_FILE).write_bytes(b"stale")
    result = runner.invoke(app, ["validate", str(folder)])
    assert result.exit_code == 0, result.output
    assert not (folder / QUARANTINE_FILE).exists()


def test_duplicate_keys(tmp_path, world):
    decl = world.declarations.copy()
    decl.loc[10, ["declaration_id", "item_no"]] = decl.loc[3, ["declaration_id", "item_no"]].values
    _expect_rejected(
        _write(tmp_path, world, decl=decl),
        "declarations.parquet",
        "declaration_id",
        10,
        "duplicate",
    )


def test_missing_column_rejects_every_row(tmp_path, world):
    decl = world.declarations.drop(columns=["customs_value"])
    folder = _write(tmp_path, world, decl=decl)
    _expect_rejected(folder, "declarations.parquet", "customs_value", 0, "missing")
    quarantine = pd.read_parquet(folder / QUARANTINE_FILE)
    assert (quarantine["source_file"] == "declarations.parquet").sum() == len(decl)


def test_wrong_type(tmp_path, world):
    decl = world.declarations.copy()
    decl["net_mass_kg"] = decl["net_mass_kg"].astype("str")
    decl.loc[7, "net_mass_kg"] = "twelve"
    folder = _write(tmp_path, world, decl=decl)
    _expect_rejected(folder, "declarations.parquet", "net_mass_kg", 7, "not a number")
    # numeric text is not a number either (one rule: data.coercion): every row is rejected
    _expect_rejected(folder, "declarations.parquet", "net_mass_kg", 0, "not a number (str)")
    report = validate_dataset(folder)
    assert report.rejected_rows("declarations.parquet").size == len(decl)


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        (lambda s: s.map({True: "true", False: "false"}).astype("str"), "not a boolean (str)"),
        (lambda s: s.map({True: "1", False: "0"}).astype("str"), "not a boolean (str)"),
        (lambda s: s.map({True: "yes", False: "no"}).astype("str"), "not a boolean (str)"),
        (lambda s: s.astype("int64"), "not a boolean (int64)"),
    ],
    ids=["true-false", "1-0", "yes-no", "int-1-0"],
)
def test_boolean_columns_of_another_dtype_are_rejected(tmp_path, world, values, reason):
    outc = world.outcomes.copy()
    outc["fraud_found"] = values(outc["fraud_found"])
    folder = _write(tmp_path, world, outc=outc)
    _expect_rejected(folder, "outcomes.parquet", "fraud_found", 3, reason)
    report = validate_dataset(folder)
    assert report.rejected_rows("outcomes.parquet").size == len(outc)


@pytest.mark.parametrize("value", ["yes", 1, "1", "true", 0])
def test_a_value_that_is_not_a_boolean_is_rejected(world, value):
    outc = world.outcomes.copy()
    outc["fraud_found"] = outc["fraud_found"].astype(object)
    outc.loc[3, "fraud_found"] = value
    report, _, coerced = validate_frames(world.declarations, outc)
    bad = report.violations.query("file == 'outcomes.parquet'")
    assert bad["row"].tolist() == [3] and bad["column"].tolist() == ["fraud_found"]
    assert "not a boolean" in bad["reason"].iloc[0]
    assert coerced is not None and coerced["fraud_found"].dtype == bool


def test_pandas_boolean_columns_are_booleans(world):
    outc = world.outcomes.copy()
    outc["critical"] = outc["critical"].astype("boolean")
    report, _, coerced = validate_frames(world.declarations, outc)
    assert report.ok and coerced is not None and coerced["critical"].dtype == bool


def test_optional_outcome_columns_may_be_absent(world):
    outc = world.outcomes.drop(columns=["fraud_type", "recovered_revenue"])
    report, _, coerced = validate_frames(world.declarations, outc)
    assert report.ok and coerced is not None
    assert coerced["fraud_type"].isna().all() and coerced["recovered_revenue"].isna().all()


@pytest.mark.parametrize("column", ["net_mass_kg", "customs_value", "quantity"])
def test_negative_masses_and_values(tmp_path, world, column):
    decl = world.declarations.copy()
    decl.loc[42, column] = -1.0
    _expect_rejected(
        _write(tmp_path, world, decl=decl),
        "declarations.parquet",
        column,
        42,
        "greater_than_or_equal",
    )


def test_unknown_channel(tmp_path, world):
    outc = world.outcomes.copy()
    outc.loc[2, "channel"] = "purple"
    _expect_rejected(_write(tmp_path, world, outc=outc), "outcomes.parquet", "channel", 2, "isin")


def test_outcome_for_unknown_declaration(tmp_path, world):
    outc = world.outcomes.copy()
    outc.loc[4, "declaration_id"] = "NO-SUCH-DECLARATION"
    _expect_rejected(
        _write(tmp_path, world, outc=outc),
        "outcomes.parquet",
        "declaration_id",
        4,
        "unknown declaration",
    )


def test_result_before_declaration(tmp_path, world):
    outc = world.outcomes.copy()
    outc.loc[5, "result_at"] = pd.Timestamp("1990-01-01")
    _expect_rejected(
        _write(tmp_path, world, outc=outc), "outcomes.parquet", "result_at", 5, "before"
    )


def test_valid_rows_untouched(tmp_path, world):
    decl = world.declarations.copy()
    decl.loc[42, "customs_value"] = -1.0
    folder = _write(tmp_path, world, decl=decl)
    validate_dataset(folder)
    on_disk = pd.read_parquet(folder / "declarations.parquet")
    pd.testing.assert_frame_equal(on_disk, decl)
    quarantine = pd.read_parquet(folder / QUARANTINE_FILE)
    assert quarantine["row"].tolist() == [42]


def test_generated_world_validates_in_process(tmp_path, world):
    assert validate_dataset(_write(tmp_path, world)).ok


# the outcome rules (contracts.outcome_rule_masks), the ones the store and /outcomes apply
CONTRADICTIONS = [
    ({"fraud_found": False, "fraud_type": "undervaluation"}, "fraud_type", "offence type"),
    ({"fraud_found": True, "fraud_type": "none"}, "fraud_type", "none though"),
    ({"fraud_found": False, "fraud_type": "none", "critical": True}, "critical", "implies"),
    (
        {"fraud_found": False, "fraud_type": "none", "recovered_revenue": 1e6},
        "recovered_revenue",
        "implies",
    ),
]


def test_contradictory_outcomes_quarantined(tmp_path, world):
    outc = world.outcomes.copy()
    clean = outc.index[
        outc["fraud_found"] & ~outc["critical"] & (outc["recovered_revenue"] > 0)
    ].to_numpy()
    assert len(clean) > len(CONTRADICTIONS)
    rows = [int(r) for r in clean[: len(CONTRADICTIONS)]]
    for row, (change, _, _) in zip(rows, CONTRADICTIONS, strict=True):
        for column, value in change.items():
            outc.loc[row, column] = value
        if not change["fraud_found"]:
            outc.loc[row, "recovered_revenue"] = change.get("recovered_revenue", 0.0)
    unknown = int(clean[len(CONTRADICTIONS)])
    outc.loc[unknown, "fraud_type"] = None  # unknown type: allowed
    folder = _write(tmp_path, world, outc=outc)
    for row, (_, column, reason) in zip(rows, CONTRADICTIONS, strict=True):
        _expect_rejected(folder, "outcomes.parquet", column, row, reason)
    report = validate_dataset(folder)
    assert sorted(report.rejected_rows("outcomes.parquet").tolist()) == sorted(rows)
    quarantine = pd.read_parquet(folder / QUARANTINE_FILE)
    mine = quarantine[quarantine["source_file"] == "outcomes.parquet"].set_index("row")
    assert sorted(mine.index.tolist()) == sorted(rows)
    for row, (_, column, reason) in zip(rows, CONTRADICTIONS, strict=True):
        assert (
            mine.loc[row, "reason"].startswith(f"{column}: ") and reason in mine.loc[row, "reason"]
        )


def test_kcs_style_unknown_fraud_type_validates(world):
    outc = world.outcomes.copy()
    outc["fraud_type"] = outc["fraud_type"].where(~outc["fraud_found"], None)
    outc["recovered_revenue"] = float("nan")
    report, _, _ = validate_frames(world.declarations, outc)
    assert report.ok, report.violations.head()
