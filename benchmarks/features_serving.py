"""Serving-path latency: features of 1 and of 1,000 new declarations against a saved state.

    python benchmarks/features_serving.py --declarations 1000000

The state is fitted on every day but the last of a generated world, saved, loaded back and
warmed (lookup structures built); the last day's declarations are then served. Targets: 1 row in
at most 1 ms, 1,000 rows in at most 20 ms (medians).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from features_common import numpy_call_us, world_dir

from customs_risk.features.encoding import NS_PER_DAY, to_ns
from customs_risk.features.pipeline import FeaturePipeline
from customs_risk.features.state import FeatureState


def _timings(call: Callable[[int], object], repeats: int) -> np.ndarray:
    for i in range(min(repeats, 50)):
        call(i)
    out = np.empty(repeats)
    for i in range(repeats):
        start = time.perf_counter()
        call(i)
        out[i] = time.perf_counter() - start
    return out * 1e3


def _report(name: str, ms: np.ndarray, limit: float) -> bool:
    median = float(np.median(ms))
    print(
        f"{name:<34} median {median:7.3f} ms  p90 {np.percentile(ms, 90):7.3f}  "
        f"p99 {np.percentile(ms, 99):7.3f}  (limit {limit:g} ms)"
    )
    return median <= limit


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--declarations", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--repeats", type=int, default=2000)
    args = parser.parse_args()
    folder = world_dir(args.declarations, args.seed, args.data)
    declarations = pd.read_parquet(folder / "declarations.parquet")
    outcomes = pd.read_parquet(folder / "outcomes.parquet")
    t = to_ns(declarations["declared_at"])
    last_day = pd.Timestamp(int(t.max()) // NS_PER_DAY * NS_PER_DAY)
    past = declarations[t < last_day.value]
    batch = declarations[t >= last_day.value].sort_values("declared_at")
    pipeline = FeaturePipeline()
    start = time.perf_counter()
    known = outcomes.merge(past[["declaration_id", "item_no"]], on=["declaration_id", "item_no"])
    fitted = pipeline.fit(past, known, as_of=last_day)
    fit_s = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        path = fitted.save(Path(tmp) / "state")
        size = sum(p.stat().st_size for p in path.iterdir()) / 2**20
        start = time.perf_counter()
        state = FeatureState.load(path).warm()
        load_s = time.perf_counter() - start
    records = batch.head(1000).to_dict("records")
    frame = batch.head(1000)
    print(
        f"state                              fitted on {len(past):,} rows in {fit_s:.1f} s, "
        f"{size:.1f} MiB on disk, loaded + warmed in {load_s:.2f} s"
    )
    print(f"numpy call                         {numpy_call_us():.2f} us (machine yardstick)")
    ok = _report(
        "1 record -> array",
        _timings(
            lambda i: pipeline.transform_array(records[i % len(records)], state), args.repeats
        ),
        1.0,
    )
    _report(
        "1 record -> DataFrame",
        _timings(lambda i: pipeline.transform(records[i % len(records)], state), args.repeats // 4),
        1.0,
    )
    ok &= _report(
        f"{len(frame)} rows (DataFrame) -> array",
        _timings(lambda i: pipeline.transform_array(frame, state), 50),
        20.0,
    )
    _report(
        f"{len(frame)} rows (DataFrame) -> DataFrame",
        _timings(lambda i: pipeline.transform(frame, state), 50),
        20.0,
    )
    _report(
        f"{len(records)} records -> array",
        _timings(lambda i: pipeline.transform_array(records, state), 50),
        20.0,
    )
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
