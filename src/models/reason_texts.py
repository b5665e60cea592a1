"""Officer-readable texts for the features that most often drive a score (selection.reasons)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from customs_risk.selection.reasons import ReasonTemplate


def _pct_gap(log_deviation: float) -> tuple[float, str]:
    ratio = math.exp(log_deviation)
    return (abs(1.0 - ratio) * 100.0, "below" if ratio < 1 else "above")


def _reference_gap(what: str, deviation_column: str | None = None) -> ReasonTemplate:
    """'declared <what> 54% below the reference for HS <hs6> from <origin>', from the feature's
    own log deviation or (for a z-score) from the deviation column of the same row."""

    def text(row: Mapping[str, Any]) -> str:
        value = row["value"] if deviation_column is None else row.get(deviation_column, 0.0)
        pct, side = _pct_gap(float(value))
        return (
            f"declared {what} {pct:.0f}% {side} the reference for HS {row['hs6']} "
            f"from {row['origin_country']}"
        )

    return text


def _history(entity: str) -> ReasonTemplate:
    def text(row: Mapping[str, Any]) -> str:
        if not math.isfinite(float(row["value"])):
            return f"new {entity.replace('_', ' ')}: no inspection history"
        frauds = row.get(f"{entity}_n_fraud", float("nan"))
        inspections = row.get(f"{entity}_n_insp", float("nan"))
        return (
            f"{entity.replace('_', ' ')} offence rate {float(row['value']) * 100:.0f}% "
            f"({frauds:.0f} offences in {inspections:.0f} inspections)"
        )

    return text


def _days_since(entity: str, what: str) -> ReasonTemplate:
    def text(row: Mapping[str, Any]) -> str:
        value = float(row["value"])
        if not math.isfinite(value):
            name = entity.replace("_", " ")
            return f"{name}: no offence found before" if what == "fraud" else f"new {name}"
        if what == "fraud":
            return f"{entity.replace('_', ' ')}: last offence found {value:.0f} days ago"
        if what == "first":
            return f"{entity.replace('_', ' ')} active for only {value:.0f} days"
        return f"{entity.replace('_', ' ')}: previous declaration {value:.0f} days ago"

    return text


def _count(entity: str, noun: str) -> ReasonTemplate:
    return lambda r: f"{entity.replace('_', ' ')}: {float(r['value']):.0f} {noun} before"


ENTITIES = ("importer", "declarant", "seller", "importer_hs4", "declarant_office", "hs6_origin")

REASON_TEMPLATES: dict[str, ReasonTemplate] = {
    # no {**row} copies here: a row view resolves only the columns a text reads
    "uv_unit_dev": _reference_gap("unit value"),
    "uv_unit_z": _reference_gap("unit value", "uv_unit_dev"),
    "uv_kg_dev": _reference_gap("value per kg"),
    "uv_kg_z": _reference_gap("value per kg", "uv_kg_dev"),
    "importer_grade": "importer compliance grade {value}",
    "tariff_rate": "duty rate {value:.1f}% on HS {hs6}",
    "hs4_max_rate": "HS {hs4} has duty rates up to {value:.1f}%",
    "tariff_gap_hs4": "declared rate {value:.1f} points below the highest rate in HS {hs4}",
    "hs6_typical_rate": "typical duty rate for HS {hs6}: {value:.1f}%",
    "duty_ratio": "declared duty is {value_pct:.0f}% of value x rate",
    "pref_margin": "preferential origin claimed, margin {value:.1f} points",
    "log_value": lambda r: f"declared value {math.exp(float(r['value'])):,.0f}",
    "log_mass": lambda r: f"net mass {math.exp(float(r['value'])):,.0f} kg",
    "log_quantity": lambda r: f"quantity {math.exp(float(r['value'])):,.0f}",
    "hs2": "goods of HS chapter {value}",
    "hs4": "goods of HS heading {value}",
    "hs6": "goods of HS {value}",
    "origin_country": "origin {value}",
    "departure_country": "shipped from {value}",
    "transport_mode": "transport by {value}",
    "office_id": "lodged at office {value}",
    "hist_prior_rate": "offence rate of similar goods {value_pct:.1f}%",
}
for _entity in ENTITIES:
    REASON_TEMPLATES[f"{_entity}_fraud_rate"] = _history(_entity)
    REASON_TEMPLATES[f"{_entity}_days_since_fraud"] = _days_since(_entity, "fraud")
    REASON_TEMPLATES[f"{_entity}_days_since_first"] = _days_since(_entity, "first")
    REASON_TEMPLATES[f"{_entity}_days_since_last"] = _days_since(_entity, "last")
    REASON_TEMPLATES[f"{_entity}_n_fraud"] = _count(_entity, "offences found")
    REASON_TEMPLATES[f"{_entity}_n_decl"] = _count(_entity, "declarations")


# the importer's figures a grade reason quotes (features of the importer entity)
GRADE_FACTS: tuple[str, ...] = ("importer_n_fraud", "importer_n_insp", "importer_days_since_fraud")


def grade_reason(grade: str, factor: float, facts: Mapping[str, float]) -> str:
    """'importer graded D (high-risk), priority x2.0: 3 offences in 5 inspections, last offence
    found 2 days ago': why a trader's grade raised an item's priority."""
    from customs_risk.features.grades import GRADE_LABELS

    text = f"importer graded {grade} ({GRADE_LABELS.get(grade, 'unknown')}), priority x{factor:g}"
    offences, inspections = facts.get("importer_n_fraud"), facts.get("importer_n_insp")
    if offences is not None and inspections is not None and math.isfinite(offences):
        text += f": {offences:.0f} offences found in {inspections:.0f} inspections"
        since = facts.get("importer_days_since_fraud")
        if since is not None and math.isfinite(since):
            text += f", last offence found {since:.0f} days ago"
    return text
