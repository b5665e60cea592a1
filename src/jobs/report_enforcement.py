"""``customs-risk report enforcement``: the law-enforcement evaluation (``evaluation.enforcement``)
of a dataset folder: per office (and district or headquarters) inspections and hit rates by
channel, lift over the random control, recovered duty, overrides, release of high-risk items,
and the funnel test that flags abnormal units with its figures beside each flag.

Files in ``--out``: ``offices.parquet`` (always, one row per office);
``enforcement_district.parquet`` or ``enforcement_headquarters.parquet`` for those levels (named
apart from the dataset's ``districts.parquet`` mapping); ``funnel_<level>.parquet`` (the control
limits over expected hits) and ``funnel_<level>.png`` (the funnel plot).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console

    from customs_risk.evaluation.enforcement import EnforcementResult

OFFICES_FILE = "offices.parquet"


@dataclass(frozen=True)
class ReportEnforcementOptions:
    """Inputs of ``customs-risk report enforcement``."""

    data: Path
    out: Path = Path("reports/enforcement")
    level: str = "office"
    confidence: float = 0.998
    method: str = "multiplicative"


def level_file(level: str) -> str:
    """The table of a level other than office (offices.parquet is the office table)."""
    return OFFICES_FILE if level == "office" else f"enforcement_{level}.parquet"


def run(options: ReportEnforcementOptions) -> int:
    """Evaluate, write, print the flagged units; 2 on bad input (no dataset, unknown level)."""
    from rich.console import Console

    from customs_risk.evaluation.decision_record import read_decision_record
    from customs_risk.evaluation.enforcement import EnforcementSettings, enforcement
    from customs_risk.evaluation.funnel import FunnelSettings
    from customs_risk.evaluation.units import level_column, read_districts
    from customs_risk.models.dataset import load_training_data

    console = Console()
    try:
        level_column(options.level)
        funnel = FunnelSettings(confidence=options.confidence, method=options.method)
        declarations, outcomes = load_training_data(options.data)
        record = read_decision_record(options.data, declarations)
        districts = read_districts(options.data)
        settings = EnforcementSettings(funnel=funnel)
        offices = enforcement(declarations, outcomes, record, districts, "office", settings)
        chosen = offices
        if options.level != "office":
            chosen = enforcement(declarations, outcomes, record, districts, options.level, settings)
    except (FileNotFoundError, ValueError) as exc:
        console.print(f"[red]report enforcement failed:[/red] {exc}")
        return 2
    out = options.out
    out.mkdir(parents=True, exist_ok=True)
    offices.table.to_parquet(out / OFFICES_FILE, index=False)
    if options.level != "office":
        chosen.table.to_parquet(out / level_file(options.level), index=False)
    chosen.funnel.curve.to_parquet(out / f"funnel_{options.level}.parquet", index=False)
    plot = out / f"funnel_{options.level}.png"
    _plot_funnel(chosen, plot)
    console.print(f"decision record: {record.source}")
    if districts is None:
        console.print("no districts.parquet: every office in district UNASSIGNED")
    _print(console, chosen, options)
    console.print(f"tables written to {out}, funnel plot {plot}")
    return 0


def _print(console: Console, result: EnforcementResult, options: ReportEnforcementOptions) -> None:
    from rich.table import Table

    f, t = result.funnel, result.table
    phi = float(t["overdispersion"].iloc[0]) if len(t) else 1.0
    spread = f"overdispersion phi {phi:.2f}"
    if options.method == "additive":
        spread = f"between-unit variance {f.tau2:.4f}"
    if options.level != "office":
        spread += " (with the offices' spread carried up)"
    console.print(
        f"{len(t)} units at {options.level} level; reference hit rate of inspections "
        f"recommended red or orange {result.reference_rate:.2%}; funnel at "
        f"{options.confidence:.1%} (|z| > {f.z_limit:.2f}), {options.method}, {spread}"
    )
    if result.unplaced:
        console.print(f"{result.unplaced} outcome rows of items not among the declarations")
    flagged = t[t["flag"] != ""].sort_values("flag_statistic")
    if flagged.empty:
        console.print("no unit flagged")
        return
    view = Table(title="flagged units: hits of inspections recommended red or orange")
    columns = ("unit", "district", "flag", "z", "expected", "observed", "ratio", "limits")
    for column in (*columns, "inspected", "overrides", "released", "lift"):
        view.add_column(column)
    for _, row in flagged.iterrows():
        view.add_row(*_cells(row))
    console.print(view)


def _cells(row: pd.Series) -> list[str]:
    def num(value: object, spec: str) -> str:
        return "" if value is None or value != value else format(value, spec)

    return [
        str(row["unit"]),
        "" if row["district_id"] != row["district_id"] else str(row["district_id"]),
        str(row["flag"]),
        num(row["flag_statistic"], ".2f"),
        num(row["expected"], ".1f"),
        f"{int(row['observed']):,}",
        num(row["ratio"], ".2f"),
        f"[{num(row['lower_limit'], '.2f')}, {num(row['upper_limit'], '.2f')}]",
        f"{int(row['high_risk_inspected']):,}",
        f"{int(row['overrides']):,}",
        num(row["high_risk_release_rate"], ".1%"),
        num(row["lift"], ".2f"),
    ]


def _plot_funnel(result: EnforcementResult, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t, curve = result.table, result.funnel.curve
    fig, ax = plt.subplots(figsize=(8, 5))
    ax.plot(curve["expected"], curve["lower"], color="tab:red", linestyle="--", label="limits")
    ax.plot(curve["expected"], curve["upper"], color="tab:red", linestyle="--")
    ax.axhline(1.0, color="tab:grey")
    colours = {"low": "tab:red", "high": "tab:orange", "": "tab:blue"}
    ax.scatter(t["expected"], t["ratio"], c=[colours[f] for f in t["flag"]], zorder=3)
    for _, row in t[t["flag"] != ""].iterrows():
        ax.annotate(str(row["unit"]), (row["expected"], row["ratio"]), fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("expected hits (inspections recommended red or orange, by their strata)")
    ax.set_ylabel("observed / expected hits")
    ax.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
