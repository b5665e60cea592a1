"""Property tests of the decision kernel (no trained model): the DataFrame adapter (``decide``)
and the records adapter (``decide_batch`` over ``Columns.of_records``, what the service uses)
decide identically on generated batches, date criteria and managed lists included; and both
follow a per-row reading of the rule written here from the kernel's docstring."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from customs_risk.selection.columns import Columns
from customs_risk.selection.decide import ScoreArrays, decide, decide_batch
from customs_risk.selection.lists import ListEntry, ManagedLists
from customs_risk.selection.policy import ChannelPolicy
from customs_risk.selection.profiles import ProfileSet, RiskProfile
from customs_risk.selection.random_control import control_draw
from customs_risk.selection.thresholds import OfficeThresholds, Thresholds

OFFICES = ["OF1", "OF2", "OF3"]
HS = ["851712", "300490", "610910", "870323"]
COUNTRIES = ["CN", "TR", "DE", "NO"]
GRADES = ["A", "B", "C", "D", None]
IMPORTERS = ["IMP1", "IMP2", "IMP3"]
LICENCES = [None, "LIC-1", " "]  # a blank reference is none
START = dt.datetime(2025, 3, 1, 8, 0)

POLICY = ChannelPolicy(
    version="prop",
    shares={"red": 0.1, "orange": 0.2, "random_red": 0.05, "random_orange": 0.1},
    offices={"OF2": {"random_red": 0.2, "random_orange": 0.2, "red": 0.3, "orange": 0.3}},
    ranking="blend",
    blend_weight=0.6,
)
THRESHOLDS = Thresholds(
    policy_version="prop",
    ranking="blend",
    revenue_scale=50.0,
    offices={
        "OF1": OfficeThresholds(red=0.9, orange=0.5, n_rows=500),
        "OF2": OfficeThresholds(red=0.6, orange=0.3, n_rows=500),
    },
    fallback=OfficeThresholds(red=0.8, orange=0.4, n_rows=1000, pooled=True),
    n_rows=2000,
)


def _profile(pid: str, criteria: list[dict], **extra: Any) -> RiskProfile:
    base = {
        "id": pid,
        "title": pid,
        "owner": "test",
        "valid_from": dt.date(2025, 1, 1),
        "criteria": criteria,
        "action": "red",
        "priority": 10,
        "instructions": f"check {pid}",
    }
    return RiskProfile.model_validate({**base, **extra})


CANDIDATE_PROFILES = [
    _profile("hs-prefix", [{"field": "hs_code", "op": "prefix", "value": ["8517"]}]),
    _profile(
        "origin-value",
        [
            {"field": "origin_country", "op": "in", "value": ["CN", "NO"]},
            {"field": "customs_value", "op": "gt", "value": 500},
        ],
        action="orange",
        priority=20,
    ),
    _profile(
        "late-march",
        [{"field": "declared_at", "op": "ge", "value": dt.date(2025, 3, 4)}],
        priority=5,
    ),
    _profile(
        "window",
        [
            {
                "field": "declared_at",
                "op": "between",
                "value": [dt.date(2025, 3, 2), dt.date(2025, 3, 3)],
            },
            {"field": "hs4", "op": "eq", "value": "3004"},
        ],
        action="orange",
    ),
    _profile(
        "unit-value",
        [{"field": "unit_value", "op": "lt", "value": 3.0}],
        advisory=True,
        priority=50,
    ),
    _profile(
        "risky-score",
        [{"field": "fraud_probability", "op": "ge", "value": 0.95}],
        valid_from=dt.date(2025, 3, 3),
        valid_to=dt.date(2025, 3, 5),
    ),
    _profile(
        "grade-d",
        [
            {"field": "trader_grade", "op": "eq", "value": "D"},
            {"field": "departure_country", "op": "not_in", "value": ["DE"]},
        ],
        action="orange",
        priority=1,
    ),
]


def _entry(eid: str, kind: str, **extra: Any) -> ListEntry:
    base = {
        "id": eid,
        "kind": kind,
        "title": eid,
        "instructions": f"do {eid}",
        "valid_from": dt.date(2025, 1, 1),
        "source": "tests",
    }
    return ListEntry.model_validate({**base, **extra})


CANDIDATE_ENTRIES = [
    _entry("ML-phones", "restricted", hs_prefix="8517", channel="red"),
    _entry("ML-medicines", "licence", hs_prefix="3004"),
    _entry(
        "ML-cars",
        "prohibited",
        hs_prefix="870323",
        valid_from=dt.date(2025, 3, 3),
        valid_to=dt.date(2025, 3, 5),
    ),
    _entry("ML-shirts", "prohibited", hs_prefix="61", channel="orange"),
    _entry("ML-watch", "watchlist", importer_id="IMP2"),
    _entry("ML-watch-red", "watchlist", importer_id="IMP3", channel="red"),
    _entry("ML-seller", "watchlist", seller_id="S1", channel="red"),  # no seller column: no hit
]

maybe_float = st.one_of(st.none(), st.floats(0, 2000, allow_nan=False))


@st.composite
def batches(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(1, 40))
    records, fp, er, grades = [], [], [], []
    for i in range(n):
        minutes = draw(st.integers(0, 7 * 24 * 60))
        records.append(
            {
                "declaration_id": f"D{draw(st.integers(0, 10**6))}-{i}",
                "item_no": draw(st.integers(1, 5)),
                "declared_at": START + dt.timedelta(minutes=minutes),
                "office_id": draw(st.sampled_from(OFFICES)),
                "hs_code": draw(st.sampled_from(HS)) + draw(st.sampled_from(["", "00", "1234"])),
                "origin_country": draw(st.sampled_from(COUNTRIES)),
                "departure_country": draw(st.one_of(st.none(), st.sampled_from(COUNTRIES))),
                "quantity": draw(maybe_float),
                "customs_value": draw(st.floats(0, 5000, allow_nan=False)),
                "importer_id": draw(st.sampled_from(IMPORTERS)),
                "licence_ref": draw(st.sampled_from(LICENCES)),
            }
        )
        fp.append(draw(st.one_of(st.just(math.nan), st.floats(0, 1))))
        er.append(draw(st.one_of(st.just(math.nan), st.floats(0, 100))))
        grades.append(draw(st.sampled_from(GRADES)))
    with_model = draw(st.booleans())
    # without a model no scores exist: a profile reading one is refused by both adapters
    candidates = [
        p
        for p in CANDIDATE_PROFILES
        if with_model or not (p.fields() & {"fraud_probability", "trader_grade"})
    ]
    chosen = draw(st.lists(st.sampled_from(candidates), unique_by=lambda p: p.id))
    entries = draw(st.lists(st.sampled_from(CANDIDATE_ENTRIES), unique_by=lambda e: e.id))
    scores = ScoreArrays(
        np.array(fp),
        np.full(n, np.nan),
        np.array(er),
        np.array(grades, dtype=object),
    )
    return {
        "records": records,
        "scores": scores,
        "profiles": ProfileSet(chosen),
        "lists": ManagedLists(entries) if entries or draw(st.booleans()) else None,
        "seed": draw(st.integers(0, 5)),
        "as_of": draw(st.sampled_from([None, "2025-03-03"])),
        "with_model": with_model,
    }


def _frames(case: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    decl = pd.DataFrame(case["records"])
    sc: ScoreArrays = case["scores"]
    scores = pd.DataFrame(
        {
            "declaration_id": decl["declaration_id"],
            "item_no": decl["item_no"],
            "fraud_probability": sc.fraud_probability,
            "critical_probability": sc.critical_probability,
            "expected_revenue": sc.expected_revenue,
            "trader_grade": pd.Series(sc.trader_grade, dtype="str"),
        }
    )
    return decl, scores


def _reference(case: dict[str, Any]) -> list[tuple[str, str, float, float]]:
    """The rule row by row, read from the kernel's docstring."""
    sc: ScoreArrays = case["scores"]
    out = []
    for i, rec in enumerate(case["records"]):
        day = dt.date.fromisoformat(case["as_of"]) if case["as_of"] else rec["declared_at"].date()
        forced = None
        for p in case["profiles"]:
            if p.advisory or not p.is_valid_on(day):
                continue
            if all(_holds(rec, sc, i, c) for c in p.criteria):
                forced = p.action
                break
        shares = POLICY.shares_for(rec["office_id"])
        u = control_draw(rec["declaration_id"], rec["item_no"], case["seed"])
        rr, ro = shares.random_red, shares.random_orange
        base, base_by = POLICY.default_channel, "default"
        if case["with_model"]:
            w = POLICY.blend_weight
            key = w * sc.fraud_probability[i] + (1 - w) * sc.expected_revenue[i] / 50.0
            key *= POLICY.grade_factors.get(str(sc.trader_grade[i]), 1.0)
            if math.isfinite(key):
                cut = THRESHOLDS.offices.get(rec["office_id"], THRESHOLDS.fallback)
                base = "red" if key >= cut.red else "orange" if key >= cut.orange else "green"
                base_by = "model"
        q = 1 - rr - ro
        if forced:
            rest = (forced, "profile", 1.0, 1.0 if forced == "red" else 0.0)
        elif u < rr:
            rest = ("red", "random", rr + ro + q * (base != "green"), rr + q * (base == "red"))
        elif u < rr + ro:
            rest = ("orange", "random", rr + ro + q * (base != "green"), rr + q * (base == "red"))
        else:
            rest = (base, base_by, rr + ro + q * (base != "green"), rr + q * (base == "red"))
        out.append(_with_lists(rest, _listed(case, rec, day)))
    return out


