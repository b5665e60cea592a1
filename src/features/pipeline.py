"""One feature code path for training and serving.

``FeaturePipeline.fit(declarations, outcomes)`` returns a :class:`FeatureState`;
``transform(batch)`` (no state) featurises a whole period point-in-time for training, and
``transform(batch, state)`` featurises new declarations against a saved state. Both run
``compute.compute``: the batch is appended to what the state knows (nothing, in training) and
every row sees only declarations lodged strictly before it and outcomes with result_at strictly
before it. Reference prices are daily snapshots (see ``prices``): offline each day gets the
snapshot of the days before it, online the state's snapshot, equal when the state was fitted on
all days before.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from customs_risk.features.compute import Sink, compute, history_as_of
from customs_risk.features.config import FeatureConfig
from customs_risk.features.encoding import Batch
from customs_risk.features.fitting import fit_state, fit_vocabulary
from customs_risk.features.state import FeatureState

__all__ = ["FeaturePipeline", "FeatureState", "fit_vocabulary", "history_as_of"]

Rows = pd.DataFrame | Mapping[str, Any] | Sequence[Mapping[str, Any]]
_FLOAT32_MAX = float(np.finfo(np.float32).max)


class FeaturePipeline:
    """Fit a :class:`FeatureState` on history; transform batches for training or serving."""

    def __init__(self, config: FeatureConfig | None = None):
        self.config = config or FeatureConfig()
        self.state_: FeatureState | None = None

    @classmethod
    def importer_only(cls) -> FeaturePipeline:
        """A light pipeline for trader grades: importer history only, no reference prices."""
        return cls(replace(FeatureConfig(), entities={"importer": ("importer_id",)}, prices=False))

    def _fitted(self) -> FeatureState:
        if self.state_ is None:
            raise RuntimeError("FeaturePipeline is not fitted: call fit() or pass a state")
        return self.state_

    @property
    def numeric_columns(self) -> list[str]:
        """Numeric feature names of the fitted state."""
        return self._fitted().numeric_columns

    @property
    def categorical_columns(self) -> list[str]:
        """Categorical feature names of the fitted state."""
        return self._fitted().categorical_columns

    @property
    def feature_columns(self) -> list[str]:
        """All feature names of the fitted state."""
        return self._fitted().feature_columns

    def fit(
        self, declarations: pd.DataFrame, outcomes: pd.DataFrame | None = None, as_of: Any = None
    ) -> FeatureState:
        """Learn vocabularies, entity aggregates and reference tables from the declarations lodged
        before ``as_of`` (default: midnight after the last one) and their outcomes. Outcomes
        dated at or after ``as_of`` are kept as pending events, counted at serving only for rows
        lodged after their result_at."""
        self.state_ = fit_state(self.config, declarations, outcomes, as_of)
        return self.state_

    def _resolve(self, state: FeatureState | None) -> FeatureState:
        return self._fitted().training_view() if state is None else state

    def transform(
        self,
        batch: Rows,
        state: FeatureState | None = None,
        outcomes: pd.DataFrame | None = None,
        *,
        isolated: bool = False,
    ) -> pd.DataFrame:
        """Feature frame (numeric float columns, then pandas categoricals with the fitted
        categories), one row per input row in input order.

        Without ``state``: training, the batch is the whole period (point-in-time within it;
        ``outcomes`` are its inspection results). With ``state``: serving, the batch comes after
        the state (its rows and the ``outcomes`` passed count for later rows of the batch).
        ``isolated`` (serving): every row against the state alone, as if it came on its own, so
        a row's features do not depend on the other rows of the batch."""
        st = self._resolve(state)
        rows = Batch(batch)
        columns = st.numeric_columns
        values = np.empty((rows.n, len(columns)), dtype=np.dtype(st.config.float_dtype), order="F")
        codes = compute(rows, st, outcomes, Sink(values, st.numeric_position), isolated)
        _infinite_as_missing(values)
        frame = pd.DataFrame(values, columns=columns, index=rows.index, copy=False)
        for column in st.categorical_columns:
            frame[column] = pd.Categorical.from_codes(
                codes[column], dtype=st.category_dtype(column)
            )
        return frame

    def transform_array(
        self,
        batch: Rows,
        state: FeatureState | None = None,
        outcomes: pd.DataFrame | None = None,
        *,
        isolated: bool = False,
    ) -> np.ndarray:
        """The same features as one float64 matrix in ``feature_columns`` order, categoricals as
        their codes (NaN unknown): the fast serving form (XGBoost: ``state.feature_types``)."""
        st = self._resolve(state)
        rows = Batch(batch)
        # features arrive column by column: fill a column-major matrix, hand over a row-major
        # one (what XGBoost reads); one copy is cheaper than strided column writes
        width = len(st.numeric_columns) + len(st.categorical_columns)
        out = np.empty((rows.n, width), order="F")
        codes = compute(rows, st, outcomes, Sink(out, st.numeric_position), isolated)
        offset = len(st.numeric_columns)
        for j, column in enumerate(st.categorical_columns):
            code = codes[column]
            out[:, offset + j] = np.where(code >= 0, code, np.nan)
        _infinite_as_missing(out)
        return np.ascontiguousarray(out)

    def fit_transform(
        self, declarations: pd.DataFrame, outcomes: pd.DataFrame | None = None
    ) -> tuple[pd.DataFrame, FeatureState]:
        """Fit on the period and return its training features with the state."""
        state = self.fit(declarations, outcomes)
        return self.transform(declarations, outcomes=outcomes), state


def _infinite_as_missing(values: np.ndarray) -> None:
    """Values beyond float32 (overflowing ratios: a duty over a near-zero expected duty) become
    missing: XGBoost reads float32, where they are infinite; they carry no ranking information
    and XGBoost's DMatrix (contributions, training) rejects them."""
    huge = np.abs(values) > _FLOAT32_MAX
    if huge.any():
        values[huge] = np.nan
