"""The simulation's model: trained on the labels known at a cut with a fixed, fast XGBoost
configuration (the project's training pieces, no tuning, no MLflow), scored point in time on
each week through the live feature state (``features.live``)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from customs_risk.data.contracts import KEY
from customs_risk.features.live import compact, with_events
from customs_risk.features.pipeline import FeaturePipeline
from customs_risk.models.bundle import RiskModel
from customs_risk.selection.policy import ChannelPolicy
from customs_risk.simulation.settings import ModelSettings, Ranking

ENTITY_COLUMNS = ("declared_at", "importer_id", "declarant_id", "seller_id", "office_id")


@dataclass
class Scores:
    """Model outputs for a week's rows, with the ranking key (risk)."""

    fraud_probability: np.ndarray
    expected_revenue: np.ndarray
    risk: np.ndarray


@dataclass
class SimModel:
    """A trained model and its live feature state."""

    bundle: RiskModel
    policy: ChannelPolicy
    revenue_scale: float
    reference: dict | None  # the validation window's risk distribution (drift.score_reference)
    seconds: dict[str, float] = field(default_factory=dict)

    def score(self, week: pd.DataFrame) -> Scores:
        """Scores of a week's declarations against the state: each row sees the state and the
        week's rows before it (point in time)."""
        pipeline = FeaturePipeline(self.bundle.state.config)
        matrix = pipeline.transform_array(week, state=self.bundle.state)
        arrays = self.bundle.score_arrays(week, matrix)
        fp = np.asarray(arrays.fraud_probability, dtype=np.float64)
        er = np.nan_to_num(np.asarray(arrays.expected_revenue, dtype=np.float64))
        risk = self.policy.adjusted_key(fp, er, arrays.trader_grade, self.revenue_scale)
        return Scores(fp, er, np.nan_to_num(risk))

    def advance(self, week: pd.DataFrame, results: pd.DataFrame, cut: pd.Timestamp) -> None:
        """The week's declarations and its inspections' outcomes into the live state (each
        counted only after its result_at), settled up to ``cut``."""
        fields = week[[*KEY, *ENTITY_COLUMNS]]
        joined = results.merge(fields, on=KEY, how="left") if len(results) else None
        state = with_events(self.bundle.state, week, joined)
        self.bundle.state = compact(state, int(cut.value))


def _split(days: pd.Series, valid_days: int) -> tuple[np.ndarray, np.ndarray]:
    last = days.max()
    valid = (days > last - pd.Timedelta(days=valid_days)).to_numpy()
    return ~valid, valid


def train_model(
    declarations: pd.DataFrame,
    outcomes: pd.DataFrame,
    cut: pd.Timestamp,
    settings: ModelSettings,
    ranking: Ranking,
    seed: int,
) -> SimModel:
    """Train on the declarations before ``cut`` and the outcomes known there (result_at before
    it); the state also holds the later-dated outcomes as pending events, each counted only for
    rows lodged after its result_at."""
    from customs_risk.models.boosting import fit_boosted
    from customs_risk.models.calibration import Calibrator
    from customs_risk.models.dataset import Split, label_rows
    from customs_risk.models.drift import score_reference
    from customs_risk.models.train import TrainingFrame, choose_guard, two_part_revenue

    started = time.perf_counter()
    known = outcomes[outcomes["result_at"] < cut]
    pipeline = FeaturePipeline()
    state = pipeline.fit(declarations, outcomes, as_of=cut)
    features = pipeline.transform(declarations, outcomes=known)
    featured = time.perf_counter()
    labels = label_rows(declarations, known)
    days = declarations["declared_at"].dt.normalize()
    train, valid = _split(days, settings.valid_days)
    empty = np.zeros(len(days), dtype=bool)
    split = Split(train, valid, empty, days[valid].min(), days.max())
    frame = TrainingFrame(declarations, features, labels, split)
    params = {"max_depth": settings.max_depth, "eta": settings.eta}
    offence = fit_boosted(
        "offence",
        frame.x("train"),
        frame.y("offence", "train"),
        frame.x("valid"),
        frame.y("offence", "valid"),
        params,
        seed,
        max_rounds=settings.max_rounds,
        early_stopping=settings.early_stopping,
    )
    models: dict = {"offence": offence}
    revenue = two_part_revenue(offence, frame, seed)
    if revenue is not None:
        models["revenue"] = revenue
    raw_valid = offence.predict_frame(frame.x("valid"))
    calibrator = Calibrator.fit(raw_valid, frame.y("offence", "valid"))
    policy = ChannelPolicy(ranking=ranking)
    bundle = RiskModel(state, models, calibrator, policy, None, {"as_of": str(cut)})
    if revenue is not None:
        bundle.revenue_guard = choose_guard(revenue, frame)
    rows = np.flatnonzero(valid)
    scored = bundle.score_frame(features.iloc[rows], declarations.iloc[rows])
    er = np.nan_to_num(scored["expected_revenue"].to_numpy(dtype=np.float64))
    scale = float(np.mean(er)) if np.mean(er) > 0 else 1.0
    risk = policy.adjusted_key(
        scored["fraud_probability"].to_numpy(dtype=np.float64),
        er,
        scored["trader_grade"].to_numpy(dtype=object),
        scale,
    )
    finite = np.isfinite(risk)
    reference = score_reference(risk[finite]) if finite.any() else None
    seconds = {
        "features": featured - started,
        "fit": time.perf_counter() - featured,
    }
    return SimModel(bundle, policy, scale, reference, seconds)
