"""``customs-risk keys add|revoke|list``: the API keys of the scoring service, in the store."""

from __future__ import annotations

import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class KeysOptions:
    """Inputs of ``customs-risk keys``: ``action`` add, revoke or list."""

    action: str
    name: str | None = None
    scope: str = "score"
    rate_per_second: float | None = None
    store_url: str | None = None  # default: CUSTOMS_RISK_STORE_URL or the SQLite default


def run(options: KeysOptions) -> int:
    """Do the action; 2 with a message on a bad name, scope or rate, or an unknown key."""
    from customs_risk.serving.keys import KeyProblem, add_key, list_keys, revoke_key
    from customs_risk.serving.store import Store

    try:
        with Store(options.store_url) as store:
            if options.action == "add":
                assert options.name is not None
                key = add_key(store, options.name, options.scope, options.rate_per_second)
                print(key)
                print(
                    f"key {options.name!r} (scope {options.scope}) made: it is shown only now; "
                    "send it as 'Authorization: Bearer <key>'",
                    file=sys.stderr,
                )
            elif options.action == "revoke":
                assert options.name is not None
                revoke_key(store, options.name)
                print(f"key {options.name!r} revoked (the service refuses it within 5 s)")
            else:
                _print_keys(list_keys(store))
    except KeyProblem as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _print_keys(keys: list[dict[str, object]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("name", "scope", "rate/s", "created (UTC)", "revoked (UTC)")
    for k in keys:
        rate = k["rate_per_second"]
        table.add_row(
            str(k["name"]),
            str(k["scope"]),
            "default" if rate is None else f"{rate:g}",
            str(k["created_at"])[:19],
            "" if k["revoked_at"] is None else str(k["revoked_at"])[:19],
        )
    Console().print(table)
