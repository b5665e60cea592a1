"""Canonical data contracts (DESIGN.md): one description per record kind, everything derived.

:data:`DECLARATION`, :data:`OUTCOME` and :data:`DECISION` are :class:`RecordSpec` values: the
fields of a record kind with their type, nullability, ranges, patterns and enumerations, written
once. Derived from them:

- here: the pandera schemas :data:`DeclarationSchema` and :data:`OutcomeSchema` (one frame at a
  time; checks across frames, such as outcomes of unknown declarations, live in
  ``customs_risk.data.validation``) and the column types :data:`DECLARATION_COLUMNS`,
  :data:`OUTCOME_COLUMNS` and :data:`DECISION_COLUMNS`;
- ``customs_risk.serving.schemas``: the request and response models of the API;
- ``customs_risk.serving.store``: the columns of the outcomes and decisions tables.

The rules across an outcome's fields (:func:`outcome_rule_violations`) are here too, next to
:data:`OUTCOME`: file validation quarantines the rows that break them and the store (so
``POST /outcomes``) refuses them.

Booleans and numbers follow one rule everywhere (``customs_risk.data.coercion``). Timestamps are
naive UTC within [:data:`TIME_MIN`, :data:`TIME_MAX`).

A decision field belongs to one or more views: ``answer`` (the ``POST /score`` response),
``store`` (the decisions table, the legal record) and ``frame`` (the DataFrame that
``selection.decide.decide`` returns). Declaration and outcome fields belong to every view.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np
import pandas as pd
import pandera.pandas as pa

Kind = Literal["str", "int", "float", "bool", "timestamp", "list"]
DECISION_VIEWS: tuple[str, ...] = ("answer", "store", "frame")

CHANNELS: tuple[str, ...] = ("red", "orange", "green")
SELECTED_BY: tuple[str, ...] = ("model", "profile", "random", "default", "list")
# the managed lists (``selection.lists``): goods lists by HS prefix, trader watchlists
LIST_KINDS: tuple[str, ...] = ("prohibited", "restricted", "licence", "watchlist")
FRAUD_TYPES: tuple[str, ...] = (
    "none",
    "undervaluation",
    "misclassification",
    "origin",
    "quantity",
    "prohibited",
)
KEY: list[str] = ["declaration_id", "item_no"]
TIME_MIN = dt.datetime(1990, 1, 1)
TIME_MAX = dt.datetime(2200, 1, 1)  # exclusive
MAX_AMOUNT = 1e15  # local currency, kilograms, units: far above any real declaration
MAX_ID_LENGTH = 64
MAX_ITEM_NO = 1_000_000

DECLARATIONS_FILE = "declarations.parquet"
OUTCOMES_FILE = "outcomes.parquet"
TRUTH_FILE = "truth.parquet"
DECISIONS_FILE = "decisions.parquet"  # decisions with propensities (customs-risk store export)
QUARANTINE_FILE = "quarantine.parquet"
DISTRICTS_FILE = "districts.parquet"  # office_id -> district_id (the two levels of the reports)
DISTRICT_COLUMNS: tuple[str, ...] = ("office_id", "district_id")

# pandas dtype of each kind in frames and parquet files
PANDAS_DTYPES: dict[str, str] = {
    "str": "str",
    "int": "int64",
    "float": "float64",
    "bool": "bool",
    "timestamp": "datetime64[ns]",
    "list": "object",
}


@dataclass(frozen=True)
class FieldSpec:
    """One field of a record kind.

    ``required``: the field (column, JSON key) must be present; ``nullable``: its value may be
    null. ``ge`` / ``le`` bound numbers (floats are finite); ``pattern`` (a full-match regular
    expression), ``min_length`` / ``max_length`` and ``choices`` constrain text. ``items``: what a
    ``list`` holds (a kind or a record). ``categorical``: an optional categorical field that may
    follow the contract columns (not one of ``DECLARATION_COLUMNS``). ``views``: the views of its
    record the field belongs to (None: all of them).
    """

    name: str
    kind: Kind
    required: bool = True
    nullable: bool = False
    ge: float | None = None
    le: float | None = None
    pattern: str | None = None
    choices: tuple[str, ...] | None = None
    min_length: int | None = None
    max_length: int | None = None
    description: str | None = None
    items: Kind | RecordSpec | None = None
    categorical: bool = False
    views: frozenset[str] | None = None

    def __post_init__(self) -> None:
        if (self.kind == "list") != (self.items is not None):
            raise ValueError(f"{self.name}: items is given exactly for list fields")
        text = (self.pattern, self.choices, self.min_length, self.max_length)
        if self.kind != "str" and any(v is not None for v in text):
            raise ValueError(f"{self.name}: pattern, choices and lengths are for str fields")
        if self.kind not in ("int", "float") and (self.ge is not None or self.le is not None):
            raise ValueError(f"{self.name}: ge and le are for int and float fields")

    def in_view(self, view: str | None) -> bool:
        """Whether the field belongs to ``view`` (None: any)."""
        return view is None or self.views is None or view in self.views


@dataclass(frozen=True)
class RecordSpec:
    """A record kind: its fields in order, its key and the views its fields may name."""

    name: str
    fields: tuple[FieldSpec, ...]
    key: tuple[str, ...] = ()
    description: str = ""
    views: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.name}: duplicate field names")
        if not set(self.key) <= set(names):
            raise ValueError(f"{self.name}: key {self.key} is not among the fields")
        for f in self.fields:
            if f.views is not None and not f.views <= set(self.views):
                raise ValueError(f"{self.name}.{f.name}: unknown views {set(f.views)}")

    def fields_in(self, view: str | None = None) -> tuple[FieldSpec, ...]:
        """The fields of ``view`` (None: all), in record order."""
        return tuple(f for f in self.fields if f.in_view(view))

    def names(self, view: str | None = None) -> tuple[str, ...]:
        """The field names of ``view`` (None: all), in record order."""
        return tuple(f.name for f in self.fields_in(view))

    def field(self, name: str) -> FieldSpec:
        """The field called ``name`` (KeyError if none)."""
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.name} has no field {name!r}")

    def kinds(self, view: str | None = None, *, categorical: bool = True) -> dict[str, str]:
        """Field -> kind (``str``, ``int``, ``float``, ``bool``, ``timestamp``, ``list``)."""
        return {f.name: f.kind for f in self.fields_in(view) if categorical or not f.categorical}

    def dtypes(self, view: str | None = None) -> dict[str, str]:
        """Field -> pandas dtype name (``PANDAS_DTYPES``)."""
        return {f.name: PANDAS_DTYPES[f.kind] for f in self.fields_in(view)}


def _id(name: str, description: str, *, required: bool = True, nullable: bool = False) -> FieldSpec:
    return FieldSpec(
        name,
        "str",
        required=required,
        nullable=nullable,
        min_length=1,
        max_length=MAX_ID_LENGTH,
        description=description,
    )


def _country(name: str, description: str, *, nullable: bool = False) -> FieldSpec:
    return FieldSpec(
        name,
        "str",
        nullable=nullable,
        pattern=r"^[A-Z]{2}$",
        description=f"{description}, ISO 3166 alpha-2",
    )


def _amount(
    name: str, description: str, *, required: bool = True, nullable: bool = False
) -> FieldSpec:
    return FieldSpec(
        name,
        "float",
        required=required,
        nullable=nullable,
        ge=0,
        le=MAX_AMOUNT,
        description=description,
    )


def _code(name: str, description: str) -> FieldSpec:
    return FieldSpec(
        name,
        "str",
        required=False,
        nullable=True,
        max_length=MAX_ID_LENGTH,
        description=description,
        categorical=True,
    )


def _item_no(description: str) -> FieldSpec:
    return FieldSpec("item_no", "int", ge=1, le=MAX_ITEM_NO, description=description)


DECLARATION = RecordSpec(
    "declaration",
    (
        _id("declaration_id", "declaration number; with item_no, unique"),
        _item_no("item of the declaration, 1 for single-item declarations"),
        FieldSpec(
            "declared_at",
            "timestamp",
            description="when the declaration was lodged; ISO 8601, a zone converts to UTC",
        ),
        _id("office_id", "customs office"),
        _id("importer_id", "importer"),
        _id("declarant_id", "declarant (broker, agent)"),
        _id("seller_id", "seller", required=False, nullable=True),
        FieldSpec(
            "hs_code", "str", pattern=r"^[0-9]{6,10}$", description="HS code, 6 to 10 digits"
        ),
        _country("origin_country", "country of origin"),
        _country("departure_country", "country of departure", nullable=True),
        FieldSpec(
            "transport_mode",
            "str",
            nullable=True,
            min_length=1,
            max_length=MAX_ID_LENGTH,
            description="mode of transport",
        ),
        _amount("quantity", "quantity in units; null: the source does not say", nullable=True),
        _amount("net_mass_kg", "net mass in kg; null: the source does not say", nullable=True),
        _amount("customs_value", "declared value, local currency; 0: no commercial value"),
        FieldSpec(
            "tariff_rate", "float", ge=0, le=1000, description="ad valorem duty rate, percent"
        ),
        _amount("duty_declared", "duty the declarant computed", nullable=True),
        _id(
            "licence_ref",
            "import licence or permit declared for the goods; null: none (restricted goods and "
            "licence requirements of the managed lists then impose their channel)",
            required=False,
            nullable=True,
        ),
        _code("procedure_code", "customs procedure"),
        _code("payment_type", "payment type"),
        _code("incoterm", "Incoterms rule"),
    ),
    key=tuple(KEY),
    description="One declaration item. Further fields are accepted as optional categories.",
)

OUTCOME = RecordSpec(
    "outcome",
    (
        _id("declaration_id", "the declaration inspected"),
        _item_no("the item inspected"),
        FieldSpec(
            "channel",
            "str",
            choices=CHANNELS,
            description="inspection channel (green: post-release verification)",
        ),
        FieldSpec(
            "result_at",
            "timestamp",
            description="when the result became known; ISO 8601, a zone converts to UTC",
        ),
        FieldSpec("fraud_found", "bool", description="any offence found"),
        FieldSpec(
            "fraud_type",
            "str",
            required=False,
            nullable=True,
            choices=FRAUD_TYPES,
            description="offence type; none exactly when no fraud was found; null: unknown",
        ),
        FieldSpec("critical", "bool", description="an offence serious enough for a seizure"),
        _amount(
            "recovered_revenue",
            "extra duty assessed; null: the source does not say",
            required=False,
            nullable=True,
        ),
        FieldSpec(
            "source",
            "str",
            required=False,
            nullable=True,
            max_length=64,
            description="where the result comes from when the item was not decided by this "
            "system (post-clearance audit, another selectivity system); null: an item this "
            "system decided. Such rows are kept apart from the training labels",
        ),
        FieldSpec(
            "recommended_channel",
            "str",
            required=False,
            nullable=True,
            choices=CHANNELS,
            description="the channel the selectivity system recommended when the officer "
            "applied another (channel is the one applied); null: the recommendation was "
            "applied, or unknown",
        ),
        FieldSpec(
            "override_reason",
            "str",
            required=False,
            nullable=True,
            min_length=1,
            max_length=200,
            description="why the officer applied another channel than recommended",
        ),
    ),
    key=tuple(KEY),
    description="One inspection result; recovered_revenue null means the source does not say.",
)


class RuleViolation(NamedTuple):
    """One refused row: its position in the batch or file (None: the whole batch), the field
    and the reason."""

    row: int | None
    field: str
    reason: str


def _known(values: pd.Series) -> np.ndarray:
    """A boolean test's result with unknown (null) values as False."""
    return np.asarray(values.astype("boolean").fillna(False), dtype=bool)


