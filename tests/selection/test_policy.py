"""Channel policy: shares, overrides, ranking key, grade factors, loading."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from pydantic import ValidationError

from customs_risk.selection.policy import ChannelPolicy


def test_office_override_merges_with_global() -> None:
    policy = ChannelPolicy(offices={"AIR": {"red": 0.1, "random_red": 0.02}})
    air = policy.shares_for("AIR")
    assert (air.red, air.orange, air.random_red, air.random_orange) == (0.1, 0.15, 0.02, 0.01)
    assert policy.shares_for("PORT") == policy.shares
    arrays = policy.share_arrays(pd.Series(["AIR", "PORT", None], dtype="str"))
    assert arrays["red"].tolist() == [0.1, 0.05, 0.05]
    assert arrays["random_red"].tolist() == [0.02, 0.005, 0.005]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"shares": {"red": 0.6, "orange": 0.5}},
        {"shares": {"red": 0.01, "random_red": 0.02}},
        {"offices": {"AIR": {"random_orange": 0.5}}},
        {"grade_factors": {"A": 0.0}},
        {"ranking": "profit"},
        {"unknown_key": 1},
    ],
)
def test_invalid_policies_refused(kwargs: dict) -> None:
    with pytest.raises(ValidationError):
        ChannelPolicy(**kwargs)


def test_ranking_keys_and_grade_factors() -> None:
    scores = pd.DataFrame(
        {
            "fraud_probability": [0.2, 0.4, np.nan],
            "expected_revenue": [100.0, 10.0, 5.0],
            "trader_grade": pd.Series(["A", "D", None], dtype="str"),
        }
    )
    decl = pd.DataFrame({"office_id": ["X", "X", "X"]})
    fp = ChannelPolicy(ranking="fraud_probability")
    np.testing.assert_allclose(fp.adjusted_score(scores, decl, 1.0), [0.1, 0.8, np.nan])
    er = ChannelPolicy(ranking="expected_revenue", grade_factors={})
    np.testing.assert_allclose(er.adjusted_score(scores, decl, 1.0), [100.0, 10.0, 5.0])
    blend = ChannelPolicy(ranking="blend", blend_weight=0.25, grade_factors={"A": 1.0, "D": 1.0})
    np.testing.assert_allclose(
        blend.adjusted_score(scores, decl, 50.0), [0.05 + 1.5, 0.1 + 0.15, np.nan]
    )
    # the grade may come from the declarations when the scores do not carry it
    decl_graded = decl.assign(trader_grade=pd.Series(["C", "B", "Z"], dtype="str"))
    only_fp = scores.drop(columns="trader_grade")
    np.testing.assert_allclose(fp.adjusted_score(only_fp, decl_graded, 1.0), [0.3, 0.4, np.nan])


def test_from_yaml_whole_file_and_params_section(tmp_path: Path) -> None:
    body = {"version": "2025.06", "shares": {"red": 0.03, "orange": 0.1}, "default_channel": "red"}
    whole = tmp_path / "policy.yaml"
    whole.write_text(yaml.safe_dump(body))
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"train": {"seed": 1}, "channel_policy": body}))
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump({"selection": body}))
    for policy in (
        ChannelPolicy.from_yaml(whole),
        ChannelPolicy.from_yaml(params),
        ChannelPolicy.from_yaml(other, section="selection"),
    ):
        assert policy.version == "2025.06" and policy.shares.red == 0.03
        assert policy.default_channel == "red"
    assert ChannelPolicy.model_validate(policy.to_dict()) == policy
    with pytest.raises(ValueError, match="no section"):
        ChannelPolicy.from_yaml(other, section="missing")
