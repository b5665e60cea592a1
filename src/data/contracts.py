"""Canonical data contracts (DESIGN.md): declarations, inspection outcomes and synthetic truth.

The pandera models check one frame at a time (types, ranges, enumerations). Checks that involve
several frames (outcomes of unknown declarations, result_at before declared_at) live in
``customs_risk.data.validation``.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

CHANNELS: tuple[str, ...] = ("red", "orange", "green")
FRAUD_TYPES: tuple[str, ...] = (
    "none",
    "undervaluation",
    "misclassification",
    "origin",
    "quantity",
    "prohibited",
)
KEY: list[str] = ["declaration_id", "item_no"]

DECLARATIONS_FILE = "declarations.parquet"
OUTCOMES_FILE = "outcomes.parquet"
TRUTH_FILE = "truth.parquet"
QUARANTINE_FILE = "quarantine.parquet"

# Column -> logical type; "str" columns are stored as pandas string dtype, timestamps as datetime64.
DECLARATION_COLUMNS: dict[str, str] = {
    "declaration_id": "str",
    "item_no": "int",
    "declared_at": "timestamp",
    "office_id": "str",
    "importer_id": "str",
    "declarant_id": "str",
    "seller_id": "str",
    "hs_code": "str",
    "origin_country": "str",
    "departure_country": "str",
    "transport_mode": "str",
    "quantity": "float",
    "net_mass_kg": "float",
    "customs_value": "float",
    "tariff_rate": "float",
    "duty_declared": "float",
}
OPTIONAL_DECLARATION_COLUMNS: frozenset[str] = frozenset({"seller_id"})

OUTCOME_COLUMNS: dict[str, str] = {
    "declaration_id": "str",
    "item_no": "int",
    "channel": "str",
    "result_at": "timestamp",
    "fraud_found": "bool",
    "fraud_type": "str",
    "critical": "bool",
    "recovered_revenue": "float",
}


class DeclarationSchema(pa.DataFrameModel):
    """One row per declaration item. Extra columns are optional categorical fields."""

    declaration_id: Series[str] = pa.Field(nullable=False, str_length={"min_value": 1})
    item_no: Series[int] = pa.Field(ge=1)
    declared_at: Series[pd.Timestamp] = pa.Field(nullable=False)
    office_id: Series[str] = pa.Field(nullable=False)
    importer_id: Series[str] = pa.Field(nullable=False)
    declarant_id: Series[str] = pa.Field(nullable=False)
    seller_id: Series[str] | None = pa.Field(nullable=True)
    hs_code: Series[str] = pa.Field(str_matches=r"^\d{6,10}$")
    origin_country: Series[str] = pa.Field(str_matches=r"^[A-Z]{2}$")
    departure_country: Series[str] = pa.Field(str_matches=r"^[A-Z]{2}$", nullable=True)
    transport_mode: Series[str] = pa.Field(nullable=True)
    quantity: Series[float] = pa.Field(ge=0, nullable=True)
    net_mass_kg: Series[float] = pa.Field(ge=0, nullable=True)
    customs_value: Series[float] = pa.Field(ge=0)  # 0: no commercial value (samples)
    tariff_rate: Series[float] = pa.Field(ge=0, le=1000)
    duty_declared: Series[float] = pa.Field(ge=0, nullable=True)

    class Config:
        strict = False
        coerce = False


class OutcomeSchema(pa.DataFrameModel):
    """One row per inspected item; recovered_revenue null means the source does not say."""

    declaration_id: Series[str] = pa.Field(nullable=False, str_length={"min_value": 1})
    item_no: Series[int] = pa.Field(ge=1)
    channel: Series[str] = pa.Field(isin=list(CHANNELS))
    result_at: Series[pd.Timestamp] = pa.Field(nullable=False)
    fraud_found: Series[bool]
    fraud_type: Series[str] = pa.Field(isin=list(FRAUD_TYPES), nullable=True)  # null: unknown
    critical: Series[bool]
    recovered_revenue: Series[float] = pa.Field(ge=0, nullable=True)

    class Config:
        strict = False
        coerce = False
