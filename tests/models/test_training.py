"""Model behaviour: training, the bundle, MLflow nested trials, registry, promotion, rollback."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from customs_risk.cli import app
from customs_risk.data.world_config import WorldConfig
from customs_risk.evaluation.performance import run_evaluation
from customs_risk.models.bundle import RiskModel
from customs_risk.models.control_estimates import METRICS
from customs_risk.models.dataset import label_rows, load_training_data, time_split
from customs_risk.models.promote import promote, rollback
from customs_risk.models.settings import PromoteSettings, TrainSettings
from customs_risk.models.tracking import (
    CHALLENGER,
    CHAMPION,
    load_registered,
    resolve_version,
)
from customs_risk.models.train import BUNDLE_DIR, SCORES_FILE, ipw_weights
from tests.conftest import Trained, train_small


def test_training_registers_a_challenger_with_nested_trials(trained: Trained):
    result, settings = trained.result, trained.settings
    mlflow.set_tracking_uri(settings.uri)
    mv = resolve_version(settings, alias=CHALLENGER)
    assert str(mv.version) == result.version == "1"
    runs = mlflow.search_runs(experiment_names=[settings.experiment], output_format="list")
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId")]
    trials = [r for r in children if "trial" in r.data.tags]
    studies = {r.data.tags["study"] for r in trials}
    assert studies == {"xgboost-offence"}  # revenue: the two-part model, no study of its own
    assert len(trials) == 2
    parents = {r.info.run_id: r for r in runs}
    for trial in trials:  # trial -> study run -> training run
        study_run = parents[trial.data.tags["mlflow.parentRunId"]]
        assert study_run.data.tags["mlflow.parentRunId"] == result.run_id
    offence = next(t for t in trials if t.data.tags["study"] == "xgboost-offence")
    assert "valid_auc" in parents[offence.data.tags["mlflow.parentRunId"]].data.metrics


def test_models_learn_on_the_test_window(trained):
    result = trained.result
    assert result.metrics["test_auc"] > 0.55  # tiny world: few labelled test items
    assert result.metrics["families"]["offence"] == "xgboost"


def test_bundle_round_trip_scores_identically(trained, small_world):
    result, settings = trained.result, trained.settings
    decl = pd.read_parquet(small_world / "declarations.parquet").tail(500)
    decl = decl.assign(declared_at=decl["declared_at"] + pd.Timedelta(days=3))
    saved = RiskModel.load(trained.out / BUNDLE_DIR)
    loaded = load_registered(settings, alias=CHALLENGER)
    a = result.bundle.score(decl)
    b = loaded.score(decl)
    np.testing.assert_array_equal(a["fraud_probability"], b["fraud_probability"])
    np.testing.assert_array_equal(a["expected_revenue"], b["expected_revenue"])
    np.testing.assert_array_equal(saved.score(decl)["fraud_probability"], a["fraud_probability"])
    decisions = loaded.decide(decl)
    assert set(decisions["channel"]) <= {"red", "orange", "green"}
    assert (decisions["model_version"] == "customs-risk/1").all()
    selected = decisions[decisions["selected_by"] == "model"]
    selected = selected[selected["channel"] != "green"]
    assert len(selected) > 0
    assert all(len(r) > 0 for r in selected["reasons"])  # model selections are explained


def test_pyfunc_gives_channels(trained, small_world):
    settings = trained.settings
    mlflow.set_tracking_uri(settings.uri)
    model = mlflow.pyfunc.load_model(f"models:/{settings.model_name}@{CHALLENGER}")
    decl = pd.read_parquet(small_world / "declarations.parquet").tail(20)
    out = model.predict(decl)
    assert len(out) == 20
    assert set(out["channel"]) <= {"red", "orange", "green"}


def test_same_seed_same_metrics(small_world, tmp_path, mlflow_settings, trained):
    first = trained.result
    again = train_small(small_world, tmp_path / "out", mlflow_settings, seed=0, register=False)
    keys = [k for k in first.metrics if k.startswith(("test_", "valid_"))]
    assert {k: again.metrics[k] for k in keys} == {k: first.metrics[k] for k in keys}
    pd.testing.assert_frame_equal(first.scores, again.scores)
    written = pd.read_parquet(tmp_path / "out" / SCORES_FILE)
    np.testing.assert_array_equal(written["fraud_probability"], first.scores["fraud_probability"])


def test_evaluation_beats_baselines_on_revenue(trained, small_world, tmp_path):
    out_dir = tmp_path / "report"
    report = run_evaluation(trained.out, small_world, out_dir)
    for k in ("5", "10"):
        model = report[f"world_model_revenue_revenue_share_at_{k}"]
        assert model > report[f"world_random_revenue_share_at_{k}"]
        assert model > report[f"world_price_z_rule_revenue_share_at_{k}"]
        assert model >= report[f"world_legacy_revenue_share_at_{k}"]
        assert 0 < report[f"world_model_revenue_revenue_of_oracle_at_{k}"] <= 1
    assert (out_dir / "curves.png").exists() and (out_dir / "evaluation.json").exists()


@pytest.fixture(scope="module")
def store_export(small_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small world as a store export: declarations, outcomes and the legacy decisions in a
    decisions.parquet (no truth.parquet): a rule selection recorded as forced (propensity 1),
    the random rule's picks and the items nobody selected with the random share."""
    legacy = WorldConfig().legacy  # the small world's parameters
    folder = tmp_path_factory.mktemp("export")
    for name in ("declarations.parquet", "outcomes.parquet"):
        shutil.copy(small_world / name, folder / name)
    truth = pd.read_parquet(small_world / "truth.parquet")
    forced = (truth["selected_by_legacy"] == "rule").to_numpy()
    random = (truth["legacy_rule"] == "random").to_numpy()
    red = (truth["legacy_channel"] == "red").to_numpy()
    pd.DataFrame(
        {
            "declaration_id": truth["declaration_id"],
            "item_no": truth["item_no"],
            "channel": truth["legacy_channel"],
            "selected_by": np.where(forced, "profile", np.where(random, "random", "model")),
            "propensity": np.where(forced, 1.0, legacy.random_rate),
            "propensity_red": np.where(
                forced, red.astype(float), legacy.random_rate * legacy.random_red_share
            ),
        }
    ).to_parquet(folder / "decisions.parquet", index=False)
    return folder


