"""The ``customs-risk features`` command: the point-in-time training matrix of a dataset folder."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from customs_risk.data.contracts import DECLARATIONS_FILE, OUTCOMES_FILE

KEY_COLUMNS = ["declaration_id", "item_no", "declared_at"]


def read_dataset(data_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Declarations and (when present) outcomes of a dataset folder."""
    data_dir = Path(data_dir)
    declarations_path = data_dir / DECLARATIONS_FILE
    if not declarations_path.exists():
        raise FileNotFoundError(f"{declarations_path} not found")
    outcomes_path = data_dir / OUTCOMES_FILE
    outcomes = pd.read_parquet(outcomes_path) if outcomes_path.exists() else None
    return pd.read_parquet(declarations_path), outcomes


def run_features_command(data_dir: Path, out: Path, state_dir: Path | None = None) -> int:
    """Fit the pipeline on the folder, write keys + features to ``out`` (parquet); exit code."""
    from rich.console import Console

    from customs_risk.features.pipeline import FeaturePipeline

    console = Console(stderr=True)
    try:
        declarations, outcomes = read_dataset(data_dir)
    except FileNotFoundError as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 2
    start = time.perf_counter()
    pipeline = FeaturePipeline()
    features, state = pipeline.fit_transform(declarations, outcomes)
    matrix = pd.concat(
        [declarations[KEY_COLUMNS].reset_index(drop=True), features.reset_index(drop=True)], axis=1
    )
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    matrix.to_parquet(out, index=False)
    if state_dir is not None:
        state.save(state_dir)
    console.print(
        f"{len(matrix):,} rows x {len(state.numeric_columns)} numeric + "
        f"{len(state.categorical_columns)} categorical features -> {out} "
        f"({time.perf_counter() - start:.1f} s)"
    )
    return 0
