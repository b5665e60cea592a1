"""Single-declaration ``/score`` with live history against the same service with the history
frozen at training, requests alternating between the two servers in one run (target: the live
p50 within 10 % of the frozen one). Both keep payloads and reasons in their stores; the live one
starts from a store already holding ``--preload`` decided items and a result for one in ten
(replayed at its start), and learns every item it scores.

Usage: python benchmarks/live_overhead.py [--work DIR] [--requests 2000] [--preload 50000]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import httpx
import pandas as pd
from serving_common import machine_probe, prepare, sample, server_env
from serving_overhead import alternate

from customs_risk.serving.harness import LocalServer, decided_rows
from customs_risk.serving.store import Store


def _preload(url: str, world: Path, n: int) -> None:
    """``n`` items of the world decided after the model's state, and results for a tenth."""
    frame = pd.DataFrame(sample(world, n, seed=7))
    frame["declared_at"] = pd.to_datetime(frame["declared_at"]) - pd.Timedelta(days=30)
    frame["declaration_id"] = [f"PRE{i:08d}" for i in range(n)]
    with Store(url) as store:
        store.add_decision_records(*decided_rows(frame))
        results = frame.iloc[::10][["declaration_id", "item_no", "declared_at"]].copy()
        results["channel"] = "red"
        results["result_at"] = results.pop("declared_at") + pd.Timedelta(days=2)
        results["fraud_found"] = [i % 3 == 0 for i in range(len(results))]
        results["fraud_type"] = ["undervaluation" if f else "none" for f in results["fraud_found"]]
        results["critical"] = False
        results["recovered_revenue"] = [500.0 if f else 0.0 for f in results["fraud_found"]]
        store.add_outcomes(results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--work", type=Path, default=Path("data/bench/serving"))
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--preload", type=int, default=50_000)
    args = parser.parse_args()
    setup = prepare(args.work)
    items = sample(setup["world"], args.requests, seed=1)
    base = server_env(setup)
    stores = {name: setup["work"] / f"store-{name}.db" for name in ("live", "frozen")}
    for path in stores.values():
        path.unlink(missing_ok=True)
    _preload(f"sqlite:///{stores['live']}", setup["world"], args.preload)
    env = {
        name: {
            **base,
            "CUSTOMS_RISK_STORE_URL": f"sqlite:///{path}",
            "CUSTOMS_RISK_SERVE_LIVE_HISTORY": str(name == "live").lower(),
        }
        for name, path in stores.items()
    }
    print(machine_probe())
    with (
        LocalServer(env["live"], log_path=setup["work"] / "live.log") as live,
        LocalServer(env["frozen"], log_path=setup["work"] / "frozen.log") as frozen,
    ):
        live.wait(200, timeout=300)
        frozen.wait(200, timeout=300)
        figures = alternate({"live": live.url, "frozen": frozen.url}, items)
        history = httpx.get(f"{live.url}/model", timeout=10).json()["live_history"]
    for name, p in figures.items():
        print(f"{name:>7}: p50 {p['p50']:.2f} ms  p90 {p['p90']:.2f}  p99 {p['p99']:.2f}")
    ratio = figures["live"]["p50"] / figures["frozen"]["p50"]
    print(f"live / frozen p50: {ratio:.3f} (target <= 1.10)")
    print(
        f"live history at the end: {history['declarations']:,} declarations and "
        f"{history['results']:,} results applied, {history['pending_declarations']:,} pending"
    )
    print(machine_probe())


if __name__ == "__main__":
    main()
