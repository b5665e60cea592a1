"""Managed lists: entries validated with the field named, loaded from YAML, and applied by the
decision kernel (DataFrame path): matching items' channels go up and their reasons name the entry,
the rest is untouched, validity dates per item, a licence reference lifts restricted and licence
entries but not prohibited ones, and without the lists the decisions are the original ones."""

from __future__ import annotations

import datetime as dt
import typing
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from customs_risk.data import contracts
from customs_risk.selection.decide import DECISION_COLUMNS, decide
from customs_risk.selection.lists import (
    ListEntry,
    ListError,
    ListKind,
    ManagedLists,
    load_lists,
    parse_list_entry,
    write_lists,
)
from customs_risk.selection.policy import ChannelPolicy
from customs_risk.selection.synthetic import heuristic_scores, synthetic_declarations
from customs_risk.selection.thresholds import calibrate_thresholds

ROOT = Path(__file__).resolve().parents[2]
POLICY = ChannelPolicy(
    version="l-1",
    shares={"red": 0.05, "orange": 0.15, "random_red": 0.02, "random_orange": 0.03},
)
TEMPLATES = {"unit_value_ratio": "declared unit value {value_below_pct:.0f}% below the reference"}


def _entry(**fields: Any) -> ListEntry:
    base: dict[str, Any] = {
        "id": "ML-T-1",
        "kind": "restricted",
        "title": "test goods",
        "hs_prefix": "8703",
        "instructions": "check it",
        "valid_from": "2024-01-01",
        "source": "test regulation",
    }
    return parse_list_entry({**base, **fields})


@pytest.fixture(scope="module")
def batch() -> tuple[pd.DataFrame, pd.DataFrame]:
    decl = synthetic_declarations(3000, seed=5, days=60)
    return decl, heuristic_scores(decl, seed=5)


@pytest.fixture(scope="module")
def thresholds(batch: tuple[pd.DataFrame, pd.DataFrame]):
    decl, scores = batch
    return calibrate_thresholds(scores, decl, POLICY)


def _decide(batch, thresholds, lists: ManagedLists | None = None, **kw: Any) -> pd.DataFrame:
    decl, scores = batch
    decl = kw.pop("declarations", decl)
    return decide(
        decl, scores, POLICY, thresholds, None, 3, reason_templates=TEMPLATES, lists=lists, **kw
    )


RANK = {"green": 0, "orange": 1, "red": 2}


# --- the entry ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"hs_prefix": None}, "hs_prefix", "required for a restricted entry"),
        ({"hs_prefix": 8703}, "hs_prefix", "quote them in YAML"),
        ({"hs_prefix": "8"}, "hs_prefix", "2 to 10 digits"),
        ({"hs_prefix": "87.03"}, "hs_prefix", "2 to 10 digits"),
        ({"importer_id": "IMP1"}, "importer_id", "covers goods, not a trader"),
        ({"kind": "watchlist"}, "hs_prefix", "names a trader, not goods"),
        ({"kind": "watchlist", "hs_prefix": None}, "importer_id", "names one of importer_id"),
        (
            {"kind": "watchlist", "hs_prefix": None, "importer_id": "I", "seller_id": "S"},
            "seller_id",
            "names one trader (importer_id given already)",
        ),
        ({"kind": "banned"}, "kind", "Input should be 'prohibited'"),
        ({"channel": "green"}, "channel", "Input should be 'red' or 'orange'"),
        ({"valid_to": "2023-12-31"}, "valid_to", "before valid_from"),
        ({"source": "  "}, "source", "blank"),
        ({"id": "bad id"}, "id", "pattern"),
        ({"colour": "red"}, "colour", "Extra inputs"),
        ({"instructions": None}, "instructions", "valid string"),
    ],
)
def test_a_bad_entry_is_refused_naming_the_field(change: dict, field: str, reason: str) -> None:
    with pytest.raises(ListError) as info:
        _entry(**change)
    assert info.value.field == field
    assert reason in info.value.reason
    assert str(info.value).startswith(f"list entry ML-T-1: {field}:") or field == "id"


def test_channel_defaults_by_kind_and_prohibited_is_red() -> None:
    assert _entry(kind="prohibited").channel == "red"
    assert _entry().channel == "orange"
    assert _entry(kind="licence", channel="red").channel == "red"
    watch = _entry(kind="watchlist", hs_prefix=None, declarant_id="BRK001")
    assert (watch.channel, watch.target_field, watch.describe()) == (
        "orange",
        "declarant_id",
        "declarant BRK001",
    )


def test_the_kinds_are_the_contracts() -> None:
    assert typing.get_args(ListKind) == contracts.LIST_KINDS
    hit = _entry().hit(True)
    assert list(hit) == list(contracts.LIST_HIT.names())


