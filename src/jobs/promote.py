"""``customs-risk promote``: challenger vs champion on the newest window, or a rollback."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PromoteOptions:
    """Inputs of ``customs-risk promote``."""

    data: Path = Path("data/raw/world")
    window_days: int = 45
    metric: str = "auc"
    min_delta: float = 0.0
    force: bool = False
    to: str | None = None  # point champion at this version (rollback)
    out: Path | None = None  # comparison JSON


def run(options: PromoteOptions) -> int:
    """Promote or roll back; 0 when champion was set or kept as decided, 2 on bad input."""
    import json
    from dataclasses import asdict

    from rich.console import Console

    from customs_risk.models.promote import promote, rollback
    from customs_risk.models.tracking import MlflowSettings

    console = Console()
    try:
        settings = MlflowSettings()  # a relative SQLite URL outside a project: refused
        if options.to is not None:
            previous = rollback(settings, options.to)
            console.print(f"champion -> v{options.to} (was v{previous})")
            result = {"champion": options.to, "previous": previous, "rollback": True}
        else:
            comparison = promote(
                settings,
                options.data,
                options.window_days,
                options.metric,
                options.min_delta,
                options.force,
            )
            console.print(comparison.table())
            result = asdict(comparison)
    except (LookupError, ValueError, FileNotFoundError) as exc:
        console.print(f"[red]promote failed:[/red] {exc}")
        return 2
    if options.out is not None:
        options.out.parent.mkdir(parents=True, exist_ok=True)
        options.out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return 0
