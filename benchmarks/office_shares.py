"""Per-office channel shares on a generated world: calibrate on window A, decide window B.

Usage:
    python benchmarks/office_shares.py [--declarations 1000000] [--seed 7] [--world DIR]
        [--calibration-days 28] [--decision-days 60] [--profiles profiles/]
        [--profiles-as-of 2025-06-01] [--world-profiles] [--method refresh|static]
        [--horizon-days 3]

Window B is the last ``--decision-days`` days of the world, window A the ``--calibration-days``
days before it. There are no trained models yet, so the score is a model-like proxy built from the
world's own declarations (no truth): how far the unit value falls below the HS6 median, the tariff
rate, a departure != origin flag, the importer's age and the importer's smoothed hit rate in the
outcomes known before window A. Scores are therefore clustered by importer and by declaration,
as a real model's are.

The example profiles in profiles/ are loaded (evaluated as of ``--profiles-as-of``) but hit no
row of a generated world (other importer ids, HS codes and validity dates); ``--world-profiles``
adds two profiles on the world's own importers and HS4 so that profile-forced shares take part.

``--method static`` calibrates once on window A and decides all of window B with those thresholds
(the method before the daily refresh). ``--method refresh`` (default) serves window B day by day:
each day ``refresh_thresholds`` calibrates on the last ``--calibration-days`` days before it and
paces the targets by what window B (the capacity period) has selected so far
(``--horizon-days``).

Prints, per office, the rows of window B, the red / orange shares against their targets, the
random red / orange shares against theirs, the maximum absolute deviation, and the propensity
check (mean recorded propensity against the observed selection frequency, by propensity value).
Exits 1 if an office with at least ``--min-rows`` rows in window B misses a red or orange target
by more than ``--tolerance`` (0.5 percentage points).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from customs_risk.selection.decide import decide
from customs_risk.selection.policy import ChannelPolicy
from customs_risk.selection.profiles import ProfileSet, RiskProfile, load_profiles, parse_profile
from customs_risk.selection.thresholds import calibrate_thresholds, refresh_thresholds

ROOT = Path(__file__).resolve().parents[1]


def load_world(world_dir: Path | None, n: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Declarations and outcomes of a written world, else generate one in memory."""
    if world_dir is not None:
        decl = pd.read_parquet(world_dir / "declarations.parquet")
        outcomes = pd.read_parquet(world_dir / "outcomes.parquet")
    else:
        from customs_risk.data.generator import generate_world
        from customs_risk.data.world_config import load_world_config

        params = ROOT / "params.yaml"
        world = generate_world(load_world_config(params if params.exists() else None), n, seed)
        decl, outcomes = world.declarations, world.outcomes
    decl = decl.sort_values("declared_at", kind="stable").reset_index(drop=True)
    return decl, outcomes


def proxy_scores(
    decl: pd.DataFrame, outcomes: pd.DataFrame, known_before: dt.datetime
) -> pd.DataFrame:
    """A model-like score from declared data and the outcomes known before ``known_before``."""
    before = decl["declared_at"] < known_before
    qty = decl["quantity"].to_numpy(dtype=np.float64)
    unit = decl["customs_value"].to_numpy(dtype=np.float64) / np.maximum(qty, 1.0)
    hs6 = decl["hs_code"].astype("str").to_numpy()
    reference = pd.Series(np.log(unit[before])).groupby(hs6[before]).median()
    ref = pd.Series(hs6).map(reference).to_numpy(dtype=np.float64)
    ref = np.where(np.isfinite(ref), ref, np.log(unit))
    price = np.clip(ref - np.log(unit), -1.0, 3.0)  # > 0: below the usual price
    tariff = decl["tariff_rate"].to_numpy(dtype=np.float64)
    mismatch = (decl["origin_country"] != decl["departure_country"]).to_numpy()
    first = decl.groupby("importer_id")["declared_at"].transform("min")
    new = ((decl["declared_at"] - first) < pd.Timedelta(days=90)).to_numpy()
    known = outcomes[outcomes["result_at"] < known_before]
    known = known.merge(decl[["declaration_id", "importer_id"]].drop_duplicates(), how="left")
    stats = known.groupby("importer_id")["fraud_found"].agg(["sum", "count"])
    prior, strength = 0.03, 10.0
    rate = (stats["sum"] + prior * strength) / (stats["count"] + strength)
    hit = decl["importer_id"].map(rate).fillna(prior).to_numpy(dtype=np.float64)
    logit = -4.0 + 0.9 * price + 0.06 * tariff + 0.5 * mismatch + 0.7 * new + 25.0 * (hit - prior)
    fp = 1.0 / (1.0 + np.exp(-logit))
    value = decl["customs_value"].to_numpy(dtype=np.float64)
    grade = np.select([hit < 0.02, hit < 0.04, hit < 0.08], ["A", "B", "C"], "D")
    return pd.DataFrame(
        {
            "declaration_id": decl["declaration_id"],
            "item_no": decl["item_no"],
            "fraud_probability": fp,
            "expected_revenue": fp * value * (tariff + 5.0) / 100.0,
            "trader_grade": pd.Series(grade, dtype="str"),
            "model_version": "proxy-0",
        }
    )


