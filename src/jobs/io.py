"""Reading dataset folders for the commands."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from customs_risk.data.contracts import DECLARATIONS_FILE, OUTCOMES_FILE


def read_dataset(data_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Declarations and (when present) outcomes of a dataset folder."""
    data_dir = Path(data_dir)
    declarations_path = data_dir / DECLARATIONS_FILE
    if not declarations_path.exists():
        raise FileNotFoundError(f"{declarations_path} not found")
    outcomes_path = data_dir / OUTCOMES_FILE
    outcomes = pd.read_parquet(outcomes_path) if outcomes_path.exists() else None
    return pd.read_parquet(declarations_path), outcomes


def read_declarations(path: Path) -> pd.DataFrame:
    """A dataset folder (declarations.parquet) or a parquet file."""
    path = Path(path)
    file = path / DECLARATIONS_FILE if path.is_dir() else path
    if not file.exists():
        raise FileNotFoundError(f"no {file}")
    return pd.read_parquet(file)
