"""The engine and the contracts: its answers carry exactly the decision spec's answered fields,
and the declaration contract's nullable fields (the source may not say) are scored, not refused
(the API takes null for them; the engine decides such items like any other)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from customs_risk.data.contracts import DECISION, DECLARATION

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow
NULLABLE = [f.name for f in DECLARATION.fields if f.required and f.nullable]


def test_answers_and_nullable_fields(trained, small_world: Path) -> None:
    from customs_risk.models.bundle import RiskModel
    from customs_risk.selection.profiles import load_profiles
    from customs_risk.serving.engine import Engine
    from customs_risk.serving.schemas import Declaration, ScoreResponse

    assert {"quantity", "net_mass_kg", "duty_declared", "departure_country"} <= set(NULLABLE)
    frame = pd.read_parquet(small_world / "declarations.parquet").tail(40).reset_index(drop=True)
    frame["declared_at"] = pd.Timestamp("2025-06-01 08:00:00")
    items = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
    for k, item in enumerate(items):
        if k % 2 == 0:
            item.update(dict.fromkeys(NULLABLE))
    records = [Declaration.model_validate(item).record() for item in items]
    model = RiskModel.load(trained.result.bundle.save(trained.root / "bundle_nulls"))
    engine = Engine(model, load_profiles(ROOT / "profiles"))
    decisions = engine.decide(records)
    assert len(decisions) == len(records)
    assert all(tuple(d) == DECISION.names("answer") for d in decisions)
    ScoreResponse.model_validate({"request_id": "r", "decisions": decisions})  # fits the schema
    assert all(d["channel"] in {"red", "orange", "green"} for d in decisions)
    assert all(d["fraud_probability"] is not None for d in decisions)
    assert engine.decide(records[:1]) == decisions[:1]
