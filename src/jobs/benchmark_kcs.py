"""``customs-risk benchmark kcs``: train on KCS files, score later ones, print the metrics."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class BenchmarkKcsOptions:
    """Inputs of ``customs-risk benchmark kcs``."""

    train: tuple[Path, ...]
    test: tuple[Path, ...]
    out: Path = Path("metrics.json")
    trials: int = 3
    seed: int = 0


def run(options: BenchmarkKcsOptions) -> int:
    """Run the benchmark (it writes the metrics JSON) and print every metric; exit code."""
    from customs_risk.models.kcs_benchmark import run_kcs_benchmark

    metrics = run_kcs_benchmark(
        list(options.train), list(options.test), options.out, options.trials, options.seed
    )
    for key, value in metrics.items():
        print(f"{key:<24}{value:.4f}" if isinstance(value, float) else f"{key:<24}{value}")
    return 0