def world_profiles(window_a: pd.DataFrame) -> list[RiskProfile]:
    """Two profiles on the world's own values (the example profiles target 2025 and other ids):
    red for five mid-sized importers of window A, orange for its most common HS4 at >= 5% duty."""
    importers = window_a["importer_id"].value_counts().index[20:25].tolist()
    hs4 = window_a["hs_code"].astype("str").str.slice(0, 4).value_counts().index[0]
    common = {"owner": "benchmark", "valid_from": "2000-01-01", "priority": 60}
    return [
        parse_profile(
            common
            | {
                "id": "WORLD-RED",
                "title": "importers under investigation",
                "action": "red",
                "instructions": "Full examination.",
                "criteria": [{"field": "importer_id", "op": "in", "value": importers}],
            }
        ),
        parse_profile(
            common
            | {
                "id": "WORLD-ORANGE",
                "title": f"HS {hs4} at 5% duty or more",
                "action": "orange",
                "instructions": "Check the documents.",
                "criteria": [
                    {"field": "hs4", "op": "eq", "value": hs4},
                    {"field": "tariff_rate", "op": "ge", "value": 5},
                ],
            }
        ),
    ]


def office_table(out: pd.DataFrame, policy: ChannelPolicy) -> pd.DataFrame:
    """Per office: rows, shares and targets (percent), random shares, max abs deviation (pp)."""
    rows = []
    for office, g in out.groupby("office_id", sort=True):
        s = policy.shares_for(str(office))
        free = g["selected_by"] != "profile"
        rand = g["selected_by"] == "random"
        n_free = max(int(free.sum()), 1)
        red = float((g["channel"] == "red").mean())
        orange = float((g["channel"] == "orange").mean())
        rows.append(
            {
                "office": office,
                "rows": len(g),
                "red": 100 * red,
                "red_t": 100 * s.red,
                "orange": 100 * orange,
                "orange_t": 100 * s.orange,
                "rnd_red": 100 * float((rand & (g["channel"] == "red")).sum()) / n_free,
                "rnd_red_t": 100 * s.random_red,
                "rnd_or": 100 * float((rand & (g["channel"] == "orange")).sum()) / n_free,
                "rnd_or_t": 100 * s.random_orange,
                "profile": 100 * float((~free).mean()),
                "max_dev_pp": 100 * max(abs(red - s.red), abs(orange - s.orange)),
            }
        )
    return pd.DataFrame(rows).set_index("office")


def propensity_table(out: pd.DataFrame) -> pd.DataFrame:
    """Mean recorded propensity against the observed selection frequency, by propensity value."""
    rows = []
    for column, selected in (
        ("propensity", out["channel"] != "green"),
        ("propensity_red", out["channel"] == "red"),
    ):
        for p, g in selected.groupby(out[column].round(6)):
            n = len(g)
            se = math.sqrt(max(p * (1 - p), 1e-12) / n)
            rows.append(
                {
                    "column": column,
                    "recorded": float(out.loc[g.index, column].mean()),
                    "observed": float(g.mean()),
                    "rows": n,
                    "z": (float(g.mean()) - p) / se if p * (1 - p) > 0 else 0.0,
                }
            )
    return pd.DataFrame(rows)


