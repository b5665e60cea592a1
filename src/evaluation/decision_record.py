"""The decision record behind a dataset's outcomes, per declaration row: the channel decided,
what selected it (a stratum of the law-enforcement evaluation) and its place in the random
control (``models.control_estimates``).

Sources, as for the control sample: ``decisions.parquet`` where the folder has one (a store
export: ``channel``, ``selected_by`` and the recorded propensities, an item's latest decision);
else a generated world's legacy record (``truth.parquet``, its ``legacy_channel`` and
``legacy_rule`` columns only: the decisions, never the truth); else nothing (every figure that
needs the record is then missing, not guessed).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from customs_risk.data.contracts import DECISIONS_FILE, KEY, TRUTH_FILE
from customs_risk.models.control_estimates import ControlSample, control_sample

UNKNOWN = "unknown"


@dataclass(frozen=True)
class DecisionRecord:
    """Per declaration row (in the order given): ``channel`` decided (null: not recorded; in a
    world's record the channel applied), ``selection`` (what selected it: ``selected_by`` or
    the legacy rule; ``unknown``), ``propensity`` of its inspection (NaN outside the control
    sample); ``source`` says where it comes from."""

    channel: np.ndarray
    selection: np.ndarray
    propensity: np.ndarray
    source: str

    @property
    def control(self) -> np.ndarray:
        """Rows only the random draw could send to inspection (propensity below 1)."""
        p = self.propensity
        return np.isfinite(p) & (p > 0) & (p < 1)

    @property
    def targeted(self) -> np.ndarray:
        """Rows a rule, profile or the model sent to inspection for certain (propensity 1)."""
        return np.isfinite(self.propensity) & (self.propensity >= 1)

    @property
    def weight(self) -> np.ndarray:
        """1 / propensity in the sample, 0 outside it."""
        p = self.propensity
        ok = np.isfinite(p) & (p > 0)
        return np.where(ok, 1.0 / np.where(ok, p, 1.0), 0.0)

    @classmethod
    def empty(cls, n: int) -> DecisionRecord:
        """No record of ``n`` rows."""
        return cls(
            np.full(n, None, dtype=object),
            np.full(n, UNKNOWN, dtype=object),
            np.full(n, np.nan),
            "no decision record",
        )


def _aligned(declarations: pd.DataFrame, frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    left = declarations[KEY].astype({"declaration_id": "str", "item_no": "int64"})
    right = frame[[*KEY, *columns]].astype({"declaration_id": "str", "item_no": "int64"})
    right = right.drop_duplicates(KEY, keep="last")  # an item decided again: its latest decision
    return left.merge(right, on=KEY, how="left", validate="one_to_one")


def read_decision_record(
    folder: Path, declarations: pd.DataFrame, sample: ControlSample | None = None
) -> DecisionRecord:
    """The record of a dataset folder aligned with ``declarations`` (``sample``: their control
    sample when the caller has it, else read here)."""
    folder = Path(folder)
    if sample is None:
        sample = control_sample(folder, declarations)
    propensity = sample.propensity if sample is not None else np.full(len(declarations), np.nan)
    decisions = folder / DECISIONS_FILE
    if decisions.exists():
        frame = pd.read_parquet(decisions)
        if "selected_by" not in frame.columns:
            frame = frame.assign(selected_by=None)
        rows = _aligned(declarations, frame, ["channel", "selected_by"])
        channel, selection = rows["channel"], rows["selected_by"]
        source = f"{DECISIONS_FILE}: the channels decided, selected_by, recorded propensities"
    elif (folder / TRUTH_FILE).exists():
        frame = pd.read_parquet(
            folder / TRUTH_FILE, columns=[*KEY, "legacy_channel", "legacy_rule"]
        )
        rows = _aligned(declarations, frame, ["legacy_channel", "legacy_rule"])
        channel, selection = rows["legacy_channel"], rows["legacy_rule"]
        source = "legacy record of a generated world: its channels and rules (not its truth)"
    else:
        return DecisionRecord.empty(len(declarations))
    return DecisionRecord(
        channel.astype("object").where(channel.notna(), None).to_numpy(dtype=object),
        selection.astype("object").fillna(UNKNOWN).to_numpy(dtype=object),
        propensity,
        source,
    )
