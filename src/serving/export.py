"""Export the store to parquet: ``outcomes.parquet`` (the outcome contract) and decisions."""

from __future__ import annotations

from pathlib import Path

from customs_risk.data.contracts import OUTCOMES_FILE, OutcomeSchema
from customs_risk.serving.store import Store

DECISIONS_FILE = "decisions.parquet"


def export(store: Store, out_dir: Path | str) -> dict[str, int]:
    """Write ``outcomes.parquet`` (validated against OutcomeSchema) and ``decisions.parquet``.

    Returns the row counts written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    outcomes = OutcomeSchema.validate(store.outcomes_frame())
    decisions = store.decisions_frame()
    outcomes.to_parquet(out / OUTCOMES_FILE, index=False)
    decisions.to_parquet(out / DECISIONS_FILE, index=False)
    return {"outcomes": len(outcomes), "decisions": len(decisions)}
