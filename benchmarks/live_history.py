"""What live history costs: results and declarations applied to a served feature state
(``features.live.with_events``), the same through the store (``LiveHistory.catch_up``: SQL read
of the history events and their rows, then the swap), a compaction, and the featurisation of one
record against a live state beside the trained one.

Usage: python benchmarks/live_history.py [--declarations 200000] [--live-days 30] [--results 1000]
A generated world; the state is fitted on all but its last ``--live-days`` days, which then arrive
live (their declarations first, then their results in chunks of ``--results``). Prints
milliseconds (median over the chunks) and the machine probe.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
from serving_common import machine_probe

from customs_risk.data.contracts import OUTCOME_COLUMNS
from customs_risk.data.generator import generate_world
from customs_risk.data.world_config import WorldConfig
from customs_risk.features.live import compact, day_start, with_events
from customs_risk.features.pipeline import FeaturePipeline
from customs_risk.serving.harness import decided_rows
from customs_risk.serving.live_history import LiveHistory
from customs_risk.serving.store import Store


def _ms(fn) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return (time.perf_counter() - start) * 1000, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--declarations", type=int, default=200_000)
    parser.add_argument("--live-days", type=int, default=30)
    parser.add_argument("--results", type=int, default=1000)
    args = parser.parse_args()
    print(machine_probe())
    world = generate_world(WorldConfig(), args.declarations, seed=7)
    declarations, outcomes = world.declarations, world.outcomes
    t = declarations["declared_at"]
    cut = t.max().normalize() - pd.Timedelta(days=args.live_days)
    pipeline = FeaturePipeline()
    seconds, state = _ms(lambda: pipeline.fit(declarations, outcomes, as_of=cut))
    live = declarations[t >= cut].reset_index(drop=True)
    results = outcomes.merge(live, on=["declaration_id", "item_no"])
    print(
        f"state fitted on {int((t < cut).sum()):,} items in {seconds / 1000:.1f} s; live: "
        f"{len(live):,} declarations, {len(results):,} results over {args.live_days} days"
    )

    # in memory: declarations in chunks of a day's volume, then results in chunks
    per_day = max(1, len(live) // args.live_days)
    times = []
    for start in range(0, len(live), per_day):
        ms, state = _ms(lambda s=state, a=start: with_events(s, live.iloc[a : a + per_day]))
        times.append(ms)
    print(f"declarations, {per_day:,} at a time: median {statistics.median(times):.1f} ms")
    times = []
    for start in range(0, len(results), args.results):
        chunk = results.iloc[start : start + args.results]
        ms, state = _ms(lambda s=state, c=chunk: with_events(s, None, c))
        times.append(ms)
    print(
        f"results, {args.results:,} at a time (pending {state.n_pending:,}, pending "
        f"declarations {state.n_pending_declarations:,}): median {statistics.median(times):.1f} "
        f"ms, max {max(times):.1f} ms"
    )
    probe = live.tail(1).to_dict(orient="records")
    trained = pipeline.state_
    assert trained is not None
    for name, s in (("trained", trained), ("live", state)):
        pipeline.transform_array(probe, state=s, isolated=True)
        runs = [
            _ms(lambda s=s: pipeline.transform_array(probe, state=s, isolated=True))[0]
            for _ in range(200)
        ]
        print(f"one record featurised against the {name} state: {statistics.median(runs):.3f} ms")
    ms, folded = _ms(lambda: compact(state, day_start(int(state.pending_declarations["t"].max()))))
    print(f"compaction to the last day (history and reference prices): {ms:.0f} ms")
    del folded

    # through the store: what each worker does every poll
    with tempfile.TemporaryDirectory() as tmp, Store(f"sqlite:///{Path(tmp) / 's.db'}") as store:
        decisions, rows = decided_rows(live)
        store.add_decision_records(decisions, rows)
        holder = SimpleNamespace(state=trained)
        tail = LiveHistory(store, holder)  # type: ignore[arg-type]
        ms, n = _ms(tail.catch_up)
        print(f"store: {n:,} declaration events read and applied in {ms:.0f} ms")
        times = []
        columns = [c for c in OUTCOME_COLUMNS if c in results.columns]
        for start in range(0, min(len(results), 20 * args.results), args.results):
            store.add_outcomes(results.iloc[start : start + args.results][columns])
            ms, n = _ms(tail.catch_up)
            assert n == len(results.iloc[start : start + args.results])
            times.append(ms)
        print(
            f"store: {args.results:,} results read and applied per poll: median "
            f"{statistics.median(times):.1f} ms, max {max(times):.1f} ms (target <= 50 ms)"
        )
    print(machine_probe())


if __name__ == "__main__":
    main()
