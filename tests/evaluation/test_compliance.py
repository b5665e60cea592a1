"""Compliance measurement from the random control against the truth of generated worlds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from customs_risk.data.generator import generate_world, write_world
from customs_risk.data.world_config import WorldConfig
from customs_risk.evaluation.compliance import (
    COLUMNS,
    ComplianceSettings,
    compliance,
    compliance_report,
)
from customs_risk.models.control_estimates import ControlSample

# a random control of 20 % of the declarations no rule selects (default 2.5 %) so that 30,000
# items leave cells of a usable size
WORLD = WorldConfig.model_validate({"time": {"n_days": 180}, "legacy": {"random_rate": 0.2}})
LEVELS = ("all", "month", "district", "office", "hs_chapter", "origin")


def test_a_uniform_control_gives_the_plain_rate_with_an_interval_around_it() -> None:
    n = 400
    declarations = pd.DataFrame(
        {
            "declaration_id": [f"D{i // 2}" for i in range(n)],
            "item_no": [1 + i % 2 for i in range(n)],
            "declared_at": pd.Timestamp("2025-01-01"),
            "office_id": ["A" if i < 300 else "B" for i in range(n)],
            "hs_code": "01012100",
            "origin_country": "CN",
        }
    )
    sampled = np.arange(n) % 4 == 0  # a quarter inspected by the draw, propensity 0.25
    found = (np.arange(n) % 8 == 0) & sampled
    outcomes = declarations.loc[sampled, ["declaration_id", "item_no"]].assign(
        fraud_found=found[sampled], recovered_revenue=np.where(found[sampled], 100.0, 0.0)
    )
    sample = ControlSample(np.where(sampled, 0.25, np.nan), np.full(n, 0.3), "a uniform quarter")
    unit_of = {
        "all": np.full(n, "all", dtype=object),
        "office": declarations["office_id"].to_numpy(),
    }
    table = compliance(declarations, outcomes, sample, unit_of, ComplianceSettings(min_sample=80))
    assert list(table.columns) == list(COLUMNS)
    overall = table.set_index(["level", "unit"]).loc[("all", "all")]
    assert overall["offence_rate"] == pytest.approx(0.5)  # every other sampled item
    assert overall["ci_low"] < 0.5 < overall["ci_high"]
    assert overall["duty_at_risk"] == pytest.approx(found.sum() * 100.0 * 4)  # HT total
    assert overall["n_control"] == 100 and overall["n_green"] == n
    small = table.set_index(["level", "unit"]).loc[("office", "B")]
    assert small["n_control"] == 25 and small["small_sample"]  # marked, not hidden
    again = compliance(declarations, outcomes, sample, unit_of, ComplianceSettings(min_sample=80))
    pd.testing.assert_frame_equal(table, again)  # seeded


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_intervals_cover_the_true_green_offence_rate_in_90_percent_of_cells(
    tmp_path: Path,
) -> None:
    tables = []
    for seed in range(10):
        folder = tmp_path / f"world-{seed}"
        write_world(generate_world(WORLD, 30_000, seed=seed), folder)
        table, source = compliance_report(folder, ComplianceSettings(seed=seed), WORLD)
        assert "legacy record" in source
        tables.append(table.assign(seed=seed))
    cells = pd.concat(tables, ignore_index=True)
    judged = cells[~cells["small_sample"] & cells["level"].isin(LEVELS)]
    covered = (judged["ci_low"] <= judged["true_rate"]) & (judged["true_rate"] <= judged["ci_high"])
    summary = judged.assign(covered=covered).groupby("level")["covered"].agg(["mean", "size"])
    print("\n" + summary.to_string())
    assert len(judged) >= 200
    assert covered.mean() >= 0.90, summary.to_string()
    assert cells["small_sample"].any()  # small cells are listed too


def test_cli_writes_the_table_and_the_plot(small_world: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    cli = str(Path(sys.executable).with_name("customs-risk"))
    out = tmp_path / "reports" / "compliance.parquet"
    run = subprocess.run(
        [
            cli,
            "report",
            "compliance",
            "--data",
            str(small_world),
            "--out",
            str(out),
            "--resamples",
            "200",
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "control sample: legacy record" in " ".join(run.stdout.split())
    table = pd.read_parquet(out)
    assert set(COLUMNS) <= set(table.columns) and "true_rate" in table.columns
    assert {"all", "month", "office", "hs_chapter", "origin"} <= set(table["level"])
    assert out.with_suffix(".png").stat().st_size > 1000
    empty = tmp_path / "no-sample"
    empty.mkdir()
    pd.read_parquet(small_world / "declarations.parquet").head(50).to_parquet(
        empty / "declarations.parquet"
    )
    pd.read_parquet(small_world / "outcomes.parquet").head(0).to_parquet(empty / "outcomes.parquet")
    refused = subprocess.run(
        [cli, "report", "compliance", "--data", str(empty), "--out", str(tmp_path / "x.parquet")],
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 2 and "no control sample" in " ".join(refused.stdout.split())
