"""The ``features`` and ``trader`` commands."""

from __future__ import annotations

import pandas as pd
from typer.testing import CliRunner

from customs_risk.cli import app
from customs_risk.features.state import FeatureState


def _folder(world, tmp_path):
    declarations, outcomes = world
    folder = tmp_path / "world"
    folder.mkdir()
    declarations.to_parquet(folder / "declarations.parquet")
    outcomes.to_parquet(folder / "outcomes.parquet")
    return folder


def test_features_command_writes_the_training_matrix(world, tmp_path) -> None:
    folder = _folder(world, tmp_path)
    out = tmp_path / "features.parquet"
    result = CliRunner().invoke(
        app, ["features", str(folder), "--out", str(out), "--state", str(tmp_path / "state")]
    )
    assert result.exit_code == 0, result.output
    matrix = pd.read_parquet(out)
    state = FeatureState.load(tmp_path / "state")
    assert list(matrix.columns) == ["declaration_id", "item_no", "declared_at"] + (
        state.feature_columns
    )
    assert len(matrix) == len(world[0])
    assert isinstance(matrix["importer_grade"].dtype, pd.CategoricalDtype)


def test_trader_command(world, tmp_path) -> None:
    folder = _folder(world, tmp_path)
    busiest = world[0]["importer_id"].value_counts().index[0]
    result = CliRunner().invoke(app, ["trader", busiest, "--data", str(folder)])
    assert result.exit_code == 0, result.output
    for word in ("Volume", "Inspections", "Findings", "Compliance grade", busiest):
        assert word in result.output
    unknown = CliRunner().invoke(app, ["trader", "NOBODY", "--data", str(folder)])
    assert unknown.exit_code == 1
