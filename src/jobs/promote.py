"""``customs-risk promote``: challenger vs champion on the newest window, or a rollback."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class PromoteOptions:
    """Inputs of ``customs-risk promote`` (the comparison's fields: ``PromoteSettings``)."""

    data: Path = Path("data/raw/world")
    window_days: int = 45
    metric: str | None = None  # None: the estimator's first metric
    min_delta: float = 0.0
    force: bool = False
    to: str | None = None  # point champion at this version (rollback)
    out: Path | None = None  # comparison JSON
    estimator: str = "control"
    rule: str = "estimate"
    rate: float = 0.05
    resamples: int = 1000
    seed: int = 0
    params: Path | None = None  # params.yaml whose world: made the data (truth-based figures)


def _plain(value: Any) -> Any:
    """JSON-ready: NaN and infinities become null (strict JSON has neither)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def run(options: PromoteOptions) -> int:
    """Promote or roll back; 0 when champion was set or kept as decided, 2 on bad input."""
    import json
    from dataclasses import asdict

    from rich.console import Console

    from customs_risk.data.contracts import TRUTH_FILE
    from customs_risk.data.world_config import load_world_config
    from customs_risk.models.promote import promote, rollback
    from customs_risk.models.settings import PromoteSettings
    from customs_risk.models.tracking import MlflowSettings

    console = Console()
    try:
        settings = MlflowSettings()  # a relative SQLite URL outside a project: refused
        if options.to is not None:
            previous = rollback(settings, options.to)
            console.print(f"champion -> v{options.to} (was v{previous})")
            result = {"champion": options.to, "previous": previous, "rollback": True}
        else:
            compare = PromoteSettings.model_validate(
                {
                    "window_days": options.window_days,
                    "estimator": options.estimator,
                    "metric": options.metric,
                    "min_delta": options.min_delta,
                    "rule": options.rule,
                    "rate": options.rate,
                    "resamples": options.resamples,
                    "seed": options.seed,
                }
            )
            params = options.params
            if params is None and Path("params.yaml").exists():
                params = Path("params.yaml")
            world = load_world_config(params) if (options.data / TRUTH_FILE).exists() else None
            comparison = promote(settings, options.data, compare, options.force, world)
            console.print(comparison.table(), highlight=False, markup=False, soft_wrap=True)
            result = asdict(comparison)
    except (LookupError, ValueError, FileNotFoundError) as exc:  # ValidationError included
        console.print(f"[red]promote failed:[/red] {exc}")
        return 2
    if options.out is not None:
        options.out.parent.mkdir(parents=True, exist_ok=True)
        options.out.write_text(json.dumps(_plain(result), indent=2, default=str) + "\n")
    return 0
