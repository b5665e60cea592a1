"""The scoring service over real HTTP: a model trained once, imported into a temporary BentoML
store, served by ``bentoml serve`` (no mocks)."""

from __future__ import annotations

import concurrent.futures as cf
import json
import math
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from customs_risk.serving.harness import LocalServer

from .conftest import cli as _cli
from .conftest import json_declarations

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "test-token-123"
SMALL_LIMIT = 64 * 1024  # body limit of the second server
CHANNELS = {"red", "orange", "green"}
pytestmark = pytest.mark.slow


def _server_env(served: dict[str, Any], **extra: str) -> dict[str, str]:
    return {
        "BENTOML_HOME": served["env"]["BENTOML_HOME"],
        "CUSTOMS_RISK_STORE_URL": f"sqlite:///{served['tmp']}/store/outcomes.db",
        "CUSTOMS_RISK_API_TOKEN": TOKEN,
        "CUSTOMS_RISK_SERVE_PROFILES": str(ROOT / "profiles"),
        "CUSTOMS_RISK_SERVE_LISTS": str(ROOT / "lists"),
        "BENTOML_DO_NOT_TRACK": "true",
        # the tests here compare answers across calls: a history frozen at training
        # (test_live_history.py serves a live one)
        "CUSTOMS_RISK_SERVE_LIVE_HISTORY": "false",
        "CUSTOMS_RISK_SERVE_FOLLOW_ALIAS": "false",  # the alias test expects a stale model
        **extra,
    }


def _thresholds_file(served: dict[str, Any]) -> Path:
    """Where the main server looks for refreshed thresholds (absent unless a test writes it)."""
    return served["tmp"] / "served" / "thresholds.json"


@pytest.fixture(scope="module")
def servers(served: dict[str, Any]):
    """The main server and one whose model tag does not exist (started together); the second
    has a 64 KiB body limit and no outcome token."""
    tmp = served["tmp"]
    follow = {
        "CUSTOMS_RISK_SERVE_THRESHOLDS": str(_thresholds_file(served)),
        "CUSTOMS_RISK_SERVE_THRESHOLDS_CHECK_SECONDS": "0",
        "CUSTOMS_RISK_SERVE_ALIAS_CHECK_SECONDS": "0",  # /model reads the registry each time
        "CUSTOMS_RISK_SERVE_LISTS_CHECK_SECONDS": "1",  # the store's lists, looked at each second
        **served["env"],  # the registry of the served model (MLflow store)
    }
    main = LocalServer(_server_env(served, **follow), log_path=tmp / "server.log", cwd=ROOT)
    main.start()
    broken = LocalServer(
        _server_env(
            served,
            CUSTOMS_RISK_SERVE_MODEL_TAG="customs-risk:doesnotexist",
            CUSTOMS_RISK_STORE_URL=f"sqlite:///{tmp}/store/broken.db",
            CUSTOMS_RISK_SERVE_MAX_REQUEST_BYTES=str(SMALL_LIMIT),
            CUSTOMS_RISK_API_TOKEN="",
        ),
        log_path=tmp / "broken.log",
        cwd=ROOT,
    ).start()
    try:
        main.wait(200)
        yield {"main": main, "broken": broken}
    finally:
        main.stop()
        broken.stop()


@pytest.fixture(scope="module")
def server(servers: dict[str, LocalServer]) -> LocalServer:
    return servers["main"]


@pytest.fixture(scope="module")
def declarations(served: dict[str, Any]) -> list[dict[str, Any]]:
    """2,000 declarations of the world's last days, re-dated after the model's state, as JSON."""
    return json_declarations(served["world"], 2000, "SVC")


def _sharing(records: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """``n`` items in time order, several of one importer and one HS6-origin pair: a request
    whose items would see each other as history if the service featurised them together."""
    importer = Counter(r["importer_id"] for r in records).most_common(1)[0][0]
    pair = Counter((r["hs_code"][:6], r["origin_country"]) for r in records).most_common(1)[0][0]
    chosen = [r for r in records if r["importer_id"] == importer][:5]
    chosen += [r for r in records if (r["hs_code"][:6], r["origin_country"]) == pair][:5]
    chosen += [r for r in records if r not in chosen][: n - len(chosen)]
    return sorted(chosen, key=lambda r: r["declared_at"])


def _score(server: LocalServer, items: list[dict[str, Any]]) -> httpx.Response:
    return httpx.post(f"{server.url}/score", json={"declarations": items}, timeout=60)


def test_single_score(server: LocalServer, declarations: list[dict[str, Any]]) -> None:
    r = _score(server, declarations[:1])
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["request_id"]) == 32
    (d,) = body["decisions"]
    assert (d["declaration_id"], d["item_no"]) == (declarations[0]["declaration_id"], 1)
    assert d["channel"] in CHANNELS
    assert d["selected_by"] in {"model", "profile", "random", "default", "list"}
    assert 0.0 <= d["fraud_probability"] <= 1.0
    assert 0.0 < d["propensity"] <= 1.0
    assert d["model_version"] == "customs-risk/1"
    assert d["policy_version"]
    assert isinstance(d["profile_hits"], list) and isinstance(d["reasons"], list)


