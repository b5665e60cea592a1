"""decide(): profiles over model and random, fail-safe, batch == single, output contract, CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from customs_risk.cli import app
from customs_risk.selection.decide import DECISION_COLUMNS, decide, decide_with_scorer
from customs_risk.selection.policy import ChannelPolicy
from customs_risk.selection.profiles import ProfileSet, parse_profile
from customs_risk.selection.synthetic import heuristic_scores, synthetic_declarations
from customs_risk.selection.thresholds import calibrate_thresholds

POLICY = ChannelPolicy(
    version="d-1",
    shares={"red": 0.05, "orange": 0.15, "random_red": 0.02, "random_orange": 0.03},
)
TEMPLATES = {
    "unit_value_ratio": "declared unit value {value_below_pct:.0f}% below the reference for HS "
    "{hs6} from {origin_country}",
    "importer_offence_rate": "importer offence rate {value_pct:.0f}%",
}


def _profile(pid: str, action: str, priority: int, criteria: list[dict], **extra: object) -> dict:
    return {
        "id": pid,
        "title": pid,
        "owner": "tests",
        "valid_from": "2024-01-01",
        "valid_to": "2024-12-31",
        "criteria": criteria,
        "action": action,
        "priority": priority,
        "instructions": f"do {pid}",
    } | extra


VN = [{"field": "origin_country", "op": "eq", "value": "VN"}]
SHIRTS = [{"field": "hs_code", "op": "prefix", "value": "6109"}]
PROFILES = ProfileSet(
    parse_profile(p)
    for p in [
        _profile("VN-ORANGE", "orange", 20, VN),
        _profile("VN-SHIRTS-RED", "red", 80, VN + SHIRTS),
        _profile("SHIRTS-ADVICE", "red", 50, SHIRTS, advisory=True),
        _profile(
            "FEB-ONLY",
            "red",
            10,
            [{"field": "origin_country", "op": "eq", "value": "BD"}],
            valid_from="2024-02-01",
            valid_to="2024-02-29",
        ),
    ]
)


@pytest.fixture(scope="module")
def batch() -> tuple[pd.DataFrame, pd.DataFrame]:
    decl = synthetic_declarations(3000, seed=4, days=60)
    return decl, heuristic_scores(decl, seed=4)


@pytest.fixture(scope="module")
def thresholds(batch: tuple[pd.DataFrame, pd.DataFrame]):
    decl, scores = batch
    return calibrate_thresholds(scores, decl, POLICY, PROFILES)


def test_output_contract(batch, thresholds) -> None:
    decl, scores = batch
    out = decide(decl, scores, POLICY, thresholds, PROFILES, seed=1, reason_templates=TEMPLATES)
    assert list(out.columns) == list(DECISION_COLUMNS)
    assert {c: str(t) for c, t in out.dtypes.items()} == DECISION_COLUMNS
    assert len(out) == len(decl)
    assert out["declaration_id"].tolist() == decl["declaration_id"].tolist()
    assert set(out["channel"]) == {"red", "orange", "green"}
    assert set(out["selected_by"]) == {"profile", "model", "random"}
    assert (out["policy_version"] == "d-1").all() and (out["model_version"] == "heuristic-0").all()
    selected = out[(out["channel"] != "green") & (out["selected_by"] == "model")]
    assert all(1 <= len(r) <= 3 for r in selected["reasons"])
    assert any("below the reference for HS" in r for rs in selected["reasons"] for r in rs)
    assert all(len(r) == 0 for r in out.loc[out["channel"] == "green", "reasons"])


def test_profile_forces_channel_and_lists_hits_in_priority_order(batch, thresholds) -> None:
    decl, scores = batch
    out = decide(decl, scores, POLICY, thresholds, PROFILES, seed=1)
    vn = (decl["origin_country"] == "VN").to_numpy()
    shirts = decl["hs_code"].str.startswith("6109").to_numpy()
    both = vn & shirts
    assert both.sum() > 5 and (vn & ~shirts).sum() > 5
    assert (out.loc[both, "channel"] == "red").all()
    assert (out.loc[both, "profile_id"] == "VN-SHIRTS-RED").all()
    assert all(
        h == ("VN-SHIRTS-RED", "SHIRTS-ADVICE", "VN-ORANGE") for h in out.loc[both, "profile_hits"]
    )
    assert out.loc[both, "instructions"].iloc[0][0] == "VN-SHIRTS-RED: do VN-SHIRTS-RED"
    assert (out.loc[vn & ~shirts, "channel"] == "orange").all()
    assert (out.loc[vn, "selected_by"] == "profile").all()
    assert (out.loc[vn, "propensity"] == 1.0).all()
    # advisory alone: reported, channel left to model / random
    advice_only = shirts & ~vn & (decl["origin_country"] != "BD").to_numpy()
    adv = out[advice_only]
    assert all(h == ("SHIRTS-ADVICE",) for h in adv["profile_hits"])
    assert all(i == ("SHIRTS-ADVICE: do SHIRTS-ADVICE",) for i in adv["instructions"])
    assert adv["profile_id"].isna().all()
    assert set(adv["selected_by"]) <= {"model", "random"}
    assert (adv["channel"] == "green").any()


def test_profile_validity_follows_declaration_date_or_as_of(batch, thresholds) -> None:
    decl, scores = batch
    out = decide(decl, scores, POLICY, thresholds, PROFILES, seed=1)
    bd = (decl["origin_country"] == "BD").to_numpy()
    feb = (decl["declared_at"].dt.month == 2).to_numpy()
    assert (out.loc[bd & feb, "profile_id"] == "FEB-ONLY").all()
    assert out.loc[bd & ~feb, "profile_id"].isna().all()
    [status] = [s for s in out.attrs["profiles_not_applied"] if s["profile_id"] == "FEB-ONLY"]
    assert status["status"] == "partially_valid"
    late = decide(decl, scores, POLICY, thresholds, PROFILES, seed=1, as_of="2025-01-01")
    assert (late["selected_by"] != "profile").all()
    expired = {s["profile_id"]: s["status"] for s in late.attrs["profiles_not_applied"]}
    assert expired == dict.fromkeys([p.id for p in PROFILES], "expired")


def test_batch_and_single_decisions_identical(batch, thresholds) -> None:
    decl, scores = batch
    full = decide(decl, scores, POLICY, thresholds, PROFILES, seed=9, reason_templates=TEMPLATES)
    picks: list[int] = []
    for key in ("profile", "random", "model"):
        for channel in ("red", "orange", "green"):
            rows = np.flatnonzero((full["selected_by"] == key) & (full["channel"] == channel))
            picks.extend(rows[:4].tolist())
    assert len(picks) >= 20
    for i in picks:
        single = decide(
            decl.iloc[[i]],
            scores.iloc[[i]],
            POLICY,
            thresholds,
            PROFILES,
            seed=9,
            reason_templates=TEMPLATES,
        )
        expected = full.iloc[[i]].reset_index(drop=True)
        pd.testing.assert_frame_equal(single, expected)


def test_fail_safe_without_model(batch) -> None:
    decl, _ = batch
    out = decide(decl, None, POLICY, None, PROFILES, seed=1)
    rest = out["selected_by"] == "default"
    assert rest.mean() > 0.6
    assert set(out["selected_by"]) == {"default", "profile", "random"}
    assert (out.loc[rest, "channel"] == "orange").all()
    assert (out["channel"] != "green").all()  # never a silent all-green
    assert out["fraud_probability"].isna().all() and out["model_channel"].isna().all()
    assert out["model_version"].isna().all()
    assert out.attrs["fail_safe"] == "no model scores"
    assert (out.loc[rest, "propensity"] == 1.0).all()
    assert np.allclose(out.loc[rest, "propensity_red"], 0.02)
    green_default = POLICY.model_copy(update={"default_channel": "green"})
    out = decide(decl, None, green_default, None, None, seed=1)
    assert (out.loc[out["channel"] == "green", "selected_by"] == "default").all()
    assert np.allclose(out.loc[out["selected_by"] == "default", "propensity"], 0.05)


def test_scorer_hook_and_failing_scorer(batch, thresholds) -> None:
    decl, scores = batch

    def broken(_: pd.DataFrame) -> pd.DataFrame:
        raise RuntimeError("model server down")

    out = decide_with_scorer(decl, broken, POLICY, thresholds, PROFILES, seed=1)
    assert "model server down" in out.attrs["fail_safe"]
    assert "default" in set(out["selected_by"]) and "model" not in set(out["selected_by"])
    out = decide_with_scorer(
        decl, lambda d: heuristic_scores(d, 4), POLICY, thresholds, PROFILES, 1
    )
    assert out.attrs["fail_safe"] is None and "model" in set(out["selected_by"])
    out = decide_with_scorer(decl, None, POLICY, thresholds, PROFILES, 1, unavailable_reason="gone")
    assert out.attrs["fail_safe"] == "gone"


def test_rows_without_score_take_default(batch, thresholds) -> None:
    decl, scores = batch
    holes = scores.copy()
    holes.loc[:99, "fraud_probability"] = np.nan
    out = decide(decl, holes, POLICY, thresholds, None, seed=1)
    first = out.iloc[:100]
    assert set(first["selected_by"]) <= {"default", "random"}
    assert (first.loc[first["selected_by"] == "default", "channel"] == "orange").all()
    assert first["model_channel"].isna().all()
    assert (out.iloc[100:]["selected_by"] != "default").all()


def test_input_errors(batch, thresholds) -> None:
    decl, scores = batch
    with pytest.raises(ValueError, match="rows"):
        decide(decl, scores.head(10), POLICY, thresholds, None, seed=1)
    with pytest.raises(ValueError, match="not aligned"):
        decide(decl, scores.iloc[::-1].reset_index(drop=True), POLICY, thresholds, None, seed=1)
    with pytest.raises(ValueError, match="recalibrate"):
        other = POLICY.model_copy(update={"version": "d-2"})
        decide(decl, scores, other, thresholds, None, seed=1)
    with pytest.raises(ValueError, match="thresholds are required"):
        decide(decl, scores, POLICY, None, None, seed=1)
    with pytest.raises(ValueError, match="office_id"):
        decide(decl.drop(columns="office_id"), None, POLICY, None, None, seed=1)


def test_seed_changes_only_the_random_group(batch, thresholds) -> None:
    decl, scores = batch
    a = decide(decl, scores, POLICY, thresholds, PROFILES, seed=1)
    b = decide(decl, scores, POLICY, thresholds, PROFILES, seed=2)
    assert not a["control_draw"].equals(b["control_draw"])
    neither = (a["selected_by"] != "random") & (b["selected_by"] != "random")
    pd.testing.assert_series_equal(a.loc[neither, "channel"], b.loc[neither, "channel"])
    pd.testing.assert_frame_equal(a, decide(decl, scores, POLICY, thresholds, PROFILES, seed=1))


def test_cli_decide_fail_safe(tmp_path: Path) -> None:
    data = tmp_path / "world"
    data.mkdir()
    synthetic_declarations(500, seed=2, start="2025-04-01").to_parquet(
        data / "declarations.parquet"
    )
    policy = tmp_path / "params.yaml"
    policy.write_text(yaml.safe_dump({"channel_policy": {"version": "cli-1"}}))
    repo_profiles = Path(__file__).resolve().parents[2] / "profiles"
    out = tmp_path / "decisions.parquet"
    result = CliRunner().invoke(
        app,
        [
            "decide",
            str(data),
            "--out",
            str(out),
            "--profiles",
            str(repo_profiles),
            "--policy",
            str(policy),
            "--fail-safe",
            "--seed",
            "3",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "FAIL-SAFE" in result.output and "RP-2024-005" in result.output
    written = pd.read_parquet(out)
    assert list(written.columns) == list(DECISION_COLUMNS)
    assert set(written["selected_by"]) <= {"default", "profile", "random"}
    assert (written["policy_version"] == "cli-1").all()


def test_cli_refuses_malformed_profile(tmp_path: Path) -> None:
    data = tmp_path / "world"
    data.mkdir()
    synthetic_declarations(10, seed=2).to_parquet(data / "declarations.parquet")
    bad = tmp_path / "profiles"
    bad.mkdir()
    (bad / "bad.yaml").write_text("id: X\naction: purple\n")
    result = CliRunner().invoke(app, ["decide", str(data), "--fail-safe", "--profiles", str(bad)])
    assert result.exit_code == 2
    assert "bad.yaml" in result.output and "refused profile" in result.output


def test_benchmark_script_runs_small() -> None:
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "decide_benchmark.py"
    result = subprocess.run(
        [sys.executable, str(script), "--rows", "3000", "--profiles", "10", "--repeat", "1"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "decide, single declaration" in result.stdout and "PASS" in result.stdout
