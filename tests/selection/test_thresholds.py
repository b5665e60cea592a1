"""Capacity calibration: shares per office on a later window, random shares, propensities."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from customs_risk.selection.decide import decide
from customs_risk.selection.policy import ChannelPolicy
from customs_risk.selection.profiles import ProfileSet, parse_profile
from customs_risk.selection.synthetic import heuristic_scores, synthetic_declarations
from customs_risk.selection.thresholds import (
    Thresholds,
    calibrate_thresholds,
    paced_targets,
    refresh_thresholds,
)

N = 360_000  # ~120k rows per office: 0.5 pp is > 3 standard errors of the difference
WEIGHTS = (1 / 3, 1 / 3, 1 / 3, 0.0)
POLICY = ChannelPolicy(
    version="test-1",
    shares={"red": 0.05, "orange": 0.15, "random_red": 0.005, "random_orange": 0.01},
    offices={"OF-AIR": {"red": 0.08, "orange": 0.04, "random_orange": 0.004}},
)


def _profile(pid: str, action: str, criteria: list[dict], **extra: object) -> dict:
    return {
        "id": pid,
        "title": pid,
        "owner": "tests",
        "valid_from": "2020-01-01",
        "criteria": criteria,
        "action": action,
        "priority": 50,
        "instructions": f"instructions of {pid}",
    } | extra


PROFILES = ProfileSet(
    parse_profile(p)
    for p in [
        _profile(
            "AE-TSHIRTS",
            "red",
            [
                {"field": "origin_country", "op": "eq", "value": "AE"},
                {"field": "hs_code", "op": "prefix", "value": "6109"},
            ],
        ),
        _profile(
            "LOW-PHONES",
            "orange",
            [
                {"field": "hs6", "op": "eq", "value": "851713"},
                {"field": "customs_value", "op": "lt", "value": 40},
            ],
        ),
        _profile(
            "ADVISORY",
            "red",
            [{"field": "transport_mode", "op": "eq", "value": "air"}],
            advisory=True,
        ),
    ]
)


@pytest.fixture(scope="module")
def windows() -> dict[str, pd.DataFrame]:
    past = synthetic_declarations(N, seed=1, office_weights=WEIGHTS)
    later = synthetic_declarations(N, seed=2, office_weights=WEIGHTS, start="2024-04-01")
    return {
        "past": past,
        "past_scores": heuristic_scores(past, seed=1),
        "later": later,
        "later_scores": heuristic_scores(later, seed=2),
    }


@pytest.fixture(scope="module")
def decided(windows: dict[str, pd.DataFrame]) -> pd.DataFrame:
    thresholds = calibrate_thresholds(
        windows["past_scores"], windows["past"], POLICY, profiles=PROFILES
    )
    return decide(windows["later"], windows["later_scores"], POLICY, thresholds, PROFILES, seed=5)


def _shares(decisions: pd.DataFrame) -> pd.DataFrame:
    return pd.crosstab(decisions["office_id"], decisions["channel"], normalize="index")


def test_shares_meet_targets_per_office_on_later_window(decided: pd.DataFrame) -> None:
    shares = _shares(decided)
    assert set(shares.index) == {"OF-AIR", "OF-NORTH", "OF-PORT"}
    assert (decided["selected_by"] == "profile").mean() > 0.005  # profiles take part
    for office, row in shares.iterrows():
        target = POLICY.shares_for(str(office))
        assert abs(row["red"] - target.red) <= 0.005, (office, row["red"])
        assert abs(row["orange"] - target.orange) <= 0.005, (office, row["orange"])


def test_pooled_thresholds_would_miss_targets(windows: dict[str, pd.DataFrame]) -> None:
    """The per-office calibration matters: one pooled threshold misses some office by > 1 pp."""
    calibrated = calibrate_thresholds(windows["past_scores"], windows["past"], POLICY, PROFILES)
    pooled = calibrated.model_copy(update={"offices": {}})
    out = decide(windows["later"], windows["later_scores"], POLICY, pooled, PROFILES, seed=5)
    errors = [
        abs(row["red"] - POLICY.shares_for(str(office)).red)
        for office, row in _shares(out).iterrows()
    ]
    assert max(errors) > 0.01


def test_random_shares_and_unbiased_control_group(decided: pd.DataFrame) -> None:
    free = decided[decided["selected_by"] != "profile"]
    for office, group in free.groupby("office_id"):
        target = POLICY.shares_for(str(office))
        n = len(group)
        rand = group["selected_by"] == "random"
        for channel, share in (("red", target.random_red), ("orange", target.random_orange)):
            observed = (rand & (group["channel"] == channel)).mean()
            assert abs(observed - share) <= 4 * math.sqrt(share * (1 - share) / n), office
    # per office, the random group is a sample of the population (same mean score),
    # while the model picks the risky ones
    for office, group in free.groupby("office_id"):
        control = group[group["selected_by"] == "random"]["fraud_probability"]
        overall = group["fraud_probability"]
        se = overall.std() / math.sqrt(len(control))
        assert abs(control.mean() - overall.mean()) < 4 * se, office
        model_red = group[(group["selected_by"] == "model") & (group["channel"] == "red")]
        assert model_red["fraud_probability"].mean() > 2 * overall.mean()


def test_recorded_propensities_match_selection_frequencies(decided: pd.DataFrame) -> None:
    inspected = decided["channel"] != "green"
    red = decided["channel"] == "red"
    for column, selected in (("propensity", inspected), ("propensity_red", red)):
        for p, group in selected.groupby(decided[column].round(12)):
            if len(group) < 500:
                continue
            tol = 4 * math.sqrt(max(p * (1 - p), 1e-12) / len(group)) + 1e-12
            assert abs(group.mean() - p) <= tol, (column, p, group.mean(), len(group))
    forced_or_model = decided["selected_by"].isin(["profile", "model"]) & inspected
    assert (decided.loc[forced_or_model, "propensity"] == 1.0).all()


def test_inverse_propensity_weighting_recovers_population_mean(decided: pd.DataFrame) -> None:
    inspected = decided[decided["channel"] != "green"]
    truth = decided["fraud_probability"].mean()
    naive = inspected["fraud_probability"].mean()
    weights = 1.0 / inspected["propensity"]
    ipw = (weights * inspected["fraud_probability"]).sum() / len(decided)
    assert abs(naive - truth) > 0.3 * truth  # selection is biased ...
    assert abs(ipw - truth) < 0.05 * truth  # ... and the weights undo it
    assert abs(weights.sum() / len(decided) - 1) < 0.05


def test_small_policy_only_and_unknown_offices_use_pooled(
    windows: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    decl = windows["past"].head(20_000).copy()
    scores = windows["past_scores"].head(20_000)
    decl.loc[:49, "office_id"] = "TINY"
    policy = POLICY.model_copy(
        update={"offices": POLICY.offices | {"NEW": POLICY.offices["OF-AIR"]}}
    )
    thresholds = calibrate_thresholds(scores, decl, policy)
    assert thresholds.offices["TINY"].pooled and thresholds.offices["TINY"].n_rows == 50
    assert thresholds.offices["NEW"].pooled and thresholds.offices["NEW"].n_rows == 0
    assert not thresholds.offices["OF-NORTH"].pooled
    assert thresholds.offices["TINY"] != thresholds.offices["OF-NORTH"]
    red, orange = thresholds.arrays_for(pd.Series(["ELSEWHERE", "OF-NORTH"], dtype="str"))
    assert (red[0], orange[0]) == (thresholds.fallback.red, thresholds.fallback.orange)
    assert red[1] == thresholds.offices["OF-NORTH"].red
    assert thresholds.window_start is not None and thresholds.n_rows == 20_000


def test_thresholds_serialise_including_infinite(
    windows: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    policy = ChannelPolicy(
        version="no-red",
        shares={"red": 0.0, "orange": 1.0, "random_red": 0.0, "random_orange": 0.0},
    )
    thresholds = calibrate_thresholds(
        windows["past_scores"].head(5000), windows["past"].head(5000), policy
    )
    assert thresholds.fallback.red == float("inf") and thresholds.fallback.orange == float("-inf")
    data = thresholds.to_dict()
    json.dumps(data, allow_nan=False)  # strict JSON
    assert Thresholds.from_dict(data) == thresholds
    path = tmp_path / "thresholds.json"
    thresholds.save(path)
    assert Thresholds.load(path) == thresholds
    assert Thresholds.from_json(thresholds.to_json()) == thresholds


def test_profiles_beyond_capacity_warn(windows: dict[str, pd.DataFrame]) -> None:
    everyone = ProfileSet(
        [
            parse_profile(
                _profile("ALL", "red", [{"field": "customs_value", "op": "gt", "value": 0}])
            )
        ]
    )
    thresholds = calibrate_thresholds(
        windows["past_scores"].head(5000), windows["past"].head(5000), POLICY, everyone
    )
    assert thresholds.warnings and "exceed the target" in thresholds.warnings[0]
    assert thresholds.fallback.red == float("inf")


def test_calibration_rejects_misaligned_frames(windows: dict[str, pd.DataFrame]) -> None:
    with pytest.raises(ValueError, match="differ"):
        calibrate_thresholds(windows["past_scores"].head(10), windows["past"].head(11), POLICY)


def test_generated_world_if_available() -> None:
    """On the project's synthetic world: calibrate on the first year, decide the second."""
    generator = pytest.importorskip("customs_risk.data.generator")
    world_config = pytest.importorskip("customs_risk.data.world_config")
    world = generator.generate_world(world_config.WorldConfig(), 400_000, 3)
    decl = world.declarations.sort_values("declared_at", kind="stable").reset_index(drop=True)
    scores = heuristic_scores(decl, seed=3)
    half = len(decl) // 2
    past, later = decl.iloc[:half], decl.iloc[half:].reset_index(drop=True)
    policy = ChannelPolicy(version="world", offices={"OFC014": {"red": 0.08, "orange": 0.1}})
    thresholds = calibrate_thresholds(scores.iloc[:half], past, policy)
    out = decide(later, scores.iloc[half:].reset_index(drop=True), policy, thresholds, None, seed=1)
    checked = 0
    for office, row in _shares(out).iterrows():
        n = int((out["office_id"] == office).sum())
        if n < 5000:
            continue
        checked += 1
        for channel in ("red", "orange"):
            target = getattr(policy.shares_for(str(office)), channel)
            tol = max(0.005, 4 * math.sqrt(2 * target * (1 - target) / n))
            assert abs(row.get(channel, 0.0) - target) <= tol, (office, channel, row[channel], n)
    assert checked >= 3
    free = out[out["selected_by"] != "profile"]
    for channel, share in (("red", 0.005), ("orange", 0.01)):
        observed = ((free["selected_by"] == "random") & (free["channel"] == channel)).mean()
        assert abs(observed - share) <= 4 * math.sqrt(share * (1 - share) / len(free))
    inspected = out["channel"] != "green"
    for p, group in inspected.groupby(out["propensity"].round(12)):
        assert abs(group.mean() - p) <= 4 * math.sqrt(max(p * (1 - p), 1e-12) / len(group)) + 1e-12