def test_batch_shapes_and_order(server: LocalServer, declarations: list[dict[str, Any]]) -> None:
    items = declarations[:1000]
    r = _score(server, items)
    assert r.status_code == 200, r.text
    out = r.json()["decisions"]
    assert [d["declaration_id"] for d in out] == [i["declaration_id"] for i in items]
    assert {d["channel"] for d in out} <= CHANNELS
    assert {d["channel"] for d in out} == CHANNELS  # 1,000 items see all three channels
    flagged = [d for d in out if d["channel"] != "green" and d["selected_by"] == "model"]
    assert flagged and all(d["reasons"] for d in flagged)


def test_batch_equals_single_calls(server: LocalServer, declarations: list[dict[str, Any]]) -> None:
    items = _sharing(declarations, 25)
    assert len({i["importer_id"] for i in items}) < len(items)
    batch = _score(server, items).json()["decisions"]
    singles = [_score(server, [item]).json()["decisions"][0] for item in items]
    assert batch == singles


def test_profile_hit_forces_channel(server: LocalServer, declarations: list[dict]) -> None:
    item = dict(declarations[5], hs_code="8517120000", origin_country="CN")
    item.update(customs_value=100.0, quantity=50.0)  # unit value 2 < 40
    (d,) = _score(server, [item]).json()["decisions"]
    assert d["channel"] == "red" and d["selected_by"] == "profile"
    assert d["profile_hits"][0]["id"] == "RP-2025-001"
    assert d["profile_hits"][0]["title"] and d["profile_hits"][0]["instructions"]
    assert d["propensity"] == 1.0


def _until(score: Any, done: Any, seconds: float = 30.0) -> list[dict[str, Any]]:
    """Score until ``done(decisions)`` holds (the service polls the store's lists)."""
    deadline = time.monotonic() + seconds
    while True:
        decisions = score()
        if done(decisions) or time.monotonic() > deadline:
            return decisions
        time.sleep(0.3)


def test_managed_lists_apply_without_a_restart(
    server: LocalServer, served: dict, declarations: list[dict]
) -> None:
    """The folder's restricted goods need a licence reference; an entry added to the store
    changes /score within seconds, and its retirement restores the decisions."""
    from customs_risk.selection.lists import ListEntry
    from customs_risk.serving.store import Store

    arms = dict(declarations[7], hs_code="930320")  # lists/: ML-2026-002, HS 93, red
    licensed = dict(arms, declaration_id="SVC-LICENSED", licence_ref="LIC-2025-0042")
    no_licence, with_licence = _score(server, [arms, licensed]).json()["decisions"]
    assert (no_licence["channel"], no_licence["selected_by"]) == ("red", "list")
    assert no_licence["propensity"] == no_licence["propensity_red"] == 1.0
    assert no_licence["reasons"][0].startswith(
        "on the restricted-goods list ML-2026-002 (HS 93, Arms and ammunition"
    )
    assert [h["id"] for h in no_licence["list_hits"]] == ["ML-2026-002"]
    assert no_licence["list_hits"][0]["imposed"] and not with_licence["list_hits"][0]["imposed"]
    assert with_licence["selected_by"] != "list"
    assert "licence reference declared" in with_licence["reasons"][0]

    items = declarations[300:340]
    importer = items[3]["importer_id"]
    mine = [i for i, d in enumerate(items) if d["importer_id"] == importer]
    before = _score(server, items).json()["decisions"]
    entry = ListEntry(
        id="ML-TEST-SVC",
        kind="watchlist",
        title="importer under investigation",
        importer_id=importer,
        channel="red",
        instructions="physical inspection, report to the investigation unit",
        valid_from="2025-01-01",
        source="service test",
    )
    store = Store(_server_env(served)["CUSTOMS_RISK_STORE_URL"])
    store.add_list_entry(entry, "tests")
    try:
        after = _until(
            lambda: _score(server, items).json()["decisions"],
            lambda ds: bool(ds[mine[0]]["list_hits"]),
        )
        for i in mine:
            d = after[i]
            assert (d["channel"], d["selected_by"], d["propensity"]) == ("red", "list", 1.0)
            assert d["list_hits"][0]["id"] == "ML-TEST-SVC"
            assert d["reasons"][0] == (
                f"on the trader watchlist ML-TEST-SVC (importer {importer}, importer under "
                "investigation); instructions: physical inspection, report to the investigation "
                "unit"
            )
        others = [j for j in range(len(items)) if j not in mine]
        assert [after[j] for j in others] == [before[j] for j in others]
        info = httpx.get(f"{server.url}/model", timeout=10).json()["lists"]
        assert "ML-TEST-SVC" in info["entries"] and info["from_store"] >= 1
    finally:
        store.retire_list_entry("ML-TEST-SVC", "tests")
        store.close()
    restored = _until(
        lambda: _score(server, items).json()["decisions"],
        lambda ds: not ds[mine[0]]["list_hits"],
    )
    assert restored == before


