"""``customs-risk report traders``: the trader register at a date (every importer's grade with its
reasons), the grade migration to a later date, and each grade's later offence rate in the green
channel estimated from the random control (``evaluation.traders``); tables as parquet."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ReportTradersOptions:
    """Inputs of ``customs-risk report traders``."""

    data: Path
    as_of: str
    to: str
    horizon_days: int = 90
    out: Path = Path("reports/traders")
    seed: int = 0


def run(options: ReportTradersOptions) -> int:
    """Build and write; 2 on bad input (no dataset, dates out of order)."""
    from rich.console import Console
    from rich.table import Table

    from customs_risk.evaluation.compliance import ComplianceSettings
    from customs_risk.evaluation.traders import trader_register

    console = Console()
    try:
        result = trader_register(
            options.data,
            options.as_of,
            options.to,
            options.horizon_days,
            ComplianceSettings(seed=options.seed),
        )
    except (FileNotFoundError, ValueError) as exc:
        console.print(f"[red]report traders failed:[/red] {exc}")
        return 2
    options.out.mkdir(parents=True, exist_ok=True)
    result.register.to_parquet(options.out / "register.parquet", index=False)
    result.migration.reset_index().to_parquet(options.out / "migration.parquet", index=False)
    result.outcomes.to_parquet(options.out / "grade_outcomes.parquet", index=False)
    counts = result.register["grade"].value_counts().reindex(["A", "B", "C", "D"], fill_value=0)
    console.print(
        f"register at {options.as_of}: {len(result.register):,} importers "
        + ", ".join(f"{g} {n:,}" for g, n in counts.items())
    )
    matrix = Table(title=f"grade migration {options.as_of} -> {options.to} (importers)")
    matrix.add_column("from \\ to")
    for column in result.migration.columns:
        matrix.add_column(str(column), justify="right")
    for start, row in result.migration.iterrows():
        matrix.add_row(str(start), *(f"{int(v):,}" for v in row))
    console.print(matrix)
    later = Table(
        title=f"offence rate found in the green channel, the {options.horizon_days} days after "
        f"{options.as_of}, by grade then (95 % interval)"
    )
    for column in ("grade", "items", "rate", "interval", "n control"):
        later.add_column(column)
    for _, row in result.outcomes.iterrows():
        rate = row.get("offence_rate")
        later.add_row(
            str(row["grade"]),
            f"{int(row['items']):,}",
            "" if rate is None or rate != rate else f"{rate:.2%}",
            "" if rate is None or rate != rate else f"[{row['ci_low']:.2%}, {row['ci_high']:.2%}]",
            "" if rate is None or rate != rate else f"{int(row['n_control']):,}",
        )
    console.print(later)
    console.print(f"control sample: {result.sample}; tables written to {options.out}")
    return 0
