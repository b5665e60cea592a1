"""The training job: features, tuned XGBoost and neural models per target, the served bundle,
MLflow logging and registration as ``challenger``.

Windows (by declaration day): train | valid (early stopping, tuning, model choice, calibration)
| test (the newest ``test_days``: held out, reported, and the window ``promote`` compares on).
Models learn only from inspected rows; with ``ipw_weights`` an inspected training row weighs
1/propensity (capped at ``max_weight``) from the data's ``decisions.parquet``, so the random
control's rows stand for the items nobody selected (validation, early stopping and calibration
stay unweighted). The bundle's models are the ones tuned on train and chosen on valid; its
feature state is fitted on all the data, and its thresholds are calibrated on the score
distribution of the newest ``calibration_days``.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from customs_risk.models.boosting import BoostedModel, fit_boosted
from customs_risk.models.bundle import RiskModel, predict_target
from customs_risk.models.calibration import Calibrator, reliability_curve
from customs_risk.models.catboost_target import tune_catboost
from customs_risk.models.control_estimates import decision_propensities
from customs_risk.models.dataset import Labels, Split, label_rows, load_training_data, time_split
from customs_risk.models.guard import RevenueGuard
from customs_risk.models.metrics import ranking_report, revenue_share_at
from customs_risk.models.neural_target import tune_neural_family
from customs_risk.models.rules import frame_feature, rule_scores
from customs_risk.models.settings import TrainSettings
from customs_risk.models.tuning import Experiment, StudyResult, run_study
from customs_risk.models.two_part import TwoPartRevenue, fit_severity
from customs_risk.selection.thresholds import calibrate_thresholds

if TYPE_CHECKING:
    import optuna

    from customs_risk.features.state import FeatureState
    from customs_risk.selection.policy import ChannelPolicy
    from customs_risk.selection.profiles import ProfileSet

log = logging.getLogger(__name__)
SCORES_FILE = "scores.parquet"
METRICS_FILE = "metrics.json"
BUNDLE_DIR = "bundle"


@dataclass
class TrainingFrame:
    """Everything the studies need: features, labels, split and the masks of labelled rows."""

    declarations: pd.DataFrame
    features: pd.DataFrame
    labels: Labels
    split: Split
    weights: np.ndarray | None = None  # per row, None: unweighted

    def rows(self, window: str) -> np.ndarray:
        """Labelled (inspected) rows of a window."""
        return np.flatnonzero(getattr(self.split, window) & self.labels.inspected)

    def x(self, window: str) -> pd.DataFrame:
        return self.features.iloc[self.rows(window)]

    def y(self, target: str, window: str) -> np.ndarray:
        values = {"offence": self.labels.fraud, "critical": self.labels.critical}.get(target)
        if values is None:
            values = np.nan_to_num(self.labels.revenue)  # unknown revenue counts as none
        return values[self.rows(window)]

    def w(self, window: str) -> np.ndarray | None:
        """Sample weights of a window's labelled rows (None: unweighted)."""
        return None if self.weights is None else self.weights[self.rows(window)]


@dataclass
class Candidate:
    """A tuned model family's best models and validation metrics."""

    family: str
    models: dict[str, Any]
    valid: dict[str, dict[str, float]]
    studies: list[StudyResult] = field(default_factory=list)


def target_metrics(target: str, frame: TrainingFrame, window: str, pred: np.ndarray) -> dict:
    """Validation/test metrics of one target on a window's labelled rows."""
    if target == "revenue":
        rev = frame.y("revenue", window)
        return {
            "revenue_share_at_5": revenue_share_at(rev, pred, 0.05),
            "revenue_share_at_10": revenue_share_at(rev, pred, 0.10),
        }
    return ranking_report(frame.y(target, window), pred)


def objective_value(target: str, metrics: dict[str, float]) -> float:
    """The number tuning maximises and model choice compares, per target."""
    if target == "revenue":
        return 0.5 * (metrics["revenue_share_at_5"] + metrics["revenue_share_at_10"])
    value = metrics["auc"]
    return float(value) if np.isfinite(value) else 0.0


