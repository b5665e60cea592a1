"""``customs-risk import kcs``: the public KCS data set into a canonical dataset folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ImportKcsOptions:
    """Inputs of ``customs-risk import kcs``."""

    files: tuple[Path, ...]
    out: Path = Path("data/raw/kcs")
    result_lag_days: int = 0


def run(options: ImportKcsOptions) -> int:
    """Import and print the row counts; 2 when a file is missing."""
    from rich.console import Console

    from customs_risk.data.kcs import import_kcs

    console = Console()
    missing = [str(f) for f in options.files if not Path(f).exists()]
    if missing:
        console.print(f"[red]error:[/red] not found: {', '.join(missing)}")
        return 2
    counts = import_kcs(list(options.files), options.out, options.result_lag_days)
    console.print(f"imported {counts} into {options.out}")
    return 0