def _cli_promote(monkeypatch: pytest.MonkeyPatch, settings, *args: str):
    monkeypatch.setenv("CUSTOMS_RISK_MLFLOW_URI", settings.uri)
    monkeypatch.setenv("CUSTOMS_RISK_MLFLOW_ARTIFACT_ROOT", settings.artifact_root)
    return CliRunner().invoke(app, ["promote", *args])


def test_promote_and_rollback(
    small_world, store_export, tmp_path, mlflow_settings, monkeypatch: pytest.MonkeyPatch
):
    train_small(small_world, tmp_path / "a", mlflow_settings, seed=0)
    first = promote(mlflow_settings, small_world, PromoteSettings(window_days=45))
    assert first.promoted and str(resolve_version(mlflow_settings, alias=CHAMPION).version) == "1"
    assert first.estimator == "control" and first.champion is None
    train_small(small_world, tmp_path / "b", mlflow_settings, seed=1)  # version 2 = challenger

    # the control estimator through the CLI: table with intervals and truth, JSON
    params = tmp_path / "params.yaml"
    params.write_text("world: {}\n")  # the small world's parameters: the defaults
    out = tmp_path / "promotion.json"
    args = ["--data", str(small_world), "--params", str(params), "--resamples", "300"]
    result = _cli_promote(monkeypatch, mlflow_settings, *args, "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "truth" in result.output and "legacy record" in result.output
    second = json.loads(out.read_text())
    assert second["estimator"] == "control" and second["metric"] == "precision"
    assert second["rate"] == 0.05 and second["n_labelled"] > 0
    for role in ("challenger", "champion"):
        for metric in METRICS:
            low, high = second["intervals"][role][metric]
            assert low <= second[role][metric] <= high, (role, metric)
            assert 0.0 <= second["truth"][role][metric] <= 1.0
    better = second["difference"]["precision"] > 0.0
    assert second["promoted"] == better
    champion = str(resolve_version(mlflow_settings, alias=CHAMPION).version)
    assert champion == ("2" if better else "1")

    # the same registry on a store export: the sample from decisions.parquet, the same items
    export = promote(mlflow_settings, store_export, PromoteSettings(min_delta=1.0, resamples=100))
    assert export.sample.startswith("decisions.parquet") and not export.truth
    assert export.n_labelled == second["n_labelled"] and not export.promoted

    if better:
        rollback(mlflow_settings, "1")
    forced = promote(
        mlflow_settings, small_world, PromoteSettings(min_delta=1.0, resamples=100), force=True
    )
    assert forced.promoted
    assert str(resolve_version(mlflow_settings, alias=CHAMPION).version) == "2"
    assert rollback(mlflow_settings, "1") == "2"
    assert str(resolve_version(mlflow_settings, alias=CHAMPION).version) == "1"
    tags = MlflowClient().get_model_version(mlflow_settings.model_name, "1").tags
    assert tags["champion_note"].startswith("rollback")
    with pytest.raises(LookupError):
        rollback(mlflow_settings, "9")
    assert str(resolve_version(mlflow_settings, alias=CHAMPION).version) == "1"
    assert (tmp_path / "a" / BUNDLE_DIR / "meta.json").exists()

    # a folder with neither decisions nor a legacy record: refused, unless asked for the old way
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("declarations.parquet", "outcomes.parquet"):
        shutil.copy(small_world / name, bare / name)
    refused = _cli_promote(monkeypatch, mlflow_settings, "--data", str(bare))
    assert refused.exit_code == 2 and "no control sample" in refused.output, refused.output
    inspected = _cli_promote(
        monkeypatch,
        mlflow_settings,
        "--data",
        str(bare),
        "--estimator",
        "inspected",
        "--metric",
        "auc",
        "--min-delta",
        "1.0",
    )
    assert inspected.exit_code == 0, inspected.output
    assert "inspected items" in inspected.output and "champion unchanged" in inspected.output
    assert str(resolve_version(mlflow_settings, alias=CHAMPION).version) == "1"
    wrong = _cli_promote(monkeypatch, mlflow_settings, "--data", str(bare), "--metric", "auc")
    assert wrong.exit_code == 2 and "metric must be one of" in wrong.output


def test_ipw_weights_reach_the_booster(store_export, small_world, tmp_path, mlflow_settings):
    settings = TrainSettings(data=store_export, ipw_weights=True, max_weight=100.0)
    declarations, outcomes = load_training_data(store_export)
    labels = label_rows(declarations, outcomes)
    weights = ipw_weights(settings, declarations, labels)
    decisions = pd.read_parquet(store_export / "decisions.parquet")
    keyed = declarations[["declaration_id", "item_no"]].merge(decisions, how="left")
    random = (keyed["selected_by"] == "random").to_numpy() & labels.inspected
    forced = (keyed["selected_by"] == "profile").to_numpy()
    audited = labels.inspected & (keyed["channel"] == "green").to_numpy()
    random_rate = WorldConfig().legacy.random_rate
    np.testing.assert_allclose(weights[random], 1.0 / random_rate)  # 40: under the cap
    assert (weights[forced] == 1.0).all() and (weights[audited] == 1.0).all()
    assert (weights[~labels.inspected] == 0.0).all()
    with pytest.raises(ValueError, match="no decisions.parquet"):
        ipw_weights(TrainSettings(data=small_world, ipw_weights=True), declarations, labels)

    result = train_small(
        store_export, tmp_path / "out", mlflow_settings, register=False, ipw_weights=True
    )
    # XGBoost starts from the weighted mean of the training labels: the weights got there
    split = time_split(declarations["declared_at"], 60, 45)
    rows = np.flatnonzero(split.train & labels.inspected)
    y, w = labels.fraud[rows], weights[rows]
    config = json.loads(result.bundle.models["offence"].booster.save_config())
    base_score = float(config["learner"]["learner_model_param"]["base_score"].strip("[]"))
    assert base_score == pytest.approx(np.average(y, weights=w), rel=1e-4)
    assert abs(base_score - y.mean()) > 0.005  # unweighted it would start elsewhere
    assert result.metrics["train_weight_max"] == pytest.approx(1.0 / random_rate)


def test_choice_prefers_xgboost_within_the_margin():
    from customs_risk.models.train import Candidate, choose

    def revenue(share: float) -> dict[str, float]:
        return {"revenue_share_at_5": share, "revenue_share_at_10": share}

    xgb = Candidate(
        "xgboost",
        {"offence": "x-off", "revenue": "x-rev", "critical": "x-crit"},
        {"offence": {"auc": 0.846}, "revenue": revenue(0.91), "critical": {"auc": 0.89}},
    )
    net = Candidate(
        "neural",
        {"offence": "n-off", "revenue": "n-rev"},
        {"offence": {"auc": 0.849}, "revenue": revenue(0.96)},
    )
    models, families = choose([xgb, net], margin=0.01)
    assert models == {"offence": "x-off", "critical": "x-crit", "revenue": "n-rev"}
    assert families["revenue"] == "neural"
    models, _ = choose([xgb, net], margin=0.0)
    assert models["offence"] == "n-off"


def test_evaluation_of_a_real_data_set_uses_the_inspected_items(trained, small_world, tmp_path):
    import shutil

    data = tmp_path / "real"
    data.mkdir()
    for name in ("declarations.parquet", "outcomes.parquet"):  # no truth.parquet
        shutil.copy(small_world / name, data / name)
    report = run_evaluation(trained.out, data, tmp_path / "report")
    assert report["truth"] == "outcomes of inspected items"
    assert 0 <= report["labelled_model_offence_precision_at_10"] <= 1
    assert not any(k.startswith("world_") for k in report)
    assert (tmp_path / "report" / "curves.csv").exists()
    assert (tmp_path / "report" / "offices.csv").exists()
