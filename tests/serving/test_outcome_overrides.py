"""Overrides in the outcome contract: the channel applied (``channel``), the recommendation the
officer did not follow (``recommended_channel``) and why (``override_reason``); the rule between
them in the contract, the store (so ``POST /outcomes``), the API model and migration 0003."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from pydantic import ValidationError

from customs_risk.data.contracts import outcome_rule_violations
from customs_risk.serving.schemas import Outcome
from customs_risk.serving.store import OutcomeRejected, Store

from .conftest import make_outcomes

REASON = "documents sufficient"


@pytest.mark.parametrize(
    ("recommended", "reason", "refused"),
    [
        (None, None, False),  # the recommendation applied (or unknown)
        ("red", REASON, False),  # an override with its reason
        ("red", None, False),  # an override whose reason the source does not give
        ("orange", None, False),  # same as applied: no override, harmless
        (None, REASON, True),  # a reason for no override
        ("orange", REASON, True),  # a reason though the recommendation was applied
    ],
)
def test_the_override_rule(recommended: str | None, reason: str | None, refused: bool) -> None:
    rows = make_outcomes(3).assign(channel="orange")
    rows["recommended_channel"] = pd.Series([None, recommended, None], dtype="str")
    rows["override_reason"] = pd.Series([None, reason, None], dtype="str")
    problems = outcome_rule_violations(rows)
    assert [(p.row, p.field) for p in problems] == ([(1, "override_reason")] if refused else [])
    if refused:
        assert "recommended_channel" in problems[0].reason


def test_the_store_refuses_a_reason_without_an_override_and_keeps_the_others(
    store_url: str,
) -> None:
    records = make_outcomes(6).assign(channel="orange").to_dict(orient="records")
    records[2].update(recommended_channel="red", override_reason=REASON)
    records[4].update(recommended_channel=None, override_reason=REASON)
    with Store(store_url) as store:
        with pytest.raises(OutcomeRejected) as err:
            store.add_outcomes(records, check_decided=False)
        assert (err.value.row, err.value.field) == (4, "override_reason")
        assert store.counts()["outcomes"] == 0
        records[4]["override_reason"] = None
        assert store.add_outcomes(records, check_decided=False)["inserted"] == 6
        back = store.outcomes_frame().sort_values(["declaration_id", "item_no"])
    row = back.reset_index(drop=True).iloc[2]
    assert (row["channel"], row["recommended_channel"], row["override_reason"]) == (
        "orange",
        "red",
        REASON,
    )
    assert back["override_reason"].notna().sum() == 2  # and make_outcomes' own (row 1)


def test_the_api_model_checks_the_fields() -> None:
    body = {
        "declaration_id": "D1",
        "item_no": 1,
        "channel": "orange",
        "result_at": "2024-01-01T00:00:00",
        "fraud_found": False,
        "critical": False,
    }
    Outcome.model_validate({**body, "recommended_channel": "red", "override_reason": REASON})
    with pytest.raises(ValidationError, match="recommended_channel"):
        Outcome.model_validate({**body, "recommended_channel": "blue"})
    with pytest.raises(ValidationError, match="override_reason"):
        Outcome.model_validate({**body, "recommended_channel": "red", "override_reason": "x" * 201})


def test_a_store_of_revision_0002_gains_the_columns(tmp_path: Path) -> None:
    import sqlalchemy as sa
    from alembic import command
    from alembic.config import Config

    from customs_risk.serving.store import MIGRATIONS

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = Store(url).engine
    with engine.begin() as conn:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = conn
        command.upgrade(config, "0002")
        conn.execute(
            sa.text(
                "INSERT INTO outcomes (declaration_id, item_no, channel, result_at, fraud_found,"
                " critical, received_at) VALUES ('OLD1', 1, 'red', :t, false, false, :t)"
            ),
            {"t": "2025-01-02 08:00:00"},
        )
    with Store(url) as store:
        back = store.outcomes_frame()
        assert back["declaration_id"].tolist() == ["OLD1"]
        assert back[["recommended_channel", "override_reason"]].isna().all().all()
        with store.engine.begin() as conn:
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS))
            config.attributes["connection"] = conn
            command.downgrade(config, "0002")
            columns = {c["name"] for c in sa.inspect(conn).get_columns("outcomes")}
    assert "recommended_channel" not in columns and "declaration_id" in columns
