"""Performance on a generated world: the model's ranking against random selection, the strong
rules (duty at stake, price z-score), the legacy policy and the oracle that knows the truth
(evaluation only: reads truth.parquet).

For each inspection rate (the top n% of the test window by a score) it reports precision (share
of true offences), recall, and revenue share (share of all the duty an inspection would
recover), and each figure divided by the oracle's: the oracle ranks by the truth itself
(``is_offence`` for precision and recall, ``true_revenue`` for revenue share).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from customs_risk.models.metrics import precision_at, recall_at, revenue_share_at

RATES = (0.01, 0.02, 0.05, 0.10)
CURVE_RATES = tuple(np.round(np.arange(0.01, 0.201, 0.01), 2))


LEGACY_ORDER = {"red": 2.0, "orange": 1.0, "green": 0.0}


def strategies(scores: pd.DataFrame, truth: pd.DataFrame, seed: int = 0) -> dict[str, np.ndarray]:
    """Ranking scores per strategy (higher = inspect first), aligned with ``scores``: the model's
    two rankings, the rules the training job scored (``rule_<name>`` columns: duty at stake,
    price z-score; ``models.rules``), the legacy policy's channels where the truth has them
    (red, then orange, then green, random within a channel), random and the oracles."""
    rng = np.random.default_rng(seed)
    tiebreak = rng.random(len(scores))
    out = {
        "model_offence": scores["fraud_probability"].to_numpy(dtype=np.float64),
        "model_revenue": scores["expected_revenue"].to_numpy(dtype=np.float64, na_value=0.0),
    }
    for column in [c for c in scores.columns if c.startswith("rule_")]:
        out[column.removeprefix("rule_") + "_rule"] = scores[column].to_numpy(dtype=np.float64)
    if "legacy_channel" in truth:
        channel = truth["legacy_channel"].astype("str").map(LEGACY_ORDER).fillna(0.0)
        out["legacy"] = channel.to_numpy(dtype=np.float64) + 0.5 * tiebreak
    out["random"] = tiebreak
    out["oracle_offence"] = truth["is_offence"].to_numpy(dtype=np.float64) + 1e-9 * truth[
        "true_revenue"
    ].to_numpy(dtype=np.float64)
    out["oracle_revenue"] = truth["true_revenue"].to_numpy(dtype=np.float64)
    return out


def align_truth(scores: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """Truth rows in the order of the scores (every scored item must be in the truth)."""
    keys = ["declaration_id", "item_no"]
    merged = scores[keys].merge(truth, on=keys, how="left", validate="one_to_one")
    if merged["is_offence"].isna().any():
        raise ValueError("scored items missing from truth.parquet")
    return merged


def rate_table(
    scores: pd.DataFrame, truth: pd.DataFrame, rates: Sequence[float] = RATES, seed: int = 0
) -> pd.DataFrame:
    """One row per (strategy, rate): precision, recall, revenue share and their oracle fractions."""
    truth = align_truth(scores, truth)
    y = truth["is_offence"].to_numpy(dtype=np.float64)
    revenue = truth["true_revenue"].to_numpy(dtype=np.float64)
    ranked = strategies(scores, truth, seed)
    rows = []
    for name, score in ranked.items():
        for rate in rates:
            rows.append(
                {
                    "strategy": name,
                    "rate": float(rate),
                    "precision": precision_at(y, score, rate),
                    "recall": recall_at(y, score, rate),
                    "revenue_share": revenue_share_at(revenue, score, rate),
                }
            )
    table = pd.DataFrame(rows)
    oracle_p = table[table.strategy == "oracle_offence"].set_index("rate")
    oracle_r = table[table.strategy == "oracle_revenue"].set_index("rate")
    table["precision_of_oracle"] = table["precision"] / table["rate"].map(oracle_p["precision"])
    table["recall_of_oracle"] = table["recall"] / table["rate"].map(oracle_p["recall"])
    table["revenue_of_oracle"] = table["revenue_share"] / table["rate"].map(
        oracle_r["revenue_share"]
    )
    return table


def summary(table: pd.DataFrame) -> dict[str, Any]:
    """Flat metrics for dvc metrics / MLflow: ``<strategy>_<measure>_at_<k>``."""
    out: dict[str, Any] = {}
    for row in table.to_dict("records"):
        k = f"{round(row['rate'] * 100):d}"
        for measure in (
            "precision",
            "recall",
            "revenue_share",
            "precision_of_oracle",
            "revenue_of_oracle",
        ):
            out[f"{row['strategy']}_{measure}_at_{k}"] = round(float(row[measure]), 6)
    return out


def office_hit_rates(scores: pd.DataFrame, truth: pd.DataFrame, rate: float = 0.10) -> pd.DataFrame:
    """Per office: offence rate among the office's top ``rate`` by the model vs overall."""
    truth = align_truth(scores, truth)
    frame = pd.DataFrame(
        {
            "office_id": scores["office_id"].astype("str").to_numpy(),
            "score": scores["fraud_probability"].to_numpy(dtype=np.float64),
            "y": truth["is_offence"].to_numpy(dtype=np.float64),
        }
    )
    rows = []
    for office, part in frame.groupby("office_id", sort=True):
        rows.append(
            {
                "office_id": office,
                "rows": len(part),
                "offence_rate": float(part["y"].mean()),
                "hit_rate_top": precision_at(part["y"].to_numpy(), part["score"].to_numpy(), rate),
            }
        )
    return pd.DataFrame(rows)


