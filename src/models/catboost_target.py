"""CatBoost models of one target (offence, critical) as a training candidate.

CatBoost learns categoricals by ordered target statistics: each training row's encoding of a
category (and of the combinations of categories CatBoost builds greedily while growing trees)
is the smoothed offence rate of the rows before it in a permutation, so a rare HS6 code, office
or courier is encoded without leaking its own label. The candidate reads the same inputs as the
XGBoost one: the ``FeaturePipeline`` features, its categoricals (``state.categorical_columns``)
as CatBoost categorical features. Serving reads only ``batch.matrix`` (the float matrix of
``FeaturePipeline.transform_array``: categoricals as integer codes, NaN unknown); the codes are
turned into strings (unknown: ``-1``) exactly as the training frame's pandas category codes
are, so a served row and its training frame row give the same prediction.

Targets: offence and critical (logistic, early stopping on the validation AUC, Optuna over
``experiments/catboost.yaml``, pruned every 10 iterations); critical reuses the offence
parameters, as in the XGBoost family. Revenue is not modelled here: the XGBoost family's
two-part revenue model takes it (``train.choose`` picks per target among the candidates that
have one), so a run of the CatBoost experiment alone has no revenue model.

Contributions (officers' reasons): CatBoost's ShapValues, bias column dropped (see
``contributions_served`` for the measured cost). Saved as ``model.cbm`` (CatBoost's own format)
and ``meta.json``; no pickles.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from customs_risk.models.threads import WORKERS

if TYPE_CHECKING:
    import optuna
    from catboost import CatBoost, Pool

    from customs_risk.models.bundle import ServedBatch
    from customs_risk.models.train import Candidate, TrainingFrame
    from customs_risk.models.tuning import Experiment

KIND = "catboost"
MODEL_FILE = "model.cbm"
META_FILE = "meta.json"
NTHREAD = WORKERS
UNKNOWN = -1  # the code of a category the feature state does not know (NaN in the matrix)
OBJECTIVES: dict[str, dict[str, Any]] = {
    "offence": {"loss_function": "Logloss", "eval_metric": "AUC"},
    "critical": {"loss_function": "Logloss", "eval_metric": "AUC"},
}
BASE_PARAMS: dict[str, Any] = {
    "depth": 6,
    "learning_rate": 0.1,
    "l2_leaf_reg": 3.0,
    "border_count": 128,
    "max_ctr_complexity": 2,
    "one_hot_max_size": 2,
}
RoundCallback = Callable[[int, float], bool]  # (iteration, validation metric) -> go on


def _codes_as_text(codes: np.ndarray) -> np.ndarray:
    """Integer category codes (UNKNOWN for unknown) as the strings CatBoost hashes."""
    return np.asarray(codes, dtype=np.int64).astype(str).astype(object)


def matrix_pool(matrix: np.ndarray, n_numeric: int, label: Any = None, weight: Any = None) -> Pool:
    """A CatBoost pool of a ``transform_array`` matrix: numeric columns first, then the
    categorical codes (NaN: unknown)."""
    from catboost import FeaturesData, Pool

    codes = matrix[:, n_numeric:]
    codes = np.where(np.isfinite(codes), codes, UNKNOWN)
    data = FeaturesData(
        num_feature_data=np.ascontiguousarray(matrix[:, :n_numeric], dtype=np.float32),
        cat_feature_data=_codes_as_text(codes),
    )
    return Pool(data, label=label, weight=weight)


def frame_pool(
    features: pd.DataFrame,
    numeric: list[str],
    categorical: list[str],
    label: Any = None,
    weight: Any = None,
) -> Pool:
    """A CatBoost pool of a FeaturePipeline frame (its categoricals' codes: the matrix's)."""
    from catboost import FeaturesData, Pool

    codes = np.column_stack(
        [features[c].cat.codes.to_numpy(dtype=np.int64) for c in categorical]
        or [np.empty(len(features), dtype=np.int64)]
    )[:, : len(categorical)]
    data = FeaturesData(
        num_feature_data=np.ascontiguousarray(
            features[numeric].to_numpy(dtype=np.float32, na_value=np.nan)
        ),
        cat_feature_data=_codes_as_text(codes),
    )
    return Pool(data, label=label, weight=weight)


@dataclass
class CatBoostTarget:
    """A trained CatBoost model of one target (the bundle's TargetModel protocol)."""

    target: str
    model: CatBoost
    numeric_columns: list[str]
    categorical_columns: list[str]
    params: dict[str, Any] = field(default_factory=dict)
    nthread: int = NTHREAD

    @property
    def kind(self) -> str:
        return KIND

    @property
    def iterations(self) -> int:
        """Trees of the model (early stopping's best iteration + 1)."""
        return int(self.model.tree_count_)

    @property
    def feature_columns(self) -> list[str]:
        return self.numeric_columns + self.categorical_columns

    def _predict(self, pool: Pool) -> np.ndarray:
        proba = self.model.predict(pool, prediction_type="Probability", thread_count=self.nthread)
        return np.asarray(proba, dtype=np.float64)[:, 1]

    def predict_frame(self, features: pd.DataFrame) -> np.ndarray:
        """Probabilities for a FeaturePipeline frame (training and evaluation path)."""
        return self._predict(frame_pool(features, self.numeric_columns, self.categorical_columns))

    def predict_array(self, matrix: np.ndarray) -> np.ndarray:
        """Probabilities for a ``transform_array`` matrix (serving path)."""
        return self._predict(matrix_pool(matrix, len(self.numeric_columns)))

    def predict_served(self, batch: ServedBatch) -> np.ndarray:
        """Predictions for served rows: the matrix (``predict_target`` hands training and
        evaluation frames over with an empty matrix: then the frame)."""
        if batch.matrix.shape[1] == len(self.feature_columns):
            return self.predict_array(batch.matrix)
        return self.predict_frame(batch.frame())

    def contributions_served(self, batch: ServedBatch) -> np.ndarray:
        """CatBoost's ShapValues of the matrix rows in ``feature_columns`` order, bias column
        dropped (log-odds, like XGBoost's contributions)."""
        pool = matrix_pool(batch.matrix, len(self.numeric_columns))
        shap = self.model.get_feature_importance(pool, type="ShapValues", thread_count=self.nthread)
        return np.asarray(shap, dtype=np.float64)[:, :-1]

    def set_threads(self, nthread: int) -> None:
        """Threads one prediction call may use."""
        self.nthread = int(nthread)

    def save(self, directory: Path) -> None:
        """``model.cbm`` (CatBoost's own format) and ``meta.json``."""
        directory.mkdir(parents=True, exist_ok=True)
        self.model.save_model(str(directory / MODEL_FILE), format="cbm")
        meta = {
            "kind": KIND,
            "target": self.target,
            "iterations": self.iterations,
            "params": self.params,
            "numeric_columns": self.numeric_columns,
            "categorical_columns": self.categorical_columns,
        }
        (directory / META_FILE).write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, directory: Path) -> CatBoostTarget:
        """Inverse of :meth:`save`; one prediction thread (the service's setting)."""
        from catboost import CatBoost

        meta = json.loads((directory / META_FILE).read_text())
        model = CatBoost()
        model.load_model(str(directory / MODEL_FILE), format="cbm")
        return cls(
            meta["target"],
            model,
            list(meta["numeric_columns"]),
            list(meta["categorical_columns"]),
            dict(meta["params"]),
            nthread=1,
        )


