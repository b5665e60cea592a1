"""Shared fixtures for the decision-engine tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from customs_risk.selection.profiles import ProfileSet, parse_profile

BASE_PROFILE: dict[str, Any] = {
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


def _make_profile(**fields: Any) -> dict[str, Any]:
    return BASE_PROFILE | fields


def _profile_set(*mappings: dict[str, Any]) -> ProfileSet:
    return ProfileSet(parse_profile(m) for m in mappings)


@pytest.fixture
def make_profile() -> Callable[..., dict[str, Any]]:
    """A valid profile mapping with the given fields replaced."""
    return _make_profile


@pytest.fixture
def profile_set() -> Callable[..., ProfileSet]:
    """Parse profile mappings into a ProfileSet."""
    return _profile_set


@pytest.fixture
def write_profile(tmp_path: Path) -> Callable[..., Path]:
    """Write a profile mapping (or raw text) to a YAML file in a temporary folder."""
    folder = tmp_path / "profiles"
    folder.mkdir()

    def write(name: str, content: dict[str, Any] | str) -> Path:
        path = folder / name
        text = content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False)
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def small_batch() -> pd.DataFrame:
    """A hand-made batch covering the operators' edge cases."""
    return pd.DataFrame(
        {
            "declaration_id": pd.Series(["D1", "D2", "D3", "D4", "D5"], dtype="str"),
            "item_no": [1, 1, 2, 1, 1],
            "declared_at": pd.to_datetime(
                ["2025-01-10", "2025-02-10", "2025-03-10", "2025-04-10", "2025-05-10"]
            ),
            "office_id": pd.Series(["A", "A", "B", "B", "C"], dtype="str"),
            "importer_id": pd.Series(["I1", "I2", "I3", "I1", None], dtype="str"),
            "hs_code": pd.Series(["85171200", "851713", "870323", "610910", "8517"], dtype="str"),
            "origin_country": pd.Series(["CN", "VN", "NO", "CN", None], dtype="str"),
            "transport_mode": pd.Series(["air", "sea", "sea", "road", "air"], dtype="str"),
            "quantity": [10.0, 0.0, 5.0, None, 2.0],
            "net_mass_kg": [1.0, 2.0, 3.0, 4.0, 5.0],
            "customs_value": [100.0, 200.0, 3000.0, 50.0, 10.0],
            "tariff_rate": [0.0, 5.0, 10.0, 12.0, float("nan")],
        }
    )