# --- calibration window, daily refresh and pacing -------------------------------------------------

DRIFT_DAYS, DRIFT_ROWS_PER_DAY = 56, 2000  # two offices of ~1,000 rows a day


@pytest.fixture(scope="module")
def drifting() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two offices over 56 days; OF-NORTH's scores rise by 3% a day (importer mix moving to
    riskier traders), OF-PORT's are stable."""
    decl = synthetic_declarations(
        DRIFT_DAYS * DRIFT_ROWS_PER_DAY, seed=4, days=DRIFT_DAYS, office_weights=(0.5, 0.5, 0, 0)
    )
    scores = heuristic_scores(decl, seed=4)
    day = (decl["declared_at"] - decl["declared_at"].min()).dt.days.to_numpy()
    north = (decl["office_id"] == "OF-NORTH").to_numpy()
    fp = scores["fraud_probability"].to_numpy() * np.where(north, np.exp(0.03 * day), 1.0)
    scores["fraud_probability"] = np.minimum(fp, 1.0)
    return decl, scores


def _period_errors(out: pd.DataFrame, policy: ChannelPolicy) -> dict[str, float]:
    errors = {}
    for office, row in _shares(out).iterrows():
        target = policy.shares_for(str(office))
        errors[str(office)] = max(
            abs(row.get("red", 0.0) - target.red), abs(row.get("orange", 0.0) - target.orange)
        )
    return errors