def outcome_rule_masks(frame: pd.DataFrame) -> list[tuple[str, str, np.ndarray]]:
    """The rules across an outcome's fields (DESIGN.md "Rules"), as (field, reason, rows that
    break it) with one boolean per row of ``frame``:

    - fraud_type is "none" exactly when fraud_found is false (a null fraud_type: unknown, allowed);
    - critical implies fraud_found;
    - recovered_revenue > 0 implies fraud_found;
    - an override_reason only where recommended_channel names another channel than the one
      applied (channel).

    ``frame`` holds typed columns (after coercion); an absent optional column and a null value
    break no rule (values of the wrong type or outside the enumeration are the field checks'
    business).
    """
    n = len(frame)

    def test(column: str, check: Callable[[pd.Series], pd.Series]) -> np.ndarray:
        if column not in frame:
            return np.zeros(n, dtype=bool)
        return _known(check(frame[column]))

    found = test("fraud_found", lambda s: s.eq(True))
    not_found = test("fraud_found", lambda s: s.eq(False))
    type_none = test("fraud_type", lambda s: s.eq("none"))
    type_offence = test("fraud_type", lambda s: s.isin(FRAUD_TYPES[1:]))
    critical = test("critical", lambda s: s.eq(True))
    revenue = test("recovered_revenue", lambda s: s.gt(0))
    reason = test("override_reason", lambda s: s.notna())
    overridden = np.zeros(n, dtype=bool)
    if "recommended_channel" in frame and "channel" in frame:
        recommended = frame["recommended_channel"]
        overridden = _known(recommended.notna() & recommended.ne(frame["channel"]))
    return [
        (
            "fraud_type",
            "an offence type though fraud_found is false (none exactly when no fraud was found)",
            not_found & type_offence,
        ),
        (
            "fraud_type",
            "none though fraud_found is true (none exactly when no fraud was found)",
            found & type_none,
        ),
        (
            "critical",
            "true though fraud_found is false (critical implies fraud_found)",
            not_found & critical,
        ),
        (
            "recovered_revenue",
            "above 0 though fraud_found is false (recovered revenue implies fraud_found)",
            not_found & revenue,
        ),
        (
            "override_reason",
            "given though recommended_channel is null or the channel applied (a reason only "
            "where the officer applied another channel than recommended)",
            reason & ~overridden,
        ),
    ]


