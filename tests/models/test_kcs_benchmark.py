"""The KCS benchmark end to end on the committed sample, split by date."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from customs_risk.models.kcs_benchmark import REPORT_KEYS, run_kcs_benchmark

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "kcs_sample" / "kcs_sample.csv"


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, int]:
    raw = pd.read_csv(SAMPLE, dtype=str, keep_default_na=False)
    folder = tmp_path_factory.mktemp("kcs")
    is_test = raw["Date"] >= "2020-10-01"
    train, test = folder / "train.csv", folder / "test.csv"
    raw[~is_test].to_csv(train, index=False)
    raw[is_test].to_csv(test, index=False)
    return train, test, int(is_test.sum())


def test_benchmark_keys_and_determinism(split: tuple[Path, Path, int], tmp_path: Path) -> None:
    train, test, n_test = split
    first = run_kcs_benchmark([train], [test], tmp_path / "a.json", seed=3)
    second = run_kcs_benchmark([train], [test], tmp_path / "b.json", seed=3)
    written = json.loads((tmp_path / "a.json").read_text())
    for key in (*REPORT_KEYS, "n_test", "seconds"):
        assert key in written, key
    assert written["n_test"] == n_test
    assert 0.0 <= written["precision_at_10"] <= 1.0
    first.pop("seconds"), second.pop("seconds")
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)


def test_cli_benchmark(split: tuple[Path, Path, int], tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from customs_risk.cli import app

    train, test, n_test = split
    out = tmp_path / "m.json"
    args = ["benchmark", "kcs", "--train", str(train), "--test", str(test), "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "precision_at_5" in result.output
    assert json.loads(out.read_text())["n_test"] == n_test
