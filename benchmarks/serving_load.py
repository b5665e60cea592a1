"""Open-loop load on /score: single declarations at a fixed rate (default 200 req/s for 60 s);
prints the achieved rate, errors and latency percentiles.

Each request has a scheduled send time (k / rate); a pool of client threads sends them and the
latency counts from the scheduled time, so queueing behind a slow server is measured, not hidden.
Requests still unsent DRAIN_SECONDS after the schedule ends count as errors.

Usage: python benchmarks/serving_load.py [--work DIR] [--url URL] [--rate 200] [--seconds 60]
[--threads 32]
"""

from __future__ import annotations

import argparse
import threading
import time
from pathlib import Path

import httpx
from serving_common import machine_probe, percentiles, prepare, sample, server_env

from customs_risk.serving.harness import LocalServer

DRAIN_SECONDS = 30.0


def load(url: str, items: list[dict], rate: float, seconds: float, threads: int) -> dict:
    """Send ``rate * seconds`` requests on schedule from ``threads`` keep-alive clients."""
    total = int(rate * seconds)
    lock = threading.Lock()
    state = {"next": 0}
    latencies: list[float] = []
    errors: dict[str, int] = {}
    start = time.perf_counter() + 0.5
    hard_stop = start + seconds + DRAIN_SECONDS

    def worker() -> None:
        with httpx.Client(base_url=url, timeout=30) as client:
            while True:
                with lock:
                    k = state["next"]
                    state["next"] += 1
                if k >= total:
                    return
                due = start + k / rate
                now = time.perf_counter()
                if now > hard_stop:
                    with lock:
                        errors["unsent"] = errors.get("unsent", 0) + 1
                    continue
                if due > now:
                    time.sleep(due - now)
                try:
                    r = client.post("/score", json={"declarations": [items[k % len(items)]]})
                    key = None if r.status_code == 200 else str(r.status_code)
                except httpx.HTTPError as exc:
                    key = type(exc).__name__
                done = time.perf_counter()
                with lock:
                    if key is None:
                        latencies.append((done - due) * 1000)
                    else:
                        errors[key] = errors.get(key, 0) + 1

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - start
    return {"sent": total, "elapsed": elapsed, "errors": errors, "lat": latencies}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--work", type=Path, default=Path("data/bench/serving"))
    parser.add_argument("--url", default=None)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--threads", type=int, default=32)
    args = parser.parse_args()
    setup = prepare(args.work)
    items = sample(setup["world"], 5000, seed=3)

    def run(url: str) -> dict:
        return load(url, items, args.rate, args.seconds, args.threads)

    if args.url:
        res = run(args.url)
    else:
        with LocalServer(server_env(setup), log_path=setup["work"] / "server.log") as server:
            server.wait(200)
            res = run(server.url)
    ok = len(res["lat"])
    print(machine_probe())
    print(f"load: {res['sent']} requests scheduled at {args.rate:g}/s over {args.seconds:g} s")
    print(f"  finished in {res['elapsed']:.1f} s, ok {ok} ({ok / res['elapsed']:.0f} req/s)")
    print(f"  errors {sum(res['errors'].values())} {res['errors']}")
    if ok:
        p = percentiles(res["lat"])
        pct = f"p50 {p['p50']:.1f} ms  p90 {p['p90']:.1f}  p99 {p['p99']:.1f}"
        print(f"  latency from schedule: {pct}")


if __name__ == "__main__":
    main()
