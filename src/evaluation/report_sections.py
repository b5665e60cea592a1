"""The sections of ``customs-risk report``: each turns a table of ``evaluation`` into a page
(summary lines, Plotly figures, tables). Tables come in, nothing is computed here but what a plot
needs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from customs_risk.evaluation.report_page import Section, Table
from customs_risk.models.drift import PSI_LEVELS

COLOURS = {"red": "#c0392b", "orange": "#e67e22", "green": "#27ae60"}


def _go() -> Any:
    import plotly.graph_objects as go

    return go


def _pct(value: float) -> str:
    return "n/a" if not np.isfinite(value) else f"{value:.2%}"


def _interval_figure(table: pd.DataFrame, unit: str, title: str, x_title: str) -> Any:
    """Points with horizontal error bars, one row per unit (small samples in grey)."""
    go = _go()
    frame = table.sort_values("offence_rate")
    small = frame.get("small_sample", pd.Series(False, index=frame.index)).astype(bool)
    figure = go.Figure(
        go.Scatter(
            x=frame["offence_rate"],
            y=frame[unit].astype("str"),
            mode="markers",
            marker={"color": np.where(small, "#9aa5b1", "#1f5f99"), "size": 8},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": (frame["ci_high"] - frame["offence_rate"]).clip(lower=0),
                "arrayminus": (frame["offence_rate"] - frame["ci_low"]).clip(lower=0),
            },
            hovertemplate="%{y}: %{x:.2%}<extra></extra>",
        )
    )
    figure.update_layout(
        title=title,
        xaxis={"title": x_title, "tickformat": ".1%"},
        height=max(320, 22 * len(frame) + 120),
        margin={"l": 90, "r": 20, "t": 50, "b": 50},
    )
    return figure


def overview_section(facts: dict[str, Any]) -> Section:
    """What the report covers."""
    lines = [f"{k}: {v}" for k, v in facts.items()]
    return Section("overview", "Overview", summary=lines)


def compliance_section(table: pd.DataFrame, level: str, sample_source: str) -> Section:
    """Offence rate in the green channel with intervals: per unit of the level, and per month."""
    go = _go()
    whole = table[table["period"] == "all"]
    hq = whole[whole["level"] == "headquarters"]
    units = whole[whole["level"] == level] if level != "headquarters" else hq
    summary = [f"control sample: {sample_source}"]
    if len(hq):
        row = hq.iloc[0]
        summary.append(
            f"offence rate found by inspection in the green channel: {_pct(row['offence_rate'])} "
            f"[{_pct(row['ci_low'])}, {_pct(row['ci_high'])}] from {int(row['n_control']):,} "
            f"control items; duty at risk {row['duty_at_risk']:,.0f}"
        )
    figures = [
        _interval_figure(
            units,
            "unit",
            f"Offence rate in the green channel per {level} (95 % interval; grey: small sample)",
            "offence rate found by inspection",
        )
    ]
    monthly = table[(table["level"] == "headquarters") & (table["period"] != "all")]
    if len(monthly):
        monthly = monthly.sort_values("period")
        trend = go.Figure(
            [
                go.Scatter(
                    x=monthly["period"],
                    y=monthly["ci_high"],
                    mode="lines",
                    line={"width": 0},
                    showlegend=False,
                    hoverinfo="skip",
                ),
                go.Scatter(
                    x=monthly["period"],
                    y=monthly["ci_low"],
                    mode="lines",
                    line={"width": 0},
                    fill="tonexty",
                    fillcolor="rgba(31,95,153,0.2)",
                    name="95 % interval",
                ),
                go.Scatter(
                    x=monthly["period"],
                    y=monthly["offence_rate"],
                    mode="lines+markers",
                    name="offence rate",
                    line={"color": "#1f5f99"},
                ),
            ]
        )
        trend.update_layout(
            title="Offence rate in the green channel per month (headquarters)",
            yaxis={"tickformat": ".1%"},
            height=360,
        )
        figures.append(trend)
    columns = ["level", "unit", "period", "offence_rate", "ci_low", "ci_high", "duty_at_risk"]
    columns += ["n_control", "small_sample"]
    return Section(
        "compliance",
        "Compliance",
        summary=summary,
        figures=figures,
        tables=[Table("compliance-table", "Cells", table[columns], "compliance.parquet")],
        notes=[
            "Hajek estimate on the random-control items (weight 1 / propensity), exact "
            "Clopper-Pearson interval on the effective sample size; cells under the minimum "
            "sample are kept and marked small_sample."
        ],
    )


def no_control_section() -> Section:
    """Compliance without a control sample: said, not guessed."""
    return Section(
        "compliance",
        "Compliance",
        summary=[
            "no control sample: the folder has neither decisions with propensities "
            "(customs-risk store export) nor a generated world's legacy record, so the offence "
            "rate of the released goods cannot be estimated without bias"
        ],
        notes=[
            "A data set where only selected items carry results (or, like KCS, every item "
            "does) says nothing unbiased about what the green channel lets through."
        ],
    )


def profiles_section(table: pd.DataFrame) -> Section:
    """Per profile: hits, inspections, hit rate and lift over the control with intervals."""
    go = _go()
    judged = table[table["inspected"] > 0].sort_values("lift")
    figure = go.Figure(
        go.Scatter(
            x=judged["lift"],
            y=judged["profile_id"],
            mode="markers",
            marker={"size": 9, "color": "#1f5f99"},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": (judged["ci_high"] - judged["lift"]).clip(lower=0),
                "arrayminus": (judged["lift"] - judged["ci_low"]).clip(lower=0),
            },
        )
    )
    figure.add_vline(x=1.0, line_dash="dash", line_color="#c0392b")
    figure.update_layout(
        title="Lift of each profile's hit rate over the control group (95 % interval)",
        xaxis={"title": "hit rate / control rate", "type": "log"},
        height=max(300, 40 * len(judged) + 140),
    )
    volume = go.Figure(
        [
            go.Bar(x=table["profile_id"], y=table["hits"], name="hits", marker_color="#1f5f99"),
            go.Bar(
                x=table["profile_id"],
                y=table["inspected"],
                name="inspected",
                marker_color="#e67e22",
            ),
        ]
    )
    volume.update_layout(
        title="Items each profile hit, and those inspected", barmode="group", height=340
    )
    summary = [
        f"{len(table)} profiles, {int((table['hits'] > 0).sum())} with hits, "
        f"{int(table['inspected'].sum()):,} inspections spent on their hits"
    ]
    if len(table):
        summary.append(f"control group's rate: {_pct(float(table['control_rate'].iloc[0]))}")
    return Section(
        "profiles",
        "Profiles",
        summary=summary,
        figures=[volume, figure] if len(judged) else [volume],
        tables=[Table("profiles-table", "Profiles in force", table, "profiles.parquet")],
    )


def traders_section(register: Any) -> Section:
    """Grade distribution, migration matrix and each grade's later offence rate."""
    go = _go()
    counts = register.register["grade"].astype("str").value_counts().sort_index()
    bars = go.Figure(go.Bar(x=counts.index, y=counts.to_numpy(), marker_color="#1f5f99"))
    bars.update_layout(title="Importers per grade", height=320)
    matrix = register.migration
    heat = go.Figure(
        go.Heatmap(
            z=matrix.to_numpy(dtype=np.float64),
            x=[str(c) for c in matrix.columns],
            y=[str(i) for i in matrix.index],
            colorscale="Blues",
            texttemplate="%{z}",
        )
    )
    heat.update_layout(
        title="Grade migration (rows: grade before, columns: after)",
        yaxis={"autorange": "reversed"},
        height=380,
    )
    outcome = register.outcomes
    return Section(
        "traders",
        "Traders",
        summary=[f"{len(register.register):,} importers graded", f"sample: {register.sample}"],
        figures=[bars, heat],
        tables=[
            Table("grade-outcomes", "Later offence rate per grade", outcome),
            Table("register", "Register", register.register, "traders.parquet"),
        ],
    )