RANKS = {"green": 0, "orange": 1, "red": 2}


def _listed(case: dict[str, Any], rec: dict[str, Any], day: dt.date) -> str | None:
    """The least channel the case's list entries impose on a record (None: none)."""
    licensed = bool((rec.get("licence_ref") or "").strip())
    imposed = []
    for e in case["lists"] or []:
        if not e.is_valid_on(day):
            continue
        if e.hs_prefix is not None:
            hit = rec["hs_code"].startswith(e.hs_prefix)
        else:
            hit = rec.get(e.target_field) == e.target
        if hit and not (licensed and e.kind in ("restricted", "licence")):
            imposed.append(e.channel)
    return max(imposed, key=RANKS.__getitem__) if imposed else None


def _with_lists(rest: tuple[Any, ...], listed: str | None) -> tuple[Any, ...]:
    """A list raises the channel: selected by it when its channel is at least the rest's."""
    if listed is None:
        return rest
    channel, by, _, propensity_red = rest
    if RANKS[listed] >= RANKS[channel]:
        channel, by = listed, "list"
    return (channel, by, 1.0, 1.0 if listed == "red" else propensity_red)


def _holds(rec: dict[str, Any], sc: ScoreArrays, i: int, crit: Any) -> bool:
    field, op, value = crit.field, crit.op, crit.value
    if field == "fraud_probability":
        x: Any = sc.fraud_probability[i]
    elif field == "trader_grade":
        x = sc.trader_grade[i]
    elif field == "hs4":
        x = rec["hs_code"][:4]
    elif field == "unit_value":
        qty = rec["quantity"]
        x = rec["customs_value"] / qty if qty is not None and qty > 0 else None
    elif field == "declared_at":
        x = rec["declared_at"]
        value = [
            dt.datetime.combine(v, dt.time())
            for v in (value if isinstance(value, list) else [value])
        ]
        value = value if crit.op == "between" else value[0]
    else:
        x = rec[field]
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return False
    if op == "prefix":
        return str(x).startswith(tuple(value))
    if op == "eq":
        return x == value
    if op == "in":
        return x in value
    if op == "not_in":
        return x not in value
    if op == "gt":
        return x > value
    if op == "ge":
        return x >= value
    if op == "lt":
        return x < value
    return value[0] <= x <= value[1]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches())
