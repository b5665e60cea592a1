"""The outcome and decision store on real SQLite files (and PostgreSQL when a server is given)."""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing as mp
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from customs_risk.cli import app
from customs_risk.data.contracts import KEY, OUTCOME_COLUMNS, OUTCOMES_FILE, OutcomeSchema
from customs_risk.selection.decide import decide
from customs_risk.selection.policy import ChannelPolicy
from customs_risk.selection.synthetic import synthetic_declarations
from customs_risk.serving.export import DECISIONS_FILE, OTHER_SOURCES_FILE, export
from customs_risk.serving.store import OutcomeRejected, Store, StoreSettings, input_digest

from .conftest import make_outcomes

POLICY = ChannelPolicy(
    version="d-1",
    shares={"red": 0.05, "orange": 0.15, "random_red": 0.02, "random_orange": 0.03},
)
Make = Callable[..., pd.DataFrame]


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(KEY).reset_index(drop=True)


def test_round_trip_export_validates(store_url: str, outcomes: Make, tmp_path: Path) -> None:
    rows = outcomes(300)
    rows.loc[5, "fraud_type"] = None  # nullable: unknown
    rows.loc[7, "recovered_revenue"] = np.nan
    with Store(store_url) as store:
        assert store.add_outcomes(rows, check_decided=False) == {"inserted": 300, "duplicates": 0}
        counts = export(store, tmp_path / "out")
    assert counts == {"declarations": 0, "outcomes": 300, "other_sources": 0, "decisions": 0}
    back = pd.read_parquet(tmp_path / "out" / OUTCOMES_FILE)
    assert list(back.columns) == list(OUTCOME_COLUMNS)
    assert str(back["declaration_id"].dtype) == "str"
    assert str(back["result_at"].dtype) == "datetime64[ns]"
    OutcomeSchema.validate(back)
    pd.testing.assert_frame_equal(_sorted(back), _sorted(rows))
    assert (tmp_path / "out" / DECISIONS_FILE).exists()


