"""XGBoost training on a generated world, features included: the models issue's speed target.

Usage: python benchmarks/train_benchmark.py [--declarations 1000000] [--seed 7] [--world DIR]
Generates the world (not timed) unless --world is given, then times: loading and validating,
point-in-time features of every item, and the three XGBoost targets (offence, critical,
revenue) with early stopping on the validation window, fitted on the inspected training items.
Prints seconds per step, peak RSS and the test-window AUC; exits 1 over --budget-seconds (300).
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--declarations", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--world", type=Path, default=None)
    parser.add_argument("--budget-seconds", type=float, default=300.0)
    args = parser.parse_args()

    from customs_risk.data.generator import generate_world, write_world
    from customs_risk.data.world_config import WorldConfig
    from customs_risk.models.boosting import fit_boosted
    from customs_risk.models.dataset import load_training_data
    from customs_risk.models.metrics import ranking_report
    from customs_risk.models.settings import TrainSettings
    from customs_risk.models.train import build_frame

    tmp = tempfile.TemporaryDirectory()
    world = args.world
    if world is None:
        world = Path(tmp.name)
        print(f"generating {args.declarations:,} items (seed {args.seed}, not timed)")
        write_world(generate_world(WorldConfig(), args.declarations, args.seed), world)

    times: dict[str, float] = {}
    start = time.perf_counter()
    declarations, outcomes = load_training_data(world)
    times["load+validate"] = time.perf_counter() - start
    t = time.perf_counter()
    frame, _state = build_frame(TrainSettings(data=world), declarations, outcomes)
    times["features"] = time.perf_counter() - t
    aucs = {}
    for target in ("offence", "critical", "revenue"):
        t = time.perf_counter()
        model = fit_boosted(
            target,
            frame.x("train"),
            frame.y(target, "train"),
            frame.x("valid"),
            frame.y(target, "valid"),
            {},
            seed=0,
        )
        times[f"xgboost {target} ({model.rounds} rounds)"] = time.perf_counter() - t
        if target != "revenue":
            test = frame.y(target, "test")
            aucs[target] = ranking_report(test, model.predict_frame(frame.x("test")))["auc"]
    total = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(
        f"items {len(declarations):,}; inspected train/valid/test "
        f"{len(frame.rows('train')):,}/{len(frame.rows('valid')):,}/{len(frame.rows('test')):,}"
    )
    for step, seconds in times.items():
        print(f"  {step:<36}{seconds:8.1f} s")
    print(f"  {'total':<36}{total:8.1f} s   (budget {args.budget_seconds:.0f} s)")
    print(
        f"peak RSS {peak:.2f} GiB; test AUC (inspected items): "
        + ", ".join(f"{k} {v:.3f}" for k, v in aucs.items())
    )
    return 0 if total <= args.budget_seconds and np.isfinite(total) else 1


if __name__ == "__main__":
    sys.exit(main())
