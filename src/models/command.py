"""The ``train``, ``evaluate`` and ``promote`` commands (exit codes and printed summaries)."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path

from rich.console import Console

console = Console()


def run_train_command(
    params: Path | None,
    data: Path | None,
    out: Path | None,
    experiments: list[Path] | None,
    trials: int | None,
    seconds: float | None,
    seed: int | None,
    register: bool,
) -> int:
    """Train with the params file's settings and the overrides; 0 on success, 2 on bad input."""
    from customs_risk.models.settings import TrainSettings
    from customs_risk.models.train import TrainJob

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        settings = TrainSettings.from_params(
            params,
            data=data,
            out=out,
            experiments=experiments or None,
            trials=trials,
            seconds=seconds,
            seed=seed,
            register_model=register,
        )
        result = TrainJob(settings).run()
    except (FileNotFoundError, ValueError) as exc:
        console.print(f"[red]train failed:[/red] {exc}")
        return 2
    m = result.metrics
    console.print(f"models per target: {m['families']}")
    for key in (
        "test_auc",
        "test_precision_at_5",
        "test_precision_at_10",
        "test_revenue_model_share_at_10",
        "seconds",
    ):
        console.print(f"{key:<34}{m.get(key, float('nan')):.4f}")
    where = (
        f"registered version {result.version} (alias challenger)"
        if result.version
        else "not registered"
    )
    console.print(f"run {result.run_id}: {where}; outputs in {settings.out}")
    return 0


def run_evaluate_command(train_dir: Path, data: Path, out: Path, seed: int) -> int:
    """Evaluate the training job's test window; prints the headline figures."""
    from customs_risk.evaluation.performance import run_evaluation

    try:
        result = run_evaluation(train_dir, data, out, seed)
    except FileNotFoundError as exc:
        console.print(f"[red]evaluate failed:[/red] {exc}")
        return 2
    for key in sorted(result):
        if "_at_5" in key or "_at_10" in key:
            if key.startswith("world_") and "recall" in key:
                continue
            console.print(f"{key:<52}{result[key]:.4f}")
    console.print(f"report in {out}")
    return 0


def run_promote_command(
    data: Path,
    window_days: int,
    metric: str,
    min_delta: float,
    force: bool,
    to: str | None,
    out: Path | None,
) -> int:
    """Promote or roll back; 0 when champion was set or kept as decided, 2 on bad input."""
    from customs_risk.models.promote import promote, rollback
    from customs_risk.models.tracking import MlflowSettings

    settings = MlflowSettings()
    try:
        if to is not None:
            previous = rollback(settings, to)
            console.print(f"champion -> v{to} (was v{previous})")
            result = {"champion": to, "previous": previous, "rollback": True}
        else:
            comparison = promote(settings, data, window_days, metric, min_delta, force)
            console.print(comparison.table())
            result = asdict(comparison)
    except (LookupError, ValueError, FileNotFoundError) as exc:
        console.print(f"[red]promote failed:[/red] {exc}")
        return 2
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return 0
