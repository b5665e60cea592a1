"""XGBoost models of one target: offence and critical (logistic) and revenue (Tweedie).

Native categorical handling on the FeaturePipeline frame, early stopping on a later time slice,
an optional per-round callback (Optuna pruning). Prediction on the serving path takes the float
matrix of ``FeaturePipeline.transform_array`` (categoricals as codes) through ``inplace_predict``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xgboost as xgb

from customs_risk.models.threads import WORKERS, pool, row_bounds

if TYPE_CHECKING:
    from customs_risk.models.bundle import ServedBatch

NTHREAD = WORKERS
PARALLEL_ROWS = 2048
CONTRIB_PARALLEL_ROWS = 64
OBJECTIVES: dict[str, dict[str, Any]] = {
    "offence": {"objective": "binary:logistic", "eval_metric": "auc"},
    "critical": {"objective": "binary:logistic", "eval_metric": "auc"},
    "revenue": {
        "objective": "reg:tweedie",
        "tweedie_variance_power": 1.5,
        "eval_metric": "tweedie-nloglik@1.5",
    },
    # E[recovered revenue | offence] of the two-part revenue model (models.two_part)
    "severity": {
        "objective": "reg:tweedie",
        "tweedie_variance_power": 1.5,
        "eval_metric": "tweedie-nloglik@1.5",
    },
}
BASE_PARAMS: dict[str, Any] = {
    "tree_method": "hist",
    "max_depth": 6,
    "eta": 0.08,
    "min_child_weight": 5.0,
    "subsample": 0.8,
    "colsample_bytree": 0.7,
    "max_cat_to_onehot": 1,
    "max_cat_threshold": 32,
    "nthread": NTHREAD,
}
RoundCallback = Callable[[int, float], None]


class _ReportRounds(xgb.callback.TrainingCallback):
    """Calls ``on_round(round, validation metric)`` every ``every`` rounds (pruning hook)."""

    def __init__(self, on_round: RoundCallback, every: int = 10):
        super().__init__()
        self.on_round, self.every = on_round, every

    def after_iteration(self, model: Any, epoch: int, evals_log: dict) -> bool:
        if (epoch + 1) % self.every == 0:
            (metric_log,) = evals_log["valid"].values()
            self.on_round(epoch, float(metric_log[-1]))
        return False


class _FloorStopping(xgb.callback.TrainingCallback):
    """Early stopping on the validation metric (lower is better) that cannot stop before
    ``floor`` rounds; ``best_rounds`` is the best round's count, at least ``floor``."""

    def __init__(self, floor: int, patience: int):
        super().__init__()
        self.floor, self.patience = floor, patience
        self.best, self.best_round = np.inf, -1

    def after_iteration(self, model: Any, epoch: int, evals_log: dict) -> bool:
        (metric_log,) = evals_log["valid"].values()
        value = float(metric_log[-1])
        if value < self.best:
            self.best, self.best_round = value, epoch
        return epoch + 1 >= self.floor and epoch - self.best_round >= self.patience

    @property
    def best_rounds(self) -> int:
        return max(self.best_round + 1, self.floor)


