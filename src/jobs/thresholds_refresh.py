"""``customs-risk thresholds refresh``: recalibrate the served model's thresholds, write them."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ThresholdsRefreshOptions:
    """Inputs of ``customs-risk thresholds refresh``."""

    declarations: Path  # parquet file or dataset folder
    out: Path  # the thresholds JSON the service follows
    alias: str = "champion"
    profiles: Path | None = Path("profiles")
    as_of: str | None = None  # ISO date the thresholds serve (default: after the data)
    period_start: str | None = None  # ISO date (default: the 1st of the month)
    window_days: float = 28.0
    horizon_days: float = 3.0
    store_url: str | None = None  # default: CUSTOMS_RISK_STORE_URL


def run(options: ThresholdsRefreshOptions) -> int:
    """Refresh, write, print per office; exit code (2: bad input, nothing written)."""
    import datetime as dt

    from customs_risk.models.tracking import MlflowSettings
    from customs_risk.selection.profiles import load_profiles
    from customs_risk.serving.store import Store
    from customs_risk.serving.thresholds_refresh import (
        read_declarations,
        refresh_served_thresholds,
        write_atomically,
    )

    o = options
    try:
        frame = read_declarations(o.declarations)
        profile_set = load_profiles(o.profiles) if o.profiles and o.profiles.exists() else None
        store = Store(o.store_url) if o.store_url else Store.from_env()
        with store:
            result = refresh_served_thresholds(
                frame,
                store,
                MlflowSettings(),
                alias=o.alias,
                profiles=profile_set,
                as_of=None if o.as_of is None else dt.date.fromisoformat(o.as_of),
                period_start=(
                    None if o.period_start is None else dt.date.fromisoformat(o.period_start)
                ),
                window_days=o.window_days,
                horizon_days=o.horizon_days,
            )
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    write_atomically(result.thresholds, o.out)
    t = result.thresholds
    print(
        f"{o.out}: thresholds of {result.model_version} for {result.as_of}, calibrated on "
        f"{result.rows:,} items, paced by {result.decided_rows:,} decisions since "
        f"{result.period_start} ({len(t.offices)} offices)"
    )
    for office, cut in sorted(t.offices.items()):
        paced = "" if cut.target_red is None else f"  paced targets red {cut.target_red:.2%}"
        if cut.target_orange is not None:
            paced += f" orange {cut.target_orange:.2%}"
        print(f"  {office:<12} red >= {cut.red:.4g}  orange >= {cut.orange:.4g}{paced}")
    for warning in t.warnings:
        print(f"  warning: {warning}")
    return 0
