"""Export the store to parquet: ``outcomes.parquet`` (the outcome contract) and decisions."""

from __future__ import annotations

import sys
from pathlib import Path

import sqlalchemy as sa

from customs_risk.data.contracts import OUTCOMES_FILE, OutcomeSchema
from customs_risk.serving.store import Store, StoreSettings

DECISIONS_FILE = "decisions.parquet"


def export(store: Store, out_dir: Path | str) -> dict[str, int]:
    """Write ``outcomes.parquet`` (validated against OutcomeSchema) and ``decisions.parquet``.

    Returns the row counts written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    outcomes = OutcomeSchema.validate(store.outcomes_frame())
    decisions = store.decisions_frame()
    outcomes.to_parquet(out / OUTCOMES_FILE, index=False)
    decisions.to_parquet(out / DECISIONS_FILE, index=False)
    return {"outcomes": len(outcomes), "decisions": len(decisions)}


def _missing_sqlite_file(url: str) -> Path | None:
    """The SQLite file a URL names when it does not exist (export never creates a store)."""
    parsed = sa.make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    return None if database.startswith("file:") or Path(database).is_file() else Path(database)


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def run_export_command(out: Path, store_url: str | None) -> int:
    """CLI body: export and print counts; 2 on a bad or unreachable store URL."""
    url = store_url or StoreSettings().resolved_url()
    try:
        missing = _missing_sqlite_file(url)
        if missing is not None:
            return _fail(f"no store at {missing} (SQLite file not found)")
        with Store(url) as store:
            counts = export(store, out)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError) as exc:
        return _fail(f"bad store URL: {exc}")
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
        return _fail(f"cannot open the store: {exc.orig or exc}")
    except OSError as exc:
        return _fail(f"cannot open the store: {exc}")
    print(f"outcomes   {counts['outcomes']}")
    print(f"decisions  {counts['decisions']}")
    print(f"written to {out}")
    return 0
