"""HTTP latency of /score over loopback: single declarations (p50/p99, targets 5 / 20 ms) and
batches of 1,000 (p50, target 100 ms).

Usage: python benchmarks/serving_latency.py [--work DIR] [--url URL] [--singles 2000]
[--batches 30]. Without --url it prepares a model under --work and starts a server.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import httpx
from serving_common import machine_probe, percentiles, prepare, sample, server_env

from customs_risk.serving.harness import LocalServer


def measure(url: str, singles: list[dict], batch: list[dict], n_batches: int) -> dict:
    """Sequential requests on one keep-alive connection."""
    out = {}
    with httpx.Client(base_url=url, timeout=60) as client:
        for item in singles[:50]:  # warm-up
            client.post("/score", json={"declarations": [item]}).raise_for_status()
        lat = []
        before = score_buckets(client.get("/metrics").text)
        for item in singles:
            t = time.perf_counter()
            client.post("/score", json={"declarations": [item]}).raise_for_status()
            lat.append((time.perf_counter() - t) * 1000)
        out["single"] = percentiles(lat)
        after = score_buckets(client.get("/metrics").text)
        out["single_server"] = {le: after[le] - before.get(le, 0.0) for le in after}
        client.post("/score", json={"declarations": batch}).raise_for_status()
        lat = []
        for _ in range(n_batches):
            t = time.perf_counter()
            client.post("/score", json={"declarations": batch}).raise_for_status()
            lat.append((time.perf_counter() - t) * 1000)
        out["batch_1000"] = percentiles(lat)
    return out


def score_buckets(metrics: str) -> dict[str, float]:
    """Cumulative counts of BentoML's server-side request duration histogram for /score."""
    out = {}
    for line in metrics.splitlines():
        if line.startswith("bentoml_service_request_duration_seconds_bucket") and (
            'endpoint="/score"' in line
        ):
            le = line.split('le="')[1].split('"')[0]
            out[le] = float(line.rsplit(" ", 1)[1])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--work", type=Path, default=Path("data/bench/serving"))
    parser.add_argument("--url", default=None)
    parser.add_argument("--singles", type=int, default=2000)
    parser.add_argument("--batches", type=int, default=30)
    args = parser.parse_args()
    setup = prepare(args.work)
    singles = sample(setup["world"], args.singles, seed=1)
    batch = sample(setup["world"], 1000, seed=2)
    if args.url:
        figures = measure(args.url, singles, batch, args.batches)
    else:
        with LocalServer(server_env(setup), log_path=setup["work"] / "server.log") as server:
            server.wait(200)
            figures = measure(server.url, singles, batch, args.batches)
    s, b = figures["single"], figures["batch_1000"]
    print(machine_probe())
    print(f"single declaration over HTTP ({args.singles} requests):")
    print(
        f"  p50 {s['p50']:.2f} ms  p90 {s['p90']:.2f} ms  p99 {s['p99']:.2f} ms  max {s['max']:.1f}"
    )
    server = figures["single_server"]
    if server.get("+Inf"):
        within = server.get("0.005", 0.0) / server["+Inf"]
        print(f"  inside the server (BentoML's duration histogram): {within:.1%} within 5 ms")
    print("  targets: p50 <= 5 ms, p99 <= 20 ms")
    print(f"batch of 1,000 over HTTP ({args.batches} requests):")
    print(f"  p50 {b['p50']:.1f} ms  p90 {b['p90']:.1f}  p99 {b['p99']:.1f}  (target p50 100 ms)")


if __name__ == "__main__":
    main()