def plot_curves(curves: pd.DataFrame, path: Path) -> None:
    """Precision, recall and revenue share against inspection rate, one line per strategy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for ax, measure in zip(axes, ("precision", "recall", "revenue_share"), strict=True):
        for name, part in curves.groupby("strategy", sort=False):
            style = "--" if str(name).startswith("oracle") else "-"
            ax.plot(part["rate"] * 100, part[measure], style, label=name)
        ax.set_xlabel("inspection rate (%)")
        ax.set_title(measure.replace("_", " "))
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_calibration(reliability: list[dict[str, float]], path: Path) -> None:
    """Reliability curve: mean predicted probability against the observed rate."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.8, 4.5))
    if reliability:
        pred = [r["predicted"] for r in reliability]
        obs = [r["observed"] for r in reliability]
        ax.plot(pred, obs, "o-", label="model")
        top = max(max(pred), max(obs))
        ax.plot([0, top], [0, top], "k--", alpha=0.5, label="perfect")
    ax.set_xlabel("predicted offence probability")
    ax.set_ylabel("observed offence rate (inspected)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_offices(offices: pd.DataFrame, path: Path) -> None:
    """Per office: the model's top-10% hit rate against the office's offence rate."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4))
    x = np.arange(len(offices))
    ax.bar(x - 0.2, offices["offence_rate"], 0.4, label="offence rate (all items)")
    ax.bar(x + 0.2, offices["hit_rate_top"], 0.4, label="hit rate, model top 10%")
    ax.set_xticks(x, offices["office_id"], rotation=90, fontsize=7)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def labelled_only(scores: pd.DataFrame, data_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The scored items that were inspected, with their outcomes in the truth's columns."""
    from customs_risk.data.contracts import OUTCOMES_FILE

    outcomes = pd.read_parquet(data_dir / OUTCOMES_FILE)
    keys = ["declaration_id", "item_no"]
    merged = scores.merge(outcomes, on=keys, how="inner", validate="one_to_one")
    truth = pd.DataFrame(
        {
            "declaration_id": merged["declaration_id"],
            "item_no": merged["item_no"],
            "is_offence": merged["fraud_found"].astype(bool),
            "true_revenue": merged["recovered_revenue"].astype("float64").fillna(0.0),
        }
    )
    return merged[scores.columns].reset_index(drop=True), truth


def run_evaluation(train_dir: Path, data_dir: Path, out: Path, seed: int = 0) -> dict[str, Any]:
    """The evaluate stage: reads the training job's test scores and metrics and (on a
    generated world) truth.parquet; writes evaluation.json, curve CSVs and plots into ``out``."""
    from customs_risk.models.train import METRICS_FILE, SCORES_FILE

    out.mkdir(parents=True, exist_ok=True)
    scores = pd.read_parquet(train_dir / SCORES_FILE)
    train_metrics = json.loads((train_dir / METRICS_FILE).read_text())
    result: dict[str, Any] = {
        k: v for k, v in train_metrics.items() if k.startswith("test_") and not isinstance(v, list)
    }
    plot_calibration(train_metrics.get("reliability", []), out / "calibration.png")
    pd.DataFrame(train_metrics.get("reliability", [])).to_csv(out / "calibration.csv", index=False)
    truth_file = data_dir / "truth.parquet"
    if truth_file.exists():
        truth, prefix = pd.read_parquet(truth_file), "world"
    else:  # a real data set: the inspected items of the window, their outcomes as the truth
        scores, truth = labelled_only(scores, data_dir)
        prefix = "labelled"
    table = rate_table(scores, truth, seed=seed)
    result.update({f"{prefix}_{k}": v for k, v in summary(table).items()})
    result["truth"] = "truth.parquet" if prefix == "world" else "outcomes of inspected items"
    curves = rate_table(scores, truth, rates=CURVE_RATES, seed=seed)
    curves.to_csv(out / "curves.csv", index=False)
    plot_curves(curves, out / "curves.png")
    offices = office_hit_rates(scores, truth)
    offices.to_csv(out / "offices.csv", index=False)
    plot_offices(offices, out / "offices.png")
    (out / "evaluation.json").write_text(json.dumps(result, indent=2) + "\n")
    return result
