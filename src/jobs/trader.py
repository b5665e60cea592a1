"""``customs-risk trader``: the enquiry about one importer, printed as tables."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TraderOptions:
    """Inputs of ``customs-risk trader``."""

    importer_id: str
    data: Path = Path("data/raw/world")
    as_of: str | None = None  # enquiry date (default: the midnight after the data)


def run(options: TraderOptions) -> int:
    """Print the enquiry; exit code (1 if the importer is unknown, 2 without a dataset)."""
    from rich.console import Console

    from customs_risk.features.enquiry import render, trader_enquiry
    from customs_risk.jobs.io import read_dataset

    try:
        declarations, outcomes = read_dataset(options.data)
        enquiry = trader_enquiry(options.importer_id, declarations, outcomes, options.as_of)
    except FileNotFoundError as exc:
        Console(stderr=True).print(f"[red]error:[/red] {exc}")
        return 2
    except KeyError:
        Console(stderr=True).print(
            f"[red]error:[/red] no declarations of importer {options.importer_id}"
        )
        return 1
    render(enquiry)
    return 0
