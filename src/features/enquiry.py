"""Trader enquiry: one importer's volume, inspections, findings, revenue and compliance grade."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from customs_risk.features.encoding import NS_PER_DAY, to_ns


@dataclass
class Enquiry:
    """Everything the enquiry shows about one importer as of a time."""

    importer_id: str
    as_of: pd.Timestamp
    volume: dict[str, Any]
    inspections: pd.DataFrame
    findings: pd.DataFrame
    grade: dict[str, Any]


def _default_as_of(declarations: pd.DataFrame) -> pd.Timestamp:
    last = int(to_ns(declarations["declared_at"]).max())
    return pd.Timestamp((last // NS_PER_DAY + 1) * NS_PER_DAY)


def trader_enquiry(
    importer_id: str,
    declarations: pd.DataFrame,
    outcomes: pd.DataFrame | None,
    as_of: Any = None,
) -> Enquiry:
    """The enquiry of ``importer_id`` from the declarations lodged and outcomes known before
    ``as_of`` (default: the midnight after the last declaration); KeyError if it is unknown."""
    from customs_risk.features.grades import grade_importers

    stamp = _default_as_of(declarations) if as_of is None else pd.Timestamp(as_of)
    cut = int(stamp.value)
    known = declarations[to_ns(declarations["declared_at"]) < cut]
    mine = known[known["importer_id"] == importer_id]
    if mine.empty:
        raise KeyError(importer_id)
    outcomes = outcomes if outcomes is not None else pd.DataFrame(columns=["declaration_id"])
    if len(outcomes):
        outcomes = outcomes[to_ns(outcomes["result_at"]) < cut]
    results = outcomes.merge(mine[["declaration_id", "item_no"]], on=["declaration_id", "item_no"])
    hs2 = mine["hs_code"].str.slice(0, 2).value_counts().head(3)
    volume = {
        "declaration items": len(mine),
        "declarations": mine["declaration_id"].nunique(),
        "customs value": float(mine["customs_value"].sum()),
        "duty declared": float(mine["duty_declared"].fillna(0).sum()),
        "first seen": str(mine["declared_at"].min()),
        "last seen": str(mine["declared_at"].max()),
        "top HS chapters": ", ".join(f"{k} ({v})" for k, v in hs2.items()),
        "offices": int(mine["office_id"].nunique()),
        "origins": int(mine["origin_country"].nunique()),
    }
    if len(results):
        inspections = (
            results.groupby("channel", observed=True)
            .agg(
                inspected=("fraud_found", "size"),
                offences=("fraud_found", "sum"),
                critical=("critical", "sum"),
                revenue=("recovered_revenue", "sum"),
            )
            .reset_index()
        )
        inspections["hit_rate"] = inspections["offences"] / inspections["inspected"]
        found = results[results["fraud_found"].astype(bool)]
        findings = (
            found.groupby("fraud_type", observed=True)
            .agg(count=("fraud_found", "size"), revenue=("recovered_revenue", "sum"))
            .reset_index()
        )
    else:
        inspections = pd.DataFrame(
            columns=["channel", "inspected", "offences", "critical", "revenue", "hit_rate"]
        )
        findings = pd.DataFrame(columns=["fraud_type", "count", "revenue"])
    graded = grade_importers((known, outcomes if len(outcomes) else None), stamp)
    row = graded[graded["importer_id"] == importer_id].iloc[0]
    grade = {str(k): v for k, v in row.to_dict().items()}
    return Enquiry(importer_id, stamp, volume, inspections, findings, grade)


def render(enquiry: Enquiry) -> None:
    """Print the enquiry as rich tables."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    g = enquiry.grade
    console.print(
        f"[bold]Trader {enquiry.importer_id}[/bold] as of {enquiry.as_of}: "
        f"grade [bold]{g['grade']}[/bold] ({g['label']})"
    )
    volume = Table(title="Volume", show_header=False)
    for key, value in enquiry.volume.items():
        volume.add_row(key, f"{value:,.2f}" if isinstance(value, float) else str(value))
    console.print(volume)
    for title, frame in (("Inspections", enquiry.inspections), ("Findings", enquiry.findings)):
        table = Table(title=title)
        for column in frame.columns:
            table.add_column(str(column))
        for _, values in frame.iterrows():
            table.add_row(
                *[f"{v:,.2f}" if isinstance(v, float | np.floating) else str(v) for v in values]
            )
        if frame.empty:
            table.add_row(*(["-"] * len(frame.columns)))
        console.print(table)
    grade = Table(title="Compliance grade", show_header=False)
    grade.add_row("grade", f"{g['grade']} ({g['label']})")
    grade.add_row("why", str(g["reasons"]))
    grade.add_row("smoothed offence rate", f"{g['offence_rate']:.3f} (prior {g['prior_rate']:.3f})")
    grade.add_row("inspections / offences", f"{g['n_inspections']} / {g['n_offences']}")
    grade.add_row("revenue recovered", f"{g['revenue_recovered']:,.2f}")
    console.print(grade)
