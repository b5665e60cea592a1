"""``customs-risk store export`` (also ``outcomes export``): the store as a dataset folder
(declarations, outcomes, other-source outcomes, decisions), counts printed."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class OutcomesExportOptions:
    """Inputs of ``customs-risk outcomes export``."""

    out: Path
    store_url: str | None = None  # default: CUSTOMS_RISK_STORE_URL or the SQLite default


def _missing_sqlite_file(url: str) -> Path | None:
    """The SQLite file a URL names when it does not exist (export never creates a store)."""
    import sqlalchemy as sa

    parsed = sa.make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    return None if database.startswith("file:") or Path(database).is_file() else Path(database)


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def run(options: OutcomesExportOptions) -> int:
    """Export and print counts; 2 on a bad or unreachable store URL."""
    import sqlalchemy as sa

    from customs_risk.serving.export import export
    from customs_risk.serving.store import Store, StoreSettings

    try:
        url = options.store_url or StoreSettings().resolved_url()
        missing = _missing_sqlite_file(url)
        if missing is not None:
            return _fail(f"no store at {missing} (SQLite file not found)")
        with Store(url) as store:
            counts = export(store, options.out)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError) as exc:
        return _fail(f"bad store URL: {exc}")
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
        return _fail(f"cannot open the store: {exc.orig or exc}")
    except OSError as exc:
        return _fail(f"cannot open the store: {exc}")
    print(f"declarations {counts['declarations']}")
    print(f"outcomes   {counts['outcomes']}")
    print(f"other sources {counts['other_sources']} (kept apart: outcomes_other_sources.parquet)")
    print(f"decisions  {counts['decisions']}")
    print(f"written to {options.out}")
    return 0