def monitoring_section(trends: pd.DataFrame, drift: pd.DataFrame | None, note: str) -> Section:
    """Channel shares and hit rates per period; score drift per period where scores exist."""
    go = _go()

    def per_channel(column: str, **style: Any) -> Any:
        return go.Figure(
            [
                go.Scatter(
                    x=part["period"],
                    y=part[column],
                    name=channel,
                    line={"color": COLOURS.get(str(channel))},
                    **style,
                )
                for channel, part in trends.groupby("channel", sort=False)
            ]
        )

    shares = per_channel("share", mode="lines", stackgroup="one")
    shares.update_layout(title="Channel shares per period", yaxis={"tickformat": ".0%"}, height=360)
    hits = per_channel("hit_rate", mode="lines+markers")
    hits.update_layout(
        title="Hit rate per channel and period (results with an offence found)",
        yaxis={"tickformat": ".0%"},
        height=360,
    )
    figures = [shares, hits]
    tables = [Table("channel-trends", "Channels per period", trends, "monitoring.parquet")]
    summary = [note]
    if drift is not None and len(drift):
        psi_plot = go.Figure(go.Bar(x=drift["period"], y=drift["psi"], marker_color="#1f5f99"))
        for bound, label in PSI_LEVELS[:-1]:
            psi_plot.add_hline(
                y=bound, line_dash="dash", annotation_text=f"{bound} ({label} below)"
            )
        psi_plot.update_layout(
            title="Score drift: PSI of the risk score per period against the reference",
            height=340,
        )
        figures.append(psi_plot)
        tables.append(Table("score-drift", "Score drift", drift, "drift.parquet"))
        worst = drift.iloc[int(np.nanargmax(drift["psi"].to_numpy(dtype=np.float64)))]
        summary.append(f"largest PSI {worst['psi']:.3f} in {worst['period']} ({worst['reading']})")
    return Section("monitoring", "Monitoring", summary=summary, figures=figures, tables=tables)


