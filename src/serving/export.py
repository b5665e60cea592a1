"""Export the store to a dataset folder: ``declarations.parquet`` (the items decided, as received,
declaration contract), ``outcomes.parquet`` (the outcome contract: results of items this system
decided, the training labels), ``outcomes_other_sources.parquet`` (results that name their
``source``, kept apart) and ``decisions.parquet`` (with their propensities). ``validate`` accepts
the folder."""

from __future__ import annotations

from pathlib import Path

from customs_risk.data.contracts import (
    DECLARATIONS_FILE,
    OUTCOMES_FILE,
    DeclarationSchema,
    OutcomeSchema,
)
from customs_risk.serving.store import Store

DECISIONS_FILE = "decisions.parquet"
OTHER_SOURCES_FILE = "outcomes_other_sources.parquet"


def export(store: Store, out_dir: Path | str) -> dict[str, int]:
    """Write the four files (declarations and outcomes checked against their schemas); returns
    row counts."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    declarations = DeclarationSchema.validate(store.declarations_frame())
    declarations.to_parquet(out / DECLARATIONS_FILE, index=False)
    outcomes = OutcomeSchema.validate(store.outcomes_frame())
    other = outcomes["source"].notna()
    decisions = store.decisions_frame()
    outcomes[~other].reset_index(drop=True).to_parquet(out / OUTCOMES_FILE, index=False)
    outcomes[other].reset_index(drop=True).to_parquet(out / OTHER_SOURCES_FILE, index=False)
    decisions.to_parquet(out / DECISIONS_FILE, index=False)
    return {
        "declarations": len(declarations),
        "outcomes": int((~other).sum()),
        "other_sources": int(other.sum()),
        "decisions": len(decisions),
    }
