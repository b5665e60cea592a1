"""Single-declaration ``/score`` against a bare BentoML service (``bare_service.py``: the same
JSON parsed into the same models, a constant answer), requests alternating between the two
servers in one run so that both see the same machine. Prints p50 / p90 / p99 of each and the
ratio of the p50s (target: at most 1.5x; the service's p99 at most 10 ms).

Usage: python benchmarks/serving_overhead.py [--work DIR] [--requests 2000]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import httpx
from serving_common import machine_probe, percentiles, prepare, sample, server_env

from customs_risk.serving.harness import LocalServer

HERE = Path(__file__).resolve().parent


def alternate(urls: dict[str, str], items: list[dict], warmup: int = 100) -> dict[str, dict]:
    """Sequential single-item requests, one keep-alive connection per server, alternating."""
    clients = {name: httpx.Client(base_url=url, timeout=30) for name, url in urls.items()}
    lat: dict[str, list[float]] = {name: [] for name in urls}
    try:
        for i, item in enumerate(items[:warmup] + items):
            for name, client in clients.items():
                t = time.perf_counter()
                client.post("/score", json={"declarations": [item]}).raise_for_status()
                if i >= warmup:
                    lat[name].append((time.perf_counter() - t) * 1000)
    finally:
        for client in clients.values():
            client.close()
    return {name: percentiles(values) for name, values in lat.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--work", type=Path, default=Path("data/bench/serving"))
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    setup = prepare(args.work)
    items = sample(setup["world"], args.requests, seed=1)
    env = server_env(setup)
    bare_env = {**env, "PYTHONPATH": str(HERE)}
    with (
        LocalServer(env, log_path=setup["work"] / "server.log") as service,
        LocalServer(
            bare_env,
            log_path=setup["work"] / "bare.log",
            cwd=HERE,
            service="bare_service:BareService",
        ) as bare,
    ):
        service.wait(200)
        bare.wait(200)
        figures = alternate({"service": service.url, "bare": bare.url}, items)
    print(machine_probe())
    print(f"single declaration over HTTP, {args.requests} requests each, alternating:")
    for name in ("service", "bare"):
        f = figures[name]
        print(
            f"  {name:<8} p50 {f['p50']:.2f} ms  p90 {f['p90']:.2f} ms  p99 {f['p99']:.2f} ms"
            f"  max {f['max']:.1f} ms"
        )
    ratio = figures["service"]["p50"] / figures["bare"]["p50"]
    print(f"  ratio of p50s service / bare: {ratio:.2f}x (target <= 1.5x)")
    print(f"  service p99 {figures['service']['p99']:.2f} ms (target <= 10 ms)")


if __name__ == "__main__":
    main()
