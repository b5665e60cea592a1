"""``customs-risk cycle``: one turn of the risk-management cycle from the store.

export (the store's declarations, results and decisions as a dataset folder) -> validate ->
train on it (registered as challenger) -> promote (challenger against champion, estimated on
the random control) -> import the champion into the BentoML store when it moved. A running
service follows the champion alias by itself (``CUSTOMS_RISK_SERVE_FOLLOW_ALIAS``): it switches
to the new version without a restart; the import makes a restart serve the same. Each step is a
command of its own (``store export``, ``validate``, ``train``, ``promote``, ``import-model``);
the cycle stops at the first that fails, with its exit code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from customs_risk.models.settings import PromoteSettings


@dataclass(frozen=True)
class CycleOptions:
    """Inputs of ``customs-risk cycle``."""

    work: Path = Path("data/cycle")  # export/, train/ and promote.json go here
    store_url: str | None = None  # default: CUSTOMS_RISK_STORE_URL or the SQLite default
    params: Path | None = Path("params.yaml")  # train: and promote: settings
    trials: int | None = None
    seconds: float | None = None
    seed: int | None = None
    window_days: int | None = None  # promote: the newest days compared on (default: params)
    force: bool = False  # promote even when the challenger is not better
    import_champion: bool = True


def _promote_settings(params: Path | None) -> PromoteSettings:
    """The ``promote:`` section of the params file (defaults without one)."""
    import yaml

    from customs_risk.models.settings import PromoteSettings

    section: dict = {}
    if params is not None and params.exists():
        section = (yaml.safe_load(params.read_text()) or {}).get("promote") or {}
    return PromoteSettings.model_validate(section)


def run(options: CycleOptions) -> int:
    """Run the steps; 0 when all ran (promoted or not), else the failing step's code."""
    from rich.console import Console

    from customs_risk.jobs import import_model, outcomes_export, promote, train, validate

    console = Console()
    export_dir = options.work / "export"
    decision = options.work / "promote.json"

    def step(name: str) -> None:
        console.rule(f"[bold]cycle: {name}")

    step("export the store")
    code = outcomes_export.run(outcomes_export.OutcomesExportOptions(export_dir, options.store_url))
    if code != 0:
        return code
    step("validate")
    code = validate.run(validate.ValidateOptions(export_dir))
    if code != 0:
        console.print("[red]cycle stopped:[/red] the export breaks the contracts (see above)")
        return code
    step("train the challenger")
    code = train.run(
        train.TrainOptions(
            params=options.params,
            data=export_dir,
            out=options.work / "train",
            trials=options.trials,
            seconds=options.seconds,
            seed=options.seed,
        )
    )
    if code != 0:
        return code
    step("promote")
    decision.unlink(missing_ok=True)
    compare = _promote_settings(options.params)
    if options.window_days is not None:
        compare = compare.model_copy(update={"window_days": options.window_days})
    code = promote.run(
        promote.PromoteOptions(
            data=export_dir,
            force=options.force,
            out=decision,
            params=options.params,
            **compare.model_dump(),
        )
    )
    if code != 0:
        return code
    promoted = bool(json.loads(decision.read_text()).get("promoted"))
    if not promoted:
        console.print("champion unchanged: nothing to import")
        return 0
    if options.import_champion:
        step("import the champion into the BentoML store")
        code = import_model.run(import_model.ImportModelOptions(alias="champion"))
    return code
