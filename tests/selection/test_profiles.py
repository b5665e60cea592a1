"""Risk profiles: operators, validity dates, priority, advisory, malformed files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from customs_risk.selection.profiles import (
    ProfileError,
    ProfileSet,
    decision_days,
    evaluate_profiles,
    load_profiles,
    parse_profile,
)

BASE_PROFILE = {
    "id": "P-1",
    "title": "test profile",
    "owner": "tests",
    "valid_from": "2020-01-01",
    "valid_to": "2030-12-31",
    "criteria": [{"field": "origin_country", "op": "eq", "value": "CN"}],
    "action": "red",
    "priority": 10,
    "instructions": "check it",
}
REPO = Path(__file__).resolve().parents[2]


def make_profile(**fields: object) -> dict:
    """A valid profile mapping with ``fields`` replaced."""
    return BASE_PROFILE | fields


def profile_set(*mappings: dict) -> ProfileSet:
    """Parse mappings into a ProfileSet."""
    return ProfileSet(parse_profile(m) for m in mappings)


def hits_of(batch: pd.DataFrame, criteria: list[dict], as_of: str = "2025-06-01") -> list[str]:
    """Declaration ids hit by one profile with ``criteria``."""
    profile = parse_profile(BASE_PROFILE | {"criteria": criteria})
    result = evaluate_profiles(ProfileSet([profile]), [batch], decision_days(batch, as_of))
    return batch["declaration_id"][result.matrix[:, 0]].tolist()


@pytest.mark.parametrize(
    ("criterion", "expected"),
    [
        ({"field": "origin_country", "op": "eq", "value": "CN"}, ["D1", "D4"]),
        ({"field": "origin_country", "op": "eq", "value": "NO"}, ["D3"]),
        ({"field": "importer_id", "op": "in", "value": ["I1", "I3"]}, ["D1", "D3", "D4"]),
        ({"field": "origin_country", "op": "not_in", "value": ["CN"]}, ["D2", "D3"]),
        ({"field": "hs_code", "op": "prefix", "value": "8517"}, ["D1", "D2", "D5"]),
        ({"field": "hs_code", "op": "prefix", "value": ["851712", "6109"]}, ["D1", "D4"]),
        ({"field": "customs_value", "op": "gt", "value": 200}, ["D3"]),
        ({"field": "customs_value", "op": "ge", "value": 200}, ["D2", "D3"]),
        ({"field": "customs_value", "op": "lt", "value": 50}, ["D5"]),
        ({"field": "customs_value", "op": "le", "value": 50}, ["D4", "D5"]),
        ({"field": "customs_value", "op": "between", "value": [50, 200]}, ["D1", "D2", "D4"]),
        ({"field": "tariff_rate", "op": "in", "value": [5, 12]}, ["D2", "D4"]),
        ({"field": "tariff_rate", "op": "not_in", "value": [0]}, ["D2", "D3", "D4"]),
        ({"field": "item_no", "op": "eq", "value": 2}, ["D3"]),
        ({"field": "hs4", "op": "eq", "value": "8517"}, ["D1", "D2", "D5"]),
        ({"field": "hs6", "op": "in", "value": ["851712", "870323"]}, ["D1", "D3"]),
        ({"field": "unit_value", "op": "lt", "value": 20}, ["D1", "D5"]),
        ({"field": "declared_at", "op": "ge", "value": dt.date(2025, 3, 10)}, ["D3", "D4", "D5"]),
        (
            {
                "field": "declared_at",
                "op": "between",
                "value": [dt.date(2025, 2, 1), dt.date(2025, 3, 31)],
            },
            ["D2", "D3"],
        ),
    ],
)
def test_each_operator(small_batch: pd.DataFrame, criterion: dict, expected: list[str]) -> None:
    assert hits_of(small_batch, [criterion]) == expected


def test_missing_values_never_match(small_batch: pd.DataFrame) -> None:
    # D5 has no origin and no tariff: neither in, not_in nor comparisons hit it
    assert "D5" not in hits_of(
        small_batch, [{"field": "origin_country", "op": "not_in", "value": ["XX"]}]
    )
    assert "D5" not in hits_of(small_batch, [{"field": "tariff_rate", "op": "ge", "value": 0}])


def test_all_criteria_must_hold(small_batch: pd.DataFrame) -> None:
    criteria = [
        {"field": "hs_code", "op": "prefix", "value": "8517"},
        {"field": "transport_mode", "op": "eq", "value": "air"},
        {"field": "customs_value", "op": "gt", "value": 50},
    ]
    assert hits_of(small_batch, criteria) == ["D1"]


def test_validity_dates_per_row_and_reported(small_batch: pd.DataFrame) -> None:
    everyone = [{"field": "customs_value", "op": "gt", "value": 0}]
    profile = make_profile(valid_from="2025-02-01", valid_to="2025-03-31", criteria=everyone)
    result = evaluate_profiles(profile_set(profile), [small_batch], decision_days(small_batch))
    assert small_batch["declaration_id"][result.matrix[:, 0]].tolist() == ["D2", "D3"]
    [status] = result.not_applied
    assert (status.profile_id, status.status, status.rows_outside) == ("P-1", "partially_valid", 3)


@pytest.mark.parametrize(
    ("as_of", "status"), [("2026-01-01", "expired"), ("2024-12-31", "not_yet_valid")]
)
def test_expired_or_future_profile_not_applied(
    small_batch: pd.DataFrame, as_of: str, status: str
) -> None:
    everyone = [{"field": "customs_value", "op": "gt", "value": 0}]
    profile = make_profile(valid_from="2025-01-01", valid_to="2025-12-31", criteria=everyone)
    result = evaluate_profiles(
        profile_set(profile), [small_batch], decision_days(small_batch, as_of)
    )
    assert not result.matrix.any()
    assert [(s.profile_id, s.status) for s in result.not_applied] == [("P-1", status)]
    # on a day inside the validity it applies to everyone
    inside = evaluate_profiles(
        profile_set(profile), [small_batch], decision_days(small_batch, "2025-06-30")
    )
    assert inside.matrix.all() and not inside.not_applied


def test_priority_orders_hits_and_forcing() -> None:
    low = make_profile(id="LOW", priority=10, action="red", instructions="low")
    high = make_profile(id="HIGH", priority=90, action="orange", instructions="high")
    profiles = profile_set(low, high)
    assert [p.id for p in profiles] == ["HIGH", "LOW"]
    batch = pd.DataFrame({"origin_country": pd.Series(["CN", "DE"], dtype="str")})
    days = np.full(2, np.datetime64("2025-01-01", "D"))
    idx, action = evaluate_profiles(profiles, [batch], days).forced()
    assert idx.tolist() == [0, -1]
    assert action.tolist() == [1, 0]  # the higher priority's orange wins over red


def test_equal_priority_prefers_red_then_id() -> None:
    a = make_profile(id="B-orange", action="orange")
    b = make_profile(id="A-red", action="red")
    c = make_profile(id="C-red", action="red")
    assert [p.id for p in profile_set(a, c, b)] == ["A-red", "C-red", "B-orange"]


def test_advisory_hit_does_not_force() -> None:
    advisory = make_profile(id="ADV", priority=99, advisory=True)
    forcing = make_profile(id="FORCE", priority=1, action="orange")
    batch = pd.DataFrame({"origin_country": pd.Series(["CN"], dtype="str")})
    days = np.full(1, np.datetime64("2025-01-01", "D"))
    hits = evaluate_profiles(profile_set(advisory, forcing), [batch], days)
    assert hits.matrix.tolist() == [[True, True]]
    idx, action = hits.forced()
    assert hits.profiles[idx[0]].id == "FORCE" and action[0] == 1
    idx, action = evaluate_profiles(profile_set(advisory), [batch], days).forced()
    assert idx.tolist() == [-1] and action.tolist() == [0]


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"action": "yellow"}, "action", "Input should be 'red' or 'orange'"),
        ({"priority": "high"}, "priority", "valid integer"),
        ({"criteria": []}, "criteria", "at least 1"),
        ({"critera": []}, "critera", "Extra inputs"),
        ({"valid_from": "2025-13-01"}, "valid_from", "date"),
        ({"valid_to": "2019-01-01"}, "<profile>", "before valid_from"),
        (
            {"criteria": [{"field": "x", "op": "like", "value": 1}]},
            "criteria.0.op",
            "Input should be",
        ),
        (
            {"criteria": [{"field": "x", "op": "in", "value": "CN"}]},
            "criteria.0.value",
            "non-empty list",
        ),
        (
            {"criteria": [{"field": "x", "op": "in", "value": []}]},
            "criteria.0.value",
            "non-empty list",
        ),
        ({"criteria": [{"field": "x", "op": "gt", "value": "big"}]}, "criteria.0.value", "number"),
        (
            {"criteria": [{"field": "x", "op": "between", "value": [5, 1]}]},
            "criteria.0.value",
            "low <= high",
        ),
        (
            {"criteria": [{"field": "x", "op": "between", "value": [1]}]},
            "criteria.0.value",
            "[low, high]",
        ),
        (
            {"criteria": [{"field": "x", "op": "prefix", "value": 8517}]},
            "criteria.0.value",
            "quote HS",
        ),
        (
            {"criteria": [{"field": "x", "op": "eq", "value": [1, 2]}]},
            "criteria.0.value",
            "single value",
        ),
        ({"id": "bad id!"}, "id", "pattern"),
        ({"instructions": ""}, "instructions", "at least 1"),
    ],
)
def test_malformed_profile_refused_with_file_field_reason(
    write_profile, change: dict, field: str, reason: str
) -> None:
    data = make_profile(**change)
    path = write_profile("bad.yaml", data)
    with pytest.raises(ProfileError) as info:
        load_profiles(path.parent)
    err = info.value
    assert err.file == str(path)
    assert err.field == field
    assert reason in err.reason
    assert str(path) in str(err) and field in str(err)


def test_unparseable_and_empty_files_refused(write_profile) -> None:
    path = write_profile("broken.yaml", "id: [unclosed\n")
    with pytest.raises(ProfileError) as info:
        load_profiles(path)
    assert (info.value.file, info.value.field) == (str(path), "<yaml>")
    empty = write_profile("empty.yml", "")
    with pytest.raises(ProfileError, match="empty file"):
        load_profiles(empty)


def test_duplicate_ids_refused(write_profile) -> None:
    write_profile("a.yaml", make_profile(id="SAME"))
    second = write_profile("b.yaml", make_profile(id="SAME"))
    with pytest.raises(ProfileError) as info:
        load_profiles(second.parent)
    assert (info.value.file, info.value.field) == (str(second), "id")


def test_unknown_column_and_wrong_type_refused_at_evaluation(
    write_profile, small_batch: pd.DataFrame
) -> None:
    days = decision_days(small_batch)
    path = write_profile(
        "p.yaml", make_profile(criteria=[{"field": "colour", "op": "eq", "value": "red"}])
    )
    with pytest.raises(ProfileError) as info:
        evaluate_profiles(load_profiles(path), [small_batch], days)
    assert (info.value.file, info.value.field) == (str(path), "criteria.0.field")
    assert "colour" in info.value.reason
    crit = [{"field": "hs_code", "op": "gt", "value": 5}]
    path = write_profile("q.yaml", make_profile(id="Q", criteria=crit))
    with pytest.raises(ProfileError, match="numeric"):
        evaluate_profiles(load_profiles(path), [small_batch], days)


def test_yaml_country_no_stays_text(write_profile, small_batch: pd.DataFrame) -> None:
    text = (
        "id: NOR\ntitle: t\nowner: o\nvalid_from: 2025-01-01\naction: orange\npriority: 1\n"
        "instructions: i\ncriteria:\n  - {field: origin_country, op: in, value: [NO, SE]}\n"
    )
    [profile] = load_profiles(write_profile("nor.yaml", text))
    assert profile.criteria[0].value == ["NO", "SE"]
    assert profile.valid_to is None and profile.source.endswith("nor.yaml")


def test_file_with_list_and_folder_loading(write_profile) -> None:
    write_profile("two.yaml", [make_profile(id="X1"), make_profile(id="X2", priority=50)])
    write_profile("one.yml", make_profile(id="X3", priority=30))
    write_profile("notes.txt", "not a profile")
    profiles = load_profiles(write_profile("z.yaml", make_profile(id="X4")).parent)
    assert [p.id for p in profiles] == ["X2", "X3", "X1", "X4"]


def test_example_profiles_load_and_hit() -> None:
    profiles = load_profiles(REPO / "profiles")
    assert 3 <= len(profiles) <= 5
    assert any(p.advisory for p in profiles)
    batch = pd.DataFrame(
        {
            "declaration_id": pd.Series(["D1"], dtype="str"),
            "item_no": [1],
            "importer_id": pd.Series(["IMP00017"], dtype="str"),
            "hs_code": pd.Series(["85171200"], dtype="str"),
            "origin_country": pd.Series(["CN"], dtype="str"),
            "departure_country": pd.Series(["CN"], dtype="str"),
            "transport_mode": pd.Series(["air"], dtype="str"),
            "quantity": [100.0],
            "net_mass_kg": [20.0],
            "customs_value": [1500.0],
            "tariff_rate": [0.0],
        }
    )
    hits = evaluate_profiles(profiles, [batch], decision_days(batch, "2025-06-01"))
    hit_ids = [p.id for p, h in zip(hits.profiles, hits.matrix[0], strict=True) if h]
    assert hit_ids == ["RP-2025-002", "RP-2025-001"]
    assert {s.profile_id: s.status for s in hits.not_applied} == {"RP-2024-005": "expired"}


def test_empty_profile_set_and_parse_refuses_non_mapping() -> None:
    batch = pd.DataFrame({"a": [1, 2]})
    result = evaluate_profiles(ProfileSet(), [batch], decision_days(batch, "2025-01-01"))
    assert result.matrix.shape == (2, 0)
    assert result.forced()[0].tolist() == [-1, -1]
    with pytest.raises(ProfileError, match="mapping"):
        parse_profile(["not", "a", "mapping"], "x.yaml")