def tariff_section(
    duty: pd.DataFrame,
    prices: pd.DataFrame,
    references: pd.DataFrame,
    suspects: pd.DataFrame,
    evidence: pd.DataFrame,
    level: str,
) -> Section:
    """Duty declared and recovered, price tendencies, references and suspects."""
    go = _go()
    figures = []
    chapters = duty[duty["dimension"] == "chapter"].nlargest(15, "duty_declared")
    bars = go.Figure(
        [
            go.Bar(x=chapters["unit"], y=chapters["duty_declared"], name="duty declared"),
            go.Bar(
                x=chapters["unit"], y=chapters["recovered_duty"], name="recovered by inspection"
            ),
        ]
    )
    bars.update_layout(
        title="Duty declared and recovered: the 15 chapters with the most duty",
        barmode="group",
        yaxis={"type": "log"},
        height=360,
    )
    figures.append(bars)
    months = duty[duty["dimension"] == "month"].sort_values("unit")
    trend = go.Figure(
        [
            go.Scatter(x=months["unit"], y=months["duty_declared"], name="duty declared"),
            go.Scatter(x=months["unit"], y=months["recovered_duty"], name="recovered", yaxis="y2"),
        ]
    )
    trend.update_layout(
        title="Duty per month (recovered on the right axis)",
        yaxis2={"overlaying": "y", "side": "right"},
        height=340,
    )
    figures.append(trend)
    unit = {"office": "office_id", "district": "district_id"}.get(level)
    if unit is not None and (duty["dimension"] == unit).any():
        units = duty[duty["dimension"] == unit].sort_values("recovered_share")
        share = go.Figure(go.Bar(x=units["recovered_share"], y=units["unit"], orientation="h"))
        share.update_layout(
            title=f"Recovered duty as a share of duty declared, per {level}",
            xaxis={"tickformat": ".2%"},
            height=max(300, 20 * len(units) + 120),
        )
        figures.append(share)
    if len(prices):
        busiest = (
            prices.groupby(["hs6", "origin_country", "basis"])["n_items"].sum().nlargest(4).index
        )
        tendency = go.Figure()
        for hs6, origin, basis in busiest:
            cell = prices[
                (prices["hs6"] == hs6)
                & (prices["origin_country"] == origin)
                & (prices["basis"] == basis)
            ].sort_values("month")
            name = f"{hs6} {origin} (per {basis})"
            tendency.add_scatter(
                x=cell["month"],
                y=cell["median"],
                name=name,
                mode="lines+markers",
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": cell["band_high"] - cell["median"],
                    "arrayminus": cell["median"] - cell["band_low"],
                },
            )
        tendency.update_layout(
            title="Price tendency: monthly median unit value with its 10-90 % band "
            "(the four busiest HS6 x origin)",
            yaxis={"type": "log"},
            height=380,
        )
        figures.append(tendency)
    top = suspects.head(30)
    if len(top):
        ranked = go.Figure(
            go.Bar(
                x=top["score"],
                y=top["importer_id"],
                orientation="h",
                text=top["n_items"].astype("str") + " items",
                marker_color="#c0392b",
            )
        )
        ranked.update_layout(
            title="Suspected price-fraud enterprises: the 30 highest scores",
            yaxis={"autorange": "reversed"},
            height=max(320, 20 * len(top) + 120),
        )
        figures.append(ranked)
    declared = float(duty.loc[duty["dimension"] == "chapter", "duty_declared"].sum())
    recovered = float(duty.loc[duty["dimension"] == "chapter", "recovered_duty"].sum())
    summary = [
        f"duty declared {declared:,.0f}; recovered by inspection {recovered:,.0f} "
        f"({recovered / declared if declared else 0:.2%})",
        f"{len(suspects):,} importers ranked; {len(references):,} reference prices; "
        f"{len(prices):,} price-tendency cells",
    ]
    return Section(
        "tariff",
        "Tariff analysis",
        summary=summary,
        figures=figures,
        tables=[
            Table(
                "suspects-table", "Suspected price-fraud enterprises", suspects, "suspects.parquet"
            ),
            Table(
                "evidence-table",
                "Evidence: the suspects' items against the reference",
                evidence,
                "suspect_evidence.parquet",
            ),
            Table("references-table", "Reference prices", references, "references.parquet"),
            Table("duty-table", "Duty per dimension and unit", duty, "duty.parquet"),
        ],
        notes=[
            "Suspect score: each item against the reference of the other importers' items, "
            "shrunk per importer (empirical Bayes) with its inspection record; evidence to "
            "examine, not an offence (docs/reports.md)."
        ],
    )