def training_params(target: str, params: dict[str, Any], seed: int) -> dict[str, Any]:
    """Base settings, the target's objective and the tuned values, seeded; nothing written to
    disk (no ``catboost_info``)."""
    return {
        **BASE_PARAMS,
        **OBJECTIVES[target],
        **params,
        "random_seed": seed,
        "thread_count": NTHREAD,
        "allow_writing_files": False,
        "verbose": False,
    }


class _ReportRounds:
    """CatBoost callback: every ``every`` iterations ``on_round(iteration, validation metric)``;
    it stops training when that returns False (pruning)."""

    def __init__(self, on_round: RoundCallback, metric: str, every: int = 10):
        self.on_round, self.metric, self.every = on_round, metric, every
        self.stopped = False

    def after_iteration(self, info: Any) -> bool:
        if (info.iteration + 1) % self.every:
            return True
        values = info.metrics.get("validation", {}).get(self.metric)
        if not values:
            return True
        if not self.on_round(info.iteration, float(values[-1])):
            self.stopped = True
            return False
        return True


def fit_catboost(
    target: str,
    x_train: pd.DataFrame,
    y_train: np.ndarray,
    x_valid: pd.DataFrame,
    y_valid: np.ndarray,
    params: dict[str, Any],
    seed: int,
    *,
    max_iterations: int = 1000,
    early_stopping: int = 50,
    weights: np.ndarray | None = None,
    on_round: RoundCallback | None = None,
) -> tuple[CatBoostTarget, bool]:
    """Train one target on FeaturePipeline frames, early stopping on the validation slice (the
    best iteration kept); returns the model and whether ``on_round`` stopped it."""
    from catboost import CatBoost

    numeric = [c for c in x_train.columns if not isinstance(x_train[c].dtype, pd.CategoricalDtype)]
    categorical = [c for c in x_train.columns if c not in numeric]
    if list(x_train.columns) != numeric + categorical:
        raise ValueError("features must be numeric columns, then categoricals (FeaturePipeline)")
    full = training_params(target, params, seed)
    full["iterations"] = int(max_iterations)
    model = CatBoost(full)
    callback = _ReportRounds(on_round, full["eval_metric"]) if on_round is not None else None
    model.fit(
        frame_pool(x_train, numeric, categorical, label=y_train, weight=weights),
        eval_set=frame_pool(x_valid, numeric, categorical, label=y_valid),
        early_stopping_rounds=int(early_stopping),
        use_best_model=True,
        callbacks=[callback] if callback is not None else None,
    )
    stopped = callback is not None and callback.stopped
    return CatBoostTarget(target, model, numeric, categorical, dict(params)), stopped


