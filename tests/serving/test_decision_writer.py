"""The decision writer: rows built in a thread, committed by a child process, drained on close;
when the process is gone the thread writes itself and counts what was lost."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from customs_risk.selection.synthetic import synthetic_declarations
from customs_risk.serving.decision_writer import DecisionWriter
from customs_risk.serving.schemas import DECLARATION_FIELDS, Declaration
from customs_risk.serving.store import Store


def _request(n: int, prefix: str) -> tuple[list[dict], list[Declaration]]:
    frame = synthetic_declarations(n, seed=5)
    frame["declaration_id"] = [f"{prefix}{i}" for i in range(n)]
    frame["hs_code"] = "8517120000"
    records = frame[[c for c in DECLARATION_FIELDS if c in frame.columns]].to_dict("records")
    inputs = [Declaration.model_validate(r) for r in records]
    decisions = [
        {
            "declaration_id": d.declaration_id,
            "item_no": d.item_no,
            "channel": "red" if i % 3 == 0 else "green",
            "selected_by": "model",
            "propensity": 1.0,
            "propensity_red": 1.0,
            "fraud_probability": 0.5,
            "expected_revenue": None,
            "risk_score": 0.5,
            "profile_hits": [{"id": "P-1", "title": "t", "instructions": "i"}] if i == 0 else [],
            "model_version": "m/1",
            "policy_version": "p-1",
        }
        for i, d in enumerate(inputs)
    ]
    return decisions, inputs


def test_rows_reach_the_store_from_the_child_process(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    writer = DecisionWriter(url)
    assert writer.process is not None and writer.process.is_alive()
    for k in range(3):
        writer.put(*_request(40, f"R{k}-"), request_id=f"req-{k}")
    writer.flush()
    assert (writer.sent, writer.written, writer.failed) == (120, 120, 0)
    writer.close()
    assert not writer.process.is_alive()
    with Store(url) as store:
        stored = store.decisions_frame()
    assert len(stored) == 120 and stored["request_id"].nunique() == 3
    assert stored["office_id"].notna().all() and stored["input_digest"].str.len().eq(64).all()
    assert stored.loc[0, "profile_ids"] == '["P-1"]'


def test_the_thread_writes_when_the_process_is_gone(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    writer = DecisionWriter(url)
    writer.put(*_request(10, "A"), request_id="a")
    writer.flush()
    writer.process.kill()
    writer.process.join(10)
    writer.put(*_request(10, "B"), request_id="b")
    writer.flush()
    assert writer.process is None  # noticed, logged, replaced by the thread's own store
    assert (writer.sent, writer.written, writer.failed) == (20, 20, 0)
    writer.close()
    with Store(url) as store:
        assert pd.Series(store.decisions_frame()["request_id"]).tolist() == ["a"] * 10 + ["b"] * 10