def test_unknown_categories_are_normal(server: LocalServer, declarations: list[dict]) -> None:
    item = dict(
        declarations[0],
        importer_id="IMP-NEVER-SEEN",
        declarant_id="DCL-NEW",
        seller_id=None,
        hs_code="9999999999",
        office_id="OFC-NEW",
        origin_country="ZZ",
        extra_field="kept in the digest",
    )
    r = _score(server, [item])
    assert r.status_code == 200, r.text
    assert r.json()["decisions"][0]["channel"] in CHANNELS


@pytest.mark.parametrize(
    ("field", "value"),
    [("customs_value", -5), ("hs_code", "12"), ("declared_at", "yesterday"), ("item_no", "x")],
)
def test_invalid_input_names_field_and_index(
    server: LocalServer, declarations: list[dict], field: str, value: Any
) -> None:
    items = [dict(d) for d in declarations[:5]]
    items[3][field] = value
    r = _score(server, items)
    assert r.status_code == 400, r.text
    locs = [e["loc"] for e in r.json()["detail"]]
    assert ["declarations", 3, field] in locs


def test_missing_field_and_limits(server: LocalServer, declarations: list[dict]) -> None:
    item = dict(declarations[0])
    del item["importer_id"]
    r = _score(server, [declarations[0], item])
    assert r.status_code == 400
    assert ["declarations", 1, "importer_id"] in [e["loc"] for e in r.json()["detail"]]
    assert _score(server, []).status_code == 400
    too_many = [declarations[0]] * 10_001
    r = _score(server, too_many)
    assert r.status_code == 400 and "declarations" in r.text
    huge = b"{" + b" " * (33 * 1024 * 1024) + b"}"
    r = httpx.post(
        f"{server.url}/score",
        content=huge,
        headers={"content-type": "application/json"},
        timeout=60,
    )
    assert r.status_code == 413


def test_decisions_are_stored(server: LocalServer, served: dict, declarations: list) -> None:
    from customs_risk.serving.store import Store

    items = declarations[1500:1503]
    request_id = _score(server, items).json()["request_id"]
    store = Store(_server_env(served)["CUSTOMS_RISK_STORE_URL"])
    frame = store.decisions_frame()  # answered: already committed, no wait
    rows = frame[frame["request_id"] == request_id]
    assert list(rows["declaration_id"]) == [i["declaration_id"] for i in items]
    assert rows["input_digest"].str.len().eq(64).all()
    assert set(rows["model_version"]) == {"customs-risk/1"}
    assert rows["client_key"].isna().all()  # /score open on loopback, no key sent
    declared = pd.to_datetime([i["declared_at"] for i in items]).tz_localize(None)
    assert rows["declared_at"].tolist() == list(declared)
    store.close()


def _outcome(i: int, prefix: str = "OUT", source: str | None = "test") -> dict[str, Any]:
    """An outcome row; ``source`` set: an item this system did not decide (kept apart)."""
    fraud = i % 7 == 0
    return {
        "declaration_id": f"{prefix}{i // 2:08d}",
        "item_no": i % 2 + 1,
        "channel": ["red", "orange", "green"][i % 3],
        "result_at": "2025-06-02T10:00:00",
        "fraud_found": fraud,
        "fraud_type": "undervaluation" if fraud else "none",
        "critical": False,
        "recovered_revenue": 12.5 if fraud else 0.0,
        "source": source,
    }


def _post_outcomes(server: LocalServer, rows: list[dict], token: str | None = TOKEN):
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return httpx.post(
        f"{server.url}/outcomes", json={"outcomes": rows}, headers=headers, timeout=120
    )


def test_outcomes_need_token(server: LocalServer) -> None:
    rows = [_outcome(i, "AUTH") for i in range(3)]
    assert _post_outcomes(server, rows, token=None).status_code == 401
    assert _post_outcomes(server, rows, token="wrong").status_code == 401
    r = _post_outcomes(server, rows)
    assert r.status_code == 200, r.text
    assert r.json() == {"inserted": 3, "duplicates": 0}
    assert _post_outcomes(server, rows).json() == {"inserted": 0, "duplicates": 3}
    r = _post_outcomes(server, rows + rows[:1] + [_outcome(3, "AUTH")])
    assert r.json() == {"inserted": 1, "duplicates": 4}


def test_invalid_outcome_names_field_and_row(server: LocalServer) -> None:
    rows = [_outcome(i, "BAD") for i in range(4)]
    rows[2]["fraud_type"] = "smuggling"
    r = _post_outcomes(server, rows)
    assert r.status_code == 400
    assert ["outcomes", 2, "fraud_type"] in [e["loc"] for e in r.json()["detail"]]