def tune_xgboost(experiment: Experiment, frame: TrainingFrame, seed: int) -> Candidate:
    """An Optuna study of the offence model; critical reuses its parameters; revenue is the
    two-part model (``models.two_part``): the offence model x a severity booster fit on the
    offending inspected rows."""
    import mlflow
    import optuna

    fixed = experiment.fixed
    models: dict[str, Any] = {}
    valid: dict[str, dict[str, float]] = {}
    studies = []
    for target in ("offence",):

        def objective(
            params: dict[str, Any], trial: optuna.Trial, target: str = target
        ) -> tuple[float, dict[str, float], BoostedModel]:
            def on_round(step: int, value: float) -> None:
                trial.report(value if target != "revenue" else -value, step)
                if trial.should_prune():
                    raise optuna.TrialPruned()

            model = fit_boosted(
                target,
                frame.x("train"),
                frame.y(target, "train"),
                frame.x("valid"),
                frame.y(target, "valid"),
                params,
                seed,
                max_rounds=int(fixed.get("max_rounds", 800)),
                early_stopping=int(fixed.get("early_stopping", 40)),
                weights=frame.w("train"),
                on_round=on_round,
            )
            metrics = target_metrics(target, frame, "valid", model.predict_frame(frame.x("valid")))
            metrics["rounds"] = model.rounds
            return objective_value(target, metrics), metrics, model

        with mlflow.start_run(run_name=f"xgboost-{target}", nested=True):
            study = run_study(experiment, f"xgboost-{target}", objective)
            mlflow.log_params({f"best_{k}": v for k, v in study.best_params.items()})
            mlflow.log_metrics({f"valid_{k}": v for k, v in study.best_metrics.items()})
            mlflow.set_tags({"n_trials": len(study.trials), "n_pruned": study.n_pruned})
        models[target], valid[target] = study.best_model, study.best_metrics
        studies.append(study)

    offence: BoostedModel = models["offence"]
    y_crit = frame.y("critical", "train")
    if np.nansum(y_crit) >= 5 and np.nansum(frame.y("critical", "valid")) >= 5:
        critical = fit_boosted(
            "critical",
            frame.x("train"),
            y_crit,
            frame.x("valid"),
            frame.y("critical", "valid"),
            offence.params,
            seed,
            max_rounds=int(fixed.get("max_rounds", 800)),
            early_stopping=int(fixed.get("early_stopping", 40)),
            weights=frame.w("train"),
        )
        models["critical"] = critical
        valid["critical"] = target_metrics(
            "critical", frame, "valid", critical.predict_frame(frame.x("valid"))
        )
    revenue = two_part_revenue(offence, frame, seed)
    if revenue is not None:
        models["revenue"] = revenue
        valid["revenue"] = target_metrics(
            "revenue", frame, "valid", revenue.predict_frame(frame.x("valid"))
        )
        valid["revenue"]["severity_rounds"] = revenue.severity.rounds
    return Candidate("xgboost", models, valid, studies)


MIN_SEVERITY_ROWS = 30


def two_part_revenue(
    offence: BoostedModel, frame: TrainingFrame, seed: int
) -> TwoPartRevenue | None:
    """The offence model x E[revenue | offence] fit on the offending inspected rows of train,
    early stopped on valid's (with fewer than MIN_SEVERITY_ROWS there: the floor's rounds);
    None with fewer than MIN_SEVERITY_ROWS offending rows in train."""
    fraud = frame.labels.fraud == 1
    sides = {}
    for window in ("train", "valid"):
        rows = frame.rows(window)
        sides[window] = rows[fraud[rows]]
    if len(sides["train"]) < MIN_SEVERITY_ROWS:
        log.warning("too few offending inspected rows for a revenue model")
        return None
    revenue = np.nan_to_num(frame.labels.revenue)
    weights = None if frame.weights is None else frame.weights[sides["train"]]
    valid = sides["valid"] if len(sides["valid"]) >= MIN_SEVERITY_ROWS else None
    severity = fit_severity(
        frame.features.iloc[sides["train"]],
        revenue[sides["train"]],
        None if valid is None else frame.features.iloc[valid],
        None if valid is None else revenue[valid],
        seed,
        weights=weights,
    )
    return TwoPartRevenue(offence, severity)


