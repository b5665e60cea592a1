"""What "durable before acknowledged" costs: the decision writer's time from ``submit`` to the
commit's acknowledgement (what a ``/score`` answer now waits for), alone and under concurrency
(group commit: requests queued during a commit share the next one).

Usage: python benchmarks/decision_commit.py [--requests 2000] [--threads 8] [--url sqlite:///...]
Prints p50 / p99 in ms for one-item requests sent one at a time, then the same with ``--threads``
clients at once (rows per commit and requests per second), on a fresh SQLite file by default.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

from serving_common import machine_probe, percentiles

from customs_risk.selection.synthetic import synthetic_declarations
from customs_risk.serving.decision_writer import DecisionWriter
from customs_risk.serving.schemas import DECISION_ANSWER_FIELDS, DECLARATION_FIELDS, Declaration


def _requests(n: int) -> list[tuple[list[dict], list[Declaration]]]:
    frame = synthetic_declarations(n, seed=5)
    frame["declaration_id"] = [f"B{i}" for i in range(n)]
    frame["hs_code"] = "8517120000"
    records = frame[[c for c in DECLARATION_FIELDS if c in frame.columns]].to_dict("records")
    out = []
    for r in records:
        item = Declaration.model_validate(r)
        decision = dict.fromkeys(DECISION_ANSWER_FIELDS) | {
            "declaration_id": item.declaration_id,
            "item_no": item.item_no,
            "channel": "green",
            "selected_by": "model",
            "propensity": 0.05,
            "propensity_red": 0.02,
            "fraud_probability": 0.1,
            "expected_revenue": 3.0,
            "risk_score": 0.1,
            "profile_hits": [],
            "model_version": "m/1",
            "policy_version": "p-1",
        }
        out.append(([decision], [item]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--url", default=None)
    args = parser.parse_args()
    print(machine_probe())
    work = Path(tempfile.mkdtemp(prefix="decision-commit-"))
    writer = DecisionWriter(args.url or f"sqlite:///{work / 'store.db'}")
    requests = _requests(args.requests)
    for k, (d, i) in enumerate(requests[:50]):  # warm-up: tables, connections
        writer.submit(d, i, f"w{k}").result(30)
    alone = []
    for k, (d, i) in enumerate(requests):
        t = time.perf_counter()
        writer.submit(d, i, f"a{k}").result(30)
        alone.append((time.perf_counter() - t) * 1000)
    p = percentiles(alone)
    print(f"one at a time: p50 {p['p50']:.2f} ms  p90 {p['p90']:.2f}  p99 {p['p99']:.2f}")
    lat: list[float] = []
    lock = threading.Lock()
    commits = writer.commits

    def client(part: list) -> None:
        for k, (d, i) in part:
            t = time.perf_counter()
            writer.submit(d, i, f"c{k}").result(30)
            with lock:
                lat.append((time.perf_counter() - t) * 1000)

    indexed = list(enumerate(requests))
    pool = [
        threading.Thread(target=client, args=(indexed[j :: args.threads],))
        for j in range(args.threads)
    ]
    start = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - start
    p = percentiles(lat)
    shared = len(requests) / max(writer.commits - commits, 1)
    print(
        f"{args.threads} clients: p50 {p['p50']:.2f} ms  p99 {p['p99']:.2f}; "
        f"{len(requests) / elapsed:.0f} requests/s, {shared:.1f} requests per commit"
    )
    writer.close()


if __name__ == "__main__":
    main()
