"""``customs-risk evaluate``: the training job's test window against the baselines."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class EvaluateOptions:
    """Inputs of ``customs-risk evaluate``."""

    train_dir: Path = Path("data/models")
    data: Path = Path("data/raw/world")
    out: Path = Path("reports")
    seed: int = 0


def run(options: EvaluateOptions) -> int:
    """Evaluate and print the headline figures; 2 when an input is missing."""
    from rich.console import Console

    from customs_risk.evaluation.performance import run_evaluation

    console = Console()
    try:
        result = run_evaluation(options.train_dir, options.data, options.out, options.seed)
    except FileNotFoundError as exc:
        console.print(f"[red]evaluate failed:[/red] {exc}")
        return 2
    for key in sorted(result):
        if "_at_5" in key or "_at_10" in key:
            if key.startswith("world_") and "recall" in key:
                continue
            console.print(f"{key:<52}{result[key]:.4f}")
    console.print(f"report in {options.out}")
    return 0