@dataclass
class BoostedModel:
    """A trained booster of one target with the rounds early stopping chose."""

    target: str
    booster: xgb.Booster
    rounds: int
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return "xgboost"

    @property
    def feature_names(self) -> Sequence[str] | None:
        """The booster's feature names (cached: reading them from the booster is slow)."""
        if not hasattr(self, "_feature_names"):
            self._feature_names = self.booster.feature_names
        return self._feature_names

    def predict_frame(
        self, features: pd.DataFrame, base_margin: np.ndarray | None = None
    ) -> np.ndarray:
        """Predictions for a FeaturePipeline frame (training and evaluation path); a model
        trained with a per-row ``base_margin`` (an offset) needs the same one here."""
        dm = xgb.DMatrix(
            features, base_margin=base_margin, enable_categorical=True, nthread=NTHREAD
        )
        return self.booster.predict(dm, iteration_range=(0, self.rounds))

    def predict_array(
        self, matrix: np.ndarray, base_margin: np.ndarray | None = None
    ) -> np.ndarray:
        """Predictions for a ``transform_array`` matrix (serving path): one thread for small
        batches (latency), all threads from PARALLEL_ROWS rows on (throughput)."""
        booster = self._parallel() if len(matrix) >= PARALLEL_ROWS else self.booster
        return booster.inplace_predict(
            matrix, iteration_range=(0, self.rounds), base_margin=base_margin
        )

    def set_threads(self, nthread: int) -> None:
        """Threads of small-batch predictions (large ones use the parallel copy)."""
        self.booster.set_param({"nthread": nthread})

    def predict_served(self, batch: ServedBatch) -> np.ndarray:
        """Predictions for served rows (the bundle's TargetModel protocol): the matrix."""
        return self.predict_array(batch.matrix)

    def contributions_served(self, batch: ServedBatch) -> np.ndarray:
        """Contributions for served rows (TargetModel protocol): the approximate path
        attributions, which rank the top features of a row as reasons need (measured: 11 ms
        against 164 ms for exact TreeSHAP on 2,000 rows of the benchmark model, 2 cores)."""
        return self.contributions_array(batch.matrix, batch.feature_types, approximate=True)

    def _parallel(self) -> xgb.Booster:
        """A copy of the booster that predicts with NTHREAD threads (made on first use)."""
        if not hasattr(self, "_parallel_booster"):
            copy = self.booster.copy()
            copy.set_param({"nthread": NTHREAD})
            self._parallel_booster = copy
        return self._parallel_booster

    def contributions_array(
        self, matrix: np.ndarray, feature_types: list[str], approximate: bool = False
    ) -> np.ndarray:
        """Contributions for a ``transform_array`` matrix (bias dropped): exact TreeSHAP, or
        with ``approximate`` the path attributions of XGBoost's ``approx_contribs`` (Saabas).
        From CONTRIB_PARALLEL_ROWS rows on, the rows are split over NTHREAD single-threaded
        booster copies (exact TreeSHAP scales badly over XGBoost's own threads: 19 vs 11 ms for
        200 rows on 2 cores)."""
        if len(matrix) < CONTRIB_PARALLEL_ROWS:
            return self._contributions(self.booster, matrix, feature_types, approximate)
        copies = self._single_thread_copies()
        futures = [
            pool().submit(self._contributions, booster, matrix[a:b], feature_types, approximate)
            for booster, (a, b) in zip(copies, row_bounds(len(matrix), len(copies)), strict=False)
        ]
        return np.vstack([f.result() for f in futures])

    def _contributions(
        self,
        booster: xgb.Booster,
        matrix: np.ndarray,
        feature_types: list[str],
        approximate: bool = False,
    ) -> np.ndarray:
        # the matrix's columns are the booster's features in order: no names to set and check
        # (names cost 0.4 ms of a 1-row DMatrix, the check 0.08 ms of its prediction)
        dm = xgb.DMatrix(matrix, feature_types=feature_types, enable_categorical=True, nthread=1)
        contrib = booster.predict(
            dm,
            pred_contribs=True,
            approx_contribs=approximate,
            iteration_range=(0, self.rounds),
            validate_features=False,
        )
        return contrib[:, :-1]

    def _single_thread_copies(self) -> list[xgb.Booster]:
        """NTHREAD boosters with one thread each (made on first use; predictions of tree
        boosters are thread-safe, each copy still works on one part at a time)."""
        if not hasattr(self, "_copies"):
            copies = []
            for _ in range(NTHREAD):
                copy = self.booster.copy()
                copy.set_param({"nthread": 1})
                copies.append(copy)
            self._copies = copies
        return self._copies

    def save(self, directory: Path) -> None:
        """``model.json`` (XGBoost's own format) and ``meta.json``."""
        import json

        directory.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(directory / "model.json")
        meta = {"target": self.target, "rounds": self.rounds, "params": self.params}
        (directory / "meta.json").write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, directory: Path) -> BoostedModel:
        """Inverse of :meth:`save`."""
        import json

        meta = json.loads((directory / "meta.json").read_text())
        booster = xgb.Booster()
        booster.load_model(directory / "model.json")
        # one thread when serving: OpenMP's spin-waiting threads cost milliseconds per call for
        # small batches whenever the cores are shared (measured 0.35 ms vs 25-35 ms per row)
        booster.set_param({"nthread": 1})
        return cls(meta["target"], booster, int(meta["rounds"]), meta["params"])


def training_params(target: str, params: dict[str, Any], seed: int) -> dict[str, Any]:
    """Base settings, the target's objective and the tuned values, seeded."""
    return {**BASE_PARAMS, **OBJECTIVES[target], **params, "seed": seed}


def fit_boosted(
    target: str,
    x_train: pd.DataFrame,
    y_train: np.ndarray,
    x_valid: pd.DataFrame | None,
    y_valid: np.ndarray | None,
    params: dict[str, Any],
    seed: int,
    *,
    max_rounds: int = 1000,
    early_stopping: int = 50,
    rounds: int | None = None,
    weights: np.ndarray | None = None,
    on_round: RoundCallback | None = None,
    min_rounds: int = 0,
    base_margin: tuple[np.ndarray, np.ndarray | None] | None = None,
) -> BoostedModel:
    """Train one target; with a validation slice stop early on it (never before ``min_rounds``
    when given: the metric must then be one to minimise), else train ``rounds``.
    ``base_margin``: per-row offsets of the train and valid rows (margin scale)."""
    full = training_params(target, params, seed)
    margin_train, margin_valid = base_margin if base_margin is not None else (None, None)
    dtrain = xgb.DMatrix(
        x_train,
        label=y_train,
        weight=weights,
        base_margin=margin_train,
        enable_categorical=True,
        nthread=NTHREAD,
    )
    if x_valid is None:
        booster = xgb.train(full, dtrain, num_boost_round=int(rounds or max_rounds))
        return BoostedModel(target, booster, int(rounds or max_rounds), dict(params))
    dvalid = xgb.DMatrix(
        x_valid, label=y_valid, base_margin=margin_valid, enable_categorical=True, nthread=NTHREAD
    )
    callbacks: list[xgb.callback.TrainingCallback] = (
        [_ReportRounds(on_round)] if on_round is not None else []
    )
    if min_rounds > 0:
        floor = _FloorStopping(min_rounds, early_stopping)
        booster = xgb.train(
            full,
            dtrain,
            num_boost_round=max(max_rounds, min_rounds),
            evals=[(dvalid, "valid")],
            verbose_eval=False,
            callbacks=[*callbacks, floor],
        )
        return BoostedModel(target, booster, floor.best_rounds, dict(params))
    booster = xgb.train(
        full,
        dtrain,
        num_boost_round=max_rounds,
        evals=[(dvalid, "valid")],
        early_stopping_rounds=early_stopping,
        verbose_eval=False,
        callbacks=callbacks,
    )
    return BoostedModel(target, booster, booster.best_iteration + 1, dict(params))
