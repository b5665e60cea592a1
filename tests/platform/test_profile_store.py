"""The profile life cycle in the store without a browser: import, four eyes, what the service
applies."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from customs_risk.platform import profiles
from customs_risk.platform.auth import AuthError, User
from customs_risk.serving.profile_store import active_profiles, profiles_stamp
from customs_risk.serving.store import Store

ROOT = Path(__file__).resolve().parents[2]


def test_import_then_four_eyes_then_active(tmp_path: Path, small_world: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    cli = str(Path(sys.executable).with_name("customs-risk"))
    for _ in range(2):  # a second import is a second version, not a duplicate
        done = subprocess.run(
            [cli, "profiles", "import", str(ROOT / "profiles" / "world"), "--actor", "ann"],
            env={**os.environ, "CUSTOMS_RISK_STORE_URL": url},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
    store = Store(url)
    engine = store.engine
    rows = profiles.versions(engine, "RP-WORLD-001")
    assert [r["version"] for r in rows] == [2, 1] and {r["status"] for r in rows} == {"draft"}
    ann, sam = User("ann", "analyst", "HQ"), User("sam", "supervisor", "HQ")
    declarations = pd.read_parquet(small_world / "declarations.parquet")
    outcomes = pd.read_parquet(small_world / "outcomes.parquet")
    with pytest.raises(profiles.LifeCycleError, match="cannot become submitted"):
        profiles.submit(engine, ann, "RP-WORLD-001")  # not tested yet
    figures = profiles.record_test(engine, ann, "RP-WORLD-001", declarations, outcomes)
    assert figures["window_items"] > 0
    profiles.submit(engine, ann, "RP-WORLD-001")
    with pytest.raises(AuthError, match="analyst cannot approve"):
        profiles.approve(engine, ann, "RP-WORLD-001")
    with pytest.raises(AuthError, match="four eyes"):
        profiles.approve(engine, User("ann", "supervisor", "HQ"), "RP-WORLD-001")
    before = profiles_stamp(engine)
    assert list(active_profiles(engine)) == []
    profiles.approve(engine, sam, "RP-WORLD-001")
    assert [p.id for p in active_profiles(engine)] == ["RP-WORLD-001"]
    assert profiles_stamp(engine) != before
    assert "RP-WORLD-001" in profiles.export_yaml(engine)
    profiles.retire(engine, sam, "RP-WORLD-001")
    assert list(active_profiles(engine)) == []
    # what a worker applies: the folder's RP-WORLD-002 (only drafted in the store) stays; the
    # folder's RP-WORLD-001 does not come back once the store retired it
    from customs_risk.selection.profiles import load_profiles
    from customs_risk.serving.profile_store import held_ids
    from customs_risk.serving.store_profiles import StoreProfiles

    folder = load_profiles(ROOT / "profiles" / "world")
    follow = StoreProfiles(engine, folder, {}, check_seconds=0)
    applied = follow.combined(active_profiles(engine), held_ids(engine))
    assert [p.id for p in applied] == ["RP-WORLD-002"]
