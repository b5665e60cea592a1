"""Trader compliance grades: the rule, one rule for features and register, agreement with truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from customs_risk.features.config import GradeRule
from customs_risk.features.grades import GRADES, grade_codes, grade_importers
from customs_risk.features.pipeline import FeaturePipeline


def _stats(**overrides: float) -> dict[str, np.ndarray]:
    base = {
        "n_decl": 500.0,
        "n_insp": 40.0,
        "n_fraud": 0.0,
        "n_critical": 0.0,
        "fraud_rate": 0.01,
        "days_since_first": 600.0,
        "days_since_fraud": np.nan,
    }
    base.update(overrides)
    return {k: np.array([v], dtype=np.float64) for k, v in base.items()}


@pytest.mark.parametrize(
    ("overrides", "grade"),
    [
        ({}, "A"),
        ({"n_insp": 3.0}, "B"),
        ({"days_since_first": 100.0}, "B"),
        ({"n_fraud": 1.0, "fraud_rate": 0.04, "days_since_fraud": 1000.0}, "B"),
        ({"n_fraud": 1.0, "fraud_rate": 0.06, "days_since_fraud": 400.0}, "C"),
        ({"n_fraud": 1.0, "fraud_rate": 0.04, "days_since_fraud": 30.0}, "C"),
        ({"n_decl": 4.0, "n_insp": 0.0, "fraud_rate": 0.05}, "C"),
        ({"n_fraud": 3.0, "fraud_rate": 0.2, "days_since_fraud": 500.0}, "D"),
        ({"n_fraud": 1.0, "n_critical": 1.0, "fraud_rate": 0.03, "days_since_fraud": 90.0}, "D"),
    ],
)
def test_grade_rule(overrides, grade) -> None:
    code = grade_codes(_stats(**overrides), np.array([0.05]), GradeRule())
    assert GRADES[int(code[0])] == grade


def test_state_and_history_give_the_same_register(world) -> None:
    declarations, outcomes = world
    as_of = pd.Timestamp("2024-02-20")
    from_history = grade_importers((declarations, outcomes), as_of)
    state = FeaturePipeline().fit(declarations, outcomes, as_of=pd.Timestamp("2024-02-10"))
    from_state = grade_importers(state, as_of)
    merged = from_history.merge(from_state, on="importer_id", suffixes=("", "_state"))
    assert len(merged) == len(from_history) == len(from_state)
    # the state knows only declarations before Feb 10, the history those before Feb 20
    assert (merged["n_declarations"] >= merged["n_declarations_state"]).all()
    assert set(from_history["grade"].unique()) <= set(GRADES)
    assert from_history["reasons"].str.len().min() > 0
    with pytest.raises(ValueError):
        grade_importers(state, pd.Timestamp("2024-02-01"))


def test_row_grade_equals_register_grade_at_that_time(world) -> None:
    """The feature ``importer_grade`` of a row is the register's grade at the row's instant."""
    declarations, outcomes = world
    pipeline = FeaturePipeline()
    pipeline.fit(declarations, outcomes)
    features = pipeline.transform(declarations, outcomes=outcomes)
    day = pd.Timestamp("2024-02-25")
    first = declarations[declarations["declared_at"] >= day].sort_values("declared_at").iloc[0]
    register = grade_importers((declarations, outcomes), first["declared_at"])
    expected = register.set_index("importer_id").loc[first["importer_id"], "grade"]
    assert features.loc[first.name, "importer_grade"] == expected


def test_grades_agree_with_hidden_propensities() -> None:
    generator = pytest.importorskip("customs_risk.data.generator")
    from customs_risk.data.world_config import WorldConfig

    world = generator.generate_world(WorldConfig(), 150_000, seed=11)
    cut = pd.Timestamp("2024-07-01")
    graded = grade_importers(world, cut)
    truth = world.truth
    later = truth[truth["declared_at"] >= cut]
    future_rate = later.groupby("importer_id")["is_offence"].mean().rename("future_rate")
    table = graded.merge(future_rate, on="importer_id")
    by_grade = table.groupby("grade", observed=True)["future_rate"].mean()
    counts = table["grade"].value_counts()
    assert counts["D"] >= 10 and counts["B"] >= 10
    compliant = table.loc[table["grade"].isin(["A", "B"]), "future_rate"].mean()
    assert by_grade["D"] > 2 * compliant
    assert by_grade["D"] > by_grade["C"] > compliant