def test_concurrent_outcomes_stored_exactly_once(server: LocalServer, served: dict) -> None:
    from customs_risk.serving.store import Store

    distinct = [_outcome(i, "CONC") for i in range(10_000)]
    rng = np.random.default_rng(0)
    clients = []
    for c in range(8):
        own = distinct[c::8]
        repeats = [distinct[j] for j in rng.choice(len(distinct), 500, replace=False)]
        rows = own + repeats
        rng.shuffle(rows)
        clients.append([rows[k : k + 400] for k in range(0, len(rows), 400)])

    def run(chunks: list[list[dict]]) -> tuple[int, int]:
        inserted = duplicates = 0
        for chunk in chunks:
            r = _post_outcomes(server, chunk)
            assert r.status_code == 200, r.text
            inserted += r.json()["inserted"]
            duplicates += r.json()["duplicates"]
        return inserted, duplicates

    with cf.ThreadPoolExecutor(8) as pool:
        totals = list(pool.map(run, clients))
    assert sum(t[0] for t in totals) == 10_000
    assert sum(t[0] + t[1] for t in totals) == 10_000 + 8 * 500
    store = Store(_server_env(served)["CUSTOMS_RISK_STORE_URL"])
    frame = store.outcomes_frame()
    conc = frame[frame["declaration_id"].str.startswith("CONC")]
    assert len(conc) == 10_000
    assert not conc.duplicated(["declaration_id", "item_no"]).any()
    store.close()


def test_model_info(server: LocalServer, served: dict) -> None:
    r = httpx.get(f"{server.url}/model", timeout=10)
    assert r.status_code == 200, r.text
    info = r.json()
    assert info["version"] == "customs-risk/1" and info["registry_version"] == "1"
    assert info["alias"] == "champion"
    assert info["bentoml_tag"] == served["tag"]
    assert {"train_start", "valid_start", "test_start", "data_end"} <= set(info["windows"])
    assert any(k.startswith("test_") for k in info["metrics"])
    assert any(k.startswith("valid_") for k in info["metrics"])
    assert info["metrics"]["revenue_ranker"] in {
        "model",
        "rule:duty_at_stake",
        "blend:duty_at_stake",
        "rule:price_z",
        "blend:price_z",
    }
    assert set(info["policy_shares"]) == {"red", "orange", "random_red", "random_orange"}


def test_model_info_follows_the_registry_alias(server: LocalServer, served: dict) -> None:
    """A promotion or rollback while the server runs: /model says the served version is no
    longer the alias's (stale), and not stale again once the alias is back."""
    import mlflow

    mlflow.set_tracking_uri(served["env"]["CUSTOMS_RISK_MLFLOW_URI"])
    client = mlflow.MlflowClient()
    name = "customs-risk"
    served = client.get_model_version_by_alias(name, "champion")

    def registry() -> dict:
        return httpx.get(f"{server.url}/model", timeout=60).json()["registry"]

    first = registry()  # one answer: checked_at moves between two calls
    assert first == {
        **first,
        "alias": "champion",
        "served_version": str(served.version),
        "alias_version": str(served.version),
        "stale": False,
        "error": None,
    }
    other = client.create_model_version(name, served.source, run_id=served.run_id)
    try:
        client.set_registered_model_alias(name, "champion", other.version)
        moved = registry()
        assert moved["alias_version"] == str(other.version) and moved["stale"] is True
    finally:
        client.set_registered_model_alias(name, "champion", served.version)
        client.delete_model_version(name, other.version)
    assert registry()["stale"] is False


def _samples(metrics: str, name: str) -> list[tuple[str, float]]:
    """(labels, value) of every sample of ``name`` in a Prometheus text exposition."""
    out = []
    for line in metrics.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            labels, _, value = line.rpartition(" ")
            out.append((labels, float(value)))
    return out


def test_infra_endpoints(server: LocalServer, declarations: list[dict[str, Any]]) -> None:
    assert httpx.get(f"{server.url}/livez").status_code == 200
    assert httpx.get(f"{server.url}/readyz").status_code == 200
    assert _score(server, declarations[:400]).status_code == 200
    metrics = httpx.get(f"{server.url}/metrics").text
    assert "request_total" in metrics and "/score" in metrics
    # the decision gauges: drift against the model's reference window, channel shares
    psi = [v for _, v in _samples(metrics, "customs_risk_score_psi")]
    assert psi and all(math.isfinite(v) and v >= 0 for v in psi), psi
    shares = _samples(metrics, "customs_risk_channel_share")
    assert {c for c in CHANNELS if any(f'channel="{c}"' in labels for labels, _ in shares)}
    decided = sum(v for _, v in _samples(metrics, "customs_risk_decisions_total"))
    assert decided >= 400
    paths = httpx.get(f"{server.url}/docs.json").json()["paths"]
    assert {"/score", "/outcomes", "/model"} <= set(paths)


