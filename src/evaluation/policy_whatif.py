"""Channel-policy what-if of the policy notebook (notebooks/03_policy.ipynb).

On the test window of a training job (the items of ``scores.parquet``, scored point-in-time by
the job's models), each scenario sets the red and orange target shares and the ranking key of
the bundle's :class:`ChannelPolicy`, recalibrates the thresholds on the window, decides every
item (profiles and the random control included) and measures the result against the world's
``truth.parquet`` (evaluation only): hit rate of red and of orange (the share of true offences
among the items sent there, i.e. an inspection that finds every offence it looks at), the share
of the window's revenue at stake recovered, and the workload (inspections per office and day).

The scores of ``scores.parquet`` are used rather than re-scoring with the bundle: the bundle's
feature state is fitted on all the data, the test window's outcomes included.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from customs_risk.data.contracts import DECLARATIONS_FILE, TRUTH_FILE
from customs_risk.evaluation.performance import align_truth
from customs_risk.selection.decide import decide
from customs_risk.selection.policy import ChannelPolicy, Ranking, Shares
from customs_risk.selection.profiles import ProfileSet
from customs_risk.selection.thresholds import Thresholds, calibrate_thresholds

KEYS = ["declaration_id", "item_no"]
RANKINGS: tuple[Ranking, ...] = ("fraud_probability", "expected_revenue", "blend")
DEFAULT_SHARES: tuple[tuple[float, float], ...] = (
    (0.01, 0.02),
    (0.02, 0.04),
    (0.03, 0.07),
    (0.04, 0.10),
    (0.05, 0.15),
)
RANKING_COLOURS: dict[str, str] = {
    "fraud_probability": "tab:blue",
    "expected_revenue": "tab:purple",
    "blend": "tab:green",
}
REFERENCE_COLOURS: dict[str, str] = {"legacy": "black", "bundle": "tab:red"}


@dataclass
class TestWindow:
    """The test-window items, row-aligned: declarations, point-in-time scores and the truth."""

    declarations: pd.DataFrame
    scores: pd.DataFrame
    truth: pd.DataFrame

    @property
    def days(self) -> int:
        """Calendar days spanned by the window (first to last declaration day, inclusive)."""
        day = self.declarations["declared_at"].dt.normalize()
        return int((day.max() - day.min()).days) + 1 if len(day) else 0

    @property
    def offices(self) -> int:
        """Offices with at least one item in the window."""
        return int(self.declarations["office_id"].nunique())


def load_test_window(train_dir: Path, data_dir: Path, last_days: int | None = None) -> TestWindow:
    """The items of ``train_dir/scores.parquet`` with their declarations and truth from
    ``data_dir``; ``last_days``: only the items of the newest days of that window."""
    from customs_risk.models.train import SCORES_FILE

    scores = pd.read_parquet(Path(train_dir) / SCORES_FILE)
    scores = scores.assign(declaration_id=scores["declaration_id"].astype("str"))
    if last_days is not None:
        day = scores["declared_at"].dt.normalize()
        scores = scores[day > day.max() - pd.Timedelta(days=last_days)]
    scores = scores.reset_index(drop=True)
    declarations = pd.read_parquet(Path(data_dir) / DECLARATIONS_FILE)
    declarations = declarations.assign(declaration_id=declarations["declaration_id"].astype("str"))
    decl = scores[KEYS].merge(declarations, on=KEYS, how="left", validate="one_to_one")
    if decl["declared_at"].isna().any():
        raise ValueError("scored items missing from declarations.parquet")
    truth = pd.read_parquet(Path(data_dir) / TRUTH_FILE)
    truth = truth.assign(declaration_id=truth["declaration_id"].astype("str"))
    return TestWindow(decl, scores, align_truth(scores, truth))


def scenario_policy(
    base: ChannelPolicy, red: float, orange: float, ranking: Ranking
) -> ChannelPolicy:
    """``base`` with global targets ``red`` / ``orange`` (office overrides dropped), the random
    control capped at the targets, the ranking key ``ranking`` and no reason texts."""
    shares = Shares(
        red=red,
        orange=orange,
        random_red=min(base.shares.random_red, red),
        random_orange=min(base.shares.random_orange, orange),
    )
    return base.model_copy(
        update={
            "version": f"whatif-{ranking}-r{red:g}-o{orange:g}",
            "shares": shares,
            "offices": {},
            "ranking": ranking,
            "top_reasons": 0,
        }
    )


def decide_window(
    window: TestWindow,
    policy: ChannelPolicy,
    profiles: ProfileSet | None = None,
    thresholds: Thresholds | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Channels of the window's items under ``policy``; thresholds calibrated on the window
    itself unless given (``decide`` output, row-aligned with the window)."""
    if thresholds is None:
        thresholds = calibrate_thresholds(window.scores, window.declarations, policy, profiles)
    policy = policy.model_copy(update={"top_reasons": 0})
    return decide(window.declarations, window.scores, policy, thresholds, profiles, seed)


def measure(channel: pd.Series | np.ndarray, window: TestWindow) -> dict[str, float]:
    """Shares, hit rates, revenue recovered and workload of one channel assignment.

    ``hit_red`` / ``hit_orange`` / ``hit_inspected``: share of true offences among the items
    sent there; ``offences_found``: share of the window's offences inspected;
    ``revenue_share``: share of the window's revenue at stake inspected; workload per office
    and calendar day (mean over the window's offices).
    """
    channel = np.asarray(channel, dtype=object)
    y = window.truth["is_offence"].to_numpy(dtype=bool)
    revenue = window.truth["true_revenue"].to_numpy(dtype=np.float64)
    red, orange = channel == "red", channel == "orange"
    inspected = red | orange
    office_days = max(window.days * window.offices, 1)

    def rate(mask: np.ndarray) -> float:
        return float(y[mask].mean()) if mask.any() else float("nan")

    return {
        "red_share": float(red.mean()),
        "orange_share": float(orange.mean()),
        "hit_red": rate(red),
        "hit_orange": rate(orange),
        "hit_inspected": rate(inspected),
        "offences_found": float(y[inspected].sum() / max(y.sum(), 1)),
        "revenue_share": float(revenue[inspected].sum() / max(revenue.sum(), 1e-12)),
        "red_per_office_day": float(red.sum() / office_days),
        "inspections_per_office_day": float(inspected.sum() / office_days),
    }


