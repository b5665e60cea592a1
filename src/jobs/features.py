"""``customs-risk features``: the point-in-time training matrix of a dataset folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

KEY_COLUMNS = ["declaration_id", "item_no", "declared_at"]


@dataclass(frozen=True)
class FeaturesOptions:
    """Inputs of ``customs-risk features``."""

    data_dir: Path
    out: Path = Path("data/processed/features.parquet")
    state: Path | None = None  # also save the feature state here


def run(options: FeaturesOptions) -> int:
    """Fit the pipeline on the folder, write keys + features to ``out`` (parquet); exit code."""
    import time

    import pandas as pd
    from rich.console import Console

    from customs_risk.features.pipeline import FeaturePipeline
    from customs_risk.jobs.io import read_dataset

    console = Console(stderr=True)
    try:
        declarations, outcomes = read_dataset(options.data_dir)
    except FileNotFoundError as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 2
    start = time.perf_counter()
    pipeline = FeaturePipeline()
    features, state = pipeline.fit_transform(declarations, outcomes)
    matrix = pd.concat(
        [declarations[KEY_COLUMNS].reset_index(drop=True), features.reset_index(drop=True)], axis=1
    )
    out = Path(options.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    matrix.to_parquet(out, index=False)
    if options.state is not None:
        state.save(options.state)
    console.print(
        f"{len(matrix):,} rows x {len(state.numeric_columns)} numeric + "
        f"{len(state.categorical_columns)} categorical features -> {out} "
        f"({time.perf_counter() - start:.1f} s)"
    )
    return 0