def test_not_ready_when_model_cannot_load(servers: dict, declarations: list) -> None:
    broken = servers["broken"]
    deadline = time.monotonic() + 90
    status = None
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{broken.url}/livez", timeout=2).status_code == 200:
                status = httpx.get(f"{broken.url}/readyz", timeout=2).status_code
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    assert status == 503, broken.tail()
    assert _score(broken, declarations[:1]).status_code == 503
    assert httpx.get(f"{broken.url}/model").status_code == 503


def test_restart_keeps_outcomes_and_drains_decisions(
    servers: dict, served: dict, declarations: list
) -> None:
    from customs_risk.serving.store import Store

    server = servers["main"]
    rows = [_outcome(i, "RST") for i in range(50)]
    assert _post_outcomes(server, rows).json() == {"inserted": 50, "duplicates": 0}
    items = declarations[1700:1900]
    request_id = _score(server, items).json()["request_id"]
    server.stop()  # SIGTERM: the decision writer drains before exit
    store = Store(_server_env(served)["CUSTOMS_RISK_STORE_URL"])
    decisions = store.decisions_frame()
    assert (decisions["request_id"] == request_id).sum() == 200
    store.close()
    server.start()
    server.wait(200)
    assert _post_outcomes(server, rows).json() == {"inserted": 0, "duplicates": 50}
    store = Store(_server_env(served)["CUSTOMS_RISK_STORE_URL"])
    stored = store.outcomes_frame()
    assert stored["declaration_id"].str.startswith("RST").sum() == 50
    store.close()


def test_engine_records_equal_frame_decide(served: dict, declarations: list) -> None:
    """In-process: the service's records adapter decides exactly as ``RiskModel.decide`` on a
    frame (both over the one kernel), in batches of any size."""
    from customs_risk.models.bundle import RiskModel
    from customs_risk.selection.lists import load_lists
    from customs_risk.selection.profiles import load_profiles
    from customs_risk.serving.engine import Engine
    from customs_risk.serving.schemas import Declaration

    model = RiskModel.load(served["bundle"].bundle.save(served["tmp"] / "bundle_copy"))
    profiles = load_profiles(ROOT / "profiles")
    lists = load_lists(ROOT / "lists")
    engine = Engine(model, profiles, lists=lists)
    records = [Declaration.model_validate(d).record() for d in declarations[:600]]
    for k in range(0, 600, 60):  # profile hits of every kind
        records[k].update(hs_code="8517120000", origin_country="CN", quantity=100.0)
        records[k + 1].update(importer_id="IMP00342")
        records[k + 2].update(hs_code="300490", transport_mode="air", customs_value=600.0)
        records[k + 3].update(hs_code="610910", departure_country="TR", origin_country="CN")
        records[k + 4].update(hs_code="930390", licence_ref="LIC-1" if k % 120 else None)
    ours = engine.decide(records)
    assert [d for k in range(0, 600, 30) for d in engine.decide(records[k : k + 30])] == ours
    assert sum(bool(d["profile_hits"]) for d in ours) >= 20
    assert sum(d["selected_by"] == "random" for d in ours) > 0
    assert sum(bool(d["reasons"]) for d in ours) >= 20
    canon = model.decide(engine.frame(records), profiles, seed=0, lists=lists)
    for column in ("channel", "selected_by", "model_channel", "propensity", "propensity_red"):
        assert [d[column] for d in ours] == canon[column].tolist(), column
    np.testing.assert_array_equal([d["risk_score"] for d in ours], canon["risk_score"])
    assert [tuple(d["reasons"]) for d in ours] == [tuple(r) for r in canon["reasons"]]
    assert any("risk score x" in r for d in ours for r in d["reasons"])  # grade reasons compared
    assert [tuple(h["id"] for h in d["profile_hits"]) for d in ours] == [
        tuple(h) for h in canon["profile_hits"]
    ]
    assert [tuple(h["id"] for h in d["list_hits"]) for d in ours] == [
        tuple(h) for h in canon["list_hits"]
    ]
    assert sum(d["selected_by"] == "list" for d in ours) >= 5
    assert sum(bool(d["list_hits"]) and not d["list_hits"][0]["imposed"] for d in ours) >= 5


def test_refreshed_thresholds_are_followed(
    server: LocalServer, served: dict[str, Any], declarations: list[dict]
) -> None:
    """A thresholds file appears, changes, breaks and goes away: the server follows it."""
    from customs_risk.selection.thresholds import OfficeThresholds

    path = _thresholds_file(served)
    model_thresholds = served["bundle"].bundle.thresholds
    items = declarations[200:260]

    def served() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        decisions = _score(server, items).json()["decisions"]
        return httpx.get(f"{server.url}/model").json()["thresholds"], decisions

    def write(red: float, orange: float) -> None:
        cut = OfficeThresholds(red=red, orange=orange, n_rows=0)
        refreshed = model_thresholds.model_copy(update={"offices": {}, "fallback": cut})
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        refreshed.save(tmp)
        tmp.replace(path)  # a new file, a new mtime

    info, _ = served()
    assert info["source"] == "model" and info["error"] is None
    try:
        write(-float("inf"), -float("inf"))  # every scored item goes red
        info, decisions = served()
        assert info["source"] == str(path) and info["offices"] == 0
        assert {d["model_channel"] for d in decisions} == {"red"}
        path.write_text("{not json")  # a broken refresh: reported, the last good one stays
        info, decisions = served()
        assert info["source"] == str(path) and "ValidationError" in info["error"]
        assert {d["model_channel"] for d in decisions} == {"red"}
        write(float("inf"), float("inf"))  # nobody
        _, decisions = served()
        assert {d["model_channel"] for d in decisions} == {"green"}
    finally:
        path.unlink(missing_ok=True)
    info, decisions = served()
    assert info["source"] == "model"
    assert len({d["model_channel"] for d in decisions}) > 1