def policy_grid(
    window: TestWindow,
    base: ChannelPolicy,
    profiles: ProfileSet | None = None,
    shares: tuple[tuple[float, float], ...] = DEFAULT_SHARES,
    rankings: tuple[Ranking, ...] = RANKINGS,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per (ranking, red, orange) scenario with the measures of :func:`measure` and the
    share of inspections the model chose (the rest: profiles and the random control)."""
    rows = []
    for ranking in rankings:
        for red, orange in shares:
            policy = scenario_policy(base, red, orange, ranking)
            decisions = decide_window(window, policy, profiles, seed=seed)
            inspected = decisions["channel"].isin(["red", "orange"])
            by_model = (decisions["selected_by"] == "model") & inspected
            rows.append(
                {
                    "ranking": ranking,
                    "red": red,
                    "orange": orange,
                    **measure(decisions["channel"], window),
                    "model_selected": float(by_model.sum() / max(inspected.sum(), 1)),
                }
            )
    return pd.DataFrame(rows)


def reference_rows(
    window: TestWindow, bundle_decisions: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Measures of the reference selections: the legacy policy's channels (truth) and, if
    given, the bundle's own decisions (its policy and stored thresholds)."""
    rows = [{"ranking": "legacy", **measure(window.truth["legacy_channel"], window)}]
    if bundle_decisions is not None:
        rows.append({"ranking": "bundle", **measure(bundle_decisions["channel"], window)})
    return pd.DataFrame(rows)


def tradeoff_table(grid: pd.DataFrame) -> pd.DataFrame:
    """The grid (or the reference rows) as a readable table: one row per scenario, shares,
    hit rates and revenue in percent (columns suffixed ``%``), workloads rounded."""
    table = grid.set_index(["ranking", "red", "orange"]) if "red" in grid else grid
    pct = [
        c
        for c in table.columns
        if c.endswith("_share") or c.startswith("hit_") or c in {"offences_found", "model_selected"}
    ]
    out = table.copy()
    out[pct] = (out[pct] * 100).round(1)
    rest = [c for c in table.columns if c not in pct]
    out[rest] = out[rest].round(2)
    return out.rename(columns={c: f"{c} %" for c in pct})


def plot_tradeoffs(grid: pd.DataFrame, references: pd.DataFrame | None = None) -> Figure:
    """Hit rate of red and orange (left) and revenue share (right) against the workload
    (inspections per office and day), one line per ranking key; references as stars."""
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
    x = "inspections_per_office_day"
    for ranking, part in grid.groupby("ranking", sort=False):
        colour = RANKING_COLOURS.get(str(ranking))
        part = part.sort_values(x)
        axes[0].plot(part[x], part["hit_red"], "o-", color=colour, label=f"{ranking}: red")
        axes[0].plot(part[x], part["hit_orange"], "s--", color=colour, label=f"{ranking}: orange")
        axes[1].plot(part[x], part["revenue_share"], "o-", color=colour, label=str(ranking))
    if references is not None:
        for ref in references.itertuples(index=False):
            style = {"ms": 13, "color": REFERENCE_COLOURS.get(str(ref.ranking), "black")}
            x_ref = ref.inspections_per_office_day
            axes[0].plot(x_ref, ref.hit_inspected, "*", label=f"{ref.ranking} (all)", **style)
            axes[1].plot(x_ref, ref.revenue_share, "*", label=ref.ranking, **style)
    axes[0].set_ylabel("hit rate (true offences / items sent)")
    axes[1].set_ylabel("share of revenue at stake inspected")
    for ax in axes:
        ax.set_xlabel("workload: inspections per office and day")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def office_workload(decisions: pd.DataFrame, window: TestWindow) -> pd.DataFrame:
    """Per office: items a day, red and orange a day, realised shares (one scenario)."""
    frame = pd.DataFrame(
        {
            "office_id": window.declarations["office_id"].astype("str").to_numpy(),
            "red": (decisions["channel"] == "red").to_numpy(),
            "orange": (decisions["channel"] == "orange").to_numpy(),
        }
    )
    days = max(window.days, 1)
    grouped = frame.groupby("office_id", sort=True)
    out = pd.DataFrame(
        {
            "items_per_day": grouped.size() / days,
            "red_per_day": grouped["red"].sum() / days,
            "orange_per_day": grouped["orange"].sum() / days,
            "red_share": grouped["red"].mean(),
            "orange_share": grouped["orange"].mean(),
        }
    )
    return out.sort_values("items_per_day", ascending=False)


def plot_office_workload(workload: pd.DataFrame) -> Figure:
    """Stacked red / orange inspections per day for each office (largest offices first)."""
    fig, ax = plt.subplots(figsize=(10, 3.8))
    x = np.arange(len(workload))
    ax.bar(x, workload["red_per_day"], color="tab:red", label="red")
    ax.bar(
        x,
        workload["orange_per_day"],
        bottom=workload["red_per_day"],
        color="tab:orange",
        label="orange",
    )
    ax.set_xticks(x, workload.index, rotation=90, fontsize=7)
    ax.set_ylabel("inspections per day")
    ax.legend()
    fig.tight_layout()
    return fig
