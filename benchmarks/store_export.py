"""``store export`` of a large store: seconds, rows per second, peak memory, bytes per stored
decision (target: 10 M decisions in at most 3 minutes).

Usage: python benchmarks/store_export.py [--decisions 10000000] [--base 100000] [--url URL]
Fills a fresh SQLite store (or the empty store at ``--url``) with ``--base`` decided items as
``/score`` stores them (a decision with reasons and profile hits, the declaration as received),
then copies them inside the database until it holds ``--decisions`` (ids made unique), with a
result for one item in ten; then times ``serving.export.export`` into a temporary folder.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import sqlalchemy as sa
from serving_common import machine_probe

from customs_risk.data.contracts import DECLARATION
from customs_risk.selection.synthetic import synthetic_declarations
from customs_risk.serving.export import export
from customs_risk.serving.store import (
    Store,
    decisions_table,
    declarations_table,
    outcomes_table,
)

REASONS = [
    "declared value per kg 54% below the reference for HS 851712 from CN",
    "importer offence rate 12% (3 offences in 25 inspections)",
    "tariff rate 5% against 20% for the HS4's highest",
]


def _base(n: int) -> tuple[list[dict], list[dict], list[dict]]:
    frame = synthetic_declarations(n, seed=3, id_prefix="X")
    frame["item_no"] = 1
    stored = [f.name for f in DECLARATION.fields_in("store") if f.name in frame.columns]
    items = frame[stored].astype(object).where(frame[stored].notna(), None)
    now = dt.datetime(2026, 1, 1, 8)
    rng = np.random.default_rng(0)
    declarations, decisions, outcomes = [], [], []
    for i, item in enumerate(items.to_dict(orient="records")):
        item["declared_at"] = item["declared_at"].to_pydatetime()
        digest = f"{i:064x}"
        declarations.append({**item, "input_digest": digest, "extra": None, "received_at": now})
        channel = ("green", "orange", "red")[int(rng.integers(0, 3))]
        decisions.append(
            {
                "decided_at": now,
                "declaration_id": item["declaration_id"],
                "item_no": 1,
                "office_id": item["office_id"],
                "declared_at": item["declared_at"],
                "channel": channel,
                "selected_by": "model",
                "model_channel": channel,
                "propensity": 1.0,
                "propensity_red": 1.0 if channel == "red" else 0.005,
                "fraud_probability": float(rng.random()),
                "critical_probability": float(rng.random() / 10),
                "expected_revenue": float(rng.random() * 1000),
                "risk_score": float(rng.random()),
                "trader_grade": "B",
                "profile_hits": json.dumps([{"id": "P-1", "title": "t", "instructions": "x"}])
                if i % 10 == 0
                else "[]",
                "reasons": json.dumps(REASONS if channel != "green" else []),
                "model_version": "customs-risk/3",
                "policy_version": "default-1",
                "input_digest": digest,
                "profile_ids": "[]",
                "request_id": f"{i // 10:032x}",
                "client_key": "lane-1",
            }
        )
        if i % 10 == 0:
            outcomes.append(
                {
                    "declaration_id": item["declaration_id"],
                    "item_no": 1,
                    "channel": "red",
                    "result_at": now + dt.timedelta(days=2),
                    "fraud_found": False,
                    "fraud_type": "none",
                    "critical": False,
                    "recovered_revenue": 0.0,
                    "source": None,
                    "received_at": now,
                    "client_key": "lane-1",
                }
            )
    return decisions, declarations, outcomes


def _copy(conn: sa.Connection, table: sa.Table, copy: int, rows: int) -> None:
    """Insert the first ``rows`` rows of ``table`` again with ``COPY-`` before their ids."""
    names = [c.name for c in table.columns if c.name != "id"]
    # a prefix: each copy's keys are one range of the indexes (a suffix scattered them: slow)
    chosen = [f"'{copy:03d}-' || declaration_id" if n == "declaration_id" else n for n in names]
    order = "id" if "id" in table.c else "rowid"
    conn.exec_driver_sql(
        f"INSERT INTO {table.name} ({', '.join(names)}) SELECT {', '.join(chosen)} "
        f"FROM {table.name} WHERE {order} <= {rows}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=10_000_000)
    parser.add_argument("--base", type=int, default=100_000)
    parser.add_argument("--url", default=None)
    args = parser.parse_args()
    print(machine_probe())
    with tempfile.TemporaryDirectory() as tmp:
        url = args.url or f"sqlite:///{Path(tmp) / 'store.db'}"
        store = Store(url)
        start = time.perf_counter()
        decisions, declarations, outcomes = _base(args.base)
        store.add_decision_records(decisions, declarations)
        with store.engine.begin() as conn:
            conn.execute(outcomes_table.insert(), outcomes)
            for copy in range(1, args.decisions // args.base):
                for table, n in (
                    (decisions_table, args.base),
                    (declarations_table, args.base),
                    (outcomes_table, len(outcomes)),
                ):
                    _copy(conn, table, copy, n)
        counts = store.counts()
        print(
            f"store filled in {time.perf_counter() - start:.0f} s: {counts['decisions']:,} "
            f"decisions, {counts['outcomes']:,} outcomes"
        )
        if url.startswith("sqlite:///"):
            size = Path(url.removeprefix("sqlite:///")).stat().st_size
            print(
                f"store file {size / 1e9:.2f} GB: {size / counts['decisions']:.0f} bytes per "
                "stored decision (decision, declaration as received, results, indexes)"
            )
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        start = time.perf_counter()
        written = export(store, Path(tmp) / "export")
        seconds = time.perf_counter() - start
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"export: {written}")
        print(
            f"export of {written['decisions']:,} decisions: {seconds:.0f} s "
            f"({written['decisions'] / seconds:,.0f} decisions/s; target 10 M in <= 180 s); "
            f"peak RSS {rss:.0f} MiB (before the export {rss_before:.0f} MiB)"
        )
        for file in sorted((Path(tmp) / "export").glob("*.parquet")):
            print(f"  {file.name}: {file.stat().st_size / 1e6:.0f} MB")
        store.close()
    print(machine_probe())


if __name__ == "__main__":
    main()