# --- bodies, access, client errors (issue 13) ------------------------------------------------


def _chunked(body: bytes, size: int = 1024 * 1024, pause: float = 0.0):
    """``body`` as a generator: httpx sends it with Transfer-Encoding: chunked."""
    for k in range(0, len(body), size):
        if pause:
            time.sleep(pause)
        yield body[k : k + size]


def _json(payload: Any) -> bytes:
    return json.dumps(payload).encode()


def _post_chunked(url: str, body: bytes, token: str | None = None, **kw: Any) -> httpx.Response:
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    return httpx.post(url, content=_chunked(body, **kw), headers=headers, timeout=120)


def test_chunked_oversize_bodies_get_413(server: LocalServer, declarations: list) -> None:
    huge = b'{"declarations": [' + b" " * (33 * 1024 * 1024) + b"]}"
    for route in ("/score", "/outcomes"):
        r = _post_chunked(f"{server.url}{route}", huge, token=TOKEN)
        assert r.status_code == 413, (route, r.status_code, r.text)
        assert "request body over" in r.json()["error"]
    # chunked bodies under the limit reach the API whole
    body = _json({"declarations": declarations[:20]})
    r = _post_chunked(f"{server.url}/score", body, size=1000)
    assert r.status_code == 200, r.text
    assert len(r.json()["decisions"]) == 20
    rows = _json({"outcomes": [_outcome(i, "CHUNK") for i in range(30)]})
    r = _post_chunked(f"{server.url}/outcomes", rows, token=TOKEN, size=500)
    assert r.status_code == 200, r.text
    assert r.json() == {"inserted": 30, "duplicates": 0}


def test_slow_chunked_body_over_the_limit(servers: dict, declarations: list) -> None:
    """The second server (64 KiB limit, no model): a body trickling in 4 KiB chunks is
    refused once it passes the limit; one under the limit passes the gate (503: no model)."""
    small = servers["broken"]
    small.wait(503)
    url = f"{small.url}/score"
    trickle = b'{"declarations": [' + b" " * (2 * SMALL_LIMIT) + b"]}"
    r = _post_chunked(url, trickle, size=4096, pause=0.002)
    assert r.status_code == 413, r.text
    r = _post_chunked(url, _json({"declarations": declarations[:1]}), size=100)
    assert r.status_code == 503 and r.json()["error"] == "model not loaded"


@pytest.mark.parametrize(
    "body",
    [b"{not json", b'{"outcomes": [{"fraud_found": "yes"}]}', b'{"outcomes": []}', b""],
)
def test_outcomes_token_checked_before_the_body(server: LocalServer, body: bytes) -> None:
    url = f"{server.url}/outcomes"
    for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": TOKEN}):
        r = httpx.post(url, content=body, headers={"content-type": "application/json", **headers})
        assert r.status_code == 401, (headers, r.text)
        assert "an API key with the outcomes scope is required" in r.json()["error"]
        assert r.headers["www-authenticate"] == "Bearer"
    auth = {"content-type": "application/json", "authorization": f"Bearer {TOKEN}"}
    assert httpx.post(url, content=body, headers=auth).status_code == 400
    # nor is the size looked at first
    huge = b" " * (33 * 1024 * 1024)
    assert _post_chunked(url, huge, token="wrong").status_code == 401


def test_outcomes_need_a_key_when_none_is_configured(servers: dict) -> None:
    small = servers["broken"]  # no CUSTOMS_RISK_API_TOKEN, no keys in its store
    small.wait(503)
    for token in (None, TOKEN):
        r = _post_outcomes(small, [_outcome(1, "OFF")], token=token)
        assert r.status_code == 401, r.text
        assert "customs-risk keys add" in r.json()["error"]
    assert _post_chunked(f"{small.url}/outcomes", b"{bad", token=TOKEN).status_code == 401