def outcome_rule_violations(frame: pd.DataFrame) -> list[RuleViolation]:
    """Every (row, field, reason) of ``frame`` that breaks an outcome rule
    (:func:`outcome_rule_masks`), by row (positions, 0-based), then in rule order."""
    found = [
        RuleViolation(int(row), field, reason)
        for field, reason, mask in outcome_rule_masks(frame)
        for row in np.flatnonzero(mask)
    ]
    return sorted(found, key=lambda v: v.row or 0)


def outcome_link_masks(
    outcomes: pd.DataFrame, items: pd.DataFrame, unknown: str
) -> list[tuple[str, str, np.ndarray]]:
    """The rules between an outcome and the item it reports on, as (field, reason, rows that
    break it), like :func:`outcome_rule_masks`; ``items`` holds the known items (KEY and
    ``declared_at``: the declarations of a dataset, the decisions of the store):

    - the item must be known (``unknown`` is the reason), unless the row names its ``source``;
    - result_at not before the item's declared_at.
    """
    known = items[KEY + ["declared_at"]].groupby(KEY, as_index=False)["declared_at"].min()
    merged = outcomes[KEY + ["result_at"]].merge(known, on=KEY, how="left", indicator=True)
    found = (merged["_merge"] == "both").to_numpy()
    sourced = (
        outcomes["source"].notna().to_numpy()
        if "source" in outcomes
        else np.zeros(len(outcomes), dtype=bool)
    )
    early = found & _known(merged["result_at"] < merged["declared_at"])
    return [
        ("declaration_id", unknown, ~found & ~sourced),
        ("result_at", "before the item's declared_at", early),
    ]


