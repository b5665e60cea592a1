"""What the platform reads besides the store: the dataset folder behind its dashboards, profile
tests and enquiries (loaded once per process), and the dashboards' sections per scope and period
(cached: a district's page is built once, then served from memory)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from customs_risk.evaluation.report_page import Section

_LOCK = threading.Lock()


@dataclass(frozen=True)
class Dataset:
    """Declarations (with district_id) and outcomes of the platform's folder."""

    folder: Path
    declarations: pd.DataFrame
    outcomes: pd.DataFrame
    districts: list[str]
    mapping: pd.DataFrame | None  # office_id -> district_id (units.read_districts)

    def district_of_office(self, office_id: str) -> str:
        from customs_risk.evaluation.units import district_of

        return str(district_of(pd.Series([office_id]), self.mapping)[0])

    def district_of_declaration(self, declaration_id: str) -> str | None:
        rows = self.declarations[self.declarations["declaration_id"] == declaration_id]
        return None if rows.empty else str(rows["district_id"].iloc[0])


@lru_cache(maxsize=4)
def dataset(folder: Path) -> Dataset:
    """The folder's data, validated as training data is."""
    from customs_risk.evaluation.units import read_districts, with_levels
    from customs_risk.models.dataset import load_training_data

    declarations, outcomes = load_training_data(folder)
    mapping = read_districts(folder)
    declarations = with_levels(declarations, mapping)
    districts = sorted(declarations["district_id"].astype("str").unique())
    return Dataset(folder, declarations, outcomes, districts, mapping)


@lru_cache(maxsize=4)
def references(folder: Path) -> pd.DataFrame:
    """The dataset's reference-price table (``evaluation.tariff.reference_table``)."""
    from customs_risk.evaluation.tariff import reference_table

    return reference_table(dataset(folder).declarations)


@lru_cache(maxsize=4)
def suspects(folder: Path) -> Any:
    """The dataset's suspects ranking (evidence rows for the first 200)."""
    from customs_risk.evaluation.tariff import rank_suspects

    data = dataset(folder)
    return rank_suspects(data.declarations, data.outcomes, evidence_top=200)


@lru_cache(maxsize=64)
def _sections(
    folder: Path,
    district: str | None,
    level: str,
    date_from: str | None,
    date_to: str | None,
    profile_paths: tuple[Path, ...],
    store_profiles: str,
) -> tuple[Section, ...]:
    import yaml

    from customs_risk.evaluation.report_build import ReportOptions, build_sections, load_inputs
    from customs_risk.selection.profiles import parse_profile

    extra = tuple(parse_profile(doc, "store") for doc in yaml.safe_load_all(store_profiles) if doc)
    options = ReportOptions(
        data=folder,
        date_from=date_from,
        date_to=date_to,
        level=level,
        district=district,
        resamples=200,
        profiles=tuple(p for p in profile_paths if p.exists()),
        extra_profiles=extra,
    )
    inputs = load_inputs(options)
    sections, _ = build_sections(inputs, options, lambda _name: None)
    return tuple(sections)


def dashboard_sections(
    folder: Path,
    district: str | None,
    level: str,
    date_from: str | None,
    date_to: str | None,
    profile_paths: tuple[Path, ...] = (),
    store_profiles: str = "",
) -> dict[str, Any]:
    """The report's sections for one scope and period, by id (one build at a time: two
    requests for the same page wait for one computation); ``store_profiles``: the store's
    active profiles as YAML (a change of them is a new cache key)."""
    with _LOCK:
        sections = _sections(
            folder,
            district,
            level,
            date_from or None,
            date_to or None,
            profile_paths,
            store_profiles,
        )
    return {s.id: s for s in sections}
