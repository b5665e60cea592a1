"""Store fixtures: a fresh SQLite file, or a fresh PostgreSQL database when a server is given.

PostgreSQL: ``CUSTOMS_RISK_TEST_POSTGRES_URL`` (a ``postgresql+psycopg://`` URL of a role that
may create databases; ``.ci/run`` sets one up). Each test gets its own database, dropped after.
Without it those tests skip, and the terminal summary says how many and how to run them.

``served``: the session's registered model as champion, imported into a temporary BentoML store
(for the tests that serve it).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

PG_ENV = "CUSTOMS_RISK_TEST_POSTGRES_URL"
PG_SKIP = f"PostgreSQL tests need {PG_ENV} (a server; .ci/run sets one up)"
BACKENDS = ["sqlite", "postgresql"]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line when PostgreSQL tests were skipped: how many, and how to run them."""
    skipped = [r for r in terminalreporter.stats.get("skipped", []) if PG_SKIP in str(r.longrepr)]
    if skipped:
        terminalreporter.write_line(
            f"{len(skipped)} PostgreSQL test{'s' if len(skipped) != 1 else ''} skipped: run them "
            f"with {PG_ENV}=postgresql+psycopg://USER:PASSWORD@HOST:5432/DB (a role that may "
            "create databases; each test gets its own); .ci/run sets one up",
            yellow=True,
        )


def _postgres_url() -> Iterator[str]:
    admin_url = os.environ.get(PG_ENV)
    if not admin_url:
        pytest.skip(PG_SKIP)
    name = f"customs_risk_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        yield sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty store: a SQLite file in tmp_path, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store' / 'outcomes.db'}"
    else:
        yield from _postgres_url()


def make_outcomes(n: int, start: int = 0) -> pd.DataFrame:
    """n contract-valid outcome rows, keys numbered start.. start+n-1; values a function of key."""
    ids = np.arange(start, start + n, dtype=np.int64)
    fraud = ids * 2654435761 % 97 < 20
    override = (ids % 3 == 1) & (ids % 7 == 1)
    return pd.DataFrame(
        {
            "declaration_id": pd.Series([f"DEC{i // 3:09d}" for i in ids], dtype="str"),
            "item_no": (ids % 3 + 1).astype("int64"),
            "channel": pd.Series(np.array(["red", "orange", "green"])[ids % 3], dtype="str"),
            "result_at": (
                pd.Timestamp("2024-01-01") + pd.to_timedelta(ids * 3600, unit="s")
            ).astype("datetime64[ns]"),
            "fraud_found": fraud,
            "fraud_type": pd.Series(np.where(fraud, "undervaluation", "none"), dtype="str"),
            "critical": fraud & (ids % 2 == 0),
            "recovered_revenue": np.where(fraud, ids * 7919 % 100_000 / 100, 0.0),
            "source": pd.Series([None] * n, dtype="str"),
            # some items the system cleared green an officer examined (orange)
            "recommended_channel": pd.Series(np.where(override, "green", None), dtype="str"),
            "override_reason": pd.Series(
                np.where(override, "officer's suspicion", None), dtype="str"
            ),
        }
    )


@pytest.fixture
def outcomes() -> Callable[..., pd.DataFrame]:
    """The make_outcomes factory."""
    return make_outcomes


def cli() -> str:
    """The ``customs-risk`` executable of this environment."""
    return str(Path(sys.executable).with_name("customs-risk"))


@pytest.fixture(scope="session")
def served(trained, small_world: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The session's registered model as champion, imported into a temporary BentoML store."""
    import mlflow

    tmp = tmp_path_factory.mktemp("serving")
    world = small_world
    ms = trained.settings
    mlflow.set_tracking_uri(ms.uri)
    mlflow.MlflowClient().set_registered_model_alias(
        ms.model_name, "champion", trained.result.version
    )
    result = trained.result
    env = {
        "BENTOML_HOME": str(tmp / "bentoml"),
        "CUSTOMS_RISK_MLFLOW_URI": ms.uri,
        "CUSTOMS_RISK_MLFLOW_ARTIFACT_ROOT": ms.artifact_root,
    }
    out = subprocess.run(
        [cli(), "import-model", "--alias", "champion"],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
        text=True,
    )
    return {
        "tmp": tmp,
        "world": world,
        "env": env,
        "tag": out.stdout.strip().splitlines()[-1],
        "version": result.version,
        "bundle": result,
    }


def json_declarations(world: Path, n: int, prefix: str) -> list[dict[str, Any]]:
    """The world's last ``n`` declarations, re-dated after the model's state (30 s apart from
    2025-06-01 08:00), ids ``prefix`` + number, as JSON records."""
    frame = pd.read_parquet(world / "declarations.parquet").tail(n).reset_index(drop=True)
    start = pd.Timestamp("2025-06-01 08:00:00")
    frame["declared_at"] = start + pd.to_timedelta(np.arange(len(frame)) * 30, unit="s")
    frame["declaration_id"] = [f"{prefix}{i:07d}" for i in range(len(frame))]
    frame["item_no"] = 1
    records = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
    for r in records:
        r["declared_at"] = r["declared_at"].isoformat()
    return records
