"""The daily threshold refresh: scores recent declarations with the registered model and paces
each office by what the capacity period selected so far (real MLflow store, real SQLite store)."""

from __future__ import annotations

import datetime as dt
import warnings
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from customs_risk.cli import app
from customs_risk.selection.thresholds import Thresholds
from customs_risk.serving.store import Store
from customs_risk.serving.thresholds_refresh import read_declarations, refresh_served_thresholds

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def window(small_world: Path) -> tuple[pd.DataFrame, dt.date, str]:
    """The world's declarations, the day after them and the busiest office of the last 28 days."""
    declarations = read_declarations(small_world)
    stamps = pd.to_datetime(declarations["declared_at"])
    as_of = (stamps.max() + pd.Timedelta(days=1)).date()
    recent = declarations[(stamps >= pd.Timestamp(as_of) - pd.Timedelta(days=28)).to_numpy()]
    return declarations, as_of, str(recent["office_id"].value_counts().index[0])


def _refresh(trained, declarations, store: Store, as_of: dt.date):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # window rows precede the state's as_of
        return refresh_served_thresholds(
            declarations,
            store,
            trained.settings,
            alias="challenger",
            as_of=as_of,
            period_start=as_of - dt.timedelta(days=10),
        )


def test_an_office_that_selected_too_much_gets_a_higher_red_threshold(
    trained, window, tmp_path: Path
) -> None:
    declarations, as_of, office = window
    with Store(f"sqlite:///{tmp_path / 'store.db'}") as store:
        before = _refresh(trained, declarations, store, as_of)
        assert before.decided_rows == 0
        policy_red = before.thresholds.offices[office].target_red
        # this office sent 40 % of its items red since the period started; another office's
        # decisions and decisions of an earlier period must not count for it
        day = dt.datetime.combine(as_of - dt.timedelta(days=2), dt.time(9))
        rows = [
            {
                "decided_at": day,
                "declaration_id": f"P{i}",
                "item_no": 1,
                "office_id": office,
                "channel": "red" if i % 5 < 2 else "green",
            }
            for i in range(500)
        ]
        rows.append({**rows[0], "declaration_id": "OLD", "decided_at": day - dt.timedelta(30)})
        store.add_decision_records(rows)
        after = _refresh(trained, declarations, store, as_of)
    assert after.decided_rows == 500
    paced, unpaced = after.thresholds.offices[office], before.thresholds.offices[office]
    assert policy_red is None and paced.target_red is not None
    assert paced.red > unpaced.red
    assert after.thresholds.policy_version == before.thresholds.policy_version


def test_cli_writes_thresholds_the_service_can_load(trained, window, small_world, tmp_path) -> None:
    _, as_of, _ = window
    out = tmp_path / "served" / "thresholds.json"
    env = {
        "CUSTOMS_RISK_MLFLOW_URI": trained.settings.uri,
        "CUSTOMS_RISK_MLFLOW_ARTIFACT_ROOT": trained.settings.artifact_root,
    }
    args = ["thresholds", "refresh", "--declarations", str(small_world), "--out", str(out)]
    args += ["--alias", "challenger", "--as-of", as_of.isoformat()]
    args += ["--store-url", f"sqlite:///{tmp_path / 'store.db'}"]
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    loaded = Thresholds.load(out)
    assert loaded.offices and f"for {as_of}" in result.output
    assert not list(out.parent.glob(".*.tmp"))  # written atomically

    missing = CliRunner().invoke(app, [*args[:3], str(tmp_path / "nothing"), *args[4:]], env=env)
    assert missing.exit_code == 2 and "no declarations file" in missing.output
    late_args = [a if a != as_of.isoformat() else "2099-01-01" for a in args]
    late = CliRunner().invoke(app, late_args, env=env)
    assert late.exit_code == 2 and "no declarations in the 28 days before" in late.output