def outcome_link_violations(
    outcomes: pd.DataFrame, items: pd.DataFrame, unknown: str
) -> list[RuleViolation]:
    """Every (row, field, reason) of :func:`outcome_link_masks`, by row."""
    found = [
        RuleViolation(int(row), field, reason)
        for field, reason, mask in outcome_link_masks(outcomes, items, unknown)
        for row in np.flatnonzero(mask)
    ]
    return sorted(found, key=lambda v: v.row or 0)


PROFILE_HIT = RecordSpec(
    "profile_hit",
    (
        FieldSpec("id", "str", description="profile id"),
        FieldSpec("title", "str", description="profile title"),
        FieldSpec("instructions", "str", description="what the officer is to do"),
    ),
    description="A risk profile that matched the item (advisory ones included).",
)

LIST_HIT = RecordSpec(
    "list_hit",
    (
        FieldSpec("id", "str", description="list entry id"),
        FieldSpec("kind", "str", choices=LIST_KINDS, description="the list"),
        FieldSpec("title", "str", description="what the entry covers"),
        FieldSpec(
            "channel", "str", choices=CHANNELS[:2], description="the least channel it imposes"
        ),
        FieldSpec(
            "imposed",
            "bool",
            description="whether it imposed its channel (false: a licence reference exempted "
            "the item from a restricted-goods or licence entry)",
        ),
        FieldSpec("instructions", "str", description="what the officer is to do"),
        FieldSpec("source", "str", description="where the entry comes from"),
    ),
    description="A managed-list entry that matched the item.",
)


