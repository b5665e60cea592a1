"""Managed lists in the store (SQLite, and PostgreSQL when a server is given): entries added,
refused when their id is taken, retired (kept, never deleted), the version the service polls;
what the service applies (``StoreLists``: the folder's and the store's); the decisions' list hits
and the declarations' licence reference stored; the ``customs-risk lists`` commands; migration
0004 on a store of revision 0003."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from customs_risk.cli import app
from customs_risk.selection.decide import decide
from customs_risk.selection.lists import ListEntry, ManagedLists, load_lists
from customs_risk.selection.policy import ChannelPolicy
from customs_risk.selection.synthetic import synthetic_declarations
from customs_risk.serving.decision_writer import decision_rows
from customs_risk.serving.schemas import DECISION_ANSWER_FIELDS, Declaration
from customs_risk.serving.store import (
    LIST_ENTRY_FIELDS,
    ListEntryRefused,
    Store,
    managed_lists_table,
)
from customs_risk.serving.store_lists import StoreLists

ROOT = Path(__file__).resolve().parents[2]


def _entry(entry_id: str = "ML-S-1", **fields: Any) -> ListEntry:
    base: dict[str, Any] = {
        "id": entry_id,
        "kind": "restricted",
        "title": "firearms",
        "hs_prefix": "9303",
        "instructions": "check the licence",
        "valid_from": dt.date(2025, 1, 1),
        "valid_to": dt.date(2025, 12, 31),
        "source": "arms act",
    }
    return ListEntry.model_validate({**base, **fields})


def test_entries_added_refused_retired_and_versioned(store_url: str) -> None:
    watch = _entry("ML-S-2", kind="watchlist", hs_prefix=None, importer_id="IMP7", valid_to=None)
    with Store(store_url) as store:
        assert store.lists_version() == 0 and store.list_entries() == []
        store.add_list_entry(_entry(), "alice")
        store.add_list_entry(watch, "bob")
        assert store.lists_version() == 2
        assert store.list_entries() == [_entry(), watch]  # by id, as they were given
        assert store.list_entries(active_on=dt.date(2026, 3, 1)) == [watch]  # ML-S-1 expired
        assert store.list_entries(active_on=dt.date(2024, 12, 31)) == []
        with pytest.raises(ListEntryRefused, match="ML-S-1 exists"):
            store.add_list_entry(_entry(title="changed"), "carol")
        with pytest.raises(ListEntryRefused, match="given twice"):
            store.add_list_entries([_entry("ML-S-3"), _entry("ML-S-3")], "carol")
        with pytest.raises(ListEntryRefused, match="ML-S-2 exists"):  # all or none
            store.add_list_entries([_entry("ML-S-4"), watch], "carol")
        assert [e.id for e in store.list_entries()] == ["ML-S-1", "ML-S-2"]
        assert store.lists_version() == 2
        store.retire_list_entry("ML-S-1", "dave")
        assert store.lists_version() == 3
        assert store.list_entries() == [watch]
        (first, second) = store.list_records()
        assert (first.entry, first.added_by, first.retired_by) == (_entry(), "alice", "dave")
        assert first.retired and first.retired_at is not None and first.added_at is not None
        assert not second.retired and second.added_by == "bob"
        with pytest.raises(ListEntryRefused, match="retired already"):
            store.retire_list_entry("ML-S-1", "dave")
        with pytest.raises(ListEntryRefused, match="no list entry 'ML-NONE'"):
            store.retire_list_entry("ML-NONE", "dave")
        with pytest.raises(ListEntryRefused, match="ML-S-1 exists"):  # an id names one entry
            store.add_list_entry(_entry(), "alice")
        with pytest.raises(ListEntryRefused, match="actor"):
            store.add_list_entry(_entry("ML-S-5"), " ")
        with store.engine.connect() as conn:  # kept, never deleted
            count = conn.execute(sa.select(sa.func.count()).select_from(managed_lists_table))
            assert count.scalar_one() == 2


def test_the_table_holds_every_field_of_an_entry() -> None:
    assert set(LIST_ENTRY_FIELDS) == set(ListEntry.model_fields)
    assert set(LIST_ENTRY_FIELDS) < set(managed_lists_table.c.keys())


class _Engine:
    def __init__(self) -> None:
        self.lists: ManagedLists | None = None
        self.applied = 0

    def set_lists(self, lists: ManagedLists) -> None:
        self.lists, self.applied = lists, self.applied + 1


def test_the_service_applies_the_folder_and_the_store(tmp_path: Path) -> None:
    folder = load_lists(ROOT / "lists")
    with Store(f"sqlite:///{tmp_path / 'store.db'}") as store:
        follow = StoreLists(store, folder, check_seconds=0, folder_path=ROOT / "lists")
        engine = _Engine()
        follow.poll(engine)
        assert engine.lists == folder and follow.info()["from_folder"] == 3
        follow.poll(engine)
        assert engine.applied == 1  # the version did not move: nothing read again
        store.add_list_entry(_entry(), "alice")
        follow.poll(engine)
        assert engine.lists is not None and engine.lists.ids() == [
            "ML-2026-001",
            "ML-2026-002",
            "ML-S-1",  # orange restricted before orange licence
            "ML-2026-003",
        ]
        # the store's entry of a folder id takes its place; retired, it retires the folder's
        replaced = folder.entries[1].model_copy(update={"title": "arms (store version)"})
        store.add_list_entry(replaced, "alice")
        follow.poll(engine)
        assert engine.lists.entries[1].title == "arms (store version)"
        store.retire_list_entry(replaced.id, "bob")
        store.retire_list_entry("ML-S-1", "bob")
        follow.poll(engine)
        assert engine.lists.ids() == ["ML-2026-001", "ML-2026-003"]
        info = follow.info()
        assert (info["from_folder"], info["from_store"], info["error"]) == (2, 0, None)
        assert info["version"] == store.lists_version() == 4
        slow = StoreLists(store, folder, check_seconds=3600)
        slow.poll(engine)
        store.add_list_entry(_entry("ML-S-9"), "alice")
        slow.poll(engine)  # not looked at again within the check interval
        assert "ML-S-9" not in engine.lists.ids()


def test_a_store_that_cannot_be_read_keeps_the_lists_in_force(tmp_path: Path) -> None:
    with Store(f"sqlite:///{tmp_path / 'store.db'}") as store:
        follow = StoreLists(store, ManagedLists([_entry()]), check_seconds=0)
        engine = _Engine()
        follow.poll(engine)
        with store.engine.begin() as conn:
            conn.execute(sa.text("DROP TABLE managed_lists"))
        follow.poll(engine)
        assert engine.applied == 1 and engine.lists is not None and engine.lists.ids() == ["ML-S-1"]
        assert "managed_lists" in str(follow.info()["error"])


def test_decisions_keep_their_list_hits_and_declarations_their_licence(store_url: str) -> None:
    frame = synthetic_declarations(60, seed=2, start="2025-02-01")
    frame["hs_code"] = ["930320"] * 30 + ["851712"] * 30
    policy = ChannelPolicy(version="p-1")
    lists = ManagedLists([_entry()])
    decisions = decide(frame, None, policy, None, None, seed=0, lists=lists)
    with Store(store_url) as store:
        store.add_decisions(decisions, frame)
        stored = store.decisions_frame()
        hits = [json.loads(h) for h in stored["list_hits"]]
        assert hits[:30] == [["ML-S-1"]] * 30 and hits[30:] == [[]] * 30
        assert (stored["selected_by"].iloc[:30].isin(["list", "random"])).all()
        # the service's path: answers hold the hit records; the item's licence reference kept
        inputs = [
            Declaration.model_validate({**r, "licence_ref": "LIC-9" if i == 0 else None})
            for i, r in enumerate(frame.head(2).to_dict("records"))
        ]
        answers = [
            dict.fromkeys(DECISION_ANSWER_FIELDS)
            | {
                "declaration_id": d.declaration_id,
                "item_no": d.item_no,
                "channel": "orange",
                "profile_hits": [],
                "list_hits": [_entry().hit(i != 0)],
            }
            for i, d in enumerate(inputs)
        ]
        rows = decision_rows(answers, inputs, "req-1", dt.datetime(2025, 2, 2))
        store.add_decision_records(rows.decisions, rows.declarations)
        record = store.item_record(inputs[0].declaration_id)
        assert record["declarations"][0]["licence_ref"] == "LIC-9"
        latest = json.loads(record["decisions"][-1]["list_hits"])
        assert latest == [_entry().hit(False)]
        assert store.declarations_frame()["licence_ref"].notna().sum() == 1


def _cli(*args: str, url: str) -> Any:
    return CliRunner(env={"COLUMNS": "240"}).invoke(app, ["lists", *args, "--store-url", url])


def test_the_lists_commands(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    result = _cli("import", str(ROOT / "lists"), "--actor", "alice", url=url)
    assert result.exit_code == 0, result.output
    assert "3 list entries imported by alice, 0 unchanged" in result.output
    again = _cli("import", str(ROOT / "lists"), "--actor", "alice", url=url)
    assert "0 list entries imported by alice, 3 unchanged" in again.output
    shown = _cli("show", url=url)
    assert shown.exit_code == 0 and "ML-2026-002" in shown.output and "alice" in shown.output
    assert _cli("retire", "ML-2026-002", "--actor", "bob", url=url).exit_code == 0
    assert "ML-2026-002" not in _cli("show", url=url).output
    assert "retired" in _cli("show", "--all", url=url).output
    refused = _cli("import", str(ROOT / "lists"), url=url)  # a retired id comes back: refused
    assert refused.exit_code == 2 and "ML-2026-002 is in the store retired" in refused.output
    assert _cli("retire", "ML-NONE", url=url).exit_code == 2
    out = tmp_path / "review"
    exported = _cli("export", "--out", str(out), url=url)
    assert exported.exit_code == 0 and "2 list entries in force" in exported.output
    assert sorted(p.name for p in out.iterdir()) == ["ml-2026-001.yaml", "ml-2026-003.yaml"]
    assert "added to the store by alice" in (out / "ml-2026-001.yaml").read_text()
    assert load_lists(out) == ManagedLists(
        e for e in load_lists(ROOT / "lists") if e.id != "ML-2026-002"
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: X-1\nkind: restricted\n")
    broken = _cli("import", str(bad), url=url)
    assert broken.exit_code == 2 and f"{bad}: title: Field required" in broken.output


def test_a_store_of_revision_0003_gains_the_lists(tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config

    from customs_risk.serving.store import MIGRATIONS

    url = f"sqlite:///{tmp_path / 'old.db'}"

    def migrate(conn: sa.Connection, up: bool, revision: str) -> None:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = conn
        (command.upgrade if up else command.downgrade)(config, revision)

    with Store(url).engine.begin() as conn:
        migrate(conn, True, "0003")
    with Store(url) as store:
        store.add_list_entry(_entry(), "alice")
        assert store.list_entries() == [_entry()]
        with store.engine.begin() as conn:
            migrate(conn, False, "0003")
            tables = set(sa.inspect(conn).get_table_names())
            columns = {c["name"] for c in sa.inspect(conn).get_columns("decisions")}
    assert "managed_lists" not in tables and "list_hits" not in columns