def decide_daily(
    decl: pd.DataFrame,
    scores: pd.DataFrame,
    in_b: np.ndarray,
    b_start: pd.Timestamp,
    policy: ChannelPolicy,
    profiles: ProfileSet,
    as_of: dt.date | None,
    args: argparse.Namespace,
) -> pd.DataFrame:
    """Serve window B day by day: refresh the thresholds each morning, then decide the day."""
    day = decl["declared_at"].dt.normalize()
    outs: list[pd.DataFrame] = []
    for k in range(args.decision_days):
        d0 = b_start + pd.Timedelta(days=k)
        today = (day == d0).to_numpy() & in_b
        if not today.any():
            continue
        window = (
            (decl["declared_at"] >= d0 - pd.Timedelta(days=args.calibration_days))
            & (decl["declared_at"] < d0)
        ).to_numpy()
        pacing = args.horizon_days > 0
        decided = pd.concat(outs, ignore_index=True) if outs and pacing else None
        thresholds = refresh_thresholds(
            scores[window].reset_index(drop=True),
            decl[window].reset_index(drop=True),
            policy,
            profiles,
            as_of,
            window_days=args.calibration_days,
            decided=decided,
            horizon_days=args.horizon_days if pacing else 1.0,
        )
        outs.append(
            decide(
                decl[today].reset_index(drop=True),
                scores[today].reset_index(drop=True),
                policy,
                thresholds,
                profiles,
                args.control_seed,
                as_of,
            )
        )
    return pd.concat(outs, ignore_index=True)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--declarations", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--world", type=Path, default=None, help="read a written world instead")
    parser.add_argument("--calibration-days", type=int, default=28)
    parser.add_argument("--decision-days", type=int, default=60)
    parser.add_argument("--profiles", type=Path, default=ROOT / "profiles")
    parser.add_argument(
        "--profiles-as-of",
        default="2025-06-01",
        help="decision date for profile validity (the example profiles are for 2025); "
        "'none': each row's own date",
    )
    parser.add_argument(
        "--world-profiles",
        action="store_true",
        help="add two profiles on the world's own importers and HS4 (forced shares)",
    )
    parser.add_argument("--method", choices=["refresh", "static"], default="refresh")
    parser.add_argument(
        "--horizon-days", type=float, default=3.0, help="pacing horizon; 0: no pacing"
    )
    parser.add_argument("--control-seed", type=int, default=11)
    parser.add_argument("--min-rows", type=int, default=5000)
    parser.add_argument("--tolerance", type=float, default=0.005)
    args = parser.parse_args()
    logging.disable(logging.WARNING)

    t0 = time.perf_counter()
    decl, outcomes = load_world(args.world, args.declarations, args.seed)
    end = decl["declared_at"].max().normalize() + pd.Timedelta(days=1)
    b_start = end - pd.Timedelta(days=args.decision_days)
    a_start = b_start - pd.Timedelta(days=args.calibration_days)
    scores = proxy_scores(decl, outcomes, a_start.to_pydatetime())
    in_a = ((decl["declared_at"] >= a_start) & (decl["declared_at"] < b_start)).to_numpy()
    in_b = (decl["declared_at"] >= b_start).to_numpy()
    profiles = load_profiles(args.profiles) if args.profiles else ProfileSet()
    if args.world_profiles:
        profiles = ProfileSet([*profiles, *world_profiles(decl[in_a])])
    as_of = None if args.profiles_as_of == "none" else dt.date.fromisoformat(args.profiles_as_of)
    policy = ChannelPolicy(version="bench")

    dec_a, sc_a = decl[in_a].reset_index(drop=True), scores[in_a].reset_index(drop=True)
    dec_b, sc_b = decl[in_b].reset_index(drop=True), scores[in_b].reset_index(drop=True)
    if args.method == "static":
        thresholds = calibrate_thresholds(sc_a, dec_a, policy, profiles, as_of)
        out = decide(dec_b, sc_b, policy, thresholds, profiles, args.control_seed, as_of)
    else:
        out = decide_daily(decl, scores, in_b, b_start, policy, profiles, as_of, args)
    elapsed = time.perf_counter() - t0

    print(
        f"world: {len(decl):,} rows, seed {args.seed}; calibration window A {a_start.date()} .. "
        f"{(b_start - pd.Timedelta(days=1)).date()} ({in_a.sum():,} rows), decision window B "
        f"{b_start.date()} .. {(end - pd.Timedelta(days=1)).date()} ({in_b.sum():,} rows); "
        f"method {args.method}; {len(profiles)} profiles as of {as_of}; {elapsed:.1f} s"
    )
    table = office_table(out, policy)
    with pd.option_context("display.width", 160, "display.max_rows", 200):
        print(table.round(2).to_string())
    big = table[table["rows"] >= args.min_rows]
    misses = big[big["max_dev_pp"] > 100 * args.tolerance]
    print(
        f"offices with >= {args.min_rows:,} rows: {len(big)}; max deviation "
        f"{big['max_dev_pp'].max():.2f} pp; mean {big['max_dev_pp'].mean():.2f} pp; "
        f"misses > {100 * args.tolerance:.1f} pp: {list(misses.index)}"
    )
    props = propensity_table(out)
    print("propensity check (recorded vs observed selection frequency):")
    print(props.round(4).to_string(index=False))
    bad_props = props[(props["rows"] >= 500) & (props["z"].abs() > 4)]
    if len(bad_props):
        print("propensity check FAILED")
    ok = misses.empty and bad_props.empty
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
