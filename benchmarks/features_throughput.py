"""Training-path throughput: fit + point-in-time transform of a whole generated world.

    python benchmarks/features_throughput.py --declarations 1000000           # target 60 s
    python benchmarks/features_throughput.py --declarations 5000000 --limit-s 300 --limit-gib 8

Prints load, fit and transform times, rows per second and the peak memory of the process
(the loaded frames included; the world is generated in a child process and cached).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
from features_common import numpy_call_us, peak_rss_gib, world_dir

from customs_risk.features.pipeline import FeaturePipeline


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--declarations", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--data", type=Path, default=None, help="dataset folder instead")
    parser.add_argument("--limit-s", type=float, default=60.0)
    parser.add_argument("--limit-gib", type=float, default=8.0)
    args = parser.parse_args()
    folder = world_dir(args.declarations, args.seed, args.data)
    start = time.perf_counter()
    declarations = pd.read_parquet(folder / "declarations.parquet")
    outcomes = pd.read_parquet(folder / "outcomes.parquet")
    load_s = time.perf_counter() - start
    loaded_gib = peak_rss_gib()
    pipeline = FeaturePipeline()
    start = time.perf_counter()
    state = pipeline.fit(declarations, outcomes)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    features = pipeline.transform(declarations, outcomes=outcomes)
    transform_s = time.perf_counter() - start
    total = fit_s + transform_s
    peak = peak_rss_gib()
    rows = len(features)
    print(f"rows                 {rows:,} x {features.shape[1]} features")
    print(f"numpy call           {numpy_call_us():.2f} us (machine yardstick)")
    print(f"load                 {load_s:.1f} s ({loaded_gib:.2f} GiB after loading)")
    print(f"fit                  {fit_s:.1f} s")
    print(f"transform            {transform_s:.1f} s")
    print(
        f"fit + transform      {total:.1f} s  ({rows / total:,.0f} rows/s), "
        f"limit {args.limit_s:g} s"
    )
    print(f"peak memory          {peak:.2f} GiB, limit {args.limit_gib:g} GiB")
    print(f"pending outcomes     {state.n_pending:,}")
    ok = total <= args.limit_s and peak <= args.limit_gib
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
