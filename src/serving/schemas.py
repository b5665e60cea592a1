"""Request and response models of the scoring service (the declaration and outcome contracts).

Declarations may carry extra fields: they are accepted and kept in the input digest, but the model
and the profiles read only the contract fields below. Unknown categories (a new importer, a new HS
code) are ordinary input.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from customs_risk.data.contracts import DECLARATION_COLUMNS

MAX_ITEMS = 10_000
MAX_OUTCOMES = 50_000
_MIN_TIME = dt.datetime(1990, 1, 1)
_MAX_TIME = dt.datetime(2200, 1, 1)
_BIG = 1e15

Id = Annotated[str, Field(min_length=1, max_length=64)]
Country = Annotated[str, Field(pattern=r"^[A-Z]{2}$", description="ISO 3166 alpha-2")]
Amount = Annotated[float, Field(ge=0, le=_BIG, allow_inf_nan=False)]
Code = Annotated[str | None, Field(default=None, max_length=64)]

# contract fields a declaration carries into scoring, in the contract's order
DECLARATION_FIELDS: tuple[str, ...] = (
    *DECLARATION_COLUMNS,
    "procedure_code",
    "payment_type",
    "incoterm",
)


def _utc_naive(value: dt.datetime, lo: dt.datetime, hi: dt.datetime) -> dt.datetime:
    if value.tzinfo is not None:
        try:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        except OverflowError:
            raise ValueError(f"must lie between {lo.date()} and {hi.date()}") from None
    if not lo <= value < hi:
        raise ValueError(f"must lie between {lo.date()} and {hi.date()}")
    return value


class Declaration(BaseModel):
    """One declaration item (the declaration contract); timestamps are stored as naive UTC."""

    model_config = ConfigDict(extra="allow")

    declaration_id: Id
    item_no: int = Field(ge=1, le=1_000_000)
    declared_at: dt.datetime = Field(description="ISO 8601; a zone converts to UTC")
    office_id: Id
    importer_id: Id
    declarant_id: Id
    seller_id: Id | None = None
    hs_code: str = Field(pattern=r"^[0-9]{6,10}$")
    origin_country: Country
    departure_country: Country
    transport_mode: Id
    quantity: Amount
    net_mass_kg: Amount
    customs_value: float = Field(ge=0, le=_BIG, allow_inf_nan=False, description="> 0")
    tariff_rate: float = Field(ge=0, le=1000, allow_inf_nan=False, description="percent")
    duty_declared: Amount
    procedure_code: Code
    payment_type: Code
    incoterm: Code

    @field_validator("declared_at")
    @classmethod
    def _time(cls, value: dt.datetime) -> dt.datetime:
        return _utc_naive(value, _MIN_TIME, _MAX_TIME)

    @field_validator("customs_value")
    @classmethod
    def _positive(cls, value: float) -> float:
        # checked here, not as gt=0: OpenAPI 3.0 has no numeric exclusiveMinimum
        if not value > 0:
            raise ValueError("must be > 0")
        return value

    def record(self) -> dict[str, Any]:
        """The contract fields as a plain dict (what scoring reads)."""
        return {name: getattr(self, name) for name in DECLARATION_FIELDS}


class ScoreRequest(BaseModel):
    """``POST /score`` body."""

    declarations: list[Declaration] = Field(min_length=1, max_length=MAX_ITEMS)


class ProfileHit(BaseModel):
    """A risk profile that matched the item (advisory ones included)."""

    id: str
    title: str
    instructions: str


class Decision(BaseModel):
    """The channel of one item and why."""

    declaration_id: str
    item_no: int
    channel: Literal["red", "orange", "green"]
    selected_by: Literal["model", "profile", "random", "default"]
    model_channel: Literal["red", "orange", "green"] | None
    risk_score: float | None = Field(description="adjusted ranking key the thresholds apply to")
    fraud_probability: float | None
    critical_probability: float | None
    expected_revenue: float | None
    trader_grade: str | None
    propensity: float = Field(description="P(red or orange) over the random draw")
    propensity_red: float
    profile_hits: list[ProfileHit]
    reasons: list[str]
    model_version: str | None
    policy_version: str


class ScoreResponse(BaseModel):
    """``POST /score`` answer: one decision per declaration, in request order."""

    request_id: str
    decisions: list[Decision]


class Outcome(BaseModel):
    """One inspection result (the outcome contract)."""

    model_config = ConfigDict(extra="forbid")

    declaration_id: Id
    item_no: int = Field(ge=1, le=1_000_000)
    channel: Literal["red", "orange", "green"]
    result_at: dt.datetime
    fraud_found: bool
    fraud_type: (
        Literal["none", "undervaluation", "misclassification", "origin", "quantity", "prohibited"]
        | None
    ) = None
    critical: bool
    recovered_revenue: float | None = Field(None, ge=0, le=_BIG, allow_inf_nan=False)

    @field_validator("result_at")
    @classmethod
    def _time(cls, value: dt.datetime) -> dt.datetime:
        return _utc_naive(value, _MIN_TIME, _MAX_TIME)


class OutcomesRequest(BaseModel):
    """``POST /outcomes`` body."""

    outcomes: list[Outcome] = Field(min_length=1, max_length=MAX_OUTCOMES)


class OutcomesResponse(BaseModel):
    """Rows stored and rows already known (same declaration_id and item_no)."""

    inserted: int
    duplicates: int


class ModelInfo(BaseModel):
    """``GET /model``: what is being served."""

    name: str
    version: str | None
    registry_version: str | None
    alias: str | None
    bentoml_tag: str
    run_id: str | None
    trained_at: str | None
    windows: dict[str, Any]
    metrics: dict[str, Any]
    policy_version: str
    policy_shares: dict[str, float]
    profiles: list[str]
    thresholds: dict[str, Any] = Field(
        default_factory=dict, description="source of the served thresholds and their window"
    )
