"""The trader register on a generated world: grades at a date, their migration, their worth."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd

from customs_risk.evaluation.traders import NEW, trader_register

AS_OF, TO = "2024-01-01", "2024-07-01"


def test_register_migration_and_later_offences(small_world: Path) -> None:
    result = trader_register(small_world, AS_OF, TO, horizon_days=180)
    declarations = pd.read_parquet(small_world / "declarations.parquet")
    known = declarations.loc[declarations["declared_at"] < AS_OF, "importer_id"].nunique()
    later = declarations.loc[declarations["declared_at"] < TO, "importer_id"].nunique()
    assert len(result.register) == known  # every importer known at the date, graded
    assert set(result.register["grade"].astype(str)) <= {"A", "B", "C", "D"}
    assert int(result.migration.to_numpy().sum()) == later  # each importer once, NEW included
    assert int(result.migration.loc[NEW].sum()) == later - known
    assert "legacy record" in result.sample
    # the grades mean something: on the truth, the later items of D offend more than those of B
    truth = pd.read_parquet(small_world / "truth.parquet")
    window = truth[(truth["declared_at"] >= AS_OF) & (truth["declared_at"] < "2024-06-29")]
    grade = dict(
        zip(result.register["importer_id"], result.register["grade"].astype(str), strict=True)
    )
    rate = window.assign(g=window["importer_id"].map(grade)).groupby("g")["is_offence"].mean()
    assert rate["D"] > rate["C"] > rate["B"]
    outcomes = result.outcomes.set_index("grade")
    horizon = (declarations["declared_at"] >= AS_OF) & (declarations["declared_at"] < "2024-06-29")
    assert outcomes["items"].sum() == horizon.sum()
    assert (outcomes["ci_low"] <= outcomes["offence_rate"]).all()


def test_cli_writes_the_tables(small_world: Path, tmp_path: Path) -> None:
    cli = str(Path(sys.executable).with_name("customs-risk"))
    out = tmp_path / "traders"
    run = subprocess.run(
        [
            cli,
            "report",
            "traders",
            "--data",
            str(small_world),
            "--as-of",
            AS_OF,
            "--to",
            TO,
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "grade migration" in run.stdout
    for name in ("register.parquet", "migration.parquet", "grade_outcomes.parquet"):
        assert len(pd.read_parquet(out / name)) > 0
    backwards = subprocess.run(
        [cli, "report", "traders", "--data", str(small_world), "--as-of", TO, "--to", AS_OF],
        capture_output=True,
        text=True,
    )
    assert backwards.returncode == 2 and "precedes" in backwards.stdout