def choose(
    candidates: list[Candidate], margin: float = 0.0
) -> tuple[dict[str, Any], dict[str, str]]:
    """Per target, the candidate with the best validation objective; a non-XGBoost candidate
    must beat the XGBoost one by more than ``margin`` (XGBoost scores a declaration far more
    cheaply and its exact feature contributions give the officers' reasons)."""
    chosen: dict[str, Any] = {}
    families: dict[str, str] = {}
    for target in ("offence", "critical", "revenue"):
        scored = [
            (objective_value(target, c.valid[target]), c) for c in candidates if target in c.models
        ]
        if not scored:
            continue
        value, best = max(scored, key=lambda pair: pair[0])
        boosted = [(v, c) for v, c in scored if c.family == "xgboost"]
        if best.family != "xgboost" and boosted and value - boosted[0][0] <= margin:
            value, best = boosted[0]
        chosen[target] = best.models[target]
        families[target] = best.family
    return chosen, families


# an experiment's ``model:`` -> its tuning (the networks' families: tune_neural_family)
TUNERS = {"xgboost": tune_xgboost, "catboost": tune_catboost}


def _score_reference(risk_scores: np.ndarray, days: pd.Series) -> dict[str, Any] | None:
    """The validation window's risk-score deciles (``models.drift``; None if unscored)."""
    from customs_risk.models.drift import score_reference

    values = np.asarray(risk_scores, dtype=np.float64)
    if not np.isfinite(values).any():
        return None
    return score_reference(values, (days.min().date(), days.max().date()))


def choose_guard(revenue_model: Any, frame: TrainingFrame) -> RevenueGuard:
    """The revenue ranker (model, rule or blend) that does best on the validation window's
    inspected rows (``models.guard``)."""
    rows = np.flatnonzero(frame.split.valid)
    x = frame.features.iloc[rows]
    expected = np.maximum(predict_target(revenue_model, x, frame.declarations.iloc[rows]), 0.0)
    return RevenueGuard.choose(
        expected,
        rule_scores(frame_feature(x)),
        frame.labels.revenue[rows],
        frame.labels.inspected[rows],
    )


def window_scores(bundle: RiskModel, frame: TrainingFrame, rows: np.ndarray) -> pd.DataFrame:
    """Score columns for rows of the training frame (point-in-time features), with the
    declared unit value's deviation from its reference and the rules' scores (``rule_<name>``:
    the baselines ``evaluate`` reports)."""
    x = frame.features.iloc[rows]
    # no model_version: the run id differs between runs of the same seed
    scores = bundle.score_frame(x, frame.declarations.iloc[rows]).drop(columns="model_version")
    scores["price_deviation"] = (
        x["uv_unit_dev"].to_numpy(dtype=np.float64) if "uv_unit_dev" in x else np.nan
    )
    for name, values in rule_scores(frame_feature(x)).items():
        scores[f"rule_{name}"] = values
    return scores


def build_frame(
    settings: TrainSettings, declarations: pd.DataFrame, outcomes: pd.DataFrame
) -> tuple[TrainingFrame, FeatureState]:
    """Point-in-time features of the whole period and the serving state fitted on all of it."""
    from customs_risk.features.pipeline import FeaturePipeline

    pipeline = FeaturePipeline()
    state = pipeline.fit(declarations, outcomes)
    features = pipeline.transform(declarations, outcomes=outcomes)
    split = time_split(declarations["declared_at"], settings.valid_days, settings.test_days)
    labels = label_rows(declarations, outcomes)
    weights = ipw_weights(settings, declarations, labels) if settings.ipw_weights else None
    frame = TrainingFrame(declarations, features, labels, split, weights)
    return frame, state


def ipw_weights(settings: TrainSettings, declarations: pd.DataFrame, labels: Labels) -> np.ndarray:
    """Per row: ``min(1 / propensity, max_weight)`` for inspected rows with a recorded
    propensity (``decisions.parquet``), 1 for other inspected rows (results of items decided
    green, e.g. post-release checks), 0 where nothing was inspected."""
    sample = decision_propensities(settings.data, declarations)
    if sample is None:
        raise ValueError(
            f"ipw_weights is on but {settings.data} has no decisions.parquet with propensities "
            "(customs-risk store export writes one)"
        )
    weights = np.where(sample.member, sample.weights(settings.max_weight), 1.0)
    return np.where(labels.inspected, weights, 0.0)


