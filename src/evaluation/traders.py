"""The trader register: every importer's compliance grade at a date, the migration of grades
between two dates, and what each grade was worth afterwards (the offence rate found in the green
channel among the grade's later items, from the random control, with exact intervals).

Grades come from the one rule of ``features.grades`` (point in time: a grade at a date sees only
what was known before it). The later offence rate is the compliance estimate of
``evaluation.compliance`` with the grade at ``as_of`` as the unit, over the items declared in the
``horizon_days`` after it: honest where the inspected items alone are not (the grades raise the
inspections of C and D, and inspected items are not a sample of anything).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from customs_risk.evaluation.compliance import ComplianceSettings, compliance
from customs_risk.features.grades import GRADES, grade_importers
from customs_risk.models.control_estimates import ControlSample, control_sample

NEW = "new"  # an importer not known at the first date
OUTSIDE = "outside"  # items declared outside the window after as_of


@dataclass(frozen=True)
class TraderRegister:
    """The register at ``as_of``, the migration to ``to``, the grades' later outcomes."""

    register: pd.DataFrame  # importer_id, grade, label, reasons, figures (grades.grade_frame)
    migration: pd.DataFrame  # grade at as_of (rows, NEW included) x grade at to (columns)
    outcomes: pd.DataFrame  # per grade: items, offence rate found in green with its interval
    sample: str  # where the control sample came from


def _stamp(value: Any) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo is not None else stamp


def migration_matrix(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    """Importers counted by grade at the first date (``NEW`` when unknown then) and at the
    second."""
    joined = after[["importer_id", "grade"]].merge(
        before[["importer_id", "grade"]], on="importer_id", how="left", suffixes=("_to", "_from")
    )
    start = joined["grade_from"].astype("object").fillna(NEW)
    matrix = pd.crosstab(start, joined["grade_to"].astype("object"))
    return matrix.reindex(index=[*GRADES, NEW], columns=list(GRADES), fill_value=0)


def trader_register(
    data_dir: Path,
    as_of: Any,
    to: Any,
    horizon_days: int = 90,
    settings: ComplianceSettings | None = None,
) -> TraderRegister:
    """The register of a dataset folder (raises ValueError when ``to`` precedes ``as_of``)."""
    from customs_risk.models.dataset import load_training_data

    declarations, outcomes = load_training_data(Path(data_dir))
    sample = control_sample(Path(data_dir), declarations)
    return register_of(declarations, outcomes, sample, as_of, to, horizon_days, settings)


def register_of(
    declarations: pd.DataFrame,
    outcomes: pd.DataFrame,
    sample: ControlSample | None,
    as_of: Any,
    to: Any,
    horizon_days: int = 90,
    settings: ComplianceSettings | None = None,
) -> TraderRegister:
    """The register from frames (``sample`` aligned with the declaration rows, None: no later
    offence rates)."""
    start, end = _stamp(as_of), _stamp(to)
    if end < start:
        raise ValueError(f"--to {end} precedes --as-of {start}")
    register = grade_importers((declarations, outcomes), start)
    later = grade_importers((declarations, outcomes), end)
    matrix = migration_matrix(register, later)
    window = (declarations["declared_at"] >= start) & (
        declarations["declared_at"] < start + pd.Timedelta(days=horizon_days)
    )
    grade_of = dict(zip(register["importer_id"], register["grade"].astype("object"), strict=True))
    grade = declarations["importer_id"].map(grade_of).astype("object").fillna(NEW).to_numpy()
    unit = np.where(window.to_numpy(), grade, OUTSIDE).astype(object)
    if sample is None:
        table = pd.DataFrame(columns=["grade", "offence_rate", "ci_low", "ci_high", "n_control"])
        source = "no control sample: later offence rates not estimated"
    else:
        cells = compliance(declarations, outcomes, sample, {"grade": unit}, settings)
        table = cells[cells["unit"] != OUTSIDE].rename(columns={"unit": "grade"})
        table = table.drop(columns=["level", "n_green"])
        source = sample.source
    in_window = pd.Series(unit[window.to_numpy()])
    items = in_window.value_counts().rename("items")
    outcome = table.merge(items, left_on="grade", right_index=True, how="right")
    outcome = outcome.rename_axis(None).reset_index(drop=True)
    order = {g: i for i, g in enumerate([*GRADES, NEW])}
    outcome = outcome.sort_values("grade", key=lambda s: s.map(order)).reset_index(drop=True)
    return TraderRegister(register, matrix, outcome, source)
