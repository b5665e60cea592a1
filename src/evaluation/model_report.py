"""Tables and figures of the model notebook (notebooks/02_models.ipynb).

Everything about the registered models and the tuning is read back from MLflow (one
``search_runs`` over the experiment, the registry's versions and aliases, a run's
``metrics.json`` artifact); the curves against inspection rate come from a training job's output
folder (``scores.parquet``) and the world's ``truth.parquet`` (evaluation only).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from customs_risk.evaluation.performance import CURVE_RATES, rate_table
from customs_risk.models.tracking import MlflowSettings

MLFLOW_ENV = "CUSTOMS_RISK_MLFLOW_URI"
TRAIN_DIR_ENV = "CUSTOMS_RISK_TRAIN_DIR"
TRAIN_RUN_NAME = "train"
PROGRESS_ENV = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
TEST_METRICS: tuple[str, ...] = (
    "test_auc",
    "test_pr_auc",
    "test_brier",
    "test_precision_at_1",
    "test_precision_at_5",
    "test_precision_at_10",
    "test_recall_at_10",
    "test_revenue_share_at_10",
    "test_revenue_model_share_at_5",
    "test_revenue_model_share_at_10",
    "test_critical_recall_at_10",
    "test_n_labelled",
)
STRATEGY_STYLES: dict[str, tuple[str | None, str]] = {
    "model_offence": ("tab:blue", "-"),
    "model_revenue": ("tab:purple", "-"),
    "duty_at_stake_rule": ("tab:orange", "-"),
    "price_z_rule": ("tab:brown", "-"),
    "legacy": ("tab:green", "-"),
    "random": ("tab:gray", "-"),
    "oracle_offence": ("black", "--"),
    "oracle_revenue": ("black", ":"),
}


# --------------------------------------------------------------------------- locations


def mlflow_settings(default: str = "sqlite:///mlflow.db") -> MlflowSettings:
    """Settings of the tracking store: ``$CUSTOMS_RISK_MLFLOW_URI`` or ``default`` (a relative
    SQLite file is the project root's, from notebooks/ too); the experiment and model names are
    the project's (``customs-risk``)."""
    return MlflowSettings(uri=os.environ.get(MLFLOW_ENV) or default)


def train_dir(default: str | Path = "../data/models") -> Path:
    """A training job's output folder: ``$CUSTOMS_RISK_TRAIN_DIR`` or ``default``."""
    return Path(os.environ.get(TRAIN_DIR_ENV) or default)


def _client(settings: MlflowSettings) -> Any:
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(settings.uri)
    return MlflowClient(tracking_uri=settings.uri)


# --------------------------------------------------------------------------- registry and runs


def registered_versions(settings: MlflowSettings) -> pd.DataFrame:
    """One row per registered version of the model: version, aliases, run_id, status, created.

    Empty (with the columns) when the model is not registered yet.
    """
    client = _client(settings)
    columns = ["version", "aliases", "run_id", "status", "created"]
    versions = client.search_model_versions(f"name = '{settings.model_name}'")
    if not versions:
        return pd.DataFrame(columns=columns)
    aliases: dict[str, list[str]] = {}
    for alias, version in client.get_registered_model(settings.model_name).aliases.items():
        aliases.setdefault(str(version), []).append(alias)
    rows = [
        {
            "version": int(mv.version),
            "aliases": ", ".join(sorted(aliases.get(str(mv.version), []))),
            "run_id": mv.run_id,
            "status": mv.status,
            "created": pd.Timestamp(int(mv.creation_timestamp), unit="ms"),
        }
        for mv in versions
    ]
    return pd.DataFrame(rows, columns=columns).sort_values("version").reset_index(drop=True)


def all_runs(settings: MlflowSettings) -> pd.DataFrame:
    """Every run of the experiment (``mlflow.search_runs``: ``metrics.*``, ``params.*``,
    ``tags.*`` columns); empty when the experiment does not exist."""
    import mlflow

    _client(settings)
    if mlflow.get_experiment_by_name(settings.experiment) is None:
        return pd.DataFrame(columns=["run_id", "start_time", "end_time", "status"])
    return mlflow.search_runs(experiment_names=[settings.experiment], output_format="pandas")


def _column(runs: pd.DataFrame, name: str) -> pd.Series:
    if name in runs.columns:
        return runs[name]
    return pd.Series([None] * len(runs), index=runs.index, dtype=object)


def training_runs(runs: pd.DataFrame, versions: pd.DataFrame | None = None) -> pd.DataFrame:
    """The top-level training runs (run name ``train``): start, minutes, families chosen per
    target, number of nested tuning trials, and the registered version of the run (if any)."""
    name = _column(runs, "tags.mlflow.runName")
    parent = _column(runs, "tags.mlflow.parentRunId")
    train = runs[(name == TRAIN_RUN_NAME) & parent.isna()]
    n_trials = trials_table(runs).groupby("train_run").size()
    out = pd.DataFrame(
        {
            "run_id": train["run_id"],
            "start": pd.to_datetime(train["start_time"]).dt.tz_localize(None),
            "minutes": (
                pd.to_datetime(train["end_time"]) - pd.to_datetime(train["start_time"])
            ).dt.total_seconds()
            / 60,
            "experiments": _column(train, "params.experiments"),
        }
    )
    for target in ("offence", "critical", "revenue"):
        out[f"family_{target}"] = _column(train, f"tags.family_{target}")
    out["trials"] = out["run_id"].map(n_trials).fillna(0).astype(int)
    if versions is not None and len(versions):
        by_run = versions.set_index("run_id")
        out["version"] = out["run_id"].map(by_run["version"]).astype("Int64")
        out["aliases"] = out["run_id"].map(by_run["aliases"])
    return out.sort_values("start").reset_index(drop=True)


def trials_table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per Optuna trial (nested run tagged ``study``): training run, study, trial
    number, state (COMPLETE / PRUNED), objective, seconds, and the trial's parameters."""
    if "tags.study" not in runs.columns:
        return pd.DataFrame(columns=["train_run", "study", "trial", "state", "objective"])
    trials = runs[runs["tags.study"].notna()]
    study_parent = runs.set_index("run_id")["tags.mlflow.parentRunId"]
    out = pd.DataFrame(
        {
            "train_run": trials["tags.mlflow.parentRunId"].map(study_parent),
            "study": trials["tags.study"],
            "trial": pd.to_numeric(trials["tags.trial"]).astype(int),
            "state": _column(trials, "tags.state").fillna("UNKNOWN"),
            "objective": pd.to_numeric(_column(trials, "metrics.objective")),
            "seconds": pd.to_numeric(_column(trials, "metrics.seconds")),
        }
    )
    for col in sorted(c for c in trials.columns if c.startswith("params.p_")):
        out[col.removeprefix("params.p_")] = trials[col]
    return out.sort_values(["train_run", "study", "trial"]).reset_index(drop=True)


def study_summary(trials: pd.DataFrame) -> pd.DataFrame:
    """Per training run and study: trials, pruned, completed and the best objective."""
    if trials.empty:
        return pd.DataFrame(columns=["train_run", "study", "trials", "pruned", "best"])
    grouped = trials.groupby(["train_run", "study"], sort=True)
    return pd.DataFrame(
        {
            "trials": grouped.size(),
            "pruned": grouped["state"].apply(lambda s: int((s == "PRUNED").sum())),
            "complete": grouped["state"].apply(lambda s: int((s == "COMPLETE").sum())),
            "best": grouped["objective"].max(),
        }
    ).reset_index()


def version_metrics(
    runs: pd.DataFrame, versions: pd.DataFrame, keys: tuple[str, ...] = TEST_METRICS
) -> pd.DataFrame:
    """Test-window metrics of each registered version (from its training run's metrics),
    one row per version, the version's aliases in the index label."""
    by_run = runs.set_index("run_id")
    rows = []
    for v in versions.itertuples(index=False):
        label = f"v{v.version}" + (f" ({str(v.aliases)})" if v.aliases else "")
        row: dict[str, Any] = {"version": label}
        for key in keys:
            column = f"metrics.{key}"
            ok = v.run_id in by_run.index and column in by_run.columns
            row[key.removeprefix("test_")] = by_run.at[v.run_id, column] if ok else np.nan
        rows.append(row)
    return pd.DataFrame(rows).set_index("version") if rows else pd.DataFrame()


def run_metrics_file(settings: MlflowSettings, run_id: str) -> dict[str, Any]:
    """The ``metrics.json`` artifact of a training run (test metrics, reliability curve)."""
    import mlflow

    _client(settings)
    previous = os.environ.get(PROGRESS_ENV)
    os.environ[PROGRESS_ENV] = "false"  # no download progress bar in the notebook
    try:
        with tempfile.TemporaryDirectory() as tmp:
            local = mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path="metrics.json", dst_path=tmp
            )
            return json.loads(Path(local).read_text())
    finally:
        if previous is None:
            os.environ.pop(PROGRESS_ENV, None)
        else:
            os.environ[PROGRESS_ENV] = previous