def test_export_in_chunks_equals_one_read_whatever_the_path(
    store_url: str, outcomes: Make, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Chunks of 7 rows give the files one read gives; a column that is null in the first
    chunk and text later (ADBC's SQLite driver infers int64, then fails) is read again through
    SQLAlchemy, with a warning, and nothing is lost."""
    rows = outcomes(40)
    late = rows.index >= 30
    rows.loc[late, "source"] = "post-clearance audit"
    rows = rows.sort_values(["declaration_id", "item_no"]).reset_index(drop=True)
    with Store(store_url) as store:
        store.add_outcomes(rows, check_decided=False)
        whole = export(store, tmp_path / "whole")
        with caplog.at_level("WARNING", logger="customs_risk.serving.export"):
            chunked = export(store, tmp_path / "chunked", chunk_rows=7)
    assert (
        whole == chunked == {"declarations": 0, "outcomes": 30, "other_sources": 10, "decisions": 0}
    )
    for name in (OUTCOMES_FILE, OTHER_SOURCES_FILE, DECISIONS_FILE):
        pd.testing.assert_frame_equal(
            pd.read_parquet(tmp_path / "whole" / name), pd.read_parquet(tmp_path / "chunked" / name)
        )
    if store_url.startswith("sqlite"):
        assert "reading it through SQLAlchemy" in caplog.text


def test_same_rows_twice_stored_once(store_url: str, outcomes: Make) -> None:
    rows = outcomes(200)
    with Store(store_url) as store:
        assert store.add_outcomes(rows, check_decided=False) == {"inserted": 200, "duplicates": 0}
        assert store.add_outcomes(rows.to_dict(orient="records"), check_decided=False) == {
            "inserted": 0,
            "duplicates": 200,
        }
        assert store.counts()["outcomes"] == 200


def test_first_write_wins(store_url: str, outcomes: Make) -> None:
    rows = outcomes(3)
    revenue = rows["recovered_revenue"].where(~rows["fraud_found"], 99.0)  # the rules hold
    changed = rows.assign(channel="red", recovered_revenue=revenue)
    with Store(store_url) as store:
        store.add_outcomes(rows, check_decided=False)
        assert store.add_outcomes(changed, check_decided=False) == {"inserted": 0, "duplicates": 3}
        pd.testing.assert_frame_equal(_sorted(store.outcomes_frame()), _sorted(rows))


def test_in_batch_duplicates(store_url: str, outcomes: Make) -> None:
    rows = outcomes(50)
    batch = pd.concat([rows, rows.iloc[:10], rows.iloc[:5]], ignore_index=True)
    with Store(store_url) as store:
        assert store.add_outcomes(batch, check_decided=False) == {"inserted": 50, "duplicates": 15}
        assert store.add_outcomes(
            pd.concat([rows.iloc[:5], outcomes(5, start=50)]), check_decided=False
        ) == {
            "inserted": 5,
            "duplicates": 5,
        }
        assert store.counts()["outcomes"] == 55


@pytest.mark.parametrize(
    ("row", "field", "value"),
    [
        (3, "channel", "blue"),
        (4, "recovered_revenue", -1.0),
        (2, "result_at", "yesterday"),
        (1, "fraud_found", "maybe"),
        (6, "item_no", 0),
        (5, "fraud_type", "smuggling"),
        (0, "declaration_id", None),
    ],
)
def test_invalid_row_rejected_nothing_written(
    store_url: str, outcomes: Make, row: int, field: str, value: object
) -> None:
    records = outcomes(8).to_dict(orient="records")
    records[row][field] = value
    with Store(store_url) as store:
        with pytest.raises(OutcomeRejected) as err:
            store.add_outcomes(records, check_decided=False)
        assert store.counts()["outcomes"] == 0
    assert isinstance(err.value, ValueError)
    assert (err.value.field, err.value.row) == (field, row)
    assert field in str(err.value) and f"row {row}" in str(err.value)


CONTRADICTIONS = [
    ({"fraud_found": False, "fraud_type": "undervaluation"}, "fraud_type"),
    ({"fraud_found": True, "fraud_type": "none"}, "fraud_type"),
    ({"fraud_found": False, "fraud_type": "none", "critical": True}, "critical"),
    ({"fraud_found": False, "fraud_type": "none", "recovered_revenue": 5.0}, "recovered_revenue"),
]


@pytest.mark.parametrize(("change", "field"), CONTRADICTIONS)
def test_contradictory_outcome_rejected_nothing_written(
    store_url: str, outcomes: Make, change: dict, field: str
) -> None:
    records = outcomes(8).to_dict(orient="records")
    records[5].update({"critical": False, "recovered_revenue": 0.0, **change})
    with Store(store_url) as store:
        with pytest.raises(OutcomeRejected) as err:
            store.add_outcomes(records, check_decided=False)
        assert store.counts()["outcomes"] == 0
    assert (err.value.row, err.value.field) == (5, field)
    assert [(p.row, p.field) for p in err.value.problems] == [(5, field)]


def test_every_refused_row_is_listed(store_url: str, outcomes: Make) -> None:
    records = outcomes(20).to_dict(orient="records")
    for k, (change, _) in enumerate(CONTRADICTIONS):
        records[3 * k + 1].update({"critical": False, "recovered_revenue": 0.0, **change})
    records[2]["channel"] = "blue"  # a field check, reported with the rules
    records[14].update(fraud_type=None, fraud_found=True)  # unknown type: allowed
    records[15].update(fraud_type=None, fraud_found=False, critical=False, recovered_revenue=None)
    with Store(store_url) as store:
        with pytest.raises(OutcomeRejected) as err:
            store.add_outcomes(records, check_decided=False)
        assert store.counts()["outcomes"] == 0
    expected = [(1, "fraud_type"), (2, "channel"), (4, "fraud_type"), (7, "critical")]
    expected.append((10, "recovered_revenue"))
    assert [(p.row, p.field) for p in err.value.problems] == expected
    assert all(p.reason for p in err.value.problems)
    assert "(and 4 more)" in str(err.value)


def test_missing_column_rejected(store_url: str, outcomes: Make) -> None:
    with Store(store_url) as store, pytest.raises(OutcomeRejected, match="channel"):
        store.add_outcomes(outcomes(4).drop(columns="channel"), check_decided=False)


def test_json_records_are_coerced(store_url: str, outcomes: Make) -> None:
    rows = outcomes(4)
    records = json.loads(rows.to_json(orient="records", date_format="iso"))
    records[0]["result_at"] = "2024-01-01T02:00:00+02:00"  # tz-aware -> naive UTC
    records[1].pop("fraud_type")  # optional: unknown
    with Store(store_url) as store:
        assert store.add_outcomes(records, check_decided=False)["inserted"] == 4
        back = _sorted(store.outcomes_frame())
    assert back.loc[0, "result_at"] == pd.Timestamp("2024-01-01T00:00:00")
    assert pd.isna(back.loc[1, "fraud_type"])
    OutcomeSchema.validate(back)


def _decisions(n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    declarations = synthetic_declarations(n, seed=3)
    return declarations, decide(declarations, None, POLICY, None, None, seed=1)


def test_decisions_stored(store_url: str, tmp_path: Path) -> None:
    declarations, decisions = _decisions(40)
    decisions["profile_hits"] = [("P-1", "P-2") if i % 4 == 0 else () for i in range(40)]
    when = dt.datetime(2025, 3, 4, 5, 6, 7, 890123)
    with Store(store_url) as store:
        stored_n = store.add_decisions(decisions, declarations, request_id="req-1", decided_at=when)
        assert stored_n == 40
        assert store.add_decisions(decisions.iloc[:5]) == 5
        stored = store.decisions_frame()
        assert store.counts() == {"outcomes": 0, "decisions": 45}
        assert export(store, tmp_path / "out") == {
            "declarations": 0,  # decide frames keep no declarations; /score stores them
            "outcomes": 0,
            "other_sources": 0,
            "decisions": 45,
        }
    first = stored.iloc[:40].reset_index(drop=True)
    assert first["declaration_id"].tolist() == decisions["declaration_id"].tolist()
    assert first["channel"].tolist() == decisions["channel"].tolist()
    np.testing.assert_allclose(first["propensity"], decisions["propensity"])
    assert first["request_id"].eq("req-1").all() and stored["request_id"].iloc[40:].isna().all()
    assert first["decided_at"].eq(pd.Timestamp(when)).all()  # to the microsecond
    assert first["office_id"].tolist() == declarations["office_id"].tolist()
    expected = [input_digest(r) for r in declarations.to_dict(orient="records")]
    assert first["input_digest"].tolist() == expected
    assert stored["input_digest"].iloc[40:].isna().all()
    assert json.loads(first.loc[0, "profile_ids"]) == ["P-1", "P-2"]
    assert json.loads(first.loc[1, "profile_ids"]) == []
    assert first["fraud_probability"].isna().all()  # no model: fail-safe
    assert first["policy_version"].eq("d-1").all()
    assert stored["id"].is_monotonic_increasing
    back = pd.read_parquet(tmp_path / "out" / DECISIONS_FILE)
    assert len(back) == 45


def test_outcomes_must_follow_a_decision_of_this_system(store_url: str, tmp_path: Path) -> None:
    declarations, decisions = _decisions(6)
    keys = decisions[KEY].reset_index(drop=True)
    rows = make_outcomes(6).drop(columns=KEY)
    rows = pd.concat([keys, rows], axis=1)
    rows["result_at"] = pd.to_datetime(declarations["declared_at"]) + pd.Timedelta(days=2)
    stranger = make_outcomes(1, start=900)
    with Store(store_url) as store:
        with pytest.raises(OutcomeRejected) as refused:
            store.add_outcomes(rows)  # nothing decided yet: every row refused
        assert [p.row for p in refused.value.problems] == list(range(6))
        assert {p.field for p in refused.value.problems} == {"declaration_id"}
        store.add_decisions(decisions, declarations, request_id="r")
        early = rows.copy()
        early.loc[3, "result_at"] = pd.Timestamp(declarations.loc[3, "declared_at"]) - pd.Timedelta(
            hours=1
        )
        with pytest.raises(OutcomeRejected) as refused:
            store.add_outcomes(pd.concat([early, stranger], ignore_index=True))
        problems = [(p.row, p.field) for p in refused.value.problems]
        assert problems == [(3, "result_at"), (6, "declaration_id")]
        assert store.counts()["outcomes"] == 0  # a refused request stores nothing
        assert store.add_outcomes(rows, client_key="lane-1") == {"inserted": 6, "duplicates": 0}
        apart = stranger.assign(source="post-clearance audit")
        assert store.add_outcomes(apart, client_key="audit")["inserted"] == 1
        stored = store.outcomes_frame(with_received_at=True)
        counts = export(store, tmp_path / "out")
    assert counts == {"declarations": 0, "outcomes": 6, "other_sources": 1, "decisions": 6}
    assert stored["source"].isna().sum() == 6
    other = pd.read_parquet(tmp_path / "out" / OTHER_SOURCES_FILE)
    assert other["source"].tolist() == ["post-clearance audit"]
    assert pd.read_parquet(tmp_path / "out" / OUTCOMES_FILE)["source"].isna().all()


def test_decisions_inputs_must_align(store_url: str) -> None:
    declarations, decisions = _decisions(5)
    with Store(store_url) as store, pytest.raises(ValueError, match="align"):
        store.add_decisions(decisions, declarations.iloc[:3])


def test_input_digest_is_canonical() -> None:
    a = {"declaration_id": "D1", "item_no": 1, "customs_value": float("nan")}
    b = {"customs_value": None, "item_no": np.int64(1), "declaration_id": "D1"}
    assert input_digest(a) == input_digest(b)
    assert len(input_digest(a)) == 64
    assert input_digest(a) != input_digest({**a, "item_no": 2})


def test_decisions_bulk_10000(store_url: str) -> None:
    declarations, decisions = _decisions(10_000)
    with Store(store_url) as store:
        assert store.add_decisions(decisions, declarations, request_id="bulk") == 10_000
        assert store.counts()["decisions"] == 10_000


def test_reopen_keeps_data(store_url: str, outcomes: Make) -> None:
    _, decisions = _decisions(10)
    with Store(store_url) as store:
        store.add_outcomes(outcomes(20), check_decided=False)
        store.add_decisions(decisions)
    with Store(store_url) as again:
        assert again.counts() == {"outcomes": 20, "decisions": 10}
        assert again.add_outcomes(outcomes(20), check_decided=False) == {
            "inserted": 0,
            "duplicates": 20,
        }


def test_sqlite_file_is_wal(tmp_path: Path) -> None:
    with Store(f"sqlite:///{tmp_path / 'a' / 'b.db'}") as store:
        store.create()
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000


def test_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'env.db'}"
    monkeypatch.setenv("CUSTOMS_RISK_STORE_URL", url)
    assert Store.from_env().url == url
    monkeypatch.delenv("CUSTOMS_RISK_STORE_URL")
    monkeypatch.setenv("CUSTOMS_RISK_STORE_PATH", str(tmp_path / "p.db"))
    assert StoreSettings().resolved_url() == f"sqlite:///{tmp_path / 'p.db'}"


# --- concurrency: 10,000 posted rows, overlapping keys between clients ----------------------

CLIENTS = 8
TOTAL_ROWS = 10_000
DISTINCT = 6_000
BATCH = 250


def _client_keys(client: int) -> np.ndarray:
    """Keys (pool positions) one client posts: every key once plus repeats, dealt round-robin.

    The repeats land on other clients too, so clients race on the same keys.
    """
    rng = np.random.default_rng(0)
    keys = np.r_[np.arange(DISTINCT), rng.integers(0, DISTINCT, TOTAL_ROWS - DISTINCT)]
    return rng.permutation(keys)[client::CLIENTS]


def _client_batches(client: int) -> list[pd.DataFrame]:
    frame = make_outcomes(DISTINCT).iloc[_client_keys(client)].reset_index(drop=True)
    return [frame.iloc[i : i + BATCH] for i in range(0, len(frame), BATCH)]


def _post_all(url: str, client: int) -> tuple[int, int]:
    with Store(url) as store:
        inserted = duplicates = 0
        for batch in _client_batches(client):
            counts = store.add_outcomes(batch, check_decided=False)
            inserted += counts["inserted"]
            duplicates += counts["duplicates"]
    return inserted, duplicates


def _process_client(url: str, client: int, results: mp.Queue) -> None:
    try:
        results.put((client, _post_all(url, client), None))
    except Exception as exc:  # reported to the parent, which fails the test
        results.put((client, None, repr(exc)))


def _check_store(url: str, results: list[tuple[int, int]]) -> None:
    assert sum(i for i, _ in results) == DISTINCT
    assert sum(i + d for i, d in results) == TOTAL_ROWS
    with Store(url) as store:
        stored = store.outcomes_frame()
    assert len(stored) == DISTINCT and not stored.duplicated(KEY).any()
    pd.testing.assert_frame_equal(_sorted(stored), _sorted(make_outcomes(DISTINCT)))


def test_concurrent_threads(store_url: str) -> None:
    results: list[tuple[int, int] | None] = [None] * CLIENTS
    errors: list[Exception] = []

    def run(client: int) -> None:
        try:
            results[client] = _post_all(store_url, client)
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(c,)) for c in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    assert all(r is not None for r in results)
    _check_store(store_url, [r for r in results if r is not None])


@pytest.mark.slow
def test_concurrent_processes(store_url: str) -> None:
    ctx = mp.get_context("fork")
    queue: mp.Queue = ctx.Queue()
    procs = [
        ctx.Process(target=_process_client, args=(store_url, c, queue)) for c in range(CLIENTS)
    ]
    for p in procs:
        p.start()
    outcomes = [queue.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    errors = [err for _, _, err in outcomes if err]
    assert not errors, errors
    assert all(p.exitcode == 0 for p in procs)
    _check_store(store_url, [counts for _, counts, _ in outcomes])


# --- CLI ----------------------------------------------------------------------------------


def test_cli_export(tmp_path: Path, outcomes: Make) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    with Store(url) as store:
        store.add_outcomes(outcomes(12), check_decided=False)
    result = CliRunner().invoke(
        app, ["outcomes", "export", "--out", str(tmp_path / "x"), "--store-url", url]
    )
    assert result.exit_code == 0, result.output
    assert "outcomes   12" in result.output
    OutcomeSchema.validate(pd.read_parquet(tmp_path / "x" / OUTCOMES_FILE))


@pytest.mark.parametrize(
    "url",
    [
        "nonsense://x",
        "not a url",
        "sqlite:///{tmp}/a-file/x.db",
        "sqlite:///{tmp}/missing.db",
        "postgresql+psycopg://nobody:secret@127.0.0.1:1/none",
    ],
)
def test_cli_export_bad_url(tmp_path: Path, url: str) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    url = url.format(tmp=tmp_path)
    result = CliRunner().invoke(
        app, ["outcomes", "export", "--out", str(tmp_path / "x"), "--store-url", url]
    )
    assert result.exit_code == 2, result.output
    assert "error:" in result.output
    assert not (tmp_path / "missing.db").exists()  # export never creates a store


def test_store_created_before_office_id_gains_the_column(store_url: str) -> None:
    """A decisions table of the first release (no office_id) is extended on open, rows kept."""
    import sqlalchemy as sa

    engine = Store(store_url).engine
    key = "BIGSERIAL" if engine.dialect.name == "postgresql" else "INTEGER"
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                f"CREATE TABLE decisions (id {key} PRIMARY KEY, decided_at TIMESTAMP NOT NULL,"
                " declaration_id VARCHAR NOT NULL, item_no BIGINT NOT NULL,"
                " channel VARCHAR NOT NULL)"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO decisions (decided_at, declaration_id, item_no, channel) "
                "VALUES ('2025-01-01 08:00:00', 'OLD1', 1, 'red')"
            )
        )
    declarations, decisions = _decisions(3)
    with Store(store_url) as store:
        assert store.add_decisions(decisions, declarations) == 3
        stored = store.decisions_frame()
    assert stored["declaration_id"].tolist()[0] == "OLD1"
    assert pd.isna(stored["office_id"].iloc[0])
    assert stored["office_id"].iloc[1:].tolist() == declarations["office_id"].tolist()


def test_skipped_postgresql_tests_say_how_to_run_them(tmp_path: Path) -> None:
    """A run without a server prints one line: how many PostgreSQL tests skipped, and how."""
    import os
    import subprocess
    import sys

    from .conftest import PG_ENV

    env = {k: v for k, v in os.environ.items() if k != PG_ENV}
    here = Path(__file__)
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(here)]
    cmd += ["-k", "test_same_rows_twice_stored_once or test_first_write_wins"]
    done = subprocess.run(
        cmd, env=env, cwd=here.parents[2], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-3000:]
    assert "2 passed, 2 skipped" in done.stdout, done.stdout[-3000:]
    line = next(x for x in done.stdout.splitlines() if "PostgreSQL tests skipped" in x)
    assert line.startswith("2 PostgreSQL tests skipped: run them with " + PG_ENV + "=")
    assert ".ci/run" in line


def test_a_store_of_revision_0001_gets_the_events_of_its_rows(store_url: str) -> None:
    """Migration 0002 numbers what a store already holds: its declarations, then its results."""
    import sqlalchemy as sa
    from alembic import command
    from alembic.config import Config

    from customs_risk.serving.store import MIGRATIONS

    engine = Store(store_url).engine
    with engine.begin() as conn:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
        now = "2025-01-02 08:00:00"
        for i in (1, 2):
            conn.execute(
                sa.text(
                    "INSERT INTO declarations (declaration_id, item_no, declared_at, office_id,"
                    " importer_id, declarant_id, hs_code, origin_country, transport_mode,"
                    " quantity, net_mass_kg, customs_value, tariff_rate, duty_declared,"
                    " input_digest, received_at) VALUES (:d, 1, :t, 'O', 'I', 'D', '01012100',"
                    " 'CN', 'air', 1, 1, 1, 0, 0, :g, :t)"
                ),
                {"d": f"OLD{i}", "t": now, "g": f"g{i}"},
            )
        conn.execute(
            sa.text(
                "INSERT INTO outcomes (declaration_id, item_no, channel, result_at, fraud_found,"
                " critical, received_at) VALUES ('OLD1', 1, 'red', :t, false, false, :t)"
            ),
            {"t": now},
        )
    with Store(store_url) as store:
        events = store.history_since(0)
    assert events.seqs == [1, 2, 3]
    assert events.declarations["declaration_id"].tolist() == ["OLD1", "OLD2"]
    assert events.results["declaration_id"].tolist() == ["OLD1"]
    assert events.results["importer_id"].tolist() == ["I"]  # with its declaration's fields
