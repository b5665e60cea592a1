"""``customs-risk report compliance``: the offence rate and the duty at risk in the green channel
per month, office, HS chapter, origin (and trader grade where decisions record it), estimated
from the random control with 95 % intervals (``evaluation.compliance``); writes the table as
parquet and a plot of the offices beside it, prints the overall figure and the highest cells."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ReportComplianceOptions:
    """Inputs of ``customs-risk report compliance``."""

    data: Path
    out: Path = Path("reports/compliance.parquet")
    min_sample: int = 30
    resamples: int = 1000
    seed: int = 0
    params: Path | None = None  # params.yaml whose world: made the data (truth-based figures)


def run(options: ReportComplianceOptions) -> int:
    """Estimate and write; 2 when the folder has no data or no control sample."""
    from rich.console import Console
    from rich.table import Table

    from customs_risk.data.world_config import load_world_config
    from customs_risk.evaluation.compliance import ComplianceSettings, compliance_report

    console = Console()
    settings = ComplianceSettings(options.min_sample, options.resamples, options.seed)
    try:
        world = load_world_config(options.params) if options.params is not None else None
        table, source = compliance_report(options.data, settings, world)
    except (FileNotFoundError, ValueError) as exc:
        console.print(f"[red]report compliance failed:[/red] {exc}")
        return 2
    options.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_parquet(options.out, index=False)
    plot = options.out.with_suffix(".png")
    _plot_offices(table, plot)
    console.print(f"control sample: {source}")
    view = Table(title="offence rate found by inspection in the green channel (95 % interval)")
    for column in ("level", "unit", "rate", "interval", "duty at risk", "n control", "note"):
        view.add_column(column)
    overall = table[table["level"] == "all"]
    judged = table[(table["level"] != "all") & ~table["small_sample"]]
    highest = judged.sort_values("ci_low", ascending=False).head(10)
    for _, row in [*overall.iterrows(), *highest.iterrows()]:
        view.add_row(
            row["level"],
            row["unit"],
            f"{row['offence_rate']:.2%}",
            f"[{row['ci_low']:.2%}, {row['ci_high']:.2%}]",
            f"{row['duty_at_risk']:,.0f}",
            f"{int(row['n_control']):,}",
            "small sample" if row["small_sample"] else "",
        )
    console.print(view)
    small = int(table["small_sample"].sum())
    console.print(
        f"{len(table)} cells ({small} below {options.min_sample} control items, kept and "
        f"marked); written to {options.out}, offices plotted in {plot}"
    )
    return 0


def _plot_offices(table, path: Path) -> None:  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    offices = table[table["level"] == "office"].sort_values("offence_rate")
    overall = table[table["level"] == "all"]["offence_rate"]
    fig, ax = plt.subplots(figsize=(8, max(3.0, 0.25 * len(offices))))
    y = range(len(offices))
    low = (offices["offence_rate"] - offices["ci_low"]).clip(lower=0)
    high = (offices["ci_high"] - offices["offence_rate"]).clip(lower=0)
    colours = ["tab:grey" if s else "tab:blue" for s in offices["small_sample"]]
    ax.errorbar(offices["offence_rate"], y, xerr=[low, high], fmt="none", ecolor="tab:grey")
    ax.scatter(offices["offence_rate"], y, c=colours, zorder=3)
    if len(overall):
        ax.axvline(float(overall.iloc[0]), color="tab:red", linestyle="--", label="all offices")
        ax.legend(loc="lower right")
    ax.set_yticks(list(y), offices["unit"])
    ax.set_xlabel("offence rate found by inspection, green channel (95 % interval; grey: small)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
