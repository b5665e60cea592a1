"""Aggregations and figures of the world notebook (notebooks/01_world.ipynb).

Every ``*_table`` function turns the world's frames into a small DataFrame; every ``plot_*``
function draws one such table and returns the matplotlib figure. The truth frame is read here
for evaluation only, as docs/world.md allows.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from customs_risk.data.contracts import (
    DECLARATIONS_FILE,
    DISTRICT_COLUMNS,
    OUTCOMES_FILE,
    TRUTH_FILE,
)
from customs_risk.data.generator import World, generate_world, write_world
from customs_risk.data.world_config import load_world_config
from customs_risk.evaluation.units import read_districts
from customs_risk.features.grades import GRADE_LABELS, GRADES, grade_importers

DATA_ENV = "CUSTOMS_RISK_DATA"
CHANNELS: tuple[str, ...] = ("red", "orange", "green")
CHANNEL_COLOURS: dict[str, str] = {"red": "tab:red", "orange": "tab:orange", "green": "tab:green"}
CLASSES: tuple[str, ...] = ("compliant", "opportunistic", "systematic")
DEVIATION_EPS = 1e-6  # |log ratio| above this counts as a declared value that differs


# --------------------------------------------------------------------------- loading


def data_dir(default: str | Path = "../data/raw/world") -> Path:
    """The world's folder: ``$CUSTOMS_RISK_DATA`` or ``default`` (relative to the cwd)."""
    return Path(os.environ.get(DATA_ENV) or default)


def load_world(
    folder: Path,
    rows: int = 200_000,
    seed: int = 7,
    params_path: Path | None = None,
) -> World:
    """Read the three parquet files of ``folder``; generate and write a world there first if
    any is missing (``rows`` items from ``seed``, parameters from ``params_path`` or defaults)."""
    folder = Path(folder)
    files = [folder / name for name in (DECLARATIONS_FILE, OUTCOMES_FILE, TRUTH_FILE)]
    if not all(f.exists() for f in files):
        params = params_path if params_path is not None and Path(params_path).exists() else None
        write_world(generate_world(load_world_config(params), rows, seed), folder)
    declarations, outcomes, truth = (pd.read_parquet(f) for f in files)
    districts = read_districts(folder)
    if districts is None:
        districts = pd.DataFrame({c: pd.Series(dtype="str") for c in DISTRICT_COLUMNS})
    return World(declarations=declarations, outcomes=outcomes, truth=truth, districts=districts)


def regime_start(truth: pd.DataFrame) -> pd.Timestamp | None:
    """First declaration time of the ``after`` regime (the new hub), None if there is none."""
    after = truth.loc[truth["regime"] == "after", "declared_at"]
    return None if after.empty else pd.Timestamp(after.min())


# --------------------------------------------------------------------------- rates


def overview_table(truth: pd.DataFrame) -> pd.DataFrame:
    """Headline counts and rates of the world, one row per figure."""
    inspected = truth["inspected"]
    found = truth["detected"]
    revenue = truth["true_revenue"]
    figures = {
        "items": len(truth),
        "declarations": truth["declaration_id"].nunique(),
        "importers": truth["importer_id"].nunique(),
        "first day": truth["declared_at"].min().date(),
        "last day": truth["declared_at"].max().date(),
        "offence rate": f"{truth['is_offence'].mean():.2%}",
        "critical offence rate": f"{truth['critical'].mean():.2%}",
        "inspection rate": f"{inspected.mean():.2%}",
        "hit rate of inspections": f"{found[inspected].mean():.2%}",
        "offences found / all offences": f"{found.sum() / truth['is_offence'].sum():.2%}",
        "revenue recovered / revenue at stake": f"{revenue[found].sum() / revenue.sum():.2%}",
    }
    return pd.DataFrame({"value": pd.Series(figures, dtype=object)})