def tune_catboost(experiment: Experiment, frame: TrainingFrame, seed: int) -> Candidate:
    """Optuna study of the offence model over the experiment's space; critical reuses its
    parameters; no revenue model (the XGBoost family's takes it, see the module docstring)."""
    import mlflow
    import optuna

    from customs_risk.models.train import Candidate, objective_value, target_metrics
    from customs_risk.models.tuning import run_study

    fixed = experiment.fixed
    max_iterations = int(fixed.get("max_iterations", 1000))
    early_stopping = int(fixed.get("early_stopping", 50))
    base = {k: v for k, v in fixed.items() if k not in ("max_iterations", "early_stopping")}
    x_train, x_valid = frame.x("train"), frame.x("valid")

    def objective(
        values: dict[str, Any], trial: optuna.Trial
    ) -> tuple[float, dict[str, float], CatBoostTarget]:
        def on_round(step: int, value: float) -> bool:
            trial.report(value, step)
            return not trial.should_prune()

        model, pruned = fit_catboost(
            "offence",
            x_train,
            frame.y("offence", "train"),
            x_valid,
            frame.y("offence", "valid"),
            {**base, **values},
            seed,
            max_iterations=max_iterations,
            early_stopping=early_stopping,
            weights=frame.w("train"),
            on_round=on_round,
        )
        if pruned:
            raise optuna.TrialPruned()
        metrics = target_metrics("offence", frame, "valid", model.predict_frame(x_valid))
        metrics["rounds"] = model.iterations
        return objective_value("offence", metrics), metrics, model

    with mlflow.start_run(run_name="catboost-offence", nested=True):
        study = run_study(experiment, "catboost-offence", objective)
        mlflow.log_params({f"best_{k}": v for k, v in study.best_params.items()})
        mlflow.log_metrics({f"valid_{k}": v for k, v in study.best_metrics.items()})
        mlflow.set_tags({"n_trials": len(study.trials), "n_pruned": study.n_pruned})
    offence: CatBoostTarget = study.best_model
    models: dict[str, Any] = {"offence": offence}
    valid: dict[str, dict[str, float]] = {"offence": study.best_metrics}

    y_crit = frame.y("critical", "train")
    if np.nansum(y_crit) >= 5 and np.nansum(frame.y("critical", "valid")) >= 5:
        critical, _ = fit_catboost(
            "critical",
            x_train,
            y_crit,
            x_valid,
            frame.y("critical", "valid"),
            offence.params,
            seed,
            max_iterations=max_iterations,
            early_stopping=early_stopping,
            weights=frame.w("train"),
        )
        models["critical"] = critical
        valid["critical"] = target_metrics(
            "critical", frame, "valid", critical.predict_frame(x_valid)
        )
        valid["critical"]["rounds"] = critical.iterations
    return Candidate("catboost", models, valid, [study])
