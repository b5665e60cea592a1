"""Optuna tuning from an experiment file, every trial a nested MLflow run.

An experiment (``experiments/*.yaml``) names the model family, the search space, the budget
(trials and/or seconds), the TPE seed and the pruner. ``run_study`` asks the objective for each
trial's (value, metrics, model); the objective reports intermediate values (per boosting round,
per epoch) through ``trial.report`` and Optuna prunes hopeless trials. The best trial's model is
kept in memory, so nothing is trained twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import yaml
from pydantic import BaseModel, ConfigDict, Field

log = logging.getLogger(__name__)


class Budget(BaseModel):
    """At most ``trials`` trials and at most ``seconds`` seconds (None: unlimited)."""

    model_config = ConfigDict(extra="forbid")
    trials: int = Field(8, ge=1)
    seconds: float | None = Field(None, gt=0)


class SamplerSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seed: int = 0
    n_startup_trials: int = Field(4, ge=1)


class PrunerSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    n_startup_trials: int = Field(3, ge=0)
    n_warmup_steps: int = Field(0, ge=0)


class Experiment(BaseModel):
    """One experiment file."""

    model_config = ConfigDict(extra="forbid")
    name: str
    model: str = Field(pattern="^(xgboost|catboost|tabular|date)$")
    budget: Budget = Budget()
    sampler: SamplerSpec = SamplerSpec()
    pruner: PrunerSpec = PrunerSpec()
    fixed: dict[str, Any] = Field(default_factory=dict)
    search_space: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path) -> Experiment:
        """Read and check an experiment YAML file (errors name the file and field)."""
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text())
            experiment = cls.model_validate(data)
        except Exception as exc:
            raise ValueError(f"{path}: {exc}") from exc
        for name, spec in experiment.search_space.items():
            if spec.get("type") not in {"int", "float", "categorical"}:
                raise ValueError(
                    f"{path}: search_space.{name}.type must be int, float or categorical"
                )
        return experiment

    def with_budget(self, trials: int | None, seconds: float | None) -> Experiment:
        """A copy with the budget overridden where given (params.yaml / CLI)."""
        budget = self.budget.model_copy(
            update={k: v for k, v in {"trials": trials, "seconds": seconds}.items() if v}
        )
        return self.model_copy(update={"budget": budget})


def suggest(trial: optuna.Trial, space: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Parameters of one trial from the search space."""
    params: dict[str, Any] = {}
    for name, spec in space.items():
        kind = spec["type"]
        if kind == "int":
            params[name] = trial.suggest_int(
                name, spec["low"], spec["high"], log=spec.get("log", False)
            )
        elif kind == "float":
            params[name] = trial.suggest_float(
                name, spec["low"], spec["high"], log=spec.get("log", False)
            )
        else:
            params[name] = trial.suggest_categorical(name, spec["choices"])
    return params


Objective = Callable[[dict[str, Any], optuna.Trial], tuple[float, dict[str, float], Any]]


@dataclass
class StudyResult:
    """The best trial's parameters, value, metrics and model, and a row per trial."""

    label: str
    best_params: dict[str, Any]
    best_value: float
    best_metrics: dict[str, float]
    best_model: Any
    trials: list[dict[str, Any]] = field(default_factory=list)

    @property
    def n_pruned(self) -> int:
        return sum(t["state"] == "PRUNED" for t in self.trials)


def run_study(
    experiment: Experiment,
    label: str,
    objective: Objective,
    log_to_mlflow: bool = True,
    enqueue: list[dict[str, Any]] | None = None,
) -> StudyResult:
    """Maximise ``objective`` over the experiment's space within its budget.

    Each trial is a nested MLflow run (params, metrics, state) under the active run.
    """
    import mlflow

    sampler = optuna.samplers.TPESampler(
        seed=experiment.sampler.seed, n_startup_trials=experiment.sampler.n_startup_trials
    )
    pruner = optuna.pruners.MedianPruner(
        n_startup_trials=experiment.pruner.n_startup_trials,
        n_warmup_steps=experiment.pruner.n_warmup_steps,
    )
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner)
    for params in enqueue or []:  # known-good settings tried first
        study.enqueue_trial(params)
    best: dict[str, Any] = {"value": float("-inf"), "metrics": {}, "model": None, "params": {}}
    rows: list[dict[str, Any]] = []

    def wrapped(trial: optuna.Trial) -> float:
        params = suggest(trial, experiment.search_space)
        start = time.perf_counter()
        run = (
            mlflow.start_run(run_name=f"{label}-trial-{trial.number}", nested=True)
            if log_to_mlflow
            else None
        )
        state, value = "COMPLETE", float("nan")
        metrics: dict[str, float] = {}
        try:
            if run is not None:
                mlflow.log_params({f"p_{k}": v for k, v in params.items()})
                mlflow.set_tags({"trial": trial.number, "study": label, "model": experiment.model})
            value, metrics, model = objective(params, trial)
            if value > best["value"]:
                best.update(value=value, metrics=metrics, model=model, params=params)
            return value
        except optuna.TrialPruned:
            state = "PRUNED"
            raise
        finally:
            seconds = time.perf_counter() - start
            rows.append(
                {
                    "trial": trial.number,
                    "state": state,
                    "value": value,
                    "seconds": seconds,
                    **params,
                }
            )
            if run is not None:
                mlflow.set_tag("state", state)
                mlflow.log_metrics({"objective": value, "seconds": seconds, **metrics})
                mlflow.end_run()

    study.optimize(
        wrapped,
        n_trials=experiment.budget.trials,
        timeout=experiment.budget.seconds,
        catch=(),
    )
    if best["model"] is None:
        raise RuntimeError(f"{label}: no trial completed")
    log.info("%s: best %.4f with %s (%d trials)", label, best["value"], best["params"], len(rows))
    return StudyResult(label, best["params"], best["value"], best["metrics"], best["model"], rows)