def offence_types_table(truth: pd.DataFrame) -> pd.DataFrame:
    """Per true offence type: items, share of all items, critical share, revenue at stake."""
    offences = truth[truth["is_offence"]]
    table = offences.groupby("fraud_type").agg(
        items=("is_offence", "size"),
        critical_share=("critical", "mean"),
        revenue=("true_revenue", "sum"),
        detected_share=("detected", "mean"),
    )
    table.insert(1, "rate", table["items"] / len(truth))
    return table.sort_values("items", ascending=False)


def rates_table(truth: pd.DataFrame, by: str | pd.Series) -> pd.DataFrame:
    """Items, offence rate, inspection rate and hit rate (offences found per inspected item)
    per value of ``by`` (a truth column name or a Series aligned with ``truth``)."""
    key = truth[by] if isinstance(by, str) else by
    frame = pd.DataFrame(
        {
            "key": key.to_numpy(),
            "offence": truth["is_offence"].to_numpy(),
            "inspected": truth["inspected"].to_numpy(),
            "hit": (truth["detected"] & truth["inspected"]).to_numpy(),
        }
    )
    grouped = frame.groupby("key", sort=True)
    table = pd.DataFrame(
        {
            "items": grouped.size(),
            "offence_rate": grouped["offence"].mean(),
            "inspection_rate": grouped["inspected"].mean(),
            "hit_rate": grouped["hit"].sum() / grouped["inspected"].sum().replace(0, np.nan),
        }
    )
    table.index.name = by if isinstance(by, str) else (by.name or "key")
    return table


def monthly_rates_table(truth: pd.DataFrame) -> pd.DataFrame:
    """:func:`rates_table` by calendar month of declaration (index: month start)."""
    month = truth["declared_at"].dt.to_period("M").dt.to_timestamp().rename("month")
    return rates_table(truth, month)


def channel_table(truth: pd.DataFrame) -> pd.DataFrame:
    """Per legacy channel (inspected items only): items, share of all items, hit rate, the true
    offence rate among them and the share of their offences the inspection found."""
    inspected = truth[truth["inspected"]]
    grouped = inspected.groupby("legacy_channel")
    table = pd.DataFrame(
        {
            "items": grouped.size(),
            "inspection_rate": grouped.size() / len(truth),
            "hit_rate": grouped["detected"].mean(),
            "offence_rate": grouped["is_offence"].mean(),
            "detection_rate": grouped["detected"].sum() / grouped["is_offence"].sum(),
        }
    )
    return table.reindex([c for c in CHANNELS if c in table.index])


def selection_table(truth: pd.DataFrame) -> pd.DataFrame:
    """Hit rate of the inspected items by why the legacy policy picked them (its rule, or
    ``random`` / ``audit``: the unbiased picks)."""
    inspected = truth[truth["inspected"]]
    grouped = inspected.groupby("legacy_rule")
    table = pd.DataFrame(
        {
            "items": grouped.size(),
            "hit_rate": grouped["detected"].mean(),
            "offence_rate": grouped["is_offence"].mean(),
        }
    )
    return table.sort_values("hit_rate", ascending=False)


# --------------------------------------------------------------------------- prices


