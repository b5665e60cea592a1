"""``customs-risk decide`` with a real model: registry URIs, a bundle folder, refusals.

The model is the session's small trained bundle (tests/conftest.py ``trained``: real training,
registered as version 1, alias challenger, in a private MLflow sqlite store); the CLI finds that
store through the ``CUSTOMS_RISK_MLFLOW_*`` variables, as in production. No mocks.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from customs_risk.cli import app
from customs_risk.jobs.decide import parse_registry_uri
from customs_risk.models.train import BUNDLE_DIR
from tests.conftest import PROFILES, Trained


@pytest.fixture(scope="module")
def batch(small_world: Path, trained: Trained, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The newest 400 items of the generated world, lodged after the model's feature state."""
    decl = pd.read_parquet(small_world / "declarations.parquet").tail(400)
    as_of = pd.Timestamp(trained.result.bundle.state.as_of, unit="ns")
    shift = as_of.as_unit(decl["declared_at"].dt.unit) - decl["declared_at"].min()
    decl = decl.assign(declared_at=decl["declared_at"] + shift + pd.Timedelta(hours=1))
    folder = tmp_path_factory.mktemp("batch")
    decl.to_parquet(folder / "declarations.parquet", index=False)
    return folder


@pytest.fixture
def registry(trained: Trained, monkeypatch: pytest.MonkeyPatch) -> Trained:
    """The trained model's MLflow store, given to the CLI by environment variables."""
    monkeypatch.setenv("CUSTOMS_RISK_MLFLOW_URI", trained.settings.uri)
    monkeypatch.setenv("CUSTOMS_RISK_MLFLOW_ARTIFACT_ROOT", trained.settings.artifact_root)
    return trained


def _decide(batch: Path, out: Path, *args: str):
    return CliRunner().invoke(app, ["decide", str(batch), "--out", str(out), *args])


@pytest.mark.parametrize(
    ("uri", "version"),
    [
        ("models:/customs-risk@challenger", "customs-risk/1"),
        ("models:/customs-risk/1", "customs-risk/1"),
        ("bundle", None),
    ],
)
def test_decide_scores_with_the_model(registry, batch, tmp_path, uri, version) -> None:
    if uri == "bundle":
        uri = str(registry.out / BUNDLE_DIR)
    out = tmp_path / "decisions.parquet"
    result = _decide(batch, out, "--model", uri, "--profiles", str(PROFILES), "--seed", "3")
    assert result.exit_code == 0, result.output
    assert "FAIL-SAFE" not in result.output
    assert f"wrote 400 decisions to {out}" in result.output
    written = pd.read_parquet(out)
    assert len(written) == 400
    assert "model" in set(written["selected_by"])
    assert set(written["selected_by"]) <= {"model", "profile", "random"}
    assert written["fraud_probability"].notna().all()
    if version is not None:
        assert (written["model_version"] == version).all()
    else:
        assert written["model_version"].notna().all()
    assert f"model {written['model_version'].iloc[0]} ({uri})" in result.output


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("models:/customs-risk@nope", "no alias 'nope'"),
        ("models:/customs-risk/99", "no version 99"),
        ("models:/customs-risk/latest", "expected models:/NAME@ALIAS"),
        ("/no/such/folder", "no such folder"),
        ("broken", "no offence model"),
    ],
)
def test_decide_refuses_a_model_that_does_not_load(registry, batch, tmp_path, uri, reason) -> None:
    if uri == "broken":
        uri = str(tmp_path / "broken")
        Path(uri).mkdir()
        (Path(uri) / "meta.json").write_text("{}")
    out = tmp_path / "decisions.parquet"
    result = _decide(batch, out, "--model", uri)
    assert result.exit_code == 2, result.output
    assert f"model {uri!r} did not load" in result.output and reason in result.output
    assert not out.exists()


def test_thresholds_and_policy_with_a_model(registry, batch, tmp_path) -> None:
    bundle = registry.out / BUNDLE_DIR
    out = tmp_path / "decisions.parquet"
    # the bundle's own thresholds and policy: accepted
    same_policy = tmp_path / "policy.yaml"
    policy = json.loads((bundle / "policy.json").read_text())
    same_policy.write_text(yaml.safe_dump({"channel_policy": policy}))
    result = _decide(
        batch,
        out,
        "--model",
        str(bundle),
        "--thresholds",
        str(bundle / "thresholds.json"),
        "--policy",
        str(same_policy),
    )
    assert result.exit_code == 0, result.output
    assert "model" in set(pd.read_parquet(out)["selected_by"])
    out.unlink()
    # thresholds calibrated for another policy: refused
    other = json.loads((bundle / "thresholds.json").read_text()) | {"policy_version": "other"}
    (tmp_path / "other.json").write_text(json.dumps(other))
    result = _decide(
        batch, out, "--model", str(bundle), "--thresholds", str(tmp_path / "other.json")
    )
    assert result.exit_code == 2, result.output
    assert "calibrated for policy 'other'" in result.output
    assert not out.exists()
    # another policy than the bundle's: refused
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump({"channel_policy": policy | {"version": "changed"}}))
    result = _decide(batch, out, "--model", str(bundle), "--policy", str(changed))
    assert result.exit_code == 2, result.output
    assert "is not the policy of model" in result.output
    assert not out.exists()


def test_decide_needs_a_model_or_the_fail_safe(batch, tmp_path) -> None:
    out = tmp_path / "decisions.parquet"
    result = _decide(batch, out)
    assert result.exit_code == 2
    assert "--model" in result.output and "--fail-safe" in result.output
    both = _decide(batch, out, "--fail-safe", "--model", "models:/customs-risk@champion")
    assert both.exit_code == 2 and "not both" in both.output
    assert not out.exists()
    fail_safe = _decide(batch, out, "--fail-safe")
    assert fail_safe.exit_code == 0, fail_safe.output
    assert "FAIL-SAFE (no model)" in fail_safe.output
    assert set(pd.read_parquet(out)["selected_by"]) <= {"default", "profile", "random"}


def test_parse_registry_uri() -> None:
    assert parse_registry_uri("models:/customs-risk@champion") == ("customs-risk", "champion", None)
    assert parse_registry_uri("models:/other/12") == ("other", None, "12")
    with pytest.raises(ValueError):
        parse_registry_uri("models:/customs-risk")
