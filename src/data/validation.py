"""Validate a dataset folder against the contracts; report every violation and quarantine bad rows.

Each violation names the file, the column, the row (0-based position in the file) and the reason.
Outcomes are checked field by field, against the rules across their fields (the ones the store
applies, ``contracts.outcome_rule_masks``) and against the declarations (known, declared before).
Rejected rows are written to ``DIR/quarantine.parquet`` (source file, row, key, reason and the
original record as JSON); the input files are never modified.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandera.errors as pa_errors
import pandera.pandas as pa

from customs_risk.data import coercion
from customs_risk.data.contracts import (
    DECLARATION,
    DECLARATIONS_FILE,
    KEY,
    OUTCOME,
    OUTCOME_COLUMNS,
    OUTCOMES_FILE,
    QUARANTINE_FILE,
    DeclarationSchema,
    OutcomeSchema,
    RecordSpec,
    outcome_link_masks,
    outcome_rule_masks,
)

VIOLATION_COLUMNS = ["file", "column", "row", "declaration_id", "item_no", "reason", "value"]


@dataclass
class ValidationReport:
    """All violations found in a dataset folder and the rows they reject."""

    violations: pd.DataFrame
    n_rows: dict[str, int]

    @property
    def ok(self) -> bool:
        return self.violations.empty

    def rejected_rows(self, file: str) -> np.ndarray:
        """Positions of the rejected rows of one file."""
        rows = self.violations.loc[self.violations["file"] == file, "row"]
        return np.unique(rows.to_numpy(dtype=np.int64))


class _Collector:
    """Accumulates violations as column-wise arrays (fast for millions of rows)."""

    def __init__(self) -> None:
        self.parts: list[pd.DataFrame] = []

    def add(
        self,
        file: str,
        column: str,
        positions: np.ndarray | Sequence[int],
        frame: pd.DataFrame,
        reason: str,
        values: Sequence[Any] | pd.Series | None = None,
    ) -> None:
        rows = np.asarray(positions, dtype=np.int64)
        if rows.size == 0:
            return
        key_id = frame.get("declaration_id")
        key_item = frame.get("item_no")
        if values is None:
            values = frame[column].iloc[rows] if column in frame else [None] * rows.size
        self.parts.append(
            pd.DataFrame(
                {
                    "file": file,
                    "column": column,
                    "row": rows,
                    "declaration_id": (
                        key_id.iloc[rows].astype("str").to_numpy() if key_id is not None else None
                    ),
                    "item_no": key_item.iloc[rows].astype("str").to_numpy()
                    if key_item is not None
                    else None,
                    "reason": reason,
                    "value": pd.Series(np.asarray(values, dtype=object)).astype("str").to_numpy(),
                }
            )
        )

    def frame(self) -> pd.DataFrame:
        if not self.parts:
            return pd.DataFrame({c: pd.Series(dtype="str") for c in VIOLATION_COLUMNS}).astype(
                {"row": "int64"}
            )
        return pd.concat(self.parts, ignore_index=True).sort_values(["file", "row"], kind="stable")


def _coerce(frame: pd.DataFrame, spec: RecordSpec, file: str, out: _Collector) -> pd.DataFrame:
    """Coerce each field of the record kind to its type; values that break the type (the one rule
    of ``customs_risk.data.coercion`` for booleans and numbers) are violations. An optional field
    the frame lacks is added as nulls (categorical fields excepted)."""
    frame = frame.copy()
    n = len(frame)
    for f in spec.fields:
        column = f.name
        if column not in frame:
            if not f.required and not f.categorical:
                frame[column] = pd.Series([None] * n, dtype=_NULL_DTYPES[f.kind])
            continue
        raw = frame[column]
        present = raw.notna().to_numpy()
        if f.kind == "str":
            frame[column] = raw.astype("str").where(raw.notna(), None).astype("str")
            frame.loc[~present, column] = None
        elif f.kind == "int":
            bad = coercion.not_integer(raw)
            out.add(file, column, np.flatnonzero(bad), frame, f"not an integer ({raw.dtype})")
            out.add(file, column, np.flatnonzero(~present), frame, "missing value")
            frame[column] = coercion.to_int(_without(raw, bad))
        elif f.kind == "float":
            bad = coercion.not_number(raw)
            out.add(file, column, np.flatnonzero(bad), frame, f"not a number ({raw.dtype})")
            frame[column] = coercion.to_float(_without(raw, bad))
        elif f.kind == "timestamp":
            coerced = pd.to_datetime(raw, errors="coerce")
            bad = present & coerced.isna().to_numpy()
            out.add(file, column, np.flatnonzero(bad), frame, f"not a timestamp ({raw.dtype})")
            frame[column] = coerced
        elif f.kind == "bool":
            bad = coercion.not_boolean(raw)
            out.add(file, column, np.flatnonzero(bad), frame, f"not a boolean ({raw.dtype})")
            out.add(file, column, np.flatnonzero(~present), frame, "missing value")
            frame[column] = coercion.to_boolean(_without(raw, bad))
    return frame


_NULL_DTYPES: dict[str, str] = {
    "str": "str",
    "int": "float64",
    "float": "float64",
    "bool": "object",
    "timestamp": "datetime64[ns]",
    "list": "object",
}


def _without(values: pd.Series, bad: np.ndarray) -> pd.Series:
    """``values`` with the rejected positions missing."""
    return values.mask(bad) if bad.any() else values


def _check_schema(
    frame: pd.DataFrame, schema: pa.DataFrameSchema, file: str, out: _Collector, skip: set[int]
) -> None:
    """Run a pandera model lazily and turn its failure cases into row-level violations."""
    try:
        schema.validate(frame, lazy=True)
    except pa_errors.SchemaErrors as errors:
        cases = errors.failure_cases
        for (column, check), group in cases.groupby(["column", "check"], dropna=False, sort=False):
            rows = group["index"].dropna().astype("int64").to_numpy()
            rows = rows[~np.isin(rows, list(skip))] if skip else rows
            reason = "missing value" if str(check) == "not_nullable" else f"fails check {check}"
            if rows.size:
                out.add(file, str(column), rows, frame, reason)


def _check_missing_columns(
    frame: pd.DataFrame, spec: RecordSpec, file: str, out: _Collector
) -> list[str]:
    missing = [f.name for f in spec.fields if f.required and f.name not in frame.columns]
    for column in missing:
        rows = np.arange(len(frame))
        out.add(file, column, rows, frame, "required column is missing", [None] * len(frame))
    return missing


def _duplicate_rows(frame: pd.DataFrame, file: str, out: _Collector) -> None:
    if not set(KEY) <= set(frame.columns):
        return
    dup = frame.duplicated(KEY, keep="first").to_numpy()
    out.add(
        file,
        "declaration_id",
        np.flatnonzero(dup),
        frame,
        "duplicate key (declaration_id, item_no)",
    )


def validate_frames(
    declarations: pd.DataFrame, outcomes: pd.DataFrame | None = None
) -> tuple[ValidationReport, pd.DataFrame, pd.DataFrame | None]:
    """Validate declarations (and outcomes); return the report and the coerced frames."""
    out = _Collector()
    declarations = declarations.reset_index(drop=True)
    missing = _check_missing_columns(declarations, DECLARATION, DECLARATIONS_FILE, out)
    decl = _coerce(declarations, DECLARATION, DECLARATIONS_FILE, out)
    if not missing:
        _check_schema(decl, DeclarationSchema, DECLARATIONS_FILE, out, set())
    _duplicate_rows(decl, DECLARATIONS_FILE, out)
    n_rows = {DECLARATIONS_FILE: len(decl)}
    outc = None
    if outcomes is not None:
        outcomes = outcomes.reset_index(drop=True)
        missing_o = _check_missing_columns(outcomes, OUTCOME, OUTCOMES_FILE, out)
        outc = _coerce(outcomes, OUTCOME, OUTCOMES_FILE, out)
        if not missing_o:
            _check_schema(outc, OutcomeSchema, OUTCOMES_FILE, out, set())
            _check_outcome_rules(outc, out)
        _duplicate_rows(outc, OUTCOMES_FILE, out)
        n_rows[OUTCOMES_FILE] = len(outc)
        if not missing and not missing_o:
            _check_outcome_links(decl, outc, out)
    return ValidationReport(out.frame(), n_rows), decl, outc


def _check_outcome_rules(outc: pd.DataFrame, out: _Collector) -> None:
    """The rules across an outcome's fields (``contracts.outcome_rule_masks``, the ones the
    store and ``POST /outcomes`` apply)."""
    for column, reason, rows in outcome_rule_masks(outc):
        out.add(OUTCOMES_FILE, column, np.flatnonzero(rows), outc, reason)


def _check_outcome_links(decl: pd.DataFrame, outc: pd.DataFrame, out: _Collector) -> None:
    """Outcomes must belong to a known declaration (or name their source) and come after it
    (``contracts.outcome_link_masks``, the rules the store applies against its decisions)."""
    for column, reason, rows in outcome_link_masks(
        outc, decl, "outcome for an unknown declaration"
    ):
        out.add(OUTCOMES_FILE, column, np.flatnonzero(rows), outc, reason)


def _quarantine_frame(report: ValidationReport, frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    parts = []
    v = report.violations
    for file, frame in frames.items():
        fv = v[v["file"] == file]
        if fv.empty:
            continue
        reasons = (
            fv.assign(text=fv["column"] + ": " + fv["reason"]).groupby("row")["text"].agg("; ".join)
        )
        rows = reasons.index.to_numpy(dtype=np.int64)
        records = frame.iloc[rows].astype("str").to_dict(orient="records")
        parts.append(
            pd.DataFrame(
                {
                    "source_file": file,
                    "row": rows,
                    "declaration_id": frame["declaration_id"].iloc[rows].astype("str").to_numpy()
                    if "declaration_id" in frame
                    else None,
                    "reason": reasons.to_numpy(),
                    "record": [json.dumps(r, default=str) for r in records],
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def validate_dataset(data_dir: Path) -> ValidationReport:
    """Validate ``data_dir``; write ``quarantine.parquet`` if rows are rejected, else remove it."""
    data_dir = Path(data_dir)
    decl_path = data_dir / DECLARATIONS_FILE
    if not decl_path.exists():
        raise FileNotFoundError(
            f"{decl_path} not found: a dataset folder needs {DECLARATIONS_FILE}"
        )
    raw = {DECLARATIONS_FILE: pd.read_parquet(decl_path)}
    outcomes_path = data_dir / OUTCOMES_FILE
    if outcomes_path.exists():
        raw[OUTCOMES_FILE] = pd.read_parquet(outcomes_path)
    report, _, _ = validate_frames(raw[DECLARATIONS_FILE], raw.get(OUTCOMES_FILE))
    quarantine_path = data_dir / QUARANTINE_FILE
    if report.ok:
        quarantine_path.unlink(missing_ok=True)
    else:
        _quarantine_frame(report, raw).to_parquet(quarantine_path, index=False)
    return report


def load_valid_dataset(data_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read a dataset folder, coerce it to the contracts and drop the rows validation rejects."""
    data_dir = Path(data_dir)
    decl = pd.read_parquet(data_dir / DECLARATIONS_FILE)
    outcomes_path = data_dir / OUTCOMES_FILE
    outc = pd.read_parquet(outcomes_path) if outcomes_path.exists() else None
    report, decl, outc = validate_frames(decl, outc)
    decl = decl.drop(index=decl.index[report.rejected_rows(DECLARATIONS_FILE)])
    if outc is None:
        outc = pd.DataFrame({c: pd.Series(dtype="object") for c in OUTCOME_COLUMNS})
    else:
        outc = outc.drop(index=outc.index[report.rejected_rows(OUTCOMES_FILE)])
    return decl.reset_index(drop=True), outc.reset_index(drop=True)
