"""``customs-risk validate``: check a dataset folder, print the report, quarantine bad rows."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ValidateOptions:
    """Inputs of ``customs-risk validate``."""

    data_dir: Path
    show: int = 30  # violations listed one by one


def run(options: ValidateOptions) -> int:
    """Print the report; 0 valid, 1 rows rejected, 2 no dataset."""
    from rich.console import Console
    from rich.table import Table

    from customs_risk.data.contracts import QUARANTINE_FILE
    from customs_risk.data.validation import validate_dataset

    console = Console()
    data_dir, show = options.data_dir, options.show
    try:
        report = validate_dataset(data_dir)
    except FileNotFoundError as error:
        console.print(f"[red]error:[/red] {error}")
        return 2
    sizes = ", ".join(f"{f}: {n:,} rows" for f, n in report.n_rows.items())
    if report.ok:
        console.print(f"[green]valid[/green] {data_dir} ({sizes})")
        return 0
    v = report.violations
    table = Table(title=f"{len(v):,} violations in {data_dir} ({sizes})")
    for column in ["file", "row", "column", "reason", "value"]:
        table.add_column(column)
    for record in v.head(show).itertuples(index=False):
        table.add_row(
            str(record.file),
            str(record.row),
            str(record.column),
            str(record.reason),
            str(record.value),
        )
    console.print(table)
    if len(v) > show:
        console.print(f"... {len(v) - show:,} more")
    summary = v.groupby(["file", "column", "reason"]).size().rename("rows").reset_index()
    for r in summary.itertuples(index=False):
        console.print(f"  {r.file} {r.column}: {r.reason} ({r.rows:,} rows)")
    n_rejected = sum(report.rejected_rows(f).size for f in report.n_rows)
    console.print(
        f"[red]{n_rejected:,} rows rejected[/red], written to {Path(data_dir) / QUARANTINE_FILE}"
    )
    return 1
