"""KCS adapter: the committed sample (MIT, LICENSE beside it) and the full files when present."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from customs_risk.cli import app
from customs_risk.data.validation import validate_dataset

SAMPLE = Path(__file__).parent / "kcs_sample" / "kcs_sample.csv"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "kcs"
runner = CliRunner()


def test_sample_imports_and_validates(tmp_path):
    result = runner.invoke(app, ["import", "kcs", str(SAMPLE), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    raw = pd.read_csv(SAMPLE, dtype=str)
    decl = pd.read_parquet(tmp_path / "declarations.parquet")
    outc = pd.read_parquet(tmp_path / "outcomes.parquet")
    assert len(decl) == len(outc) == len(raw)
    assert outc["fraud_found"].sum() == (raw["Fraud"] == "1").sum()
    assert outc["critical"].sum() == (raw["Critical Fraud"] == "2").sum()
    assert outc["recovered_revenue"].isna().all()
    assert {"process_type", "tax_type", "origin_indicator"} <= set(decl.columns)
    assert validate_dataset(tmp_path).ok


@pytest.mark.skipif(not SHARED.exists(), reason="shared KCS files not present")
def test_full_files_validate(tmp_path):
    files = [str(SHARED / "df_syn_train_eng.csv"), str(SHARED / "df_syn_valid_eng.csv")]
    assert runner.invoke(app, ["import", "kcs", *files, "--out", str(tmp_path)]).exit_code == 0
    assert runner.invoke(app, ["validate", str(tmp_path)]).exit_code == 0
    assert len(pd.read_parquet(tmp_path / "declarations.parquet")) == 45_519
