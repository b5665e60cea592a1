"""One definition per record kind: the pandera schemas, the column types, the API models and the
store's tables are derived from ``data.contracts`` (a field added to a spec appears in all of
them), and booleans and numbers follow one rule (``data.coercion``) in all three intakes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from pydantic import TypeAdapter, ValidationError

from customs_risk.data import coercion, contracts
from customs_risk.data.contracts import (
    DECISION,
    DECISION_COLUMNS,
    DECLARATION,
    DECLARATION_COLUMNS,
    OUTCOME,
    OUTCOME_COLUMNS,
    DeclarationSchema,
    FieldSpec,
    OutcomeSchema,
    RecordSpec,
    pandera_schema,
)
from customs_risk.selection import kernel
from customs_risk.serving.decision_writer import decision_rows
from customs_risk.serving.schemas import (
    DECISION_ANSWER_FIELDS,
    DECLARATION_FIELDS,
    Decision,
    Declaration,
    Outcome,
    ProfileHit,
    spec_model,
)
from customs_risk.serving.store import (
    DECISION_STORE_COLUMNS,
    OutcomeRejected,
    Store,
    decisions_table,
    outcomes_table,
    spec_columns,
)

from .conftest import make_outcomes

DECISION_STORE_ONLY = [
    "id",
    "decided_at",
    "input_digest",
    "profile_ids",
    "request_id",
    "client_key",
]


def _declaration(**changes: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "declaration_id": "D1",
        "item_no": 1,
        "declared_at": "2025-01-01T10:00:00+02:00",
        "office_id": "OFC001",
        "importer_id": "IMP001",
        "declarant_id": "DCL001",
        "hs_code": "851712",
        "origin_country": "CN",
        "departure_country": "CN",
        "transport_mode": "air",
        "quantity": 2,
        "net_mass_kg": 1.5,
        "customs_value": 100.0,
        "tariff_rate": 5,
        "duty_declared": 5.0,
    }
    return {**item, **changes}


def _outcome(**changes: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "declaration_id": "D1",
        "item_no": 1,
        "channel": "red",
        "result_at": "2025-01-02T10:00:00Z",
        "fraud_found": True,
        "fraud_type": "undervaluation",
        "critical": False,
        "recovered_revenue": 12.5,
    }
    return {**item, **changes}


# --- every derivation lists the spec's fields ---------------------------------------------------


def test_derived_views_list_the_spec_fields() -> None:
    assert list(DeclarationSchema.columns) == list(DECLARATION.names())
    assert list(OutcomeSchema.columns) == list(OUTCOME.names())
    core = [f.name for f in DECLARATION.fields if not f.categorical]
    assert list(DECLARATION_COLUMNS) == core
    assert list(DECLARATION_FIELDS) == list(DECLARATION.names())
    assert list(OUTCOME_COLUMNS) == list(OUTCOME.names())
    assert list(DECISION_COLUMNS) == list(DECISION.names("frame"))
    assert list(Declaration.model_fields) == list(DECLARATION.names())
    assert list(Outcome.model_fields) == list(OUTCOME.names())
    assert list(Decision.model_fields) == list(DECISION.names("answer"))
    assert list(DECISION_ANSWER_FIELDS) == list(DECISION.names("answer"))
    assert list(ProfileHit.model_fields) == list(contracts.PROFILE_HIT.names())
    stored_outcome = [*OUTCOME.names(), "received_at", "client_key"]
    assert [c.name for c in outcomes_table.columns] == stored_outcome
    stored = set(c.name for c in decisions_table.columns) - set(DECISION_STORE_ONLY)
    assert [n for n in DECISION.names("store") if n in stored] == list(DECISION.names("store"))
    assert stored == set(DECISION.names("store"))
    assert set(DECISION_STORE_COLUMNS) == {c.name for c in decisions_table.columns}


def test_kinds_agree_across_derivations() -> None:
    pandera_types = {"str": "string", "int": "int64", "float": "float64", "bool": "bool"}
    for f in OUTCOME.fields:
        column = OutcomeSchema.columns[f.name]
        assert column.nullable == f.nullable and column.required == f.required, f.name
        if f.kind in pandera_types:
            assert pandera_types[f.kind] in str(column.dtype), f.name
        sql = outcomes_table.c[f.name]
        assert sql.nullable == (f.nullable or not f.required) or sql.primary_key, f.name
    assert {c: t for c, t in DECISION_COLUMNS.items() if t != "object"} == {
        f.name: contracts.PANDAS_DTYPES[f.kind]
        for f in DECISION.fields_in("frame")
        if f.kind != "list"
    }
    # the decision kernel's names are the contract's
    assert set(kernel.CHANNELS) == set(contracts.CHANNELS)
    assert tuple(kernel.SELECTED_BY) == contracts.SELECTED_BY


def test_a_field_added_to_a_spec_appears_everywhere() -> None:
    extra = FieldSpec("container_count", "int", required=False, nullable=True, ge=0, le=500)
    spec = dataclasses.replace(OUTCOME, fields=(*OUTCOME.fields, extra))
    schema = pandera_schema(spec, "Extended")
    assert list(schema.columns) == [*OUTCOME.names(), "container_count"]
    model = spec_model(spec, "Extended")
    assert list(model.model_fields) == [*OUTCOME.names(), "container_count"]
    assert model.model_validate(_outcome(container_count=3)).model_dump()["container_count"] == 3
    with pytest.raises(ValidationError, match="container_count"):
        model.model_validate(_outcome(container_count=501))
    with pytest.raises(ValidationError, match="container_count"):
        model.model_validate(_outcome(container_count="3"))
    table = sa.Table("extended", sa.MetaData(), *spec_columns(spec))
    assert table.c["container_count"].nullable
    assert [c.name for c in table.primary_key] == ["declaration_id", "item_no"]
    assert spec.kinds()["container_count"] == "int"
    assert spec.dtypes()["container_count"] == "int64"


def test_spec_is_checked() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        RecordSpec("x", (FieldSpec("a", "str"), FieldSpec("a", "int")))
    with pytest.raises(ValueError, match="key"):
        RecordSpec("x", (FieldSpec("a", "str"),), key=("b",))
    with pytest.raises(ValueError, match="pattern"):
        FieldSpec("a", "int", pattern="^1$")
    with pytest.raises(ValueError, match="items"):
        FieldSpec("a", "list")
    with pytest.raises(ValueError, match="views"):
        RecordSpec("x", (FieldSpec("a", "str", views=frozenset({"nowhere"})),))


# --- the API models ------------------------------------------------------------------------------


def test_declaration_model_keeps_the_service_rules() -> None:
    d = Declaration.model_validate(_declaration(extra_field="kept"))
    assert d.declared_at == dt.datetime(2025, 1, 1, 8, 0)  # zone -> naive UTC
    assert d.model_extra == {"extra_field": "kept"}
    assert isinstance(d.quantity, float) and d.quantity == 2.0  # an int is a number
    assert d.record()["procedure_code"] is None
    for field, value in [
        ("declaration_id", "x" * 65),
        ("declaration_id", ""),
        ("item_no", 0),
        ("hs_code", "12"),
        ("origin_country", "cn"),
        ("declared_at", "1980-01-01T00:00:00"),
        ("customs_value", float("inf")),
        ("customs_value", -1.0),
        ("tariff_rate", 1001),
        ("procedure_code", "p" * 65),
    ]:
        with pytest.raises(ValidationError) as err:
            Declaration.model_validate(_declaration(**{field: value}))
        assert err.value.errors()[0]["loc"] == (field,), (field, value)


def test_customs_value_zero_is_accepted() -> None:
    """The contract allows 0 (no commercial value; KCS has such items): so does the API."""
    assert Declaration.model_validate(_declaration(customs_value=0)).customs_value == 0.0
    assert Declaration.model_validate(_declaration(customs_value=0.0)).customs_value == 0.0


@pytest.mark.parametrize("value", ["12.5", True, "1e3", None])
def test_numbers_are_strict_in_the_api(value: object) -> None:
    with pytest.raises(ValidationError) as err:
        Declaration.model_validate(_declaration(customs_value=value))
    assert err.value.errors()[0]["loc"] == ("customs_value",)


@pytest.mark.parametrize("value", ["1", True, 1.5, "one"])
def test_integers_are_strict_in_the_api(value: object) -> None:
    with pytest.raises(ValidationError) as err:
        Outcome.model_validate(_outcome(item_no=value))
    assert err.value.errors()[0]["loc"] == ("item_no",)


@pytest.mark.parametrize("value", ["yes", 1, "1", "true", 0, "false", None])
def test_booleans_are_strict_in_the_api(value: object) -> None:
    with pytest.raises(ValidationError) as err:
        Outcome.model_validate(_outcome(fraud_found=value))
    assert err.value.errors()[0]["loc"] == ("fraud_found",)
    body = {**_outcome(), "fraud_found": value}
    with pytest.raises(ValidationError, match="fraud_found"):
        Outcome.model_validate_json(json.dumps(body))


def test_outcome_model_forbids_extra_fields_and_takes_real_booleans() -> None:
    with pytest.raises(ValidationError, match="extra"):
        Outcome.model_validate(_outcome(inspector="x"))
    assert Outcome.model_validate(_outcome(fraud_found=np.bool_(False))).fraud_found is False
    unknown = Outcome.model_validate(_outcome(fraud_type=None, recovered_revenue=None))
    assert unknown.fraud_type is None and unknown.recovered_revenue is None


def test_openapi_schema_is_plain() -> None:
    schema = Declaration.model_json_schema()
    assert schema["additionalProperties"] is True
    props = schema["properties"]
    assert props["item_no"]["minimum"] == 1 and props["item_no"]["type"] == "integer"
    assert props["customs_value"]["minimum"] == 0 and props["customs_value"]["type"] == "number"
    assert props["declaration_id"]["maxLength"] == 64
    assert all(p.get("description") for p in props.values())
    assert Outcome.model_json_schema()["additionalProperties"] is False
    assert Outcome.model_json_schema()["properties"]["fraud_found"]["type"] == "boolean"
    decision = Decision.model_json_schema()
    assert decision["required"] == list(DECISION.names("answer"))


# --- the store and the decision writer -----------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("fraud_found", "yes", "not a boolean"),
        ("fraud_found", 1, "not a boolean"),
        ("fraud_found", "1", "not a boolean"),
        ("critical", "true", "not a boolean"),
        ("recovered_revenue", "12.5", "not a number"),
        ("recovered_revenue", True, "not a number"),
        ("item_no", "2", "not an integer"),
    ],
)
def test_store_refuses_non_booleans_and_non_numbers(
    tmp_path: Path, field: str, value: object, reason: str
) -> None:
    records = make_outcomes(6).to_dict(orient="records")
    records[4][field] = value
    with Store(f"sqlite:///{tmp_path / 'store.db'}") as store:
        with pytest.raises(OutcomeRejected) as err:
            store.add_outcomes(records, check_decided=False)
        assert store.counts()["outcomes"] == 0
    assert (err.value.field, err.value.row, err.value.reason) == (field, 4, reason)
    assert field in str(err.value) and "row 4" in str(err.value)


def test_store_takes_pandas_booleans_and_ints_for_floats(tmp_path: Path) -> None:
    rows = make_outcomes(5)
    rows["fraud_found"] = rows["fraud_found"].astype("boolean")
    rows["recovered_revenue"] = np.arange(5, dtype=np.int64)
    rows["fraud_found"] = True
    rows["fraud_type"] = "undervaluation"  # the rules: an offence type with fraud found
    with Store(f"sqlite:///{tmp_path / 'store.db'}") as store:
        assert store.add_outcomes(rows, check_decided=False)["inserted"] == 5
        back = store.outcomes_frame()
    assert back["fraud_found"].dtype == bool and back["recovered_revenue"].dtype == np.float64


def test_decision_rows_take_the_stored_fields(tmp_path: Path) -> None:
    item = Declaration.model_validate(_declaration())
    answer = {name: None for name in DECISION_ANSWER_FIELDS}
    answer.update(
        declaration_id="D1",
        item_no=1,
        channel="red",
        selected_by="model",
        propensity=1.0,
        propensity_red=1.0,
        policy_version="p-1",
        profile_hits=[{"id": "P-1", "title": "t", "instructions": "i"}],
        reasons=[],
    )
    when = dt.datetime(2025, 1, 1, 9)
    stored = decision_rows([answer], [item], "req-1", when)
    (row,) = stored.decisions
    assert set(row) == {c.name for c in decisions_table.columns} - {"id"}
    assert row["office_id"] == "OFC001" and row["profile_ids"] == '["P-1"]'
    assert row["declared_at"] == item.declared_at and row["client_key"] is None
    with Store(f"sqlite:///{tmp_path / 'store.db'}") as store:
        assert store.add_decision_records([row], stored.declarations) == 1
        assert store.add_decision_records([row], stored.declarations) == 1  # declaration kept once
        with store.engine.connect() as conn:
            (declared,) = conn.execute(sa.text("SELECT * FROM declarations")).mappings().all()
        assert declared["input_digest"] == row["input_digest"] and declared["office_id"] == "OFC001"
        assert store.decisions_frame()["channel"].tolist() == ["red", "red"]  # two decisions


# the tables as the first releases created them (SQLAlchemy's SQLite DDL of that code)
_OLD_DDL = [
    """CREATE TABLE outcomes (
        declaration_id VARCHAR NOT NULL, item_no BIGINT NOT NULL, channel VARCHAR NOT NULL,
        result_at DATETIME NOT NULL, fraud_found BOOLEAN NOT NULL, fraud_type VARCHAR,
        critical BOOLEAN NOT NULL, recovered_revenue FLOAT, received_at DATETIME NOT NULL,
        PRIMARY KEY (declaration_id, item_no))""",
    """CREATE TABLE decisions (
        id INTEGER NOT NULL, decided_at DATETIME NOT NULL, declaration_id VARCHAR NOT NULL,
        item_no BIGINT NOT NULL, office_id VARCHAR, input_digest VARCHAR(64),
        channel VARCHAR NOT NULL, selected_by VARCHAR, propensity FLOAT, propensity_red FLOAT,
        fraud_probability FLOAT, expected_revenue FLOAT, risk_score FLOAT, profile_ids TEXT,
        model_version VARCHAR, policy_version VARCHAR, request_id VARCHAR, PRIMARY KEY (id))""",
    "CREATE INDEX ix_decisions_key ON decisions (declaration_id, item_no)",
]


def test_an_existing_sqlite_store_keeps_working(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for ddl in _OLD_DDL:
            conn.exec_driver_sql(ddl)
    engine.dispose()
    rows = make_outcomes(20)
    with Store(url) as store:
        assert store.add_outcomes(rows, check_decided=False) == {"inserted": 20, "duplicates": 0}
        item = Declaration.model_validate(_declaration())
        answer = dict.fromkeys(DECISION_ANSWER_FIELDS)
        answer.update(declaration_id="D1", item_no=1, channel="green", profile_hits=[])
        when = dt.datetime(2025, 1, 1)
        store.add_decision_records(*decision_rows([answer], [item], "r", when))
        key = ["declaration_id", "item_no"]
        pd.testing.assert_frame_equal(
            store.outcomes_frame().sort_values(key).reset_index(drop=True),
            rows.sort_values(key).reset_index(drop=True),
        )
        assert store.decisions_frame()["office_id"].tolist() == ["OFC001"]
    with sa.create_engine(url).connect() as conn:
        columns = [c["name"] for c in sa.inspect(conn).get_columns("decisions")]
    assert set(columns) == set(DECISION_STORE_COLUMNS)  # nothing added, nothing renamed


# --- one rule: scalars, columns and the API agree ------------------------------------------------

_VALUES: list[object] = [
    True,
    False,
    np.bool_(True),
    0,
    1,
    2,
    -3,
    1.0,
    2.5,
    np.int64(4),
    np.float64(2.0),
    np.float64(0.5),
    "1",
    "0",
    "true",
    "yes",
    "12.5",
    "",
    b"1",
    dt.datetime(2025, 1, 1),
]


@pytest.mark.parametrize("kind", ["bool", "int", "float"])
def test_scalars_columns_and_pydantic_agree(kind: str) -> None:
    scalar = {"bool": coercion.is_boolean, "int": coercion.is_integer, "float": coercion.is_number}
    column = {
        "bool": coercion.not_boolean,
        "int": coercion.not_integer,
        "float": coercion.not_number,
    }
    adapter = TypeAdapter(coercion.pydantic_type(kind))
    expected = [scalar[kind](v) for v in _VALUES]
    bad = column[kind](pd.Series(_VALUES, dtype=object))
    assert (~bad).tolist() == expected
    for value, ok in zip(_VALUES, expected, strict=True):
        try:
            adapter.validate_python(value)
            accepted = True
        except ValidationError:
            accepted = False
        if kind == "float" and isinstance(value, np.bool_):
            # pydantic-core's strict float takes a numpy bool in Python mode: no JSON value is
            # one, and a Python-level check would cost every float of every request
            continue
        assert accepted == ok, (kind, value)


def test_typed_columns_follow_the_rule() -> None:
    assert not coercion.not_boolean(pd.Series([True, False])).any()
    assert not coercion.not_boolean(pd.Series([True, None], dtype="boolean")).any()
    assert coercion.not_boolean(pd.Series([1, 0])).all()  # a 0/1 column is not boolean
    assert coercion.not_boolean(pd.Series(["true", "false"])).all()
    assert coercion.not_number(pd.Series(["1.5", "2"])).all()
    assert coercion.not_number(pd.Series([True, False])).all()
    assert not coercion.not_number(pd.Series([1, 2])).any()
    assert coercion.not_integer(pd.Series([1.0, 1.5, np.inf, np.nan])).tolist() == [
        False,
        True,
        True,
        False,
    ]
    np.testing.assert_array_equal(coercion.to_int(pd.Series([3.0, np.nan])), [3, 0])
    np.testing.assert_array_equal(
        coercion.to_boolean(pd.Series([True, None], dtype="boolean")), [True, False]
    )


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_head_migration_builds_the_store_schema(tmp_path: Path, backend: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    import customs_risk.platform.tables  # noqa: F401  (their tables join the metadata)
    import customs_risk.serving.profile_store  # noqa: F401
    from customs_risk.serving.store import metadata

    assert "platform_users" in metadata.tables and "profile_versions" in metadata.tables
    with Store(f"sqlite:///{tmp_path / 'migrated.db'}") as store:
        store.create()
        with store.engine.connect() as conn:
            context = MigrationContext.configure(conn)
            assert compare_metadata(context, metadata) == []  # the tables the code writes
            assert context.get_current_revision() == "0005"