ENFORCEMENT_COLUMNS: tuple[str, ...] = (
    "unit",
    "district_id",
    "inspections",
    "inspection_rate",
    "hit_rate",
    "hit_rate_red",
    "hit_rate_orange",
    "lift",
    "lift_low",
    "lift_high",
    "recovered_per_inspection",
    "overrides",
    "top_override_reason",
    "high_risk_release_rate",
    "expected",
    "observed",
    "ratio",
    "flag_statistic",
    "lower_limit",
    "upper_limit",
    "flag",
)


def enforcement_section(result: Any, level: str, record_source: str) -> Section:
    """The funnel plot of the units' standardised hit ratios, with the flags and the table."""
    go = _go()
    table, funnel = result.table, result.funnel
    curve = funnel.curve
    colours = table["flag"].map({"low": "#c0392b", "high": "#1f5f99"}).fillna("#7f8c8d")
    plot = go.Figure(
        [
            go.Scatter(
                x=curve["expected"], y=curve["upper"], mode="lines", name="upper limit",
                line={"dash": "dash", "color": "#7f8c8d"},
            ),
            go.Scatter(
                x=curve["expected"], y=curve["lower"], mode="lines", name="lower limit",
                line={"dash": "dash", "color": "#7f8c8d"},
            ),
            go.Scatter(
                x=table["expected"],
                y=table["ratio"],
                mode="markers+text",
                text=table["unit"].where(table["flag"] != "", ""),
                textposition="top center",
                marker={"color": colours, "size": 9},
                name=level,
                customdata=table[["unit", "flag_statistic"]].to_numpy(),
                hovertemplate="%{customdata[0]}: ratio %{y:.2f}, expected %{x:.1f} hits, "
                "z %{customdata[1]:.2f}<extra></extra>",
            ),
        ]
    )  # fmt: skip
    plot.add_hline(y=1.0, line_color="#2c3e50")
    plot.update_layout(
        title=f"Funnel plot: observed / expected hits per {level} "
        f"({funnel.z_limit:.2f} sd limits, overdispersion {funnel.phi:.2f})",
        xaxis={"title": "expected hits (volume)", "type": "log"},
        yaxis={"title": "observed / expected"},
        height=460,
    )
    rates = table.sort_values("hit_rate")
    bars = go.Figure(
        [
            go.Bar(y=rates["unit"], x=rates["hit_rate_red"], name="red", orientation="h",
                   marker_color=COLOURS["red"]),
            go.Bar(y=rates["unit"], x=rates["hit_rate_orange"], name="orange", orientation="h",
                   marker_color=COLOURS["orange"]),
        ]
    )  # fmt: skip
    bars.update_layout(
        title=f"Hit rate by channel per {level}",
        barmode="group",
        xaxis={"tickformat": ".0%"},
        height=max(320, 26 * len(rates) + 120),
    )
    flagged = table[table["flag"] != ""]
    summary = [
        f"decision record: {record_source}",
        f"reference hit rate of the inspections recommended red or orange: "
        f"{_pct(result.reference_rate)}",
        f"{len(flagged)} of {len(table)} units flagged"
        + (
            ": " + ", ".join(f"{u} ({f}, z {z:.2f})" for u, f, z in
                             flagged[["unit", "flag", "flag_statistic"]].itertuples(index=False))
            if len(flagged) else ""
        ),
    ]  # fmt: skip
    columns = [c for c in ENFORCEMENT_COLUMNS if c in table.columns]
    return Section(
        "enforcement",
        "Law enforcement",
        summary=summary,
        figures=[plot, bars],
        tables=[Table("enforcement-table", f"Per {level}", table[columns], "offices.parquet")],
        notes=[
            "Flags: funnel plot of observed over expected hits, expectations from the other "
            "units' hit rates in the same strata (recommended channel x selection x HS chapter), "
            "99.8 % limits with a multiplicative overdispersion correction (Spiegelhalter 2005); "
            "docs/enforcement.md."
        ],
    )
