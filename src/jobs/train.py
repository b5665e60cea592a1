"""``customs-risk train``: tune and train with params.yaml and the overrides, print the figures."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TrainOptions:
    """Inputs of ``customs-risk train``: the params file and overrides of its ``train:`` section
    (None: keep the file's value)."""

    params: Path | None = Path("params.yaml")
    data: Path | None = None
    out: Path | None = None
    experiments: tuple[Path, ...] | None = None
    trials: int | None = None
    seconds: float | None = None
    seed: int | None = None
    register: bool = True


def run(options: TrainOptions) -> int:
    """Train; 0 on success, 2 on bad input."""
    import logging

    from rich.console import Console

    from customs_risk.models.settings import TrainSettings
    from customs_risk.models.train import TrainJob

    console = Console()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        settings = TrainSettings.from_params(
            options.params,
            data=options.data,
            out=options.out,
            experiments=list(options.experiments) if options.experiments else None,
            trials=options.trials,
            seconds=options.seconds,
            seed=options.seed,
            register_model=options.register,
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
