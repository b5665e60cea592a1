"""Data contracts: each kind of corruption is reported (column, row, reason) and quarantined."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from customs_risk.cli import app
from customs_risk.data.contracts import QUARANTINE_FILE
from customs_risk.data.generator import generate_world, write_world
from customs_risk.data.validation import validate_dataset
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
    _expect_rejected(
        _write(tmp_path, world, decl=decl), "declarations.parquet", "net_mass_kg", 7, "not a number"
    )


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