def test_yaml_files_load_refuse_and_round_trip(tmp_path: Path) -> None:
    folder = tmp_path / "lists"
    folder.mkdir()
    (folder / "a.yaml").write_text(
        "- {id: A-1, kind: prohibited, title: t, hs_prefix: '29', instructions: i, "
        "valid_from: 2024-01-01, source: s}\n"
        "- {id: A-2, kind: watchlist, title: t, seller_id: NO, instructions: i, "
        "valid_from: 2024-01-01, source: s}\n"
    )
    lists = load_lists(folder)
    assert lists.ids() == ["A-1", "A-2"]  # red before orange
    assert lists.entries[1].seller_id == "NO"  # YAML 1.2: a seller NO stays text
    out = tmp_path / "out"
    write_lists(lists, out, header="exported for review")
    assert (out / "a-1.yaml").read_text().startswith("# exported for review\n")
    assert load_lists(out) == lists
    (folder / "b.yml").write_text(
        "id: A-1\nkind: licence\ntitle: t\nhs_prefix: '30'\ninstructions: i\n"
        "valid_from: 2024-01-01\nsource: s\n"
    )
    with pytest.raises(ListError, match="duplicate id 'A-1'"):
        load_lists(folder)
    (folder / "b.yml").write_text(
        "id: B-1\nkind: licence\ntitle: t\nhs_prefix: 3004\ninstructions: i\n"
        "valid_from: 2024-01-01\nsource: s\n"
    )
    with pytest.raises(ListError) as info:
        load_lists(folder)
    assert info.value.file == str(folder / "b.yml") and info.value.field == "hs_prefix"
    with pytest.raises(ListError, match="no such file"):
        load_lists(tmp_path / "missing")


def test_the_example_folders_load() -> None:
    assert load_lists(ROOT / "lists").ids() == ["ML-2026-001", "ML-2026-002", "ML-2026-003"]
    assert sorted(load_lists(ROOT / "lists" / "world").ids()) == ["ML-WORLD-001", "ML-WORLD-002"]


# --- applied by the kernel ----------------------------------------------------------------------


def test_an_entry_raises_matching_items_and_names_itself(batch, thresholds) -> None:
    decl, _ = batch
    base = _decide(batch, thresholds)
    entry = _entry(channel="orange")
    out = _decide(batch, thresholds, ManagedLists([entry]))
    assert list(out.columns) == list(DECISION_COLUMNS)
    cars = decl["hs_code"].str.startswith("8703").to_numpy()
    assert cars.sum() > 100 and (base.loc[cars, "channel"] == "green").sum() > 50
    hit = out[cars]
    assert (hit["channel"].map(RANK) >= 1).all()  # at least orange
    assert (hit["channel"].map(RANK) >= base.loc[cars, "channel"].map(RANK)).all()  # never down
    raised = cars & (base["channel"] == "green").to_numpy()
    assert (out.loc[raised, "channel"] == "orange").all()
    assert (out.loc[raised, "selected_by"] == "list").all()
    kept_red = cars & (base["channel"] == "red").to_numpy()
    assert kept_red.any() and (out.loc[kept_red, "channel"] == "red").all()
    assert (out.loc[kept_red, "selected_by"] == base.loc[kept_red, "selected_by"]).all()
    assert all(h == ("ML-T-1",) for h in hit["list_hits"])
    text = (
        "on the restricted-goods list ML-T-1 (HS 8703, test goods): no licence reference; "
        "instructions: check it"
    )
    assert all(r[0] == text for r in hit["reasons"])
    # the model's reasons follow the list's
    model_reasons = base.loc[cars, "reasons"].tolist()
    assert [tuple(r[1:]) for r in hit["reasons"]] == [tuple(r) for r in model_reasons]
    assert all(i[-1] == "ML-T-1: check it" for i in hit["instructions"])
    # an item on the list is inspected for certain; red exactly when it was red before
    assert (hit["propensity"] == 1.0).all()
    np.testing.assert_array_equal(hit["propensity_red"], base.loc[cars, "propensity_red"])
    # the other items are untouched
    pd.testing.assert_frame_equal(out[~cars], base[~cars])
    assert all(h == () for h in out.loc[~cars, "list_hits"])


def test_without_the_entry_the_decisions_are_the_original_ones(batch, thresholds) -> None:
    base = _decide(batch, thresholds)
    lists = ManagedLists([_entry(channel="red"), _entry(id="ML-T-2", hs_prefix="61")])
    changed = _decide(batch, thresholds, lists)
    assert (changed["channel"] != base["channel"]).sum() > 100
    restored = _decide(batch, thresholds, ManagedLists())
    pd.testing.assert_frame_equal(restored, base)
    pd.testing.assert_frame_equal(_decide(batch, thresholds, None), base)


def test_a_red_entry_forces_red_with_propensity_one(batch, thresholds) -> None:
    decl, _ = batch
    out = _decide(batch, thresholds, ManagedLists([_entry(kind="prohibited")]))
    cars = decl["hs_code"].str.startswith("8703").to_numpy()
    assert (out.loc[cars, "channel"] == "red").all()
    assert (out.loc[cars, "propensity"] == 1.0).all() & (out.loc[cars, "propensity_red"] == 1).all()
    assert out.loc[cars, "reasons"].map(lambda r: "prohibited goods" in r[0]).all()


