"""``customs-risk report --data DIR --out OUT``: the analysts' report of a dataset folder (a
store export, a generated world, an imported data set such as KCS): compliance, law
enforcement, tariff analysis, profiles, traders and monitoring, at headquarters, district and
office level (``evaluation.report_build``). Writes ``OUT/index.html`` (one self-contained file, a
page per section) and every table as parquet beside it."""

from __future__ import annotations

from customs_risk.evaluation.report_build import ReportOptions
from customs_risk.evaluation.units import LEVELS

__all__ = ["ReportOptions", "run"]


def run(options: ReportOptions) -> int:
    """Build and write the report; 2 on bad input (the message names the file or field)."""
    from rich.console import Console

    from customs_risk.evaluation.report_build import build_sections, load_inputs
    from customs_risk.evaluation.report_page import render

    console = Console(stderr=True)
    if options.level not in LEVELS:
        console.print(f"[red]report failed:[/red] --level must be one of {', '.join(LEVELS)}")
        return 2
    try:
        with console.status("reading the data") as status:
            inputs = load_inputs(options)

            def step(name: str) -> None:
                status.update(f"section: {name}")
                console.print(f"section {name}")

            sections, tables = build_sections(inputs, options, step)
    except (FileNotFoundError, ValueError, KeyError) as exc:
        console.print(f"[red]report failed:[/red] {exc}")
        return 2
    options.out.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        table.to_parquet(options.out / f"{name}.parquet", index=False)
    start, end = inputs.window
    page = render(
        "customs-risk report",
        f"{options.data} - {start:%Y-%m-%d} to {end:%Y-%m-%d} - level {options.level}",
        sections,
    )
    (options.out / "index.html").write_text(page, encoding="utf-8")
    console.print(
        f"report written to {options.out / 'index.html'} ({len(sections)} sections; tables: "
        f"{', '.join(sorted(tables))})"
    )
    return 0
