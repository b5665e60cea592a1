"""The two levels of the reports: offices belong to districts, districts to headquarters.

The mapping is ``districts.parquet`` (office_id, district_id) in the dataset folder; the generator
writes one. Offices it does not name, and every office of a folder without it, fall in the
district :data:`UNASSIGNED`, so a report always adds up at each level.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from customs_risk.data.contracts import DISTRICT_COLUMNS, DISTRICTS_FILE

HEADQUARTERS = "HQ"
UNASSIGNED = "UNASSIGNED"
LEVELS: tuple[str, ...] = ("headquarters", "district", "office")


def read_districts(folder: Path) -> pd.DataFrame | None:
    """The folder's office -> district mapping; None without the file. Refuses a file without
    the two columns or naming an office twice (the office is named)."""
    path = Path(folder) / DISTRICTS_FILE
    if not path.exists():
        return None
    frame = pd.read_parquet(path)
    missing = [c for c in DISTRICT_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: no column {', '.join(missing)}")
    frame = frame[list(DISTRICT_COLUMNS)].astype("str")
    twice = frame["office_id"][frame["office_id"].duplicated()]
    if len(twice):
        raise ValueError(f"{path}: office_id {twice.iloc[0]!r} is in more than one district")
    return frame.reset_index(drop=True)


def district_of(office_ids: pd.Series | np.ndarray, districts: pd.DataFrame | None) -> np.ndarray:
    """The district of each office (``UNASSIGNED`` where the mapping does not name it)."""
    offices = pd.Series(np.asarray(office_ids, dtype=object)).astype("str")
    if districts is None or districts.empty:
        return np.full(len(offices), UNASSIGNED, dtype=object)
    lookup = dict(zip(districts["office_id"], districts["district_id"], strict=True))
    return offices.map(lookup).fillna(UNASSIGNED).to_numpy(dtype=object)


def with_levels(frame: pd.DataFrame, districts: pd.DataFrame | None) -> pd.DataFrame:
    """``frame`` (with office_id) and its ``district_id`` and ``headquarters`` columns."""
    return frame.assign(
        district_id=district_of(frame["office_id"], districts), headquarters=HEADQUARTERS
    )


def level_column(level: str) -> str:
    """The column a level's units are named by."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}, got {level!r}")
    return {"headquarters": "headquarters", "district": "district_id", "office": "office_id"}[level]