def test_keys_over_http_scopes_rate_and_names_recorded(
    server: LocalServer, served: dict, declarations: list
) -> None:
    from customs_risk.serving.store import Store, decisions_table, outcomes_table

    url = _server_env(served)["CUSTOMS_RISK_STORE_URL"]

    def make(name: str, scope: str, *more: str) -> str:
        cmd = [_cli(), "keys", "add", name, "--scope", scope, "--store-url", url, *more]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True)
        return done.stdout.strip()

    lane = make("lane-7", "score", "--rate", "5")
    officers = make("officers", "outcomes")
    items = declarations[1900:1902]
    headers = {"authorization": f"Bearer {lane}"}
    r = httpx.post(f"{server.url}/score", json={"declarations": items}, headers=headers)
    assert r.status_code == 200, r.text
    request_id = r.json()["request_id"]
    decided = [
        _outcome(i, source=None) | {"declaration_id": d["declaration_id"], "item_no": d["item_no"]}
        for i, d in enumerate(items)
    ]
    for row, d in zip(decided, items, strict=True):
        row["result_at"] = (pd.Timestamp(d["declared_at"]) + pd.Timedelta(days=1)).isoformat()
    assert _post_outcomes(server, decided, token=lane).status_code == 403
    undecided = [_outcome(i, "NEVERSCORED", source=None) for i in range(2)]
    refused = _post_outcomes(server, decided + undecided, token=officers)
    assert refused.status_code == 422, refused.text
    assert [(p["row"], p["field"]) for p in refused.json()["refused"]] == [
        (2, "declaration_id"),
        (3, "declaration_id"),
    ]
    stored = _post_outcomes(server, decided, token=officers)
    assert stored.json() == {"inserted": 2, "duplicates": 0}, stored.text
    answers = [
        httpx.post(f"{server.url}/score", json={"declarations": items[:1]}, headers=headers)
        for _ in range(8)
    ]
    assert 429 in [a.status_code for a in answers]  # 5 per second for this key
    with Store(url) as store, store.engine.connect() as conn:
        query = decisions_table.select().where(decisions_table.c.request_id == request_id)
        assert {row.client_key for row in conn.execute(query)} == {"lane-7"}
        ids = [d["declaration_id"] for d in items]
        query = outcomes_table.select().where(outcomes_table.c.declaration_id.in_(ids))
        assert {(row.client_key, row.source) for row in conn.execute(query)} == {("officers", None)}


CONTRADICTIONS = [
    ({"fraud_found": False, "fraud_type": "undervaluation"}, "fraud_type"),
    ({"fraud_found": True, "fraud_type": "none"}, "fraud_type"),
    ({"fraud_found": False, "fraud_type": "none", "critical": True}, "critical"),
    (
        {"fraud_found": False, "fraud_type": "none", "recovered_revenue": 1_000_000.0},
        "recovered_revenue",
    ),
]


def _stored_with(served: dict, prefix: str) -> int:
    from customs_risk.serving.store import Store

    store = Store(_server_env(served)["CUSTOMS_RISK_STORE_URL"])
    try:
        return int(store.outcomes_frame()["declaration_id"].str.startswith(prefix).sum())
    finally:
        store.close()


@pytest.mark.parametrize(("change", "field"), CONTRADICTIONS)
def test_contradictory_outcome_refused(
    server: LocalServer, served: dict, change: dict, field: str
) -> None:
    prefix = f"CONTRA{CONTRADICTIONS.index((change, field))}-"
    rows = [_outcome(i, prefix) for i in range(6)]
    rows[4].update(change)
    r = _post_outcomes(server, rows)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"].startswith(f"outcomes[4].{field}: ")
    assert [(p["row"], p["field"]) for p in body["refused"]] == [(4, field)]
    assert _stored_with(served, prefix) == 0


def test_every_refused_outcome_listed(server: LocalServer, served: dict) -> None:
    rows = [_outcome(i, "CONTRALL") for i in range(10)]
    for k, (change, _) in enumerate(CONTRADICTIONS):
        rows[2 * k + 1].update(change)
    rows[8]["fraud_type"] = None  # unknown: allowed whatever fraud_found says
    r = _post_outcomes(server, rows)
    assert r.status_code == 422, r.text
    refused = r.json()["refused"]
    assert [(p["row"], p["field"]) for p in refused] == [
        (2 * k + 1, field) for k, (_, field) in enumerate(CONTRADICTIONS)
    ]
    assert all(p["reason"] for p in refused)
    assert "4 rows refused, nothing stored" in r.json()["error"]
    assert _stored_with(served, "CONTRALL") == 0
    good = [row for k, row in enumerate(rows) if k % 2 == 0]
    assert _post_outcomes(server, good).json() == {"inserted": 5, "duplicates": 0}


def test_customs_value_zero_is_scored(server: LocalServer, declarations: list) -> None:
    item = dict(declarations[7], customs_value=0.0, duty_declared=0.0)
    r = _score(server, [item, declarations[8]])
    assert r.status_code == 200, r.text
    first = r.json()["decisions"][0]
    assert first["declaration_id"] == item["declaration_id"] and first["channel"] in CHANNELS


