"""Decision engine speed: 100,000 declarations, 50 active profiles, model scoring excluded.

Usage: python benchmarks/decide_benchmark.py [--rows 100000] [--profiles 50] [--repeat 5]
Prints the figures; exits 1 if the batch decision takes more than --budget seconds (default 2).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time

import numpy as np
import pandas as pd

from customs_risk.selection.decide import decide
from customs_risk.selection.policy import ChannelPolicy
from customs_risk.selection.profiles import (
    ProfileSet,
    decision_days,
    evaluate_profiles,
    parse_profile,
)
from customs_risk.selection.random_control import control_draws
from customs_risk.selection.synthetic import (
    HS_CODES,
    ORIGINS,
    heuristic_scores,
    synthetic_declarations,
)
from customs_risk.selection.thresholds import calibrate_thresholds

TEMPLATES = {
    "unit_value_ratio": "declared unit value {value_below_pct:.0f}% below the reference for HS "
    "{hs6} from {origin_country}",
    "importer_offence_rate": "importer offence rate {value_pct:.0f}%",
    "tariff_rate": "tariff rate {value:.1f}%",
}


def make_profiles(n: int, seed: int = 0) -> ProfileSet:
    """``n`` active profiles mixing every operator, 10% advisory."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        kind = k % 5
        hs = str(rng.choice(HS_CODES))
        if kind == 0:
            crit = [
                {
                    "field": "hs_code",
                    "op": "prefix",
                    "value": [hs[:4], str(rng.choice(HS_CODES))[:6]],
                },
                {"field": "origin_country", "op": "in", "value": rng.choice(ORIGINS, 2).tolist()},
                {"field": "unit_value", "op": "lt", "value": float(rng.uniform(2, 6))},
            ]
        elif kind == 1:
            importers = [f"IMP{i:05d}" for i in rng.integers(0, 5000, 10)]
            crit = [{"field": "importer_id", "op": "in", "value": importers}]
        elif kind == 2:
            crit = [
                {"field": "hs6", "op": "eq", "value": hs},
                {"field": "customs_value", "op": "between", "value": [100.0, 130.0]},
                {"field": "departure_country", "op": "not_in", "value": ["DE", "US"]},
            ]
        elif kind == 3:
            crit = [
                {"field": "tariff_rate", "op": "ge", "value": 8},
                {"field": "transport_mode", "op": "eq", "value": "air"},
                {"field": "net_mass_kg", "op": "gt", "value": float(rng.uniform(150, 600))},
            ]
        else:
            crit = [
                {
                    "field": "declarant_id",
                    "op": "in",
                    "value": [f"BRK{i:03d}" for i in rng.integers(0, 300, 5)],
                },
                {"field": "hs4", "op": "in", "value": [hs[:4]]},
            ]
        out.append(
            parse_profile(
                {
                    "id": f"BENCH-{k:03d}",
                    "title": f"benchmark profile {k}",
                    "owner": "benchmark",
                    "valid_from": "2024-01-01",
                    "valid_to": "2024-12-31",
                    "criteria": crit,
                    "action": "red" if k % 5 == 0 else "orange",
                    "priority": int(rng.integers(1, 100)),
                    "instructions": f"Instructions for profile {k}: verify documents and goods.",
                    "advisory": k % 10 == 9,
                }
            )
        )
    return ProfileSet(out)


def timed(fn, repeat: int) -> tuple[float, float, object]:
    """Median and best wall time of ``repeat`` calls, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--profiles", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--budget", type=float, default=2.0)
    args = parser.parse_args()

    decl = synthetic_declarations(args.rows, seed=1)
    scores = heuristic_scores(decl, seed=1)  # model scoring: not timed
    profiles = make_profiles(args.profiles)
    policy = ChannelPolicy(version="bench")
    logging.disable(logging.WARNING)
    cal_med, _, thresholds = timed(lambda: calibrate_thresholds(scores, decl, policy, profiles), 1)
    days = decision_days(decl)
    prof_med, _, hits = timed(
        lambda: evaluate_profiles(profiles, [decl, scores], days), args.repeat
    )
    hash_med, _, _ = timed(
        lambda: control_draws(decl["declaration_id"], decl["item_no"], 7), args.repeat
    )
    plain = scores[[c for c in scores.columns if not c.startswith("contrib__")]]

    def run_full() -> pd.DataFrame:
        return decide(decl, scores, policy, thresholds, profiles, 7, reason_templates=TEMPLATES)

    full_med, full_best, out = timed(run_full, args.repeat)
    nor_med, _, _ = timed(lambda: decide(decl, plain, policy, thresholds, profiles, 7), args.repeat)
    fs_med, _, _ = timed(lambda: decide(decl, None, policy, None, profiles, 7), args.repeat)
    one = [
        (decl.iloc[[i]], scores.iloc[[i]]) for i in range(0, args.rows, max(1, args.rows // 200))
    ]
    singles = []
    for d1, s1 in one:
        start = time.perf_counter()
        decide(d1, s1, policy, thresholds, profiles, 7, reason_templates=TEMPLATES)
        singles.append(time.perf_counter() - start)

    assert isinstance(out, pd.DataFrame)
    n_hit = int(hits.matrix.any(axis=1).sum())
    print(f"rows {args.rows:,}, active profiles {len(profiles)}, rows hit by a profile {n_hit:,}")
    print(f"channels: {out['channel'].value_counts(normalize=True).round(4).to_dict()}")
    print(f"selected_by: {out['selected_by'].value_counts().to_dict()}")
    print(f"calibrate_thresholds (with profiles)       {cal_med:7.3f} s")
    print(f"  profile evaluation alone                 {prof_med:7.3f} s")
    print(f"  random-control hashing alone             {hash_med:7.3f} s")
    print(
        f"decide, scores + contributions -> reasons  {full_med:7.3f} s median, {full_best:.3f} best"
    )
    print(f"decide, scores without contributions       {nor_med:7.3f} s median")
    print(f"decide, fail-safe (no model)               {fs_med:7.3f} s median")
    print(
        f"decide, single declaration                 {1000 * statistics.median(singles):7.2f} ms "
        f"median, {1000 * max(singles):.2f} ms max over {len(singles)} calls"
    )
    ok = full_med <= args.budget
    print(f"budget {args.budget:.1f} s for {args.rows:,} rows: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
