"""The served unit: feature state, target models, calibration, policy and thresholds together.

A ``RiskModel`` is saved as one directory (no pickles)::

    meta.json            name, version info, training window, metrics, which model per target
    features/            FeatureState (json + parquet)
    models/<target>/     one folder per target (offence, critical, revenue): XGBoost or neural
    calibration.json     isotonic map of the offence score
    policy.json          the ChannelPolicy the thresholds were calibrated for
    thresholds.json      per-office thresholds

``score`` turns declarations into the score columns the channel decision reads; ``decide`` adds
profiles, the random control and the thresholds, and explains the selected rows in words.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from customs_risk.features.pipeline import FeaturePipeline
from customs_risk.features.state import GRADE_CATEGORIES, GRADE_COLUMN, FeatureState
from customs_risk.models.calibration import Calibrator
from customs_risk.selection.policy import ChannelPolicy
from customs_risk.selection.profiles import ProfileSet
from customs_risk.selection.reasons import LazyColumns
from customs_risk.selection.thresholds import Thresholds

TARGETS = ("offence", "critical", "revenue")
ID_COLUMNS = ("importer_id", "declarant_id")
META_FILE = "meta.json"


class TargetModel(Protocol):
    """What the bundle needs from a model of one target."""

    target: str

    @property
    def kind(self) -> str: ...

    def save(self, directory: Path) -> None: ...


def load_target_model(directory: Path) -> TargetModel:
    """Load a target model folder written by a BoostedModel or a NeuralTarget."""
    meta = json.loads((directory / "meta.json").read_text())
    if meta.get("kind", "xgboost") == "xgboost":
        from customs_risk.models.boosting import BoostedModel

        return BoostedModel.load(directory)
    from customs_risk.models.neural_target import NeuralTarget

    return NeuralTarget.load(directory)


def predict_target(model: TargetModel, features: pd.DataFrame, declarations: pd.DataFrame):
    """Predictions of a target model on a feature frame (training and evaluation path)."""
    if model.kind == "xgboost":
        return np.asarray(model.predict_frame(features), dtype=np.float64)
    return np.asarray(model.predict(features, declarations), dtype=np.float64)


@dataclass
class RiskModel:
    """Everything scoring and deciding need (see module docstring)."""

    state: FeatureState
    models: dict[str, TargetModel]
    calibrator: Calibrator
    policy: ChannelPolicy
    thresholds: Thresholds | None
    meta: dict[str, Any] = field(default_factory=dict)
    _labels: dict[str, np.ndarray] = field(default_factory=dict, init=False, repr=False)

    @property
    def version(self) -> str:
        """Registry version if known, else the training run id."""
        return str(self.meta.get("model_version") or self.meta.get("run_id") or "unregistered")

    # scoring ------------------------------------------------------------------------------
    def _pipeline(self) -> FeaturePipeline:
        return FeaturePipeline(self.state.config)

    def _needs_frame(self) -> bool:
        return any(m.kind != "xgboost" for m in self.models.values())

    def _predict(self, target: str, matrix: np.ndarray, frame, declarations) -> np.ndarray:
        model = self.models[target]
        if model.kind == "xgboost":
            return np.asarray(model.predict_array(matrix), dtype=np.float64)
        return np.asarray(model.predict(frame, declarations), dtype=np.float64)

    def _grades(self, matrix: np.ndarray) -> np.ndarray:
        if GRADE_COLUMN not in self.state.categorical_columns:
            return np.full(len(matrix), None, dtype=object)
        j = self.state.feature_columns.index(GRADE_COLUMN)
        codes = matrix[:, j]
        table = np.array(GRADE_CATEGORIES + [None], dtype=object)
        return table[np.where(np.isfinite(codes), codes, len(GRADE_CATEGORIES)).astype(int)]

    def features(self, declarations: pd.DataFrame) -> pd.DataFrame:
        """The feature frame of new declarations against the saved state, each row on its own
        (its features do not depend on the other rows of the batch)."""
        return self._pipeline().transform(declarations, state=self.state, isolated=True)

    def matrix(self, declarations: pd.DataFrame) -> np.ndarray:
        """The float feature matrix (categoricals as codes) of new declarations, each row on its
        own against the saved state."""
        return self._pipeline().transform_array(declarations, state=self.state, isolated=True)

    def score(self, declarations: pd.DataFrame, matrix: np.ndarray | None = None) -> pd.DataFrame:
        """Per row: fraud_probability (calibrated), critical_probability, expected_revenue,
        trader_grade and model_version, aligned with ``declarations`` (the serving path)."""
        declarations = declarations.reset_index(drop=True)
        matrix = self.matrix(declarations) if matrix is None else matrix
        frame = self.features(declarations) if self._needs_frame() else None
        predict = {t: self._predict(t, matrix, frame, declarations) for t in self.models}
        return self._score_columns(declarations, predict, self._grades(matrix))

    def score_frame(self, features: pd.DataFrame, declarations: pd.DataFrame) -> pd.DataFrame:
        """The columns of :meth:`score` plus ``raw_offence_score`` from a point-in-time feature
        frame (the training and evaluation path)."""
        declarations = declarations.reset_index(drop=True)
        predict = {t: predict_target(m, features, declarations) for t, m in self.models.items()}
        grades = (
            features[GRADE_COLUMN].astype("object").to_numpy()
            if GRADE_COLUMN in features.columns
            else np.full(len(features), None, dtype=object)
        )
        out = self._score_columns(declarations, predict, grades)
        out["raw_offence_score"] = predict["offence"]
        return out

    def _score_columns(
        self, declarations: pd.DataFrame, predict: dict[str, np.ndarray], grades: np.ndarray
    ) -> pd.DataFrame:
        nan = np.full(len(declarations), np.nan)
        revenue = predict.get("revenue")
        return pd.DataFrame(
            {
                "declaration_id": declarations["declaration_id"].astype("str"),
                "item_no": declarations["item_no"].astype("int64"),
                "fraud_probability": self.calibrator(predict["offence"]),
                "critical_probability": predict.get("critical", nan),
                "expected_revenue": nan if revenue is None else np.maximum(revenue, 0.0),
                "trader_grade": pd.Series(grades, dtype="str"),
                "model_version": self.version,
            }
        )

    def reason_values(
        self, matrix: np.ndarray, context: dict[str, Callable[[], list[Any]]]
    ) -> LazyColumns:
        """The values reason texts read for matrix rows: features (categoricals decoded to their
        labels) and ``context`` columns (name -> values), each made only when a text uses it."""
        n_numeric = len(self.state.numeric_columns)
        getters: dict[str, Callable[[], list[Any]]] = {}
        for j, column in enumerate(self.state.numeric_columns):
            getters[column] = partial(_column_list, matrix, j)
        for j, column in enumerate(self.state.categorical_columns):
            getters[column] = partial(self._labels_of, column, matrix, n_numeric + j)
        for column, getter in context.items():
            getters.setdefault(column, getter)
        return LazyColumns(len(matrix), getters)

    def _labels_of(self, column: str, matrix: np.ndarray, j: int) -> list[Any]:
        if column not in self._labels:
            self._labels[column] = np.array([*self.state.categories(column), None], dtype=object)
        labels = self._labels[column]
        codes = matrix[:, j]
        index = np.where(np.isfinite(codes), codes, len(labels) - 1).astype(np.int64)
        return labels[index].tolist()

    def reasons(
        self,
        declarations: pd.DataFrame,
        rows: np.ndarray,
        top_k: int,
        matrix: np.ndarray | None = None,
    ) -> list[list[str]]:
        """Top reasons for ``rows`` from the offence model's feature contributions (XGBoost).
        ``matrix``: the rows' feature matrix when the caller has it (all rows of the batch)."""
        from customs_risk.models.reason_texts import REASON_TEMPLATES
        from customs_risk.selection.reasons import build_reasons

        rows = np.asarray(rows, dtype=np.int64)
        model = self.models["offence"]
        if len(rows) == 0 or top_k <= 0 or not hasattr(model, "contributions_array"):
            return [[] for _ in rows]
        x = self.matrix(declarations.iloc[rows]) if matrix is None else matrix[rows]
        contrib = model.contributions_array(x, self.state.feature_types)
        context = {str(c): partial(_rows_list, declarations[c], rows) for c in declarations.columns}
        values = self.reason_values(x, context)
        return build_reasons(contrib, self.state.feature_columns, values, REASON_TEMPLATES, top_k)

    def decide(
        self,
        declarations: pd.DataFrame,
        profiles: ProfileSet | None = None,
        seed: int = 0,
        as_of: Any = None,
        reasons: bool = True,
    ) -> pd.DataFrame:
        """Channels for a batch: profiles, random control, the model against the thresholds;
        the model's reasons for the items it sent to red or orange."""
        from customs_risk.selection.decide import decide

        declarations = declarations.reset_index(drop=True)
        matrix = self.matrix(declarations)
        scores = self.score(declarations, matrix)
        decisions = decide(
            declarations,
            scores,
            self.policy,
            self.thresholds,
            profiles,
            seed,
            as_of,
            model_version=self.version,
        )
        if reasons and self.policy.top_reasons > 0:
            wanted = decisions["model_channel"].isin(["red", "orange"]).to_numpy().copy()
            if not self.policy.reasons_for_green:
                wanted &= decisions["channel"].isin(["red", "orange"]).to_numpy()
            rows = np.flatnonzero(wanted)
            texts = self.reasons(declarations, rows, self.policy.top_reasons, matrix)
            column = decisions["reasons"].to_numpy(dtype=object).copy()
            for r, t in zip(rows.tolist(), texts, strict=True):
                column[r] = tuple(t)
            decisions["reasons"] = pd.Series(column, dtype=object)
        decisions["critical_probability"] = scores["critical_probability"].to_numpy()
        return decisions

    def warm(self) -> RiskModel:
        """Build the state's lookup structures and run one prediction (first-call latency)."""
        self.state.warm()
        return self

    # persistence --------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """Write the bundle directory (see module docstring); returns it."""
        root = Path(directory)
        root.mkdir(parents=True, exist_ok=True)
        self.state.save(root / "features")
        for target, model in self.models.items():
            model.save(root / "models" / target)
        self.calibrator.save(root / "calibration.json")
        (root / "policy.json").write_text(json.dumps(self.policy.to_dict(), indent=2))
        if self.thresholds is not None:
            self.thresholds.save(root / "thresholds.json")
        (root / META_FILE).write_text(json.dumps(self.meta, indent=2, default=str))
        return root

    @classmethod
    def load(cls, directory: str | Path) -> RiskModel:
        """Read a bundle directory written by :meth:`save`."""
        root = Path(directory)
        models = {
            target: load_target_model(root / "models" / target)
            for target in TARGETS
            if (root / "models" / target).exists()
        }
        if "offence" not in models:
            raise FileNotFoundError(f"{root}: no offence model in the bundle")
        thresholds_file = root / "thresholds.json"
        return cls(
            state=FeatureState.load(root / "features"),
            models=models,
            calibrator=Calibrator.load(root / "calibration.json"),
            policy=ChannelPolicy.model_validate(json.loads((root / "policy.json").read_text())),
            thresholds=Thresholds.load(thresholds_file) if thresholds_file.exists() else None,
            meta=json.loads((root / META_FILE).read_text()),
        )


def _column_list(matrix: np.ndarray, j: int) -> list[float]:
    return matrix[:, j].tolist()


def _rows_list(column: pd.Series, rows: np.ndarray) -> list[Any]:
    return column.iloc[rows].tolist()
