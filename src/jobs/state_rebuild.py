"""``customs-risk state rebuild``: the served feature state made from the store, for a cold start
or to look at offline: the model's state plus every history event of the store (the declarations
decided and the results posted since its training), as each worker of the service replays them
when it starts (``serving.live_history``), folded in up to the last day and saved as a state
folder (``FeatureState.load`` reads it)."""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class StateRebuildOptions:
    """Inputs of ``customs-risk state rebuild``."""

    model: str  # registry URI (models:/NAME@ALIAS, models:/NAME/VERSION) or bundle folder
    out: Path
    store_url: str | None = None  # default: CUSTOMS_RISK_STORE_URL or the SQLite default


def run(options: StateRebuildOptions) -> int:
    """Rebuild and save; 2 when the model or the store cannot be read."""
    import pandas as pd
    import sqlalchemy as sa
    from rich.console import Console

    from customs_risk.features.live import compact, day_start
    from customs_risk.jobs.decide import ModelLoadError, load_model
    from customs_risk.serving.live_history import LiveHistory
    from customs_risk.serving.store import Store

    console = Console()
    with tempfile.TemporaryDirectory(prefix="customs-risk-state-") as tmp:
        try:
            model = load_model(options.model, Path(tmp))
        except ModelLoadError as exc:
            print(f"state rebuild failed: {exc}", file=sys.stderr)
            return 2
    trained_as_of = model.state.as_of
    try:
        with Store(options.store_url) as store:
            live = LiveHistory(store, model)
            events = live.catch_up()
    except (sa.exc.SQLAlchemyError, ValueError) as exc:
        print(f"state rebuild failed: the store cannot be read: {exc}", file=sys.stderr)
        return 2
    state = model.state
    if state.n_pending_declarations:
        state = compact(state, day_start(int(state.pending_declarations["t"].max())))
    state.save(options.out)

    def when(ns: int | None) -> str:
        return "none" if ns is None else str(pd.Timestamp(ns))

    console.print(
        f"{events} history events replayed: {live.applied['declarations']} declarations, "
        f"{live.applied['results']} results"
    )
    console.print(
        f"as of {when(trained_as_of)} (training) -> {when(state.as_of)}; "
        f"{state.n_pending_declarations} declarations and {state.n_pending} results "
        "pending after it"
    )
    console.print(f"state written to {options.out}")
    return 0
