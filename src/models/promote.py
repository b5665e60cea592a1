"""``customs-risk promote``: challenger vs champion on the newest time window, and rollback.

Both registered bundles score the labelled (inspected) items of the newest ``window_days`` with
point-in-time features (each bundle's own vocabularies, the training view over all the data), so
neither sees an outcome after the item it scores. ``champion`` moves to the challenger only when
the challenger is better on the chosen metric (or with ``force``); ``to_version`` points
``champion`` at any registered version (rollback).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from customs_risk.models.bundle import RiskModel
from customs_risk.models.dataset import label_rows, load_training_data
from customs_risk.models.metrics import ranking_report, revenue_share_at
from customs_risk.models.tracking import (
    CHALLENGER,
    CHAMPION,
    MlflowSettings,
    configure,
    load_registered,
    resolve_version,
)

log = logging.getLogger(__name__)
COMPARED = ("auc", "precision_at_5", "precision_at_10", "recall_at_10", "revenue_share_at_10")


@dataclass
class Comparison:
    """Metrics of both versions on the window, and the decision."""

    window_start: str
    window_end: str
    n_labelled: int
    metric: str
    challenger_version: str
    champion_version: str | None
    challenger: dict[str, float]
    champion: dict[str, float] | None
    promoted: bool
    reason: str

    def table(self) -> str:
        """The comparison as aligned text."""
        lines = [
            f"window {self.window_start} .. {self.window_end}: {self.n_labelled} inspected items",
            f"{'metric':<22}{'challenger v' + self.challenger_version:>16}"
            f"{'champion v' + str(self.champion_version):>16}",
        ]
        for key in self.challenger:
            old = self.champion.get(key, float("nan")) if self.champion else float("nan")
            mark = " <-" if key == self.metric else ""
            lines.append(f"{key:<22}{self.challenger[key]:>16.4f}{old:>16.4f}{mark}")
        lines.append(self.reason)
        return "\n".join(lines)


def evaluate_bundle(
    model: RiskModel, declarations: pd.DataFrame, outcomes: pd.DataFrame, rows: np.ndarray
) -> dict[str, float]:
    """Metrics of a bundle on the labelled ``rows``, features point-in-time."""
    from customs_risk.features.pipeline import FeaturePipeline

    pipeline = FeaturePipeline(model.state.config)
    pipeline.state_ = model.state
    features = pipeline.transform(declarations, outcomes=outcomes).iloc[rows]
    decl = declarations.iloc[rows].reset_index(drop=True)
    labels = label_rows(decl, outcomes)
    scores = model.score_frame(features, decl)
    report = ranking_report(labels.fraud, scores["fraud_probability"].to_numpy())
    out = {k: float(report[k]) for k in COMPARED if k in report}
    if "revenue" in model.models:
        revenue = scores["expected_revenue"].to_numpy()
        out["revenue_share_at_10"] = revenue_share_at(np.nan_to_num(labels.revenue), revenue, 0.1)
    return out


def newest_window(
    declarations: pd.DataFrame, outcomes: pd.DataFrame, window_days: int
) -> tuple[np.ndarray, pd.Timestamp, pd.Timestamp]:
    """Labelled rows of the newest ``window_days`` days and the window bounds."""
    days = declarations["declared_at"].dt.normalize()
    start = days.max() - pd.Timedelta(days=window_days - 1)
    inspected = label_rows(declarations, outcomes).inspected
    rows = np.flatnonzero((days >= start).to_numpy() & inspected)
    return rows, start, days.max()


def set_champion(settings: MlflowSettings, version: str, note: str) -> None:
    """Point ``champion`` at ``version`` and record why on the version."""
    from mlflow import MlflowClient

    client = MlflowClient()
    client.set_registered_model_alias(settings.model_name, CHAMPION, version)
    client.set_model_version_tag(settings.model_name, version, "champion_note", note)
    client.set_model_version_tag(
        settings.model_name, version, "champion_since", pd.Timestamp.now(tz="UTC").isoformat()
    )


def rollback(settings: MlflowSettings, version: str) -> str:
    """Point ``champion`` at a given version; returns the previous champion (or 'none')."""
    configure(settings)
    resolve_version(settings, version=version)  # raises LookupError if unknown
    try:
        previous = str(resolve_version(settings, alias=CHAMPION).version)
    except LookupError:
        previous = "none"
    set_champion(settings, str(version), f"rollback from v{previous}")
    return previous


def promote(
    settings: MlflowSettings,
    data_dir: Path,
    window_days: int = 45,
    metric: str = "auc",
    min_delta: float = 0.0,
    force: bool = False,
) -> Comparison:
    """Compare challenger and champion on the newest window; move champion if better."""
    configure(settings)
    if metric not in COMPARED:
        raise ValueError(f"metric must be one of {COMPARED}, got {metric!r}")
    challenger_mv = resolve_version(settings, alias=CHALLENGER)
    try:
        champion_mv = resolve_version(settings, alias=CHAMPION)
    except LookupError:
        champion_mv = None
    declarations, outcomes = load_training_data(data_dir)
    rows, start, end = newest_window(declarations, outcomes, window_days)
    if len(rows) == 0:
        raise ValueError(f"no inspected items in the newest {window_days} days of {data_dir}")
    new = evaluate_bundle(
        load_registered(settings, version=challenger_mv.version), declarations, outcomes, rows
    )
    old: dict[str, Any] | None = None
    if champion_mv is None:
        promoted, reason = True, "no champion yet: the challenger becomes champion"
    elif str(champion_mv.version) == str(challenger_mv.version):
        promoted, reason = False, "the challenger is already the champion"
    else:
        old = evaluate_bundle(
            load_registered(settings, version=champion_mv.version), declarations, outcomes, rows
        )
        better = new[metric] > old[metric] + min_delta
        promoted = better or force
        verdict = "better" if better else "not better"
        reason = f"challenger {verdict} on {metric} ({new[metric]:.4f} vs {old[metric]:.4f})"
        if force and not better:
            reason += ": promoted anyway (--force)"
    if promoted and (champion_mv is None or str(champion_mv.version) != str(challenger_mv.version)):
        set_champion(settings, str(challenger_mv.version), reason)
        reason += f"; champion -> v{challenger_mv.version}"
    elif not promoted:
        reason += "; champion unchanged"
    return Comparison(
        window_start=str(start.date()),
        window_end=str(end.date()),
        n_labelled=len(rows),
        metric=metric,
        challenger_version=str(challenger_mv.version),
        champion_version=None if champion_mv is None else str(champion_mv.version),
        challenger=new,
        champion=old,
        promoted=promoted,
        reason=reason,
    )
