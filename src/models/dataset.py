"""Labelled training data: declarations, their inspection outcomes and the time split.

Labels exist only where someone inspected: ``inspected`` marks the rows with an outcome, and
``fraud_found``, ``critical``, ``recovered_revenue`` are NaN elsewhere. The split is by the
declaration date: train, then validation (early stopping, tuning, model choice), then the newest
``test_days`` held out for evaluation and promotion.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from customs_risk.data.contracts import KEY


@dataclass(frozen=True)
class Labels:
    """Per declaration row: inspected flag and targets (NaN where not inspected)."""

    inspected: np.ndarray
    fraud: np.ndarray
    critical: np.ndarray
    revenue: np.ndarray
    channel: np.ndarray


@dataclass(frozen=True)
class Split:
    """Boolean row masks of the three time windows and their boundaries."""

    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    valid_start: pd.Timestamp
    test_start: pd.Timestamp

    def describe(self, declared_at: pd.Series) -> dict[str, str | int]:
        """Window bounds and row counts, for logging."""
        first, last = declared_at.min(), declared_at.max()
        return {
            "train_start": str(first),
            "valid_start": str(self.valid_start),
            "test_start": str(self.test_start),
            "data_end": str(last),
            "n_train": int(self.train.sum()),
            "n_valid": int(self.valid.sum()),
            "n_test": int(self.test.sum()),
        }


def load_training_data(data_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Declarations and outcomes of a dataset folder, coerced to the contracts, rejected rows
    dropped (``customs-risk validate`` reports them), sorted by declaration time."""
    from customs_risk.data.validation import load_valid_dataset

    decl, outcomes = load_valid_dataset(Path(data_dir))
    decl = decl.sort_values(["declared_at", *KEY], kind="stable").reset_index(drop=True)
    return decl, outcomes


def label_rows(declarations: pd.DataFrame, outcomes: pd.DataFrame) -> Labels:
    """Align the outcomes with the declaration rows (one outcome per item at most)."""
    merged = declarations[KEY].merge(
        outcomes[[*KEY, "channel", "fraud_found", "critical", "recovered_revenue"]],
        on=KEY,
        how="left",
        validate="one_to_one",
    )
    inspected = merged["channel"].notna().to_numpy()

    def as_float(column: str) -> np.ndarray:
        values = merged[column].astype("float64").to_numpy(na_value=np.nan)
        return np.where(inspected, values, np.nan)

    revenue = as_float("recovered_revenue")
    # a recorded finding without a revenue figure: count it as unknown, not zero
    return Labels(
        inspected=inspected,
        fraud=as_float("fraud_found"),
        critical=as_float("critical"),
        revenue=revenue,
        channel=merged["channel"].astype("str").to_numpy(),
    )


def time_split(declared_at: pd.Series, valid_days: int, test_days: int) -> Split:
    """Train / validation / test masks by whole days counted back from the newest day."""
    days = pd.to_datetime(declared_at).dt.normalize()
    last = days.max()
    test_start = last - pd.Timedelta(days=test_days - 1)
    valid_start = test_start - pd.Timedelta(days=valid_days)
    test = (days >= test_start).to_numpy()
    valid = ((days >= valid_start) & (days < test_start)).to_numpy()
    train = (days < valid_start).to_numpy()
    if not train.any() or not valid.any() or not test.any():
        raise ValueError(
            f"the data ({days.min().date()} to {last.date()}) is too short for "
            f"valid_days={valid_days} and test_days={test_days}"
        )
    return Split(train, valid, test, valid_start, test_start)
