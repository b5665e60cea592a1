"""The analysts' report, assembled: its sections (pages) and tables from a dataset folder (a
store export, a generated world, an imported data set such as KCS), for ``customs-risk report``
and the platform's dashboards (``evaluation.report_sections`` draws them)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class ReportOptions:
    """Inputs of ``customs-risk report``."""

    data: Path
    out: Path = Path("reports/site")
    date_from: str | None = None
    date_to: str | None = None
    level: str = "office"
    train_dir: Path | None = None  # scores.parquet and the bundle's score reference (drift)
    profiles: tuple[Path, ...] = field(default_factory=tuple)
    extra_profiles: tuple[Any, ...] = ()  # RiskProfile values (the platform's, from the store)
    min_sample: int = 30
    resamples: int = 400
    seed: int = 0
    top_suspects: int = 100
    district: str | None = None  # only this district's offices (a district's view)


@dataclass
class ReportInputs:
    declarations: pd.DataFrame  # the window, with district_id and headquarters
    outcomes: pd.DataFrame
    sample: Any  # ControlSample aligned with declarations, or None
    districts: pd.DataFrame | None
    window: tuple[pd.Timestamp, pd.Timestamp]


def load_inputs(options: ReportOptions) -> ReportInputs:
    from customs_risk.evaluation.units import district_of, read_districts, with_levels
    from customs_risk.models.control_estimates import control_sample
    from customs_risk.models.dataset import load_training_data

    declarations, outcomes = load_training_data(options.data)
    if declarations.empty:
        raise ValueError(f"{options.data}: no declarations")
    sample = control_sample(options.data, declarations)
    keep = np.ones(len(declarations), dtype=bool)
    stamps = declarations["declared_at"]
    if options.date_from:
        keep &= (stamps >= pd.Timestamp(options.date_from)).to_numpy()
    if options.date_to:
        keep &= (stamps < pd.Timestamp(options.date_to) + pd.Timedelta(days=1)).to_numpy()
    if not keep.any():
        raise ValueError(f"no declarations between {options.date_from} and {options.date_to}")
    districts = read_districts(options.data)
    if options.district is not None:
        keep &= district_of(declarations["office_id"], districts) == options.district
        if not keep.any():
            raise ValueError(f"no declarations of district {options.district}")
    window = with_levels(declarations[keep].reset_index(drop=True), districts)
    if sample is not None:
        sample = sample.take(keep)
    span = (window["declared_at"].min(), window["declared_at"].max())
    return ReportInputs(window, outcomes, sample, districts, span)


def _compliance(inputs: ReportInputs, options: ReportOptions) -> pd.DataFrame:
    """Cells per level for the whole window (period "all") and per month at headquarters and
    district level."""
    from customs_risk.evaluation.compliance import ComplianceSettings, compliance, units
    from customs_risk.evaluation.units import HEADQUARTERS

    settings = ComplianceSettings(options.min_sample, options.resamples, options.seed)
    decl, sample = inputs.declarations, inputs.sample
    unit_of = units(decl, options.data)
    unit_of.pop("month")
    parts = [compliance(decl, inputs.outcomes, sample, unit_of, settings).assign(period="all")]
    month = decl["declared_at"].dt.strftime("%Y-%m").to_numpy()
    for value in sorted(set(month)):
        rows = month == value
        part_sample = sample.take(rows)
        part_units = {k: unit_of[k][rows] for k in ("all", "district")}
        cells = compliance(
            decl[rows].reset_index(drop=True), inputs.outcomes, part_sample, part_units, settings
        )
        parts.append(cells.assign(period=value))
    table = pd.concat(parts, ignore_index=True)
    table["level"] = table["level"].replace({"all": "headquarters"})
    table["unit"] = table["unit"].where(table["level"] != "headquarters", HEADQUARTERS)
    return table


def _enforcement(inputs: ReportInputs, options: ReportOptions) -> tuple[Any, Any, str]:
    """The offices' evaluation, and that of the report's level."""
    from customs_risk.evaluation.decision_record import read_decision_record
    from customs_risk.evaluation.enforcement import enforcement

    decl = inputs.declarations
    record = read_decision_record(options.data, decl, inputs.sample)
    offices = enforcement(decl, inputs.outcomes, record, inputs.districts, "office")
    chosen = offices
    if options.level != "office":
        chosen = enforcement(decl, inputs.outcomes, record, inputs.districts, options.level)
    return offices, chosen, record.source


def _tariff(inputs: ReportInputs, options: ReportOptions) -> dict[str, pd.DataFrame]:
    from customs_risk.evaluation import tariff

    decl = inputs.declarations  # with district_id (UNASSIGNED without a mapping)
    dimensions = list(tariff.DIMENSIONS)
    suspects = tariff.rank_suspects(decl, inputs.outcomes, evidence_top=options.top_suspects)
    return {
        "duty": tariff.duty_tables(decl, inputs.outcomes, dimensions),
        "prices": tariff.price_tendency(decl),
        "references": tariff.reference_table(decl),
        "suspects": suspects.ranking,
        "suspect_evidence": suspects.evidence,
    }


def _profiles(inputs: ReportInputs, options: ReportOptions) -> pd.DataFrame:
    from customs_risk.evaluation.profile_trial import monitor_profiles
    from customs_risk.selection.profiles import ProfileSet, load_profiles

    loaded = list(load_profiles(*options.profiles)) if options.profiles else []
    ids = {p.id for p in options.extra_profiles}
    profiles = ProfileSet([*(p for p in loaded if p.id not in ids), *options.extra_profiles])
    return monitor_profiles(profiles, inputs.declarations, inputs.outcomes, inputs.sample)


def _drift(options: ReportOptions, declarations: pd.DataFrame) -> tuple[pd.DataFrame | None, str]:
    """Score drift per month: scores from the folder's decisions.parquet, else the training
    job's scores.parquet; the reference from the training job's bundle, else the first month."""
    from customs_risk.data.contracts import DECISIONS_FILE, KEY
    from customs_risk.evaluation.monitoring import score_drift
    from customs_risk.models.drift import score_reference

    scores = None
    source = ""
    decisions = Path(options.data) / DECISIONS_FILE
    if decisions.exists():
        frame = pd.read_parquet(decisions, columns=[*KEY, "risk_score"])
        frame = frame.drop_duplicates(KEY, keep="last")
        scores = declarations[[*KEY, "declared_at"]].merge(frame, on=KEY, how="inner")
        source = f"decided risk scores ({DECISIONS_FILE})"
    elif options.train_dir is not None:
        from customs_risk.models.train import SCORES_FILE

        scores = pd.read_parquet(Path(options.train_dir) / SCORES_FILE)
        source = f"the training job's test-window scores ({options.train_dir / SCORES_FILE})"
    if scores is None or scores.empty or not np.isfinite(scores["risk_score"]).any():
        return None, "no scores (pass --train-dir or export decisions): score drift not shown"
    reference = None
    if options.train_dir is not None:
        from customs_risk.models.bundle import META_FILE
        from customs_risk.models.train import BUNDLE_DIR

        meta = Path(options.train_dir) / BUNDLE_DIR / META_FILE
        if meta.exists():
            reference = json.loads(meta.read_text()).get("score_reference")
    if reference is None:
        months = scores["declared_at"].dt.to_period("M")
        reference = score_reference(scores.loc[months == months.min(), "risk_score"].to_numpy())
        note = f"score drift of {source} against their first month"
    else:
        note = f"score drift of {source} against the validation window {reference.get('window')}"
    return score_drift(scores, reference), note


def build_sections(
    inputs: ReportInputs, options: ReportOptions, step: Callable[[str], None]
) -> tuple[list[Any], dict[str, pd.DataFrame]]:
    from customs_risk.evaluation import report_sections as rs
    from customs_risk.evaluation.monitoring import channel_trends
    from customs_risk.evaluation.traders import register_of

    decl, outcomes = inputs.declarations, inputs.outcomes
    tables: dict[str, pd.DataFrame] = {}
    sections = []
    start, end = inputs.window
    inspected = decl[["declaration_id", "item_no"]].merge(
        outcomes, on=["declaration_id", "item_no"]
    )
    facts = {
        "data": str(options.data),
        "window": f"{start:%Y-%m-%d} to {end:%Y-%m-%d}",
        "items": f"{len(decl):,} in {decl['declaration_id'].nunique():,} declarations",
        "results": f"{len(inspected):,} ({int(inspected['fraud_found'].sum()):,} offences found)",
        "offices": f"{decl['office_id'].nunique()} in {decl['district_id'].nunique()} districts",
        "level": options.level,
        "control sample": "none" if inputs.sample is None else inputs.sample.source,
    }
    sections.append(rs.overview_section(facts))

    step("compliance")
    if inputs.sample is not None:
        tables["compliance"] = _compliance(inputs, options)
        sections.append(
            rs.compliance_section(tables["compliance"], options.level, inputs.sample.source)
        )
    else:
        sections.append(rs.no_control_section())

    step("law enforcement")
    offices, chosen, record_source = _enforcement(inputs, options)
    tables["offices"] = offices.table
    if options.level != "office":
        tables[f"enforcement_{options.level}"] = chosen.table
    tables["funnel"] = chosen.funnel.curve
    sections.append(rs.enforcement_section(chosen, options.level, record_source))

    step("tariff")
    tariff = _tariff(inputs, options)
    tables.update(tariff)
    sections.append(
        rs.tariff_section(
            tariff["duty"],
            tariff["prices"],
            tariff["references"],
            tariff["suspects"],
            tariff["suspect_evidence"],
            options.level,
        )
    )

    if options.profiles or options.extra_profiles:
        step("profiles")
        tables["profiles"] = _profiles(inputs, options)
        sections.append(rs.profiles_section(tables["profiles"]))

    step("traders")
    register = register_of(decl, outcomes, inputs.sample, end - pd.Timedelta(days=90), end, 90)
    tables["traders"] = register.register
    sections.append(rs.traders_section(register))

    step("monitoring")
    trends = channel_trends(decl, outcomes)
    drift, note = _drift(options, decl)
    tables["monitoring"] = trends
    if drift is not None:
        tables["drift"] = drift
    sections.append(rs.monitoring_section(trends, drift, note))
    return sections, tables
