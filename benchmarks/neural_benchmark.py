"""Neural model training speed: the tabular (or DATE) net on the inspected rows of a world.

Usage: python benchmarks/neural_benchmark.py [--declarations 1000000] [--seed 7] [--data DIR]
    [--kind tabular|date] [--max-epochs 20]
Generates a world in a temporary folder (or reads declarations/outcomes.parquet from --data),
featurises it, trains on the first 80% of the inspected rows by declaration time, validates on the
rest and prints rows, seconds per stage, epochs, validation AUC and peak RSS.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from customs_risk.data.contracts import DECLARATIONS_FILE, OUTCOMES_FILE
from customs_risk.data.generator import generate_world, write_world
from customs_risk.data.world_config import WorldConfig
from customs_risk.features.pipeline import FeaturePipeline
from customs_risk.models.neural import ID_COLUMNS, NeuralParams, fit_neural, roc_auc


def load_or_generate(data: Path | None, declarations: int, seed: int) -> tuple[pd.DataFrame, ...]:
    """Declarations and outcomes from ``data``, or from a fresh world written to a temp dir."""
    if data is None:
        world = generate_world(WorldConfig(), declarations, seed)
        with tempfile.TemporaryDirectory() as folder:
            write_world(world, Path(folder))  # as the CLI would; also checks the frames write
        return world.declarations, world.outcomes
    return pd.read_parquet(data / DECLARATIONS_FILE), pd.read_parquet(data / OUTCOMES_FILE)


def labelled_split(
    decls: pd.DataFrame, outcomes: pd.DataFrame, train_share: float = 0.8
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Offence flags, revenues and the train / valid positions (inspected rows, split by time)."""
    labels = decls[["declaration_id", "item_no"]].merge(
        outcomes[["declaration_id", "item_no", "fraud_found", "recovered_revenue"]],
        on=["declaration_id", "item_no"],
        how="left",
        validate="1:1",
    )
    inspected = np.flatnonzero(labels["fraud_found"].notna().to_numpy())
    by_time = inspected[np.argsort(decls["declared_at"].to_numpy()[inspected], kind="stable")]
    cut = int(train_share * len(by_time))
    offence = labels["fraud_found"].to_numpy(dtype=np.float64, na_value=np.nan)
    revenue = labels["recovered_revenue"].to_numpy(dtype=np.float64, na_value=np.nan)
    return offence, revenue, np.sort(by_time[:cut]), np.sort(by_time[cut:])


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--declarations", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--kind", choices=["tabular", "date"], default="tabular")
    parser.add_argument("--max-epochs", type=int, default=20)
    args = parser.parse_args()

    started = time.perf_counter()
    decls, outcomes = load_or_generate(args.data, args.declarations, args.seed)
    generated = time.perf_counter()
    features, _ = FeaturePipeline().fit_transform(decls, outcomes)
    features = features.reset_index(drop=True)
    ids = decls[list(ID_COLUMNS)].reset_index(drop=True)
    offence, revenue, train, valid = labelled_split(decls, outcomes)
    featurised = time.perf_counter()
    params = replace(NeuralParams(seed=args.seed), max_epochs=args.max_epochs)
    model = fit_neural(
        args.kind,
        features.iloc[train],
        ids.iloc[train],
        offence[train],
        revenue[train],
        features.iloc[valid],
        ids.iloc[valid],
        offence[valid],
        revenue[valid],
        params,
    )
    trained = time.perf_counter()
    probability, expected = model.predict(features, ids)
    predicted = time.perf_counter()
    valid_auc = roc_auc(offence[valid], probability[valid])

    print(f"kind               {args.kind}")
    print(f"declarations       {len(decls):,}  features {features.shape[1]}")
    print(f"train / valid rows {len(train):,} / {len(valid):,}")
    print(f"generate seconds   {generated - started:.1f}")
    print(f"features seconds   {featurised - generated:.1f}")
    print(f"train seconds      {trained - featurised:.1f}  epochs {len(model.history)}")
    print(f"predict seconds    {predicted - trained:.2f}  ({len(features):,} rows)")
    print(
        f"valid AUC          {valid_auc:.4f}  best epoch AUC "
        f"{max(h['valid_auc'] for h in model.history):.4f}"
    )
    print(
        f"revenue valid mean {expected[valid].mean():.1f} predicted vs "
        f"{np.nanmean(revenue[valid]):.1f} recovered"
    )
    print(f"peak RSS GiB       {peak_rss_gib():.2f}")


if __name__ == "__main__":
    main()
