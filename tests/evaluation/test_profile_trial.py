"""`customs-risk profiles test`: a draft profile on history (hits, workload, hit rate)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd

from customs_risk.evaluation.profile_trial import COLUMNS, try_profiles
from customs_risk.models.dataset import load_training_data
from customs_risk.selection.profiles import ProfileSet, parse_profile


def _draft(chapter: str) -> dict:
    return {
        "id": "RP-DRAFT-1",
        "title": f"chapter {chapter}, any origin",
        "owner": "test",
        "valid_from": "2099-01-01",  # not yet valid: a draft is tested before it applies
        "priority": 10,
        "action": "orange",
        "instructions": "check",
        "criteria": [{"field": "hs_code", "op": "prefix", "value": [chapter]}],
    }


def test_a_draft_hits_what_its_criteria_select(small_world: Path) -> None:
    declarations, outcomes = load_training_data(small_world)
    chapter = declarations["hs_code"].str.slice(0, 2).value_counts().index[0]
    table = try_profiles(ProfileSet([parse_profile(_draft(chapter))]), declarations, outcomes, 60)
    assert list(table.columns) == list(COLUMNS)
    row = table.iloc[0]
    last = declarations["declared_at"].max().normalize() + pd.Timedelta(days=1)
    window = declarations[declarations["declared_at"] >= last - pd.Timedelta(days=60)]
    hit = window[window["hs_code"].str.startswith(chapter)]
    assert row["hits"] == len(hit) > 0 and row["window_items"] == len(window)
    labelled = hit.merge(outcomes, on=["declaration_id", "item_no"])
    assert row["inspected"] == len(labelled) and row["found"] == labelled["fraud_found"].sum()
    assert row["hits_per_office_day"] > 0 and row["max_hits_office_day"] >= 1
    if row["inspected"]:
        assert row["ci_low"] <= row["hit_rate"] <= row["ci_high"]


def test_cli_prints_the_figures_and_refuses_model_fields(small_world: Path, tmp_path: Path) -> None:
    import yaml

    cli = str(Path(sys.executable).with_name("customs-risk"))
    draft = tmp_path / "draft.yaml"
    draft.write_text(yaml.safe_dump(_draft("8")))
    run = subprocess.run(
        [
            cli,
            "profiles",
            "test",
            str(draft),
            "--data",
            str(small_world),
            "--out",
            str(tmp_path / "t.parquet"),
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "RP-DRAFT-1" in run.stdout
    assert pd.read_parquet(tmp_path / "t.parquet")["hits"].iloc[0] > 0
    scored = _draft("8") | {"criteria": [{"field": "fraud_probability", "op": "ge", "value": 0.5}]}
    draft.write_text(yaml.safe_dump(scored))
    refused = subprocess.run(
        [cli, "profiles", "test", str(draft), "--data", str(small_world)],
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 2 and "fraud_probability" in refused.stdout