def reliability_frame(settings: MlflowSettings, versions: pd.DataFrame) -> pd.DataFrame:
    """The reliability curves (predicted vs observed offence rate on the inspected test items)
    of every registered version, from the runs' ``metrics.json``."""
    frames = []
    for v in versions.itertuples(index=False):
        metrics = run_metrics_file(settings, str(v.run_id))
        curve = pd.DataFrame(metrics.get("reliability", []))
        if not curve.empty:
            frames.append(curve.assign(version=f"v{v.version}"))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


# --------------------------------------------------------------------------- figures


def plot_optimisation_history(trials: pd.DataFrame) -> Figure:
    """One panel per study: the objective of each trial (dots: complete, crosses at the bottom:
    pruned) and the best so far (step line), one colour per training run."""
    studies = sorted(trials["study"].unique()) if not trials.empty else []
    fig, axes = plt.subplots(1, max(len(studies), 1), figsize=(5.5 * max(len(studies), 1), 3.8))
    axes = np.atleast_1d(axes)
    runs = list(dict.fromkeys(trials["train_run"])) if not trials.empty else []
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, study in zip(axes, studies, strict=False):
        part = trials[trials["study"] == study]
        done = part[part["state"] == "COMPLETE"]
        low = done["objective"].min() if len(done) else 0.0
        for i, run in enumerate(runs):
            mine = part[part["train_run"] == run].sort_values("trial")
            if mine.empty:
                continue
            colour = colours[i % len(colours)]
            ok = mine[mine["state"] == "COMPLETE"]
            pruned = mine[mine["state"] == "PRUNED"]
            ax.plot(ok["trial"], ok["objective"], "o", color=colour, label=f"run {run[:8]}")
            ax.plot(pruned["trial"], np.full(len(pruned), low), "x", color=colour, alpha=0.7)
            best = mine["objective"].where(mine["state"] == "COMPLETE").cummax()
            ax.step(mine["trial"], best, where="post", color=colour, alpha=0.6)
        ax.set_title(f"{study} ({int((part['state'] == 'PRUNED').sum())} pruned)")
        ax.set_xlabel("trial")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("objective (validation)")
        ax.grid(alpha=0.3)
    if studies:
        axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_version_metrics(table: pd.DataFrame, keys: tuple[str, ...] | None = None) -> Figure:
    """Grouped bars of the versions' test metrics (rates in [0, 1] only)."""
    keys = keys or tuple(
        c for c in table.columns if c not in {"n_labelled", "brier"} and table[c].notna().any()
    )
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(keys) * max(len(table), 1)), 3.8))
    width = 0.8 / max(len(table), 1)
    x = np.arange(len(keys))
    for i, (label, row) in enumerate(table.iterrows()):
        ax.bar(x + i * width, [row[k] for k in keys], width, label=label)
    ax.set_xticks(x + width * (len(table) - 1) / 2, keys, rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 1)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("test-window metrics per registered version (inspected items)")
    fig.tight_layout()
    return fig


