"""The daily threshold refresh for the served model (``customs-risk thresholds refresh``).

Scores the last ``window_days`` of declarations with the registered model (each item on its own,
as the endpoint does), reads from the decision store what each office has selected since the start
of the capacity period, and recalibrates per-office thresholds so that the period's red and orange
shares come back to the policy's targets (``selection.thresholds.refresh_thresholds``). The result
is written atomically where the service reads it (``CUSTOMS_RISK_SERVE_THRESHOLDS``).
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from customs_risk.data.contracts import DECLARATIONS_FILE
from customs_risk.models.tracking import MlflowSettings, configure, load_registered
from customs_risk.selection.profiles import ProfileSet
from customs_risk.selection.thresholds import Thresholds, refresh_thresholds
from customs_risk.serving.store import Store


@dataclass(frozen=True)
class RefreshResult:
    """The new thresholds and what they were computed from."""

    thresholds: Thresholds
    model_version: str
    rows: int
    decided_rows: int
    period_start: dt.date
    as_of: dt.date


def read_declarations(path: Path) -> pd.DataFrame:
    """A declarations parquet file, or the one in a dataset folder."""
    file = path / DECLARATIONS_FILE if path.is_dir() else path
    if not file.exists():
        raise FileNotFoundError(f"{file}: no declarations file")
    return pd.read_parquet(file)


def period_decisions(store: Store, start: dt.date, end: dt.date) -> pd.DataFrame:
    """office_id and channel of the decisions taken from ``start`` up to (not incl.) ``end``."""
    frame = store.decisions_frame(
        since=dt.datetime.combine(start, dt.time()), until=dt.datetime.combine(end, dt.time())
    )
    frame = frame[frame["office_id"].notna()]
    return frame[["office_id", "channel"]].reset_index(drop=True)


def refresh_served_thresholds(
    declarations: pd.DataFrame,
    store: Store,
    mlflow_settings: MlflowSettings,
    *,
    alias: str = "champion",
    profiles: ProfileSet | None = None,
    as_of: dt.date | None = None,
    period_start: dt.date | None = None,
    window_days: float = 28.0,
    horizon_days: float = 3.0,
) -> RefreshResult:
    """Thresholds for the day ``as_of`` (default: the day after the newest declaration)."""
    stamps = pd.to_datetime(declarations["declared_at"])
    if as_of is None:
        as_of = (stamps.max() + pd.Timedelta(days=1)).date()
    start = pd.Timestamp(as_of) - pd.Timedelta(days=window_days)
    recent = declarations[((stamps >= start) & (stamps < pd.Timestamp(as_of))).to_numpy()]
    if recent.empty:
        raise ValueError(f"no declarations in the {window_days:g} days before {as_of}")
    recent = recent.reset_index(drop=True)
    model = load_registered(configure(mlflow_settings), alias=alias)
    scores = model.score(recent)
    period_start = period_start or as_of.replace(day=1)
    decided = period_decisions(store, period_start, as_of)
    thresholds = refresh_thresholds(
        scores,
        recent,
        model.policy,
        profiles,
        as_of,
        window_days=window_days,
        decided=decided,
        horizon_days=horizon_days,
    )
    return RefreshResult(thresholds, model.version, len(recent), len(decided), period_start, as_of)


def write_atomically(thresholds: Thresholds, out: Path) -> None:
    """Write next to ``out`` and rename: the service never reads a half-written file."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    thresholds.save(tmp)
    os.replace(tmp, out)