def test_client_errors_logged_as_one_line(
    server: LocalServer, served: dict, declarations: list
) -> None:
    log_path = served["tmp"] / "server.log"
    before = log_path.stat().st_size
    bad_item = dict(declarations[0], customs_value=-1)
    contradictory = dict(_outcome(7, "LOGLINE"), fraud_found=False)
    answers = [
        _score(server, [declarations[0], bad_item]).status_code,
        _score(server, []).status_code,
        httpx.post(
            f"{server.url}/score",
            content=b"{not json",
            headers={"content-type": "application/json"},
        ).status_code,
        _post_outcomes(server, [{**_outcome(1, "LOGLINE"), "channel": "blue"}]).status_code,
        _post_outcomes(server, [contradictory]).status_code,
        _post_outcomes(server, [_outcome(2, "LOGLINE")], token="wrong").status_code,
    ]
    assert answers == [400, 400, 400, 400, 422, 401]
    deadline = time.monotonic() + 10
    lines: list[str] = []
    while time.monotonic() < deadline:
        with log_path.open("rb") as f:
            f.seek(before)
            lines = f.read().decode(errors="replace").splitlines()
        if sum("client error" in line for line in lines) >= len(answers):
            break
        time.sleep(0.2)
    text = "\n".join(lines)
    assert "Traceback" not in text, text
    logged = [line for line in lines if "client error" in line]
    assert len(logged) == len(answers), text
    assert len(lines) <= 2 * len(answers), text
    assert "POST /score -> 400: declarations.1.customs_value" in text
    assert "POST /outcomes -> 422: outcomes[0].fraud_type" in text
    assert "POST /outcomes -> 401" in text


def test_steady_load_answers_every_request(server: LocalServer, declarations: list) -> None:
    """A share of the load benchmark (benchmarks/serving_load.py: 200 requests/s for 60 s): 50
    single-declaration requests a second for 10 s, clients in this process, every one answered
    200."""
    from customs_risk.serving.harness import open_loop_load

    result = open_loop_load(server.url, declarations[:500], rate=50, seconds=10, threads=8)
    assert result["errors"] == {} and len(result["lat"]) == 500
    p50, p99 = np.percentile(result["lat"], [50, 99])
    print(f"load share: 500 requests at 50/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms")


def test_the_store_keeps_the_legal_record_and_exports_a_dataset(
    server: LocalServer, served: dict, declarations: list, tmp_path: Path
) -> None:
    url = _server_env(served)["CUSTOMS_RISK_STORE_URL"]
    items = [dict(d, broker_ref="BR-9") for d in declarations[1950:1960]]  # an extra field
    answer = _score(server, items).json()["decisions"]
    shown = subprocess.run(
        [_cli(), "store", "show", items[0]["declaration_id"], "--store-url", url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shown.returncode == 0, shown.stderr
    assert f"item 1: {answer[0]['channel'].upper()}" in shown.stdout
    assert f"selected by {answer[0]['selected_by']}" in shown.stdout
    assert all(f"reason: {r}" in shown.stdout for r in answer[0]["reasons"])
    assert "further fields" in shown.stdout and "BR-9" in shown.stdout
    missing = subprocess.run(
        [_cli(), "store", "show", "NO-SUCH-DECLARATION", "--store-url", url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode == 1 and "nothing stored" in missing.stderr
    out = tmp_path / "export"
    done = subprocess.run(
        [_cli(), "store", "export", "--out", str(out), "--store-url", url],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    exported = pd.read_parquet(out / "declarations.parquet")
    assert set(i["declaration_id"] for i in items) <= set(exported["declaration_id"])
    checked = subprocess.run(
        [_cli(), "validate", str(out)], capture_output=True, text=True, timeout=300
    )
    assert checked.returncode == 0, checked.stdout[-2000:] + checked.stderr[-2000:]


# last in the module: its generated outcomes and re-declared items would be in the store the
# other tests read (an item declared again after its result makes the export fail validate)
def test_schemathesis_no_server_errors(server: LocalServer, served: dict) -> None:
    """At least 500 generated cases against the served OpenAPI document: no 5xx.

    How many cases one run generates varies (Hypothesis stops early on inputs the API mostly
    rejects), so runs with further seeds are added until 500 cases have been tried."""
    exe = str(Path(sys.executable).with_name("schemathesis"))
    total = 0
    for seed in range(1, 6):
        cmd = [exe, "run", f"{server.url}/docs.json", "--url", server.url]
        cmd += ["--checks", "not_a_server_error", "--max-examples", "300", "--seed", str(seed)]
        cmd += ["--header", f"Authorization: Bearer {TOKEN}"]
        cmd += ["--include-path-regex", "^/(score|outcomes|model)$"]
        cmd += ["--report", "junit"]
        cmd += ["--report-junit-path", str(served["tmp"] / f"schemathesis-{seed}.xml")]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
        assert done.returncode == 0, done.stdout[-3000:]
        generated = re.search(r"(\d+) generated", done.stdout)
        assert generated is not None, done.stdout[-1500:]
        total += int(generated.group(1))
        if total >= 500:
            break
    assert total >= 500