def plot_reliability(curves: pd.DataFrame) -> Figure:
    """Predicted offence probability against the observed rate, one line per version."""
    fig, ax = plt.subplots(figsize=(4.8, 4.4))
    top = 0.0
    for version, part in curves.groupby("version", sort=True) if not curves.empty else []:
        ax.plot(part["predicted"], part["observed"], "o-", label=version)
        top = max(top, part["predicted"].max(), part["observed"].max())
    ax.plot([0, top or 1], [0, top or 1], "k--", alpha=0.5, label="perfect")
    ax.set_xlabel("predicted offence probability")
    ax.set_ylabel("observed offence rate (inspected)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def current_curves(
    train_dir: Path, data_dir: Path, rates: Sequence[float] = CURVE_RATES
) -> pd.DataFrame:
    """``performance.rate_table`` of the train dir's test scores against the world's truth at
    every curve rate (all test items, inspected or not: the truth knows them all)."""
    from customs_risk.models.train import SCORES_FILE

    scores = pd.read_parquet(Path(train_dir) / SCORES_FILE)
    truth = pd.read_parquet(Path(data_dir) / "truth.parquet")
    return rate_table(scores, truth, rates=rates)


def plot_rate_curves(
    curves: pd.DataFrame, measures: tuple[str, ...] = ("precision", "revenue_share")
) -> Figure:
    """Each measure against the inspection rate, one line per strategy (oracles dashed)."""
    fig, axes = plt.subplots(1, len(measures), figsize=(6.2 * len(measures), 4.2))
    for ax, measure in zip(np.atleast_1d(axes), measures, strict=True):
        for name, part in curves.groupby("strategy", sort=False):
            colour, style = STRATEGY_STYLES.get(str(name), (None, "-"))
            ax.plot(part["rate"] * 100, part[measure], style, color=colour, label=name)
        ax.set_xlabel("inspection rate (% of test items, top by score)")
        ax.set_title(measure.replace("_", " "))
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def curve_summary(
    curves: pd.DataFrame, rates: Sequence[float] = (0.02, 0.05, 0.10)
) -> pd.DataFrame:
    """Precision and revenue share of each strategy at a few rates (wide table)."""
    part = curves[np.isin(curves["rate"].round(4), np.round(rates, 4))]
    wide = part.pivot_table(
        index="strategy", columns="rate", values=["precision", "revenue_share"], sort=False
    )
    # a list of values: (measure, rate) columns (pandas-stubs types every columns as Index[str])
    pairs = cast(pd.MultiIndex, wide.columns)
    wide.columns = [f"{m}@{round(r * 100):d}%" for m, r in pairs]
    return wide
