"""The world a simulation replays: declarations (what the strategy sees), the world's own
outcomes before the start (the history) and the truth (only the loop and the report read it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from customs_risk.data.contracts import KEY, TRUTH_FILE
from customs_risk.data.world_config import WorldConfig, load_world_config

TRUTH_COLUMNS = ("is_offence", "fraud_type", "true_revenue", "critical", "route", "regime")
LEGACY_COLUMNS = ("legacy_channel", "selected_by_legacy")


class WorldError(ValueError):
    """A world folder that cannot be simulated (missing files or columns)."""


@dataclass(frozen=True)
class Truth:
    """Per declaration row (aligned with ``SimWorld.declarations``): the ground truth."""

    offence: np.ndarray
    fraud_type: np.ndarray  # str, "none" where no offence
    revenue: np.ndarray
    critical: np.ndarray
    hub: np.ndarray  # the regime's new pattern: offences routed through the new hub

    def take(self, rows: np.ndarray) -> Truth:
        return Truth(*(getattr(self, f)[rows] for f in self.__dataclass_fields__))


@dataclass(frozen=True)
class SimWorld:
    """Declarations sorted by time, their times (ns), history outcomes, truth and config."""

    declarations: pd.DataFrame
    times: np.ndarray
    outcomes: pd.DataFrame
    truth: Truth
    legacy_channel: np.ndarray  # the world's own policy per row: red / orange / green
    config: WorldConfig

    @property
    def regime_start(self) -> pd.Timestamp:
        return pd.Timestamp(self.config.regime.date)


def load_world(directory: Path, params: Path | None = None) -> SimWorld:
    """Read a generated world folder; ``params``: the params.yaml whose ``world:`` section made
    it (its detection rates and delays), defaults without one."""
    from customs_risk.models.dataset import load_training_data

    directory = Path(directory)
    if not (directory / TRUTH_FILE).is_file():
        raise WorldError(f"{directory}: no {TRUTH_FILE} (a generated world is needed)")
    declarations, outcomes = load_training_data(directory)
    truth = pd.read_parquet(directory / TRUTH_FILE)
    missing = [c for c in (*KEY, *TRUTH_COLUMNS, *LEGACY_COLUMNS) if c not in truth.columns]
    if missing:
        raise WorldError(f"{directory / TRUTH_FILE}: no column {missing[0]!r}")
    aligned = declarations[KEY].merge(
        truth[[*KEY, *TRUTH_COLUMNS, *LEGACY_COLUMNS]], on=KEY, how="left", validate="one_to_one"
    )
    if aligned["is_offence"].isna().any():
        raise WorldError(f"{directory / TRUTH_FILE}: declarations without truth rows")
    offence = aligned["is_offence"].to_numpy(dtype=bool)
    return SimWorld(
        declarations=declarations,
        times=declarations["declared_at"].to_numpy("datetime64[ns]").astype(np.int64),
        outcomes=outcomes,
        truth=Truth(
            offence=offence,
            fraud_type=aligned["fraud_type"].astype("str").to_numpy(),
            revenue=aligned["true_revenue"].to_numpy(dtype=np.float64, na_value=0.0),
            critical=aligned["critical"].to_numpy(dtype=bool),
            hub=offence & (aligned["route"].astype("str").to_numpy() == "hub"),
        ),
        legacy_channel=aligned["legacy_channel"].astype("str").to_numpy(),
        config=load_world_config(params),
    )