def _views(*names: str) -> frozenset[str]:
    return frozenset(names)


# A decision: ``required`` fields must be in every decision handed to the store (the others may
# be absent, stored as null); an answer carries every answered field.
DECISION = RecordSpec(
    "decision",
    (
        _id("declaration_id", "the declaration decided"),
        _item_no("the item decided"),
        FieldSpec(
            "office_id",
            "str",
            required=False,
            description="customs office (from the declaration)",
            views=_views("store", "frame"),
        ),
        FieldSpec(
            "declared_at",
            "timestamp",
            required=False,
            description="when the item was lodged (from the declaration; outcome results may "
            "not precede it)",
            views=_views("store"),
        ),
        FieldSpec("channel", "str", choices=CHANNELS, description="the channel decided"),
        FieldSpec(
            "selected_by",
            "str",
            required=False,
            choices=SELECTED_BY,
            description="what decided the channel",
        ),
        FieldSpec(
            "model_channel",
            "str",
            required=False,
            nullable=True,
            choices=CHANNELS,
            description="the model's channel (null: not scored)",
            views=_views("answer", "store", "frame"),
        ),
        FieldSpec(
            "propensity",
            "float",
            required=False,
            ge=0,
            le=1,
            description="P(red or orange) over the random draw",
        ),
        FieldSpec(
            "propensity_red",
            "float",
            required=False,
            ge=0,
            le=1,
            description="P(red) over the random draw",
        ),
        FieldSpec(
            "control_draw",
            "float",
            required=False,
            description="the random control draw u",
            views=_views("frame"),
        ),
        FieldSpec(
            "fraud_probability",
            "float",
            required=False,
            nullable=True,
            description="P(offence found if inspected)",
        ),
        FieldSpec(
            "critical_probability",
            "float",
            required=False,
            nullable=True,
            description="P(critical offence found if inspected)",
            views=_views("answer", "store"),
        ),
        FieldSpec(
            "expected_revenue",
            "float",
            required=False,
            nullable=True,
            description="expected duty recovered by an inspection",
        ),
        FieldSpec(
            "risk_score",
            "float",
            required=False,
            nullable=True,
            description="adjusted ranking key the thresholds apply to",
        ),
        FieldSpec(
            "trader_grade",
            "str",
            required=False,
            nullable=True,
            description="the importer's compliance grade",
            views=_views("answer", "store"),
        ),
        FieldSpec(
            "profile_id",
            "str",
            required=False,
            nullable=True,
            description="the profile that forced the channel",
            views=_views("frame"),
        ),
        FieldSpec(
            "profile_hits",
            "list",
            required=False,
            items=PROFILE_HIT,
            description="profiles that matched, in priority order (the frame holds their ids)",
            views=_views("answer", "store", "frame"),
        ),
        FieldSpec(
            "list_hits",
            "list",
            required=False,
            items=LIST_HIT,
            description="managed-list entries that matched, those imposing the highest channel "
            "first (the frame holds their ids)",
            views=_views("answer", "store", "frame"),
        ),
        FieldSpec(
            "instructions",
            "list",
            required=False,
            items="str",
            description="instructions of the profiles, then of the list entries, that matched",
            views=_views("frame"),
        ),
        FieldSpec(
            "reasons",
            "list",
            required=False,
            items="str",
            description="why: the list entries that matched, then the model's top reasons",
            views=_views("answer", "store", "frame"),
        ),
        FieldSpec(
            "model_version", "str", required=False, nullable=True, description="served model"
        ),
        FieldSpec("policy_version", "str", required=False, description="channel policy"),
    ),
    key=tuple(KEY),
    description="The channel of one item and why.",
    views=DECISION_VIEWS,
)