def test_frame_and_records_adapters_decide_identically(case: dict[str, Any]) -> None:
    decl, scores = _frames(case)
    model = case["with_model"]
    frame_out = decide(
        decl,
        scores if model else None,
        POLICY,
        THRESHOLDS if model else None,
        case["profiles"],
        case["seed"],
        case["as_of"],
        lists=case["lists"],
    )
    sc: ScoreArrays = case["scores"]
    columns = Columns.of_records(case["records"], sc.columns() if model else None)
    records_out = decide_batch(
        columns,
        sc if model else None,
        POLICY,
        THRESHOLDS if model else None,
        case["profiles"],
        case["seed"],
        case["as_of"],
        lists=case["lists"],
    )
    k = records_out.kernel
    channels = np.array(["green", "orange", "red"])[k.channel].tolist()
    by = np.array(["model", "profile", "random", "default", "list"])[k.selected_by].tolist()
    assert frame_out["channel"].tolist() == channels
    assert frame_out["selected_by"].tolist() == by
    np.testing.assert_array_equal(frame_out["propensity"], k.propensity)
    np.testing.assert_array_equal(frame_out["propensity_red"], k.propensity_red)
    np.testing.assert_array_equal(frame_out["risk_score"], records_out.risk_score)
    np.testing.assert_array_equal(frame_out["control_draw"], records_out.control_draw)
    hit_ids, _ = records_out.profile_lists()
    assert [tuple(h) for h in frame_out["profile_hits"]] == [tuple(h) for h in hit_ids]
    assert [tuple(h) for h in frame_out["list_hits"]] == list(records_out.lists.ids())
    list_reasons = records_out.reasons(None)  # no model reasons here: the lists' only
    assert [tuple(r) for r in frame_out["reasons"]] == [
        tuple(list_reasons.get(i, ())) for i in range(len(frame_out))
    ]
    reference = _reference(case)
    assert list(zip(channels, by, strict=True)) == [r[:2] for r in reference]
    np.testing.assert_allclose(k.propensity, [r[2] for r in reference])
    np.testing.assert_allclose(k.propensity_red, [r[3] for r in reference])
    # one rule for who gets reasons: scored and sent to red/orange by the model
    assert (k.explain == (k.model_channel == 1) | (k.model_channel == 2)).all()


