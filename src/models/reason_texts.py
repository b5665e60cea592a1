"""Officer-readable texts for the features that most often drive a score (selection.reasons)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from customs_risk.selection.reasons import ReasonTemplate


def _pct_gap(log_deviation: float) -> tuple[float, str]:
    ratio = math.exp(log_deviation)
    return (abs(1.0 - ratio) * 100.0, "below" if ratio < 1 else "above")


def _unit_value(row: Mapping[str, Any]) -> str:
    pct, side = _pct_gap(float(row["value"]))
    return (
        f"declared unit value {pct:.0f}% {side} the reference for HS {row['hs6']} "
        f"from {row['origin_country']}"
    )


def _value_per_kg(row: Mapping[str, Any]) -> str:
    pct, side = _pct_gap(float(row["value"]))
    return (
        f"declared value per kg {pct:.0f}% {side} the reference for HS {row['hs6']} "
        f"from {row['origin_country']}"
    )


def _history(entity: str) -> ReasonTemplate:
    def text(row: Mapping[str, Any]) -> str:
        frauds = row.get(f"{entity}_n_fraud", float("nan"))
        inspections = row.get(f"{entity}_n_insp", float("nan"))
        return (
            f"{entity.replace('_', ' ')} offence rate {float(row['value']) * 100:.0f}% "
            f"({frauds:.0f} offences in {inspections:.0f} inspections)"
        )

    return text


REASON_TEMPLATES: dict[str, ReasonTemplate] = {
    "uv_unit_dev": _unit_value,
    "uv_unit_z": lambda r: _unit_value({**r, "value": r.get("uv_unit_dev", 0.0)}),
    "uv_kg_dev": _value_per_kg,
    "uv_kg_z": lambda r: _value_per_kg({**r, "value": r.get("uv_kg_dev", 0.0)}),
    "importer_fraud_rate": _history("importer"),
    "declarant_fraud_rate": _history("declarant"),
    "seller_fraud_rate": _history("seller"),
    "importer_hs4_fraud_rate": _history("importer_hs4"),
    "hs6_origin_fraud_rate": _history("hs6_origin"),
    "importer_grade": "importer compliance grade {value}",
    "tariff_rate": "high tariff line: {value:.1f}% duty on HS {hs6}",
    "duty_ratio": "declared duty is {value_pct:.0f}% of value x rate",
    "importer_days_since_first": "new importer: first declaration {value:.0f} days ago",
    "origin_country": "origin {value}",
    "hs6": "goods HS {value}",
    "tariff_gap_hs4": "tariff gap to the highest rate in HS {hs4}: {value:.1f} points",
    "pref_margin": "preferential origin claimed, margin {value:.1f} points",
}