# Column -> logical type of the contract columns; "str" columns are stored as pandas string
# dtype, timestamps as datetime64. The optional categorical fields are not among them.
DECLARATION_COLUMNS: dict[str, str] = DECLARATION.kinds(categorical=False)
CATEGORICAL_DECLARATION_COLUMNS: tuple[str, ...] = tuple(
    f.name for f in DECLARATION.fields if f.categorical
)
OUTCOME_COLUMNS: dict[str, str] = OUTCOME.kinds()
# The frame decide() returns: column -> pandas dtype.
DECISION_COLUMNS: dict[str, str] = DECISION.dtypes("frame")


# --- pandera ------------------------------------------------------------------------------------

_PANDERA_TYPES: dict[str, type] = {
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "timestamp": pd.Timestamp,
}


def _checks(spec: FieldSpec) -> list[pa.Check]:
    checks: list[pa.Check] = []
    if spec.ge is not None:
        checks.append(pa.Check.ge(spec.ge))
    if spec.le is not None:
        checks.append(pa.Check.le(spec.le))
    if spec.kind == "timestamp":
        checks.append(
            pa.Check.in_range(pd.Timestamp(TIME_MIN), pd.Timestamp(TIME_MAX), include_max=False)
        )
    if spec.choices is not None:
        checks.append(pa.Check.isin(list(spec.choices)))
    if spec.pattern is not None:
        checks.append(pa.Check.str_matches(spec.pattern))
    if spec.min_length is not None or spec.max_length is not None:
        checks.append(pa.Check.str_length(spec.min_length, spec.max_length))
    return checks


def pandera_schema(spec: RecordSpec, name: str, view: str | None = None) -> pa.DataFrameSchema:
    """The pandera schema of a record kind: one frame, types not coerced, extra columns allowed.

    Optional fields (``required=False``) may be absent; present, they are checked.
    """
    columns = {}
    for f in spec.fields_in(view):
        if f.kind == "list":
            raise ValueError(f"{spec.name}.{f.name}: list fields have no pandera column")
        columns[f.name] = pa.Column(
            _PANDERA_TYPES[f.kind],
            checks=_checks(f),
            nullable=f.nullable,
            required=f.required,
            description=f.description,
        )
    return pa.DataFrameSchema(
        columns, strict=False, coerce=False, name=name, description=spec.description
    )


DeclarationSchema: pa.DataFrameSchema = pandera_schema(DECLARATION, "DeclarationSchema")
OutcomeSchema: pa.DataFrameSchema = pandera_schema(OUTCOME, "OutcomeSchema")