def test_date_criteria_agree_for_aware_timestamps() -> None:
    """A tz-aware frame column and aware records read the same wall-clock dates."""
    when = [
        dt.datetime(2025, 3, 3, 23, 30, tzinfo=dt.UTC),
        dt.datetime(2025, 3, 4, 0, 30, tzinfo=dt.UTC),
    ]
    records = [
        {"declaration_id": f"A{i}", "item_no": 1, "office_id": "OF1", "declared_at": t}
        for i, t in enumerate(when)
    ]
    profiles = ProfileSet([CANDIDATE_PROFILES[2]])  # declared_at >= 2025-03-04
    frame = decide(pd.DataFrame(records), None, POLICY, None, profiles, seed=0)
    batch = decide_batch(Columns.of_records(records), None, POLICY, None, profiles, seed=0)
    assert frame["profile_id"].isna().tolist() == [True, False]
    assert frame["profile_id"].iloc[1] == "late-march"
    assert batch.forced_profile.tolist() == [-1, 0]


def test_large_frames_equal_small_record_batches() -> None:
    """Over 256 rows the frame path switches to Arrow (text criteria, control draws) and Series
    (numbers, times); the decisions equal those of the same rows in small record batches."""
    rng = np.random.default_rng(3)
    n = 900
    records = [
        {
            "declaration_id": f"L{i:05d}",
            "item_no": int(rng.integers(1, 4)),
            "declared_at": START + dt.timedelta(minutes=int(rng.integers(0, 7 * 24 * 60))),
            "office_id": str(rng.choice(OFFICES)),
            "hs_code": str(rng.choice(HS)) + str(rng.choice(["", "00", "1234"])),
            "origin_country": str(rng.choice(COUNTRIES)),
            "departure_country": None if rng.random() < 0.2 else str(rng.choice(COUNTRIES)),
            "quantity": None if rng.random() < 0.1 else float(rng.uniform(0, 2000)),
            "customs_value": float(rng.uniform(0, 5000)),
        }
        for i in range(n)
    ]
    scores = ScoreArrays(
        np.where(rng.random(n) < 0.05, np.nan, rng.random(n)),
        np.full(n, np.nan),
        rng.uniform(0, 100, n),
        np.array([GRADES[k] for k in rng.integers(0, len(GRADES), n)], dtype=object),
    )
    profiles = ProfileSet(CANDIDATE_PROFILES)
    lists = ManagedLists(CANDIDATE_ENTRIES)
    for i, r in enumerate(records):
        r["licence_ref"] = LICENCES[i % 3]
    case = {"records": records, "scores": scores}
    decl, frame_scores = _frames(case)
    whole = decide(decl, frame_scores, POLICY, THRESHOLDS, profiles, seed=4, lists=lists)
    parts = []
    for a in range(0, n, 30):
        chunk = ScoreArrays(*(v[a : a + 30] for v in vars(scores).values()))
        cols = Columns.of_records(records[a : a + 30], chunk.columns())
        parts.append(decide_batch(cols, chunk, POLICY, THRESHOLDS, profiles, seed=4, lists=lists))
    channels = np.concatenate([p.kernel.channel for p in parts])
    by = np.concatenate([p.kernel.selected_by for p in parts])
    assert whole["channel"].tolist() == np.array(["green", "orange", "red"])[channels].tolist()
    assert (
        whole["selected_by"].tolist()
        == np.array(["model", "profile", "random", "default", "list"])[by].tolist()
    )
    np.testing.assert_array_equal(
        whole["control_draw"], np.concatenate([p.control_draw for p in parts])
    )
    hits = [tuple(h) for p in parts for h in p.profile_lists()[0]]
    assert [tuple(h) for h in whole["profile_hits"]] == hits
    assert sum(bool(h) for h in hits) > 100  # the profiles do hit
    listed = [tuple(h) for p in parts for h in p.lists.ids()]
    assert [tuple(h) for h in whole["list_hits"]] == listed
    assert sum(bool(h) for h in listed) > 100 and (whole["selected_by"] == "list").sum() > 50
