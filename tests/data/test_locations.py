"""Relative SQLite URLs and folders resolve against one project root (data.locations), from any
current directory; outside a project a URL whose file does not exist is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from customs_risk.cli import app
from customs_risk.data.locations import (
    ROOT_ENV,
    UnresolvedLocation,
    project_root,
    resolve_folder,
    resolve_sqlite_url,
)

runner = CliRunner()


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder (pyproject.toml) with a subfolder as the current directory."""
    for name in (ROOT_ENV, "CUSTOMS_RISK_MLFLOW_URI", "CUSTOMS_RISK_MLFLOW_ARTIFACT_ROOT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("CUSTOMS_RISK_STORE_URL", raising=False)
    monkeypatch.delenv("CUSTOMS_RISK_STORE_PATH", raising=False)
    root = tmp_path / "proj"
    (root / "notebooks" / "deep").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    monkeypatch.chdir(root / "notebooks" / "deep")
    return root


@pytest.fixture
def nowhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A current directory with no project root above it."""
    for name in (ROOT_ENV, "CUSTOMS_RISK_MLFLOW_URI", "CUSTOMS_RISK_STORE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("CUSTOMS_RISK_STORE_PATH", raising=False)
    here = tmp_path / "elsewhere"
    here.mkdir()
    if project_root(here) is not None:
        pytest.skip(f"a project root above {here}")
    monkeypatch.chdir(here)
    return here


def test_relative_urls_resolve_against_the_project_root(project: Path) -> None:
    assert project_root() == project
    assert resolve_sqlite_url("sqlite:///mlflow.db") == f"sqlite:///{project / 'mlflow.db'}"
    url = resolve_sqlite_url("sqlite+pysqlite:///data/s.db?timeout=5")
    assert url == f"sqlite+pysqlite:///{project / 'data' / 's.db'}?timeout=5"
    assert resolve_folder("mlartifacts") == project / "mlartifacts"
    for same in ("sqlite:////abs/x.db", "sqlite://", "sqlite:///:memory:", "postgresql://h/db"):
        assert resolve_sqlite_url(same) == same


def test_dvc_yaml_marks_a_root_and_the_variable_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ROOT_ENV, raising=False)
    (tmp_path / "pipe" / "sub").mkdir(parents=True)
    (tmp_path / "pipe" / "dvc.yaml").write_text("stages: {}\n")
    assert project_root(tmp_path / "pipe" / "sub") == tmp_path / "pipe"
    monkeypatch.setenv(ROOT_ENV, str(tmp_path / "chosen"))
    assert project_root(tmp_path / "pipe" / "sub") == tmp_path / "chosen"
    url = resolve_sqlite_url("sqlite:///m.db", start=tmp_path)
    assert url == f"sqlite:///{tmp_path / 'chosen' / 'm.db'}"


def test_settings_defaults_are_the_project_roots(project: Path) -> None:
    from customs_risk.models.tracking import MlflowSettings
    from customs_risk.serving.store import Store, StoreSettings

    settings = MlflowSettings()
    assert settings.uri == f"sqlite:///{project / 'mlflow.db'}"
    assert settings.artifact_root == str(project / "mlartifacts")
    url = f"sqlite:///{project / 'data' / 'store' / 'outcomes.db'}"
    assert StoreSettings().resolved_url() == url
    with Store("sqlite:///data/store/other.db") as store:
        assert store.url == f"sqlite:///{project / 'data' / 'store' / 'other.db'}"
        store.create()
    assert (project / "data" / "store" / "other.db").exists()
    assert not (Path.cwd() / "data").exists()


def test_outside_a_project_a_missing_file_is_refused(nowhere: Path) -> None:
    from customs_risk.models.tracking import MlflowSettings
    from customs_risk.serving.store import StoreSettings

    with pytest.raises(UnresolvedLocation, match=str(nowhere / "mlflow.db")):
        MlflowSettings()
    with pytest.raises(FileNotFoundError, match="CUSTOMS_RISK_STORE_PATH"):
        StoreSettings().resolved_url()
    (nowhere / "mine.db").write_bytes(b"")
    assert resolve_sqlite_url("sqlite:///mine.db") == f"sqlite:///{nowhere / 'mine.db'}"
    assert not (nowhere / "mlflow.db").exists()


def test_cli_outside_a_project_names_the_file_and_creates_nothing(nowhere: Path) -> None:
    result = runner.invoke(app, ["promote", "--to", "2"])
    assert result.exit_code == 2, result.output
    assert "would create" in result.output and "mlflow.db" in result.output
    assert list(nowhere.iterdir()) == []
    result = runner.invoke(app, ["outcomes", "export", "--out", str(nowhere / "out")])
    assert result.exit_code == 2, result.output
    assert "outcomes.db" in result.output
    assert list(nowhere.iterdir()) == []


def test_cli_from_a_subfolder_uses_the_project_store(project: Path) -> None:
    from customs_risk.serving.store import Store

    rows = [
        {
            "declaration_id": f"D{i}",
            "item_no": 1,
            "channel": "red",
            "result_at": "2025-01-02T00:00:00",
            "fraud_found": False,
            "fraud_type": "none",
            "critical": False,
            "recovered_revenue": 0.0,
        }
        for i in range(7)
    ]
    with Store(f"sqlite:///{project / 'data' / 'store' / 'outcomes.db'}") as store:
        store.add_outcomes(rows, check_decided=False)
    result = runner.invoke(app, ["outcomes", "export", "--out", str(project / "out")])
    assert result.exit_code == 0, result.output
    assert "outcomes   7" in result.output
    assert not (Path.cwd() / "data").exists()