def price_deviation_frame(declarations: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """Per item: chapter, declared origin, true offence type and the log ratios declared / true
    of the customs value and of the unit value (value per supplementary unit)."""
    merged = declarations[
        ["declaration_id", "item_no", "hs_code", "origin_country", "customs_value", "quantity"]
    ].merge(
        truth[
            [
                "declaration_id",
                "item_no",
                "fraud_type",
                "true_customs_value",
                "true_quantity",
            ]
        ],
        on=["declaration_id", "item_no"],
        how="inner",
        validate="one_to_one",
    )
    declared_unit = merged["customs_value"] / merged["quantity"]
    true_unit = merged["true_customs_value"] / merged["true_quantity"]
    return pd.DataFrame(
        {
            "chapter": merged["hs_code"].str[:2],
            "origin_country": merged["origin_country"],
            "fraud_type": merged["fraud_type"],
            "log_value_ratio": np.log(merged["customs_value"] / merged["true_customs_value"]),
            "log_unit_value_ratio": np.log(declared_unit / true_unit),
        }
    )


def price_deviation_table(deviation: pd.DataFrame, by: str, top: int = 20) -> pd.DataFrame:
    """Per value of ``by`` (``chapter`` or ``origin_country``), the ``top`` largest by items:
    share of items whose declared value differs from the true one, mean log ratio over all
    items and over the deviating ones."""
    frame = deviation.assign(deviating=deviation["log_value_ratio"].abs() > DEVIATION_EPS)
    grouped = frame.groupby(by)
    table = pd.DataFrame(
        {
            "items": grouped.size(),
            "deviating_share": grouped["deviating"].mean(),
            "mean_log_ratio": grouped["log_value_ratio"].mean(),
            "mean_log_ratio_deviating": frame[frame["deviating"]]
            .groupby(by)["log_value_ratio"]
            .mean(),
        }
    )
    return table.nlargest(top, "items").sort_values("deviating_share", ascending=False)


# --------------------------------------------------------------------------- traders


def trader_activity_table(declarations: pd.DataFrame) -> pd.DataFrame:
    """Declarations and items per importer, most active first, with the cumulative share of
    declarations."""
    grouped = declarations.groupby("importer_id")
    table = pd.DataFrame(
        {"declarations": grouped["declaration_id"].nunique(), "items": grouped.size()}
    ).sort_values("declarations", ascending=False)
    table["cumulative_share"] = table["declarations"].cumsum() / table["declarations"].sum()
    return table


def activity_summary(activity: pd.DataFrame) -> pd.Series:
    """Long-tail figures: importers, median and max declarations, top-1 % and top-10 % shares,
    share of importers with fewer than 10 declarations."""
    n = len(activity)
    counts = activity["declarations"]
    total = counts.sum()
    return pd.Series(
        {
            "importers": n,
            "median declarations": float(counts.median()),
            "max declarations": int(counts.max()),
            "top 1% share of declarations": counts.iloc[: max(1, n // 100)].sum() / total,
            "top 10% share of declarations": counts.iloc[: max(1, n // 10)].sum() / total,
            "importers with < 10 declarations": float((counts < 10).mean()),
        },
        dtype=object,
    )


def grade_cut(truth: pd.DataFrame, fraction: float = 0.5) -> pd.Timestamp:
    """A grading date ``fraction`` of the way through the world (rounded down to the day)."""
    start, end = truth["declared_at"].min(), truth["declared_at"].max()
    return (start + fraction * (end - start)).normalize()


def grades_table(world: World, as_of: pd.Timestamp) -> pd.DataFrame:
    """The register graded as of ``as_of`` (from declarations and outcomes only), joined with
    what the truth says afterwards: items declared from ``as_of`` on, their offence rate, and
    the importer's latent class."""
    register = grade_importers((world.declarations, world.outcomes), as_of)
    truth = world.truth
    later = truth[truth["declared_at"] >= as_of]
    future = later.groupby("importer_id").agg(
        future_items=("is_offence", "size"), future_offences=("is_offence", "sum")
    )
    classes = truth.groupby("importer_id")["importer_class"].first()
    table = register.merge(future, on="importer_id", how="left").merge(
        classes.rename("importer_class"), on="importer_id", how="left"
    )
    table[["future_items", "future_offences"]] = (
        table[["future_items", "future_offences"]].fillna(0).astype(np.int64)
    )
    return table


def grade_summary(graded: pd.DataFrame) -> pd.DataFrame:
    """Per grade: importers, those still trading later, their items, the pooled future offence
    rate (offences / items after the cut) and the share of each latent class."""
    active = graded[graded["future_items"] > 0]
    grouped = graded.groupby("grade", observed=False)
    active_grouped = active.groupby("grade", observed=False)
    table = pd.DataFrame(
        {
            "label": [GRADE_LABELS[g] for g in GRADES],
            "importers": grouped.size(),
            "trading_later": active_grouped.size(),
            "future_items": active_grouped["future_items"].sum(),
            "future_offence_rate": active_grouped["future_offences"].sum()
            / active_grouped["future_items"].sum().replace(0, np.nan),
        },
        index=pd.Index(list(GRADES), name="grade"),
    )
    shares = pd.crosstab(graded["grade"], graded["importer_class"], normalize="index")
    for name in CLASSES:
        column = shares[name] if name in shares.columns else 0.0
        table[f"share_{name}"] = pd.Series(column, index=shares.index).reindex(table.index)
    return table


# --------------------------------------------------------------------------- plots


def _percent(ax: plt.Axes, axis: str = "y") -> None:
    from matplotlib.ticker import PercentFormatter

    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_formatter(PercentFormatter(1.0, decimals=1))


def plot_offence_types(types: pd.DataFrame) -> Figure:
    """Offence rate per true offence type, and the share of each type the legacy policy found."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.5))
    types["rate"].plot.barh(ax=left, color="tab:blue")
    left.set_title("offence rate by type (all items)")
    left.set_ylabel("")
    _percent(left, "x")
    types["detected_share"].plot.barh(ax=right, color="tab:gray")
    right.set_title("share of those offences found by the legacy policy")
    right.set_ylabel("")
    _percent(right, "x")
    fig.tight_layout()
    return fig


def plot_rates_by_office(rates: pd.DataFrame) -> Figure:
    """Offence, inspection and hit rate per office (offices ordered by volume)."""
    rates = rates.sort_values("items", ascending=False)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 6), sharex=True)
    x = np.arange(len(rates))
    top.bar(x, rates["items"], color="tab:gray")
    top.set_ylabel("items")
    top.set_title("volume per office")
    width = 0.27
    for i, (column, colour) in enumerate(
        [("offence_rate", "tab:purple"), ("inspection_rate", "tab:blue"), ("hit_rate", "tab:red")]
    ):
        bottom.bar(x + (i - 1) * width, rates[column], width, label=column, color=colour)
    bottom.set_xticks(x, rates.index, rotation=90)
    bottom.legend(ncols=3)
    bottom.set_title("offence rate (truth), inspection rate and hit rate (legacy) per office")
    _percent(bottom)
    fig.tight_layout()
    return fig


def plot_monthly_rates(monthly: pd.DataFrame, regime: pd.Timestamp | None = None) -> Figure:
    """Monthly volume and rates; a dashed line marks the start of the new-hub regime."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 6), sharex=True)
    top.plot(monthly.index, monthly["items"], marker="o", color="tab:gray")
    top.set_ylabel("items")
    top.set_title("items declared per month")
    for column, colour in [
        ("offence_rate", "tab:purple"),
        ("inspection_rate", "tab:blue"),
        ("hit_rate", "tab:red"),
    ]:
        bottom.plot(monthly.index, monthly[column], marker="o", label=column, color=colour)
    bottom.set_title("offence rate (truth), inspection rate and hit rate (legacy) per month")
    bottom.set_ylim(bottom=0)
    _percent(bottom)
    for ax in (top, bottom):
        if regime is not None:
            ax.axvline(regime, color="black", linestyle="--", linewidth=1)
    if regime is not None:
        bottom.text(regime, bottom.get_ylim()[1], " new hub", va="top")
    bottom.legend(ncols=3)
    fig.tight_layout()
    return fig


def plot_channels(channels: pd.DataFrame, selection: pd.DataFrame) -> Figure:
    """Hit rate vs true offence rate per legacy channel; hit rate per selecting rule."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    x = np.arange(len(channels))
    colours = [CHANNEL_COLOURS[c] for c in channels.index]
    left.bar(x - 0.2, channels["hit_rate"], 0.4, color=colours, label="hit rate (found)")
    left.bar(
        x + 0.2,
        channels["offence_rate"],
        0.4,
        color=colours,
        alpha=0.4,
        hatch="//",
        label="offence rate (truth)",
    )
    left.set_xticks(x, [f"{c}\n{n:,} items" for c, n in channels["items"].items()])
    left.set_title("inspected items per legacy channel")
    left.legend()
    _percent(left)
    colours = ["tab:green" if r in ("random", "audit") else "tab:blue" for r in selection.index]
    right.barh(selection.index, selection["hit_rate"], color=colours)
    right.invert_yaxis()
    right.set_title("hit rate by selecting rule (green: unbiased picks)")
    _percent(right, "x")
    fig.tight_layout()
    return fig


def plot_price_deviation_hist(deviation: pd.DataFrame) -> Figure:
    """Histogram of declared/true log value ratio over the items whose value differs."""
    differs = deviation[deviation["log_value_ratio"].abs() > DEVIATION_EPS]
    fig, ax = plt.subplots(figsize=(11, 3.5))
    bins = np.linspace(differs["log_value_ratio"].min(), 0.0, 40).tolist() if len(differs) else 10
    for name, group in differs.groupby("fraud_type"):
        ax.hist(group["log_value_ratio"], bins=bins, alpha=0.6, label=f"{name} ({len(group):,})")
    ax.set_xlabel("log(declared customs value / true customs value)")
    ax.set_ylabel("items")
    share = len(differs) / max(len(deviation), 1)
    ax.set_title(f"items whose declared value differs from the true one ({share:.2%} of all)")
    ax.legend()
    fig.tight_layout()
    return fig


def plot_price_deviation(table: pd.DataFrame, label: str) -> Figure:
    """Share of under-declared items and their mean log ratio, per group of ``table``."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, max(3.0, 0.28 * len(table) + 1)))
    names = [f"{k} ({n:,})" for k, n in table["items"].items()]
    left.barh(names, table["deviating_share"], color="tab:blue")
    left.invert_yaxis()
    left.set_title(f"share of items with a false value, by {label}")
    _percent(left, "x")
    right.barh(names, table["mean_log_ratio_deviating"].fillna(0.0), color="tab:orange")
    right.invert_yaxis()
    right.set_yticks([])
    right.set_title("mean log(declared / true) of those items")
    fig.tight_layout()
    return fig


def plot_trader_activity(activity: pd.DataFrame) -> Figure:
    """Rank-size plot of declarations per importer (log-log) and the concentration curve."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    rank = np.arange(1, len(activity) + 1)
    left.loglog(rank, activity["declarations"], marker=".", linestyle="none", markersize=3)
    left.set_xlabel("importer rank")
    left.set_ylabel("declarations")
    left.set_title("declarations per importer (rank-size)")
    right.plot(rank / len(activity), activity["cumulative_share"], color="tab:blue")
    right.plot([0, 1], [0, 1], color="gray", linestyle=":")
    right.set_xlabel("share of importers (most active first)")
    right.set_ylabel("share of declarations")
    right.set_title("concentration of the trade")
    _percent(right)
    _percent(right, "x")
    fig.tight_layout()
    return fig


def plot_grades(summary: pd.DataFrame, as_of: pd.Timestamp) -> Figure:
    """Future offence rate per grade (items after ``as_of``) and the latent class mix."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    colours = ["tab:green", "tab:olive", "tab:orange", "tab:red"]
    rates = summary["future_offence_rate"].fillna(0.0)
    bars = left.bar(summary.index, rates, color=colours)
    for bar, n, items in zip(bars, summary["trading_later"], summary["future_items"], strict=True):
        left.annotate(
            f"{n:,} imp.\n{items:,} items",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=8,
        )
    left.set_ylim(0, max(float(rates.max()), 1e-3) * 1.3)
    left.set_title(f"offence rate after {as_of:%Y-%m-%d}, by grade on that day")
    _percent(left)
    shares = summary[[f"share_{c}" for c in CLASSES]].fillna(0.0)
    bottom = np.zeros(len(shares))
    for name, colour in zip(CLASSES, ["tab:green", "tab:orange", "tab:red"], strict=True):
        values = shares[f"share_{name}"].to_numpy()
        right.bar(shares.index, values, bottom=bottom, color=colour, label=name)
        bottom += values
    right.set_title("latent importer class per grade (truth)")
    right.legend(loc="upper left", fontsize=8)
    _percent(right)
    fig.tight_layout()
    return fig