def test_validity_dates_per_item(batch, thresholds) -> None:
    decl, _ = batch
    base = _decide(batch, thresholds)
    entry = _entry(kind="prohibited", valid_from="2024-01-20", valid_to="2024-02-10")
    out = _decide(batch, thresholds, ManagedLists([entry]))
    cars = decl["hs_code"].str.startswith("8703").to_numpy()
    day = decl["declared_at"].dt.date
    inside = cars & ((day >= dt.date(2024, 1, 20)) & (day <= dt.date(2024, 2, 10))).to_numpy()
    assert inside.sum() > 10 and (cars & ~inside).sum() > 10
    assert (out.loc[inside, "channel"] == "red").all()
    outside = ~inside
    pd.testing.assert_frame_equal(out[outside], base[outside])
    as_of = _decide(batch, thresholds, ManagedLists([entry]), as_of="2024-03-01")
    pd.testing.assert_frame_equal(as_of, _decide(batch, thresholds, as_of="2024-03-01"))


def test_a_licence_reference_lifts_restricted_and_licence_not_prohibited(batch, thresholds) -> None:
    decl, _ = batch
    licensed = decl.assign(licence_ref=pd.Series(["LIC-77"] * len(decl), dtype="str"))
    licensed.loc[::2, "licence_ref"] = None
    licensed.loc[1::4, "licence_ref"] = "  "  # blank: no reference
    has = licensed["licence_ref"].str.strip().fillna("").ne("").to_numpy()
    base = _decide(batch, thresholds, declarations=licensed)
    lists = ManagedLists(
        [
            _entry(id="R-1", kind="restricted", hs_prefix="8703", channel="red"),
            _entry(id="L-1", kind="licence", hs_prefix="3004", channel="red"),
            _entry(id="P-1", kind="prohibited", hs_prefix="6109"),
        ]
    )
    out = _decide(batch, thresholds, lists, declarations=licensed)
    for prefix, entry_id in (("8703", "R-1"), ("3004", "L-1"), ("6109", "P-1")):
        goods = decl["hs_code"].str.startswith(prefix).to_numpy()
        assert (goods & has).sum() > 10 and (goods & ~has).sum() > 10
        assert (out.loc[goods & ~has, "channel"] == "red").all(), entry_id
        assert all(h == (entry_id,) for h in out.loc[goods, "list_hits"])  # reported either way
        if entry_id == "P-1":  # whatever the licence
            assert (out.loc[goods & has, "channel"] == "red").all()
            continue
        lifted = goods & has
        assert (out.loc[lifted, "channel"] == base.loc[lifted, "channel"]).all(), entry_id
        assert (out.loc[lifted, "propensity"] == base.loc[lifted, "propensity"]).all()
        lifted_text = ": licence reference declared, no channel imposed; instructions: check it"
        assert all(r[0].endswith(lifted_text) for r in out.loc[lifted, "reasons"])


def test_a_watchlist_raises_the_traders_items(batch, thresholds) -> None:
    decl, _ = batch
    importer = decl["importer_id"].value_counts().index[0]
    base = _decide(batch, thresholds)
    entry = _entry(kind="watchlist", hs_prefix=None, importer_id=importer, channel="red")
    out = _decide(batch, thresholds, ManagedLists([entry]))
    mine = (decl["importer_id"] == importer).to_numpy()
    assert mine.sum() >= 2
    assert (out.loc[mine, "channel"] == "red").all() & (
        out.loc[mine, "selected_by"] == "list"
    ).all()
    text = f"on the trader watchlist ML-T-1 (importer {importer}, test goods); instructions:"
    assert all(r[0].startswith(text) for r in out.loc[mine, "reasons"])
    pd.testing.assert_frame_equal(out[~mine], base[~mine])


def test_fail_safe_and_profiles_stay_below_the_list(batch) -> None:
    decl, _ = batch
    without = decide(decl, None, POLICY, None, None, seed=3)
    out = decide(
        decl, None, POLICY, None, None, seed=3, lists=ManagedLists([_entry(channel="red")])
    )
    cars = decl["hs_code"].str.startswith("8703").to_numpy()
    assert (out.loc[cars, "channel"] == "red").all() & (
        out.loc[cars, "selected_by"] == "list"
    ).all()
    assert out.attrs["fail_safe"] == without.attrs["fail_safe"]


def test_cli_decide_applies_a_list_folder(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from customs_risk.cli import app

    data = tmp_path / "world"
    data.mkdir()
    synthetic_declarations(400, seed=2, start="2025-04-01").to_parquet(
        data / "declarations.parquet"
    )
    out = tmp_path / "decisions.parquet"
    args = ["decide", str(data), "--out", str(out), "--fail-safe", "--lists"]
    result = CliRunner().invoke(app, [*args, str(ROOT / "lists")])
    assert result.exit_code == 0, result.output
    written = pd.read_parquet(out)
    medicines = written["list_hits"].map(lambda h: "ML-2026-003" in list(h))
    assert medicines.sum() > 10 and (written.loc[medicines, "selected_by"] != "default").all()
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: X-1\nkind: licence\n")
    refused = CliRunner().invoke(app, [*args, str(bad)])
    assert refused.exit_code == 2 and "refused list entry" in refused.output
