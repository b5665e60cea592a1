"""Request and response models of the scoring service, built from the record specs of
``customs_risk.data.contracts`` (one definition per record kind): ``Declaration``, ``Outcome``
and ``Decision`` (with ``ProfileHit`` and ``ListHit``) have the spec's fields, in its order, with
its types, nullability, ranges, patterns, enumerations and descriptions. Booleans and numbers are
strict (``customs_risk.data.coercion``); timestamps convert to naive UTC within the contract's
window.

Declarations may carry extra fields: they are accepted and kept in the input digest, but the model
and the profiles read only the contract fields. Unknown categories (a new importer, a new HS code)
are ordinary input. Outcomes may not carry extra fields.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model

from customs_risk.data import coercion
from customs_risk.data.contracts import (
    DECISION,
    DECLARATION,
    LIST_HIT,
    OUTCOME,
    PROFILE_HIT,
    TIME_MAX,
    TIME_MIN,
    FieldSpec,
    RecordSpec,
)

MAX_ITEMS = 10_000
MAX_OUTCOMES = 50_000

# contract fields a declaration carries into scoring, in the contract's order
DECLARATION_FIELDS: tuple[str, ...] = DECLARATION.names()
# the keys of one decision in the POST /score answer, in order
DECISION_ANSWER_FIELDS: tuple[str, ...] = DECISION.names("answer")


def _utc_naive(value: dt.datetime) -> dt.datetime:
    """Aware timestamps convert to naive UTC; all must lie in [TIME_MIN, TIME_MAX)."""
    if value.tzinfo is not None:
        try:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        except OverflowError:
            raise ValueError(_OUTSIDE) from None
    if not TIME_MIN <= value < TIME_MAX:
        raise ValueError(_OUTSIDE)
    return value


_OUTSIDE = f"must lie between {TIME_MIN.date()} and {TIME_MAX.date()}"
_NESTED: dict[str, type[BaseModel]] = {}  # record name -> model of a list's items


def _value_type(spec: FieldSpec) -> Any:
    """The pydantic type of one non-null value of a field, with its constraints."""
    if spec.kind == "str":
        if spec.choices is not None:
            return Literal.__getitem__(spec.choices)
        return Annotated[
            str,
            Field(min_length=spec.min_length, max_length=spec.max_length, pattern=spec.pattern),
        ]
    if spec.kind == "bool":
        return coercion.pydantic_type("bool")
    if spec.kind in ("int", "float"):
        return coercion.pydantic_type(spec.kind, ge=spec.ge, le=spec.le)
    if spec.kind == "timestamp":
        return Annotated[dt.datetime, AfterValidator(_utc_naive)]
    if isinstance(spec.items, RecordSpec):
        return list.__class_getitem__(_NESTED[spec.items.name])
    assert spec.items is not None
    return list.__class_getitem__(_value_type(FieldSpec(spec.name, spec.items)))


def field_definition(spec: FieldSpec, *, answer: bool = False) -> tuple[Any, Any]:
    """(type, FieldInfo) of a contract field for ``pydantic.create_model``.

    Requests: an optional field defaults to None. Answers (``answer``): every field is present.
    """
    value = _value_type(spec)
    annotation = value | None if spec.nullable else value
    if spec.required or answer:
        return annotation, Field(description=spec.description)
    return annotation, Field(None, description=spec.description)


def spec_model(
    spec: RecordSpec,
    name: str,
    view: str | None = None,
    *,
    answer: bool = False,
    config: ConfigDict | None = None,
) -> type[BaseModel]:
    """A pydantic model with the fields of a record kind (of ``view``), in record order: the
    base class of the request and response models below."""
    fields = {f.name: field_definition(f, answer=answer) for f in spec.fields_in(view)}
    model: type[BaseModel] = create_model(  # type: ignore[call-overload]
        name,
        __config__=config,
        __doc__=spec.description,
        __module__=__name__,
        **fields,
    )
    return model


class ProfileHit(spec_model(PROFILE_HIT, "ProfileHitFields", answer=True)):  # type: ignore[misc]
    """A risk profile that matched the item (advisory ones included)."""


_NESTED[PROFILE_HIT.name] = ProfileHit


class ListHit(spec_model(LIST_HIT, "ListHitFields", answer=True)):  # type: ignore[misc]
    """A managed-list entry that matched the item."""


_NESTED[LIST_HIT.name] = ListHit


class Declaration(
    spec_model(DECLARATION, "DeclarationFields", config=ConfigDict(extra="allow"))  # type: ignore[misc]
):
    """One declaration item (the declaration contract); timestamps are stored as naive UTC.
    Further fields are accepted and kept in the input digest."""

    def record(self) -> dict[str, Any]:
        """The contract fields as a plain dict (what scoring reads)."""
        return {name: getattr(self, name) for name in DECLARATION_FIELDS}


class ScoreRequest(BaseModel):
    """``POST /score`` body."""

    declarations: list[Declaration] = Field(min_length=1, max_length=MAX_ITEMS)


class Decision(spec_model(DECISION, "DecisionFields", "answer", answer=True)):  # type: ignore[misc]
    """The channel of one item and why."""


class ScoreResponse(BaseModel):
    """``POST /score`` answer: one decision per declaration, in request order."""

    request_id: str
    decisions: list[Decision]


class Outcome(
    spec_model(OUTCOME, "OutcomeFields", config=ConfigDict(extra="forbid"))  # type: ignore[misc]
):
    """One inspection result (the outcome contract)."""


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
    live_history: dict[str, Any] | None = Field(
        None,
        description="the served history's updates from the store (None: frozen at training): "
        "declarations and results applied, the state's as_of, the last update",
    )
    follow: dict[str, Any] | None = Field(
        None,
        description="the alias this worker follows: switches made to where it moved, the last "
        "version that failed to load",
    )
    store_profiles: dict[str, Any] | None = Field(
        None,
        description="the platform's active profiles in the store this worker applies "
        "(from_store; checked every CUSTOMS_RISK_SERVE_PROFILES_CHECK_SECONDS) and the last "
        "error (the profiles in force stay when a change cannot be applied)",
    )
    lists: dict[str, Any] | None = Field(
        None,
        description="the managed lists this worker applies: the folder, the entries (ids) from "
        "the folder and from the store, the store's lists version and the last error (the "
        "lists in force stay when the store cannot be read)",
    )
    registry: dict[str, Any] = Field(
        default_factory=dict,
        description="the served alias in the MLflow registry now (read at most every "
        "CUSTOMS_RISK_SERVE_ALIAS_CHECK_SECONDS): alias_version, stale when it is no longer the "
        "served version, error when the registry cannot be read",
    )
