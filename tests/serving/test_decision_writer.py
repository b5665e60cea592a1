"""The decision writer: a request's future resolves once its rows are committed (group commit
through a child process); when the process dies its group is refused (not acknowledged) and the
thread writes later groups itself."""

from __future__ import annotations

import threading
from pathlib import Path

import pandas as pd
import pytest

from customs_risk.selection.synthetic import synthetic_declarations
from customs_risk.serving.decision_writer import DecisionWriter, StoreUnavailable
from customs_risk.serving.schemas import DECISION_ANSWER_FIELDS, DECLARATION_FIELDS, Declaration
from customs_risk.serving.store import Store


def _request(n: int, prefix: str) -> tuple[list[dict], list[Declaration]]:
    frame = synthetic_declarations(n, seed=5)
    frame["declaration_id"] = [f"{prefix}{i}" for i in range(n)]
    frame["hs_code"] = "8517120000"
    records = frame[[c for c in DECLARATION_FIELDS if c in frame.columns]].to_dict("records")
    inputs = [Declaration.model_validate(r) for r in records]
    decisions = [
        dict.fromkeys(DECISION_ANSWER_FIELDS)
        | {
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


def test_a_future_resolves_once_its_rows_are_committed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    writer = DecisionWriter(url)
    assert writer.process is not None and writer.process.is_alive()
    futures = [writer.submit(*_request(40, f"R{k}-"), request_id=f"req-{k}") for k in range(3)]
    for k, future in enumerate(futures):
        assert future.result(timeout=30) == 40
        with Store(url) as store:  # acknowledged: already in the store, read by another engine
            stored = store.decisions_frame()
        assert (stored["request_id"] == f"req-{k}").sum() == 40
    assert (writer.written, writer.failed) == (120, 0)
    writer.close()
    assert not writer.process.is_alive()
    with Store(url) as store:
        stored = store.decisions_frame()
    assert len(stored) == 120 and stored["request_id"].nunique() == 3
    assert stored["office_id"].notna().all() and stored["input_digest"].str.len().eq(64).all()
    assert stored["declared_at"].notna().all()
    assert stored.loc[0, "profile_ids"] == '["P-1"]'


def test_concurrent_requests_share_commits(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    writer = DecisionWriter(url)
    requests = [_request(5, f"C{k}-") for k in range(200)]
    futures: list = []

    def client(part: list) -> None:
        for k, (decisions, inputs) in part:
            futures.append(writer.submit(decisions, inputs, f"c-{k}", client_key="lane"))

    threads = [
        threading.Thread(target=client, args=(list(enumerate(requests))[i::4],)) for i in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [f.result(timeout=30) for f in futures] == [5] * 200
    assert writer.written == 1000 and writer.commits < 200  # several requests per transaction
    writer.close()
    with Store(url) as store:
        stored = store.decisions_frame()
    assert len(stored) == 1000 and stored["request_id"].nunique() == 200
    assert set(stored["client_key"]) == {"lane"}


def test_a_dead_store_process_refuses_its_group_then_the_thread_writes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    writer = DecisionWriter(url)
    assert writer.submit(*_request(10, "A"), request_id="a").result(timeout=30) == 10
    writer.process.kill()
    writer.process.join(10)
    refused = writer.submit(*_request(10, "B"), request_id="b")
    with pytest.raises(StoreUnavailable, match="died"):
        refused.result(timeout=30)
    assert writer.process is None  # noticed, logged, replaced by the thread's own store
    assert writer.submit(*_request(10, "C"), request_id="c").result(timeout=30) == 10
    assert (writer.written, writer.failed) == (20, 10)
    writer.close()
    with Store(url) as store:
        assert pd.Series(store.decisions_frame()["request_id"]).tolist() == ["a"] * 10 + ["c"] * 10