def test_daily_refresh_with_pacing_meets_targets_under_drift(
    drifting: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    """Calibrating once on the past 4 weeks misses a drifting office's targets in the next 4
    weeks (13 pp); the daily refresh on the last 7 days still misses (1.7 pp), and meets them
    (0.15 pp) when paced by what the period has selected so far."""
    decl, scores = drifting
    policy = ChannelPolicy(version="drift")
    day = decl["declared_at"].dt.normalize()
    start = day.min() + pd.Timedelta(days=28)
    past = (day < start).to_numpy()
    later = ~past

    static = calibrate_thresholds(scores[past], decl[past], policy)
    out = decide(
        decl[later].reset_index(drop=True),
        scores[later].reset_index(drop=True),
        policy,
        static,
        None,
        seed=3,
    )
    before = _period_errors(out, policy)
    assert before["OF-NORTH"] > 0.02  # the old way: many points off
    assert before["OF-PORT"] <= 0.005  # stable office fine either way

    after = {}
    for pacing in (False, True):
        outs: list[pd.DataFrame] = []
        for k in range(DRIFT_DAYS - 28):
            today = (day == start + pd.Timedelta(days=k)).to_numpy()
            seen = (day < start + pd.Timedelta(days=k)).to_numpy()
            thresholds = refresh_thresholds(
                scores[seen].reset_index(drop=True),
                decl[seen].reset_index(drop=True),
                policy,
                window_days=7,
                decided=pd.concat(outs, ignore_index=True) if outs and pacing else None,
            )
            assert thresholds.window_days == 7 and thresholds.n_rows < 8 * DRIFT_ROWS_PER_DAY
            outs.append(
                decide(
                    decl[today].reset_index(drop=True),
                    scores[today].reset_index(drop=True),
                    policy,
                    thresholds,
                    None,
                    seed=3,
                )
            )
        after[pacing] = _period_errors(pd.concat(outs, ignore_index=True), policy)
    # a recent window alone still lags the drift by half its length; pacing closes the gap
    assert after[False]["OF-NORTH"] > 0.005, after
    assert max(after[True].values()) <= 0.005, after


def test_pacing_moves_targets_against_the_period_so_far() -> None:
    policy = ChannelPolicy(version="pace")  # red 5%, orange 15%, random 0.5% / 1%
    channels = ["red"] * 10 + ["orange"] * 15 + ["green"] * 75  # A: red 10%, orange 15%
    channels += ["red"] * 40 + ["green"] * 60  # B: red 40%, orange 0%
    decided = pd.DataFrame({"office_id": ["A"] * 100 + ["B"] * 100, "channel": channels})
    targets = paced_targets(policy, decided, {"A": 100.0, "B": 100.0}, horizon_days=3)
    # A: red 0.05 + (5 - 10) / 300; orange on target, unchanged
    assert targets["A"].red == pytest.approx(0.05 - 5 / 300)
    assert targets["A"].orange == pytest.approx(0.15)
    # B: red 0.05 - 35 / 300 bounded to -50% of the target; orange 0.15 + 15 / 300
    assert targets["B"].red == pytest.approx(0.025)
    assert targets["B"].orange == pytest.approx(0.2)
    assert targets["B"].random_red == policy.shares.random_red
    assert paced_targets(policy, decided.head(0), {}, 3) == {}
    with pytest.raises(ValueError, match="horizon_days"):
        paced_targets(policy, decided, {}, 0)


def test_paced_thresholds_record_targets_and_stay_on_policy_without_decisions(
    drifting: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    decl, scores = drifting
    policy = ChannelPolicy(version="drift")
    plain = refresh_thresholds(scores, decl, policy, window_days=7)
    assert plain == calibrate_thresholds(scores, decl, policy, window_days=7).model_copy(
        update={"horizon_days": 3.0}
    )
    assert plain.offices["OF-NORTH"].target_red is None
    last_day = decl["declared_at"].max() - pd.Timedelta(days=7)
    assert plain.window_start is not None and plain.window_start > last_day
    over = pd.DataFrame(
        {"office_id": ["OF-NORTH"] * 1000, "channel": ["red"] * 100 + ["green"] * 900}
    )
    paced = refresh_thresholds(scores, decl, policy, window_days=7, decided=over)
    north = paced.offices["OF-NORTH"]
    assert north.target_red is not None and north.target_red < policy.shares.red
    assert north.red > plain.offices["OF-NORTH"].red  # fewer reds: a higher red threshold
    assert paced.offices["OF-PORT"] == plain.offices["OF-PORT"]


def test_thresholds_json_without_new_fields_still_loads(
    windows: dict[str, pd.DataFrame],
) -> None:
    thresholds = calibrate_thresholds(
        windows["past_scores"].head(5000), windows["past"].head(5000), POLICY
    )
    data = thresholds.to_dict()
    for key in ("window_days", "horizon_days"):
        data.pop(key)
    for office in [*data["offices"].values(), data["fallback"]]:
        office.pop("target_red")
        office.pop("target_orange")
    assert Thresholds.from_dict(data) == thresholds
    with pytest.raises(ValueError, match="window_days"):
        calibrate_thresholds(
            windows["past_scores"].head(10), windows["past"].head(10), POLICY, window_days=0
        )
