"""The served unit: feature state, target models, calibration, policy and thresholds together.

A ``RiskModel`` is saved as one directory (no pickles)::

    meta.json            name, version info, training window, metrics, which model per target
    features/            FeatureState (json + parquet)
    models/<target>/     one folder per target (offence, critical, revenue): XGBoost or neural
    calibration.json     isotonic map of the offence score
    policy.json          the ChannelPolicy the thresholds were calibrated for
    thresholds.json      per-office thresholds
    revenue_guard.json   the revenue ranker chosen against the rules on validation (models.guard)

``score`` turns declarations into the score columns the channel decision reads; ``decide`` adds
profiles, the random control and the thresholds, and explains the selected rows in words.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from customs_risk.features.pipeline import FeaturePipeline, Rows
from customs_risk.features.state import GRADE_CATEGORIES, GRADE_COLUMN, FeatureState
from customs_risk.models.calibration import Calibrator
from customs_risk.models.guard import RevenueGuard
from customs_risk.models.rules import frame_feature, rule_scores
from customs_risk.selection.columns import Columns
from customs_risk.selection.decide import BatchDecision, ScoreArrays, decide_batch, decision_frame
from customs_risk.selection.lists import ManagedLists
from customs_risk.selection.policy import ChannelPolicy
from customs_risk.selection.profiles import ProfileSet
from customs_risk.selection.reasons import LazyColumns
from customs_risk.selection.thresholds import Thresholds

TARGETS = ("offence", "critical", "revenue")
_FRAME_ROWS = 256  # record batches above this size are decided as a frame
ID_COLUMNS = ("importer_id", "declarant_id")
META_FILE = "meta.json"
GUARD_FILE = "revenue_guard.json"


@dataclass
class ServedBatch:
    """What a target model may read to predict served rows: the ``transform_array`` matrix
    always; the feature frame and the declarations frame made on first use (the networks read
    them, the boosters do not)."""

    matrix: np.ndarray
    feature_types: list[str]
    make_frame: Callable[[], pd.DataFrame]
    make_declarations: Callable[[], pd.DataFrame]
    _cache: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)

    def frame(self) -> pd.DataFrame:
        """The feature frame (numeric columns, then categoricals) of the rows."""
        if "frame" not in self._cache:
            self._cache["frame"] = self.make_frame()
        return self._cache["frame"]

    def declarations(self) -> pd.DataFrame:
        """The declarations of the rows as a frame."""
        if "declarations" not in self._cache:
            self._cache["declarations"] = self.make_declarations()
        return self._cache["declarations"]


class TargetModel(Protocol):
    """What the bundle and the service call on the model of one target."""

    target: str

    @property
    def kind(self) -> str: ...

    def predict_served(self, batch: ServedBatch) -> np.ndarray:
        """Predictions for served rows."""
        ...

    def contributions_served(self, batch: ServedBatch) -> np.ndarray | None:
        """Per-row feature contributions (``feature_columns`` order, no bias), or None when the
        model cannot explain itself."""
        ...

    def set_threads(self, nthread: int) -> None:
        """Threads one prediction call may use."""
        ...

    def save(self, directory: Path) -> None: ...


def load_target_model(directory: Path) -> TargetModel:
    """Load a target model folder written by a BoostedModel or a NeuralTarget."""
    meta = json.loads((directory / "meta.json").read_text())
    if meta.get("kind", "xgboost") == "xgboost":
        from customs_risk.models.boosting import BoostedModel

        return BoostedModel.load(directory)
    if meta["kind"] == "two_part":
        from customs_risk.models.two_part import TwoPartRevenue

        return TwoPartRevenue.load(directory)
    if meta["kind"] == "catboost":
        from customs_risk.models.catboost_target import CatBoostTarget

        return CatBoostTarget.load(directory)
    from customs_risk.models.neural_target import NeuralTarget

    return NeuralTarget.load(directory)


def predict_target(
    model: TargetModel, features: pd.DataFrame, declarations: pd.DataFrame
) -> np.ndarray:
    """Predictions of a target model on a point-in-time feature frame (training, evaluation)."""
    from customs_risk.models.boosting import BoostedModel
    from customs_risk.models.two_part import TwoPartRevenue

    if isinstance(model, BoostedModel | TwoPartRevenue):
        return np.asarray(model.predict_frame(features), dtype=np.float64)
    batch = ServedBatch(np.empty((len(features), 0)), [], lambda: features, lambda: declarations)
    return np.asarray(model.predict_served(batch), dtype=np.float64)


@dataclass
class RiskModel:
    """Everything scoring and deciding need (see module docstring)."""

    state: FeatureState
    models: dict[str, TargetModel]
    calibrator: Calibrator
    policy: ChannelPolicy
    thresholds: Thresholds | None
    meta: dict[str, Any] = field(default_factory=dict)
    revenue_guard: RevenueGuard | None = None
    _labels: dict[str, np.ndarray] = field(default_factory=dict, init=False, repr=False)

    @property
    def version(self) -> str:
        """Registry version if known, else the training run id."""
        return str(self.meta.get("model_version") or self.meta.get("run_id") or "unregistered")

    # scoring ------------------------------------------------------------------------------
    def _pipeline(self) -> FeaturePipeline:
        return FeaturePipeline(self.state.config)

    def _grades(self, matrix: np.ndarray) -> np.ndarray:
        if GRADE_COLUMN not in self.state.categorical_columns:
            return np.full(len(matrix), None, dtype=object)
        j = self.state.feature_columns.index(GRADE_COLUMN)
        codes = matrix[:, j]
        table = np.array(GRADE_CATEGORIES + [None], dtype=object)
        return table[np.where(np.isfinite(codes), codes, len(GRADE_CATEGORIES)).astype(int)]

    def features(self, declarations: Rows) -> pd.DataFrame:
        """The feature frame of new declarations against the saved state, each row on its own
        (its features do not depend on the other rows of the batch)."""
        return self._pipeline().transform(declarations, state=self.state, isolated=True)

    def matrix(self, declarations: Rows) -> np.ndarray:
        """The float feature matrix (categoricals as codes) of new declarations (a frame or
        records), each row on its own against the saved state."""
        return self._pipeline().transform_array(declarations, state=self.state, isolated=True)

    def served_batch(self, declarations: Rows, matrix: np.ndarray | None = None) -> ServedBatch:
        """The rows as the target models read them (matrix now, frames on demand)."""
        matrix = self.matrix(declarations) if matrix is None else matrix
        return ServedBatch(
            matrix,
            self.state.feature_types,
            partial(self.features, declarations),
            partial(_declaration_frame, declarations),
        )

    def score_arrays(self, declarations: Rows, matrix: np.ndarray | None = None) -> ScoreArrays:
        """Model outputs per row (the serving path, no pandas for boosters): calibrated
        fraud_probability, critical_probability, expected_revenue (>= 0), trader_grade."""
        batch = self.served_batch(declarations, matrix)
        raw = np.asarray(self.models["offence"].predict_served(batch), dtype=np.float64)
        n = len(raw)
        critical = self.models.get("critical")
        revenue = self.models.get("revenue")
        return ScoreArrays(
            fraud_probability=self.calibrator(raw),
            critical_probability=np.full(n, np.nan)
            if critical is None
            else np.asarray(critical.predict_served(batch), dtype=np.float64),
            expected_revenue=np.full(n, np.nan)
            if revenue is None
            else self._guarded(
                np.asarray(revenue.predict_served(batch), dtype=np.float64),
                partial(self._matrix_column, batch.matrix),
            ),
            trader_grade=self._grades(batch.matrix),
        )

    def _matrix_column(self, matrix: np.ndarray, name: str) -> np.ndarray:
        return matrix[:, self.state.numeric_position[name]]

    def _guarded(
        self, expected_revenue: np.ndarray, feature: Callable[[str], np.ndarray]
    ) -> np.ndarray:
        """The served expected revenue (>= 0): the revenue guard's ranker applied."""
        out = np.maximum(expected_revenue, 0.0)
        if self.revenue_guard is None or self.revenue_guard.rule is None:
            return out
        return self.revenue_guard.apply(out, rule_scores(feature))

    def score(self, declarations: pd.DataFrame, matrix: np.ndarray | None = None) -> pd.DataFrame:
        """Per row: fraud_probability (calibrated), critical_probability, expected_revenue,
        trader_grade and model_version, aligned with ``declarations`` (the serving path)."""
        declarations = declarations.reset_index(drop=True)
        return self._score_columns(declarations, self.score_arrays(declarations, matrix))

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
        nan = np.full(len(declarations), np.nan)
        revenue = predict.get("revenue")
        arrays = ScoreArrays(
            self.calibrator(predict["offence"]),
            predict.get("critical", nan),
            nan if revenue is None else self._guarded(revenue, frame_feature(features)),
            grades,
        )
        out = self._score_columns(declarations, arrays)
        out["raw_offence_score"] = predict["offence"]
        return out

    def _score_columns(self, declarations: pd.DataFrame, scores: ScoreArrays) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "declaration_id": declarations["declaration_id"].astype("str"),
                "item_no": declarations["item_no"].astype("int64"),
                "fraud_probability": scores.fraud_probability,
                "critical_probability": scores.critical_probability,
                "expected_revenue": scores.expected_revenue,
                "trader_grade": pd.Series(scores.trader_grade, dtype="str"),
                "model_version": self.version,
            }
        )

    def reason_values(
        self, matrix: np.ndarray, context: Mapping[str, Callable[[], list[Any]]]
    ) -> LazyColumns:
        """The values reason texts read for matrix rows: features (categoricals decoded to their
        labels; a value the model does not know reads as declared) and ``context`` columns
        (name -> values), each made only when a text uses it."""
        n_numeric = len(self.state.numeric_columns)
        getters: dict[str, Callable[[], list[Any]]] = {}
        for j, column in enumerate(self.state.numeric_columns):
            getters[column] = partial(_column_list, matrix, j)
        for j, column in enumerate(self.state.categorical_columns):
            labels = partial(self._labels_of, column, matrix, n_numeric + j)
            declared = context.get(column)
            getters[column] = (
                labels if declared is None else partial(_or_declared, labels, declared)
            )
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

    def explain(
        self, rows: np.ndarray, matrix: np.ndarray, columns: Columns, top_k: int
    ) -> dict[int, list[str]]:
        """Top reasons for ``rows`` of a batch (its feature ``matrix`` and its ``columns``)
        from the offence model's feature contributions; {} when the model cannot explain."""
        from customs_risk.models.reason_texts import REASON_TEMPLATES
        from customs_risk.selection.reasons import build_reasons

        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) == 0 or top_k <= 0:
            return {}
        x = matrix[rows]
        batch = ServedBatch(x, self.state.feature_types, _no_frame, _no_frame)
        contrib = self.models["offence"].contributions_served(batch)
        if contrib is None:
            return {}
        context = {name: partial(columns.values_at, name, rows) for name in columns.names()}
        values = self.reason_values(x, context)
        texts = build_reasons(contrib, self.state.feature_columns, values, REASON_TEMPLATES, top_k)
        self._grade_reasons(texts, x, columns, rows)
        return dict(zip(rows.tolist(), texts, strict=True))

    def _grade_reasons(
        self, texts: list[list[str]], x: np.ndarray, columns: Columns, rows: np.ndarray
    ) -> None:
        """Add the trader grade's reason where its factor raised the item's risk score (the
        factor the kernel applied); it replaces the grade feature's own text."""
        from customs_risk.models.reason_texts import GRADE_FACTS, grade_feature_text, grade_reasons

        grade_column = self.policy.grade_column
        if grade_column not in columns.names():
            return
        grades = columns.values_at(grade_column, rows)
        factors = self.policy.grade_factors_of(grades)
        raised = np.flatnonzero(factors > 1.0)
        if len(raised) == 0:
            return
        position = self.state.numeric_position
        facts = {f: x[raised, position[f]] for f in GRADE_FACTS if f in position}
        raised_grades = [grades[i] for i in raised.tolist()]
        added = grade_reasons(raised_grades, factors[raised], facts, self.state.config.grade_rule)
        own = {g: grade_feature_text(g) for g in dict.fromkeys(raised_grades)}
        for i, grade, text in zip(raised.tolist(), raised_grades, added, strict=True):
            row = texts[i]
            if own[grade] in row:
                row.remove(own[grade])
            row.append(text)

    def decide_batch(
        self,
        declarations: Rows,
        profiles: ProfileSet | None = None,
        seed: int = 0,
        as_of: Any = None,
        reasons: bool = True,
        lists: ManagedLists | None = None,
    ) -> tuple[Columns, BatchDecision, ScoreArrays, dict[int, list[str]]]:
        """Score and decide a batch (a frame or records) through the decision kernel, managed
        ``lists`` included; the model's reasons for the rows the kernel says to explain."""
        rows: pd.DataFrame | list[Mapping[str, Any]]
        if isinstance(declarations, pd.DataFrame):
            rows = declarations.reset_index(drop=True)
        elif isinstance(declarations, Mapping):
            rows = [declarations]
        else:
            rows = list(declarations)
            if len(rows) > _FRAME_ROWS:
                rows = _records_frame(rows)
        matrix = self.matrix(rows)
        scores = self.score_arrays(rows, matrix)
        score_columns = scores.columns(self.policy.grade_column)
        if isinstance(rows, pd.DataFrame):
            columns = Columns.of_frames(rows).with_arrays(score_columns)
        else:
            columns = Columns.of_records(rows, score_columns)
        batch = decide_batch(
            columns, scores, self.policy, self.thresholds, profiles, seed, as_of, lists=lists
        )
        texts = (
            self.explain(batch.explain_rows, matrix, columns, self.policy.top_reasons)
            if reasons
            else {}
        )
        return columns, batch, scores, texts

    def decide(
        self,
        declarations: pd.DataFrame,
        profiles: ProfileSet | None = None,
        seed: int = 0,
        as_of: Any = None,
        reasons: bool = True,
        lists: ManagedLists | None = None,
    ) -> pd.DataFrame:
        """Channels for a batch: profiles, random control, the model against the thresholds,
        managed lists (the decision kernel); the model's reasons for the items it sent to red
        or orange, after the reasons of the list entries that hit."""
        declarations = declarations.reset_index(drop=True)
        _, batch, scores, texts = self.decide_batch(
            declarations, profiles, seed, as_of, reasons, lists
        )
        out = decision_frame(declarations, batch, self.policy, self.version, texts)
        out["critical_probability"] = scores.critical_probability
        out.attrs["seed"] = seed
        batch.log_warnings(self.policy)
        return out

    def set_threads(self, nthread: int) -> None:
        """Threads each target model's prediction call may use (the service: one)."""
        for model in self.models.values():
            model.set_threads(nthread)

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
        if self.revenue_guard is not None:
            self.revenue_guard.save(root / GUARD_FILE)
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
            revenue_guard=RevenueGuard.load(root / GUARD_FILE)
            if (root / GUARD_FILE).exists()
            else None,
        )


def _column_list(matrix: np.ndarray, j: int) -> list[float]:
    return matrix[:, j].tolist()


def _or_declared(labels: Callable[[], list[Any]], declared: Callable[[], list[Any]]) -> list[Any]:
    """Decoded labels, the declared value where the label is unknown (new to the model)."""
    out = labels()
    if None in out:
        raw = declared()
        out = [raw[i] if v is None else v for i, v in enumerate(out)]
    return out


def _records_frame(records: list[Mapping[str, Any]]) -> pd.DataFrame:
    """Many records as one frame: features, profiles and reasons take the vectorised frame path
    (the per-value records path costs about 3x for 10,000 rows)."""
    names: dict[str, None] = {}
    for record in records:
        names.update(dict.fromkeys(record))
    return pd.DataFrame({name: [r.get(name) for r in records] for name in names})


def _no_frame() -> pd.DataFrame:
    raise ValueError("explaining reads the feature matrix only")


def _declaration_frame(declarations: Rows) -> pd.DataFrame:
    if isinstance(declarations, pd.DataFrame):
        return declarations.reset_index(drop=True)
    return pd.DataFrame(list(declarations))