@dataclass
class TrainResult:
    """What the job produced."""

    bundle: RiskModel
    metrics: dict[str, Any]
    scores: pd.DataFrame
    run_id: str | None
    version: str | None


class TrainJob:
    """``customs-risk train``: see the module docstring."""

    def __init__(self, settings: TrainSettings, mlflow_settings: Any = None):
        self.settings = settings
        self.mlflow_settings = mlflow_settings

    def run(self) -> TrainResult:
        import mlflow

        from customs_risk.models.tracking import configure, log_bundle, register

        s = self.settings
        start = time.perf_counter()
        mlflow_settings = configure(self.mlflow_settings)
        experiments = [
            Experiment.load(path).with_budget(s.trials, s.seconds) for path in s.experiments
        ]
        declarations, outcomes = load_training_data(s.data)
        log.info("features for %d declaration items", len(declarations))
        frame, state = build_frame(s, declarations, outcomes)
        feature_seconds = time.perf_counter() - start
        windows = frame.split.describe(declarations["declared_at"])

        with mlflow.start_run(run_name="train") as run:
            mlflow.log_params({"seed": s.seed, "data": str(s.data), **windows})
            mlflow.log_params({"experiments": ",".join(e.name for e in experiments)})
            mlflow.log_params({"ipw_weights": s.ipw_weights, "max_weight": s.max_weight})
            candidates = []
            for experiment in experiments:
                tune = TUNERS.get(experiment.model, tune_neural_family)
                candidates.append(tune(experiment, frame, s.seed))
            models, families = choose(candidates, s.choice_margin)
            valid_decl = frame.declarations.iloc[frame.rows("valid")]
            raw_valid = predict_target(models["offence"], frame.x("valid"), valid_decl)
            calibrator = Calibrator.fit(raw_valid, frame.y("offence", "valid"))
            policy, profiles = self._policy_and_profiles()
            meta = {
                "name": mlflow_settings.model_name,
                "run_id": run.info.run_id,
                "trained_at": pd.Timestamp.now(tz="UTC").isoformat(),
                "seed": s.seed,
                "windows": windows,
                "families": families,
                "policy_version": policy.version,
                "feature_columns": state.feature_columns,
            }
            bundle = RiskModel(state, models, calibrator, policy, None, meta)
            if "revenue" in models:
                bundle.revenue_guard = choose_guard(models["revenue"], frame)
                meta["revenue_ranker"] = bundle.revenue_guard.ranker
                log.info("revenue ranker: %s", bundle.revenue_guard.ranker)

            # the validation and test windows and the newest calibration_days, scored once
            days = frame.declarations["declared_at"].dt.normalize()
            recent = (days > days.max() - pd.Timedelta(days=s.calibration_days)).to_numpy()
            scored = frame.split.test | recent | frame.split.valid
            all_scores = window_scores(bundle, frame, np.flatnonzero(scored))
            scores = all_scores[frame.split.test[scored]].reset_index(drop=True)
            metrics = self._metrics(frame, scores, candidates, families)
            if bundle.revenue_guard is not None:
                metrics["revenue_ranker"] = bundle.revenue_guard.ranker
                for ranker, value in (bundle.revenue_guard.valid or {}).items():
                    metrics[f"valid_ranker_{ranker.replace(':', '_')}"] = value
            bundle.meta["metrics"] = metrics
            bundle.thresholds = calibrate_thresholds(
                all_scores[recent[scored]].reset_index(drop=True),
                frame.declarations.loc[recent].reset_index(drop=True),
                policy,
                profiles,
            )
            scores["risk_score"] = policy.adjusted_score(
                scores,
                frame.declarations.loc[frame.split.test].reset_index(drop=True),
                bundle.thresholds.revenue_scale,
            )
            valid = frame.split.valid
            bundle.meta["score_reference"] = _score_reference(
                policy.adjusted_score(
                    all_scores[valid[scored]].reset_index(drop=True),
                    frame.declarations.loc[valid].reset_index(drop=True),
                    bundle.thresholds.revenue_scale,
                ),
                days[valid],
            )
            metrics["seconds_features"] = round(feature_seconds, 2)
            metrics["seconds"] = round(time.perf_counter() - start, 2)
            mlflow.log_metrics({k: v for k, v in metrics.items() if isinstance(v, int | float)})
            mlflow.set_tags({f"family_{t}": f for t, f in families.items()})
            self._write(bundle, metrics, scores, frame)
            mlflow.log_artifact(str(s.out / METRICS_FILE))
            version = None
            if s.register_model:
                example = declarations.tail(3).reset_index(drop=True)
                uri = log_bundle(bundle, example)
                version = register(uri, mlflow_settings)
                bundle.meta["model_version"] = f"{mlflow_settings.model_name}/{version}"
                (s.out / BUNDLE_DIR / "meta.json").write_text(
                    json.dumps(bundle.meta, indent=2, default=str)
                )
        return TrainResult(bundle, metrics, scores, run.info.run_id, version)

    def _metrics(
        self,
        frame: TrainingFrame,
        scores: pd.DataFrame,
        candidates: list[Candidate],
        families: dict[str, str],
    ) -> dict[str, Any]:
        test_rows = np.flatnonzero(frame.split.test)
        labelled = frame.labels.inspected[test_rows]
        fp = scores["fraud_probability"].to_numpy()[labelled]
        report = ranking_report(
            frame.labels.fraud[test_rows][labelled],
            fp,
            revenue=np.nan_to_num(frame.labels.revenue[test_rows][labelled]),
            critical=frame.labels.critical[test_rows][labelled],
        )
        er = scores["expected_revenue"].to_numpy()[labelled]
        rev = np.nan_to_num(frame.labels.revenue[test_rows][labelled])
        metrics: dict[str, Any] = {f"test_{k}": v for k, v in report.items()}
        metrics["test_revenue_model_share_at_5"] = revenue_share_at(rev, er, 0.05)
        metrics["test_revenue_model_share_at_10"] = revenue_share_at(rev, er, 0.10)
        for column in [c for c in scores.columns if c.startswith("rule_")]:
            rule = scores[column].to_numpy(dtype=np.float64)[labelled]
            for rate in (5, 10):
                metrics[f"test_{column}_share_at_{rate}"] = revenue_share_at(rev, rule, rate / 100)
        metrics["test_n_labelled"] = int(labelled.sum())
        metrics["test_n_rows"] = len(test_rows)
        train_weights = frame.w("train")
        if train_weights is not None:
            metrics["train_weight_max"] = float(train_weights.max(initial=0.0))
            metrics["train_weight_mean"] = (
                float(train_weights.mean()) if len(train_weights) else 0.0
            )
        for cand in candidates:
            for target, values in cand.valid.items():
                for key in (
                    "auc",
                    "precision_at_5",
                    "precision_at_10",
                    "revenue_share_at_5",
                    "revenue_share_at_10",
                    "severity_rounds",
                ):
                    if key in values:
                        metrics[f"valid_{cand.family}_{target}_{key}"] = values[key]
        metrics["families"] = families
        metrics["reliability"] = reliability_curve(frame.labels.fraud[test_rows][labelled], fp)
        return metrics

    def _policy_and_profiles(self) -> tuple[ChannelPolicy, ProfileSet]:
        """The channel policy (file or defaults) and the analysts' profiles of the settings."""
        from customs_risk.selection.policy import ChannelPolicy
        from customs_risk.selection.profiles import ProfileSet, load_profiles

        s = self.settings
        policy = ChannelPolicy.from_yaml(s.policy) if s.policy else ChannelPolicy()
        profiles = load_profiles(s.profiles) if s.profiles and s.profiles.exists() else ProfileSet()
        return policy, profiles

    def _write(
        self,
        bundle: RiskModel,
        metrics: dict[str, Any],
        scores: pd.DataFrame,
        frame: TrainingFrame,
    ) -> None:
        out = self.settings.out
        out.mkdir(parents=True, exist_ok=True)
        bundle.save(out / BUNDLE_DIR)
        (out / METRICS_FILE).write_text(json.dumps(metrics, indent=2, default=str) + "\n")
        test = frame.declarations.loc[frame.split.test, ["declared_at", "office_id"]]
        scores = scores.assign(
            declared_at=test["declared_at"].to_numpy(), office_id=test["office_id"].to_numpy()
        )
        scores.to_parquet(out / SCORES_FILE, index=False)
