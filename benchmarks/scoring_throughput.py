"""In-process scoring throughput: features + models + channel decision for 10,000 declarations
per call, in declarations/s (target >= 100,000/s), against raw XGBoost ``inplace_predict`` on the
same feature matrix.

Usage: python benchmarks/scoring_throughput.py [--work DIR] [--rows 10000] [--repeat 9]
[--nthread 1]
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import statistics
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from serving_common import ROOT, machine_probe, prepare, sample

FASTEST: dict[str, float] = {}


def best_of(fn: Callable[[], object], repeat: int, name: str = "") -> float:
    """Median seconds of ``repeat`` calls after one warm-up call (the fastest kept by name)."""
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    FASTEST[name] = min(times)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--work", type=Path, default=Path("data/bench/serving"))
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--nthread", type=int, default=1)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    logging.getLogger("customs_risk.selection.decide").setLevel(logging.ERROR)
    setup = prepare(args.work)
    os.environ.update(setup["env"])

    from customs_risk.models.tracking import MlflowSettings, configure, load_registered
    from customs_risk.selection.decide import decide
    from customs_risk.selection.profiles import load_profiles
    from customs_risk.serving.engine import Engine
    from customs_risk.serving.schemas import Declaration

    model = load_registered(configure(MlflowSettings()), alias="champion")
    profiles = load_profiles(ROOT / "profiles")
    full = Engine(model, profiles, nthread=args.nthread)
    bare = Engine(model, profiles, nthread=args.nthread, reasons=False)
    records = [Declaration.model_validate(r).record() for r in sample(setup["world"], args.rows)]
    frame = full.frame(records)
    matrix = model.matrix(frame)
    boosters = {t: m.booster for t, m in model.models.items()}
    scores = model.score(frame)
    n = args.rows
    gc.collect()
    gc.freeze()  # as the service does after loading the model

    t_frame = best_of(lambda: full.frame(records), args.repeat)
    t_feat = best_of(lambda: model.matrix(frame), args.repeat)
    t_raw = best_of(lambda: boosters["offence"].inplace_predict(matrix), args.repeat)
    t_raw_all = best_of(lambda: [b.inplace_predict(matrix) for b in boosters.values()], args.repeat)
    t_score = best_of(lambda: model.score(frame), args.repeat)
    t_decide = best_of(
        lambda: decide(
            frame, scores, model.policy, model.thresholds, profiles, 0, model_version="v"
        ),
        args.repeat,
    )
    t_core = best_of(lambda: model.decide(frame, profiles, reasons=False), args.repeat, "core")
    t_core_reasons = best_of(lambda: model.decide(frame, profiles), args.repeat, "reasons")
    t_bare = best_of(lambda: bare.decide(records), args.repeat)
    t_full = best_of(lambda: full.decide(records), args.repeat)

    def rate(seconds: float) -> str:
        return f"{n / seconds:>11,.0f}/s  ({seconds * 1000:7.1f} ms)"

    print(machine_probe())
    print(f"{n:,} declarations per call, XGBoost nthread={args.nthread}, {os.cpu_count()} CPUs")
    print(f"  records -> frame            {rate(t_frame)}")
    print(f"  features (transform_array)  {rate(t_feat)}")
    print(f"  raw inplace_predict offence {rate(t_raw)}")
    print(f"  raw inplace_predict all     {rate(t_raw_all)}  ({len(boosters)} targets)")
    print(f"  RiskModel.score             {rate(t_score)}")
    print(f"  selection.decide            {rate(t_decide)}")
    print(f"  RiskModel.decide, no reasons {rate(t_core)}  <- features + models + decision")
    print(f"      fastest of {args.repeat} calls  {rate(FASTEST['core'])}")
    print(f"  RiskModel.decide, reasons  {rate(t_core_reasons)}  <- with reasons for red/orange")
    print(f"  engine, no reasons          {rate(t_bare)}   (records in, response dicts out)")
    print(f"  engine, with reasons        {rate(t_full)}   (reasons for red/orange items)")
    print(f"  ratio decide / raw offence predict: {t_core / t_raw:.1f}x the time")
    print(f"  ratio decide / raw predict of all targets: {t_core / t_raw_all:.1f}x the time")
    print("  target: >= 100,000 declarations/s")


if __name__ == "__main__":
    main()
