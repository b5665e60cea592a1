"""``customs-risk store show DECLARATION_ID``: what was decided on a declaration and why (the
legal record): each decision with its channel, what selected it, scores, grade, profile hits with
their instructions, reasons, versions, request and client; the items as received; the outcomes."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class StoreShowOptions:
    """Inputs of ``customs-risk store show``."""

    declaration_id: str
    store_url: str | None = None  # default: CUSTOMS_RISK_STORE_URL or the SQLite default


def run(options: StoreShowOptions) -> int:
    """Print the record; 1 when the store holds nothing on the declaration."""
    from rich.console import Console

    from customs_risk.serving.store import Store

    with Store(options.store_url) as store:
        record = store.item_record(options.declaration_id)
    if not any(record.values()):
        print(f"nothing stored on declaration {options.declaration_id!r}", file=sys.stderr)
        return 1
    console = Console()
    console.print(f"[bold]declaration {options.declaration_id}[/bold]")
    for d in record["decisions"]:
        _print_decision(console, d)
    for item in record["declarations"]:
        fields = {k: v for k, v in item.items() if v is not None and k != "extra"}
        console.print(f"\n[bold]item {item['item_no']} as received[/bold] {_text(fields)}")
        if item.get("extra"):
            console.print(f"  further fields: {item['extra']}")
    for o in record["outcomes"]:
        console.print(f"\n[bold]outcome of item {o['item_no']}[/bold] {_text(o)}")
    return 0


def _print_decision(console: Any, d: dict[str, Any]) -> None:
    console.print(
        f"\n[bold]item {d['item_no']}: {str(d['channel']).upper()}[/bold] "
        f"(selected by {d['selected_by']}; model channel {d['model_channel']}) "
        f"decided {d['decided_at']} for declared_at {d['declared_at']}"
    )
    console.print(
        f"  scores: fraud {_num(d['fraud_probability'])}, critical "
        f"{_num(d['critical_probability'])}, expected revenue {_num(d['expected_revenue'])}, "
        f"risk score {_num(d['risk_score'])}; trader grade {d['trader_grade']}"
    )
    console.print(
        f"  propensity (red or orange) {_num(d['propensity'])}, red {_num(d['propensity_red'])}"
    )
    for hit in json.loads(d["profile_hits"] or "[]"):
        if isinstance(hit, dict):
            console.print(f"  profile {hit['id']} ({hit['title']}): {hit['instructions']}")
        else:
            console.print(f"  profile {hit}")
    for hit in json.loads(d.get("list_hits") or "[]"):
        if isinstance(hit, dict):
            lifted = "" if hit["imposed"] else ", lifted by the licence reference"
            head = f"  list {hit['kind']} {hit['id']} ({hit['title']}; {hit['channel']}{lifted})"
            console.print(f"{head}: {hit['instructions']} (source: {hit['source']})")
        else:
            console.print(f"  list entry {hit}")
    for reason in json.loads(d["reasons"] or "[]"):
        console.print(f"  reason: {reason}")
    console.print(
        f"  model {d['model_version']}, policy {d['policy_version']}, request {d['request_id']},"
        f" client {d['client_key'] or '(no key)'}, input sha256 {d['input_digest']}"
    )


def _num(value: Any) -> str:
    return "-" if value is None else f"{float(value):.4g}"


def _text(fields: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in fields.items() if k != "declaration_id")
