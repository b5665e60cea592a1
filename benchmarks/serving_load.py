"""Open-loop load on /score: single declarations at a fixed rate (default 200 req/s for 60 s);
prints the achieved rate, errors and latency percentiles.

The load is ``customs_risk.serving.harness.open_loop_load``: each request has a scheduled send
time (k / rate), latency counts from it (queueing behind a slow server is measured, not hidden).

Usage: python benchmarks/serving_load.py [--work DIR] [--url URL] [--rate 200] [--seconds 60]
[--threads 32]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from serving_common import machine_probe, percentiles, prepare, sample, server_env

from customs_risk.serving.harness import LocalServer, open_loop_load


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
        return open_loop_load(url, items, args.rate, args.seconds, args.threads)

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
