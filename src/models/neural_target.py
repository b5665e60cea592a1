"""The neural models inside the training job and the bundle.

A two-headed network (``neural.NeuralModel``: offence probability and revenue) serves two
targets; ``NeuralTarget`` is its view as the model of one target (the head), with the bundle's
save/load protocol. ``tune_neural_family`` runs the Optuna study of one experiment (``tabular``
or ``date``), pruning per epoch on the validation AUC.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd

from customs_risk.models.bundle import ID_COLUMNS

if TYPE_CHECKING:
    import optuna

    from customs_risk.models.bundle import ServedBatch
    from customs_risk.models.neural import Kind, NeuralModel, NeuralParams
    from customs_risk.models.train import Candidate, TrainingFrame
    from customs_risk.models.tuning import Experiment

HEADS = {"offence": 0, "revenue": 1}


def id_frame(declarations: pd.DataFrame) -> pd.DataFrame:
    """The raw trader IDs the networks embed (hashed); missing columns read as empty."""
    return pd.DataFrame(
        {
            c: declarations[c].astype("str").to_numpy()
            if c in declarations
            else np.full(len(declarations), "", dtype=object)
            for c in ID_COLUMNS
        }
    )


@dataclass
class NeuralTarget:
    """One head of a fitted network as the model of ``target``."""

    target: str
    network: NeuralModel

    @property
    def kind(self) -> str:
        return str(self.network.kind)

    def predict(self, features: pd.DataFrame, declarations: pd.DataFrame) -> np.ndarray:
        """The head's prediction per row (probability or expected revenue)."""
        outputs = self.network.predict(features, id_frame(declarations))
        return outputs[HEADS[self.target]]

    def set_threads(self, nthread: int) -> None:
        """Networks predict with torch's own thread setting."""

    def predict_served(self, batch: ServedBatch) -> np.ndarray:
        """Predictions for served rows (TargetModel protocol): the feature and ID frames."""
        return self.predict(batch.frame(), batch.declarations())

    def contributions_served(self, batch: ServedBatch) -> None:
        """No per-feature attributions from a network: its items carry no model reasons."""
        return None

    def save(self, directory: Path) -> None:
        """``meta.json`` (kind neural, target) and the network in ``network/``."""
        directory.mkdir(parents=True, exist_ok=True)
        self.network.save(directory / "network")
        meta = {"kind": "neural", "target": self.target, "network_kind": self.kind}
        (directory / "meta.json").write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, directory: Path) -> NeuralTarget:
        """Inverse of :meth:`save`."""
        from customs_risk.models.neural import NeuralModel

        meta = json.loads((directory / "meta.json").read_text())
        return cls(meta["target"], NeuralModel.load(directory / "network"))


def neural_params(values: dict[str, Any], seed: int) -> NeuralParams:
    """NeuralParams from fixed + suggested values ("128-64" for ``hidden``), seeded."""
    from customs_risk.models.neural import NeuralParams

    known = {f.name for f in fields(NeuralParams)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown neural parameters {unknown}; known: {sorted(known)}")
    values = dict(values)
    if isinstance(values.get("hidden"), str):
        values["hidden"] = tuple(int(v) for v in values["hidden"].split("-"))
    elif "hidden" in values:
        values["hidden"] = tuple(values["hidden"])
    return NeuralParams(**{**values, "seed": seed})


def tune_neural_family(experiment: Experiment, frame: TrainingFrame, seed: int) -> Candidate:
    """Optuna study of the experiment's network; both heads are kept as target models."""
    import mlflow
    import optuna

    from customs_risk.models.neural import fit_neural
    from customs_risk.models.train import Candidate, objective_value, target_metrics
    from customs_risk.models.tuning import run_study

    rows = {w: frame.rows(w) for w in ("train", "valid")}
    ids = {w: id_frame(frame.declarations.iloc[r]) for w, r in rows.items()}

    def objective(
        values: dict[str, Any], trial: optuna.Trial
    ) -> tuple[float, dict[str, float], tuple[NeuralModel, dict[str, dict[str, float]]]]:
        def on_epoch(epoch: int, valid_auc: float) -> None:
            trial.report(valid_auc, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()

        network = fit_neural(
            # train sends only the tabular and date experiments here (Experiment.model is one of
            # xgboost, tabular, date)
            cast("Kind", experiment.model),
            frame.x("train"),
            ids["train"],
            frame.y("offence", "train"),
            frame.y("revenue", "train"),
            frame.x("valid"),
            ids["valid"],
            frame.y("offence", "valid"),
            frame.y("revenue", "valid"),
            neural_params({**experiment.fixed, **values}, seed),
            weights=frame.w("train"),
            on_epoch=on_epoch,
        )
        prob, revenue = network.predict(frame.x("valid"), ids["valid"])
        metrics = {
            "offence": target_metrics("offence", frame, "valid", prob),
            "revenue": target_metrics("revenue", frame, "valid", revenue),
        }
        flat = {f"{t}_{k}": v for t, m in metrics.items() for k, v in m.items()}
        flat["epochs"] = len(network.history)
        value = objective_value("offence", metrics["offence"]) + objective_value(
            "revenue", metrics["revenue"]
        )
        return value, flat, (network, metrics)

    with mlflow.start_run(run_name=f"{experiment.name}", nested=True):
        study = run_study(experiment, experiment.name, objective)
        mlflow.log_params({f"best_{k}": v for k, v in study.best_params.items()})
        mlflow.log_metrics({f"valid_{k}": v for k, v in study.best_metrics.items()})
        mlflow.set_tags({"n_trials": len(study.trials), "n_pruned": study.n_pruned})
    network, metrics = study.best_model
    models = {t: NeuralTarget(t, network) for t in HEADS}
    return Candidate(experiment.name, models, metrics, [study])
