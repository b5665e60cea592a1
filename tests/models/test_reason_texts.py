"""Reason texts an officer understands (issue 18, item 5): over the reasons of 10,000 decisions of
the default world no text names a raw feature or a log value, none contradicts its own counts,
and an item whose trader grade raised its risk score says so."""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from customs_risk.features.config import EXCLUDED_COLUMNS
from customs_risk.models.bundle import RiskModel
from customs_risk.models.reason_texts import REASON_TEMPLATES
from customs_risk.selection.columns import Columns
from customs_risk.selection.reasons import build_reasons, humanise
from tests.conftest import Trained

N_DECISIONS = 10_000
N_EVERY_TEXT = 2_000
SNAKE = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")
LOG = re.compile(r"\blog\b", re.IGNORECASE)
NOT_A_VALUE = re.compile(r"\b(?:None|nan|NaN|inf|missing)\b|-\d[\d,.]* days?\b")
# "<X> <noun ...> in <Y> <noun>", then maybe a raw rate "(<p>% <word>)"
PAIR = re.compile(
    r"\b(no|\d[\d,]*) (?:[a-z]+ ){1,3}in (no|\d[\d,]*) [a-z]+(?: \((\d+(?:\.\d+)?)% [a-z]+\))?"
)
# a rate not said to be an estimate ("offence rate 8% (1 offences in 10 inspections)")
PLAIN_RATE = re.compile(r"(?<!estimated )\brate (\d+(?:\.\d+)?)%")


def _number(text: str) -> int:
    return 0 if text == "no" else int(text.replace(",", ""))


def problems(text: str, features: list[str]) -> list[str]:
    """What is wrong with a reason text for an officer (empty: nothing)."""
    found = []
    if raw := SNAKE.search(text):
        found.append(f"a raw name {raw[0]!r}")
    if LOG.search(text):
        found.append("a log value")
    if empty := NOT_A_VALUE.search(text):
        found.append(f"no value: {empty[0]!r}")
    named = [f for f in features if text.startswith(f"{humanise(f)}: ")]
    if named:
        found.append(f"the fallback of {named[0]}")
    pairs = PAIR.findall(text)
    plain = PLAIN_RATE.findall(text)
    if pairs and plain:  # a rate beside counts is their raw rate, or says it is an estimate
        x, y, _ = pairs[0]
        pairs.append((x, y, plain[0]))
    for x, y, rate in pairs:
        part, whole = _number(x), _number(y)
        if whole == 0:
            found.append(f"{x} in {y}: no history")
        elif part > whole:
            found.append(f"{x} in {y}: more than all")
        elif rate and abs(100.0 * part / whole - float(rate)) > 0.51:
            found.append(f"{x} in {y} is not {rate}%")
    return found


def _all_problems(texts: list[str], features: list[str]) -> dict[str, list[str]]:
    return {t: p for t in set(texts) if (p := problems(t, features))}


def _after_the_world(declarations: pd.DataFrame) -> pd.DataFrame:
    """The items lodged again after the world's last day, as the service would see them (the
    model's history all before them), in the same order and spacing."""
    at = declarations["declared_at"]
    return declarations.assign(declared_at=at + (at.max() - at.min() + pd.Timedelta(days=1)))


@pytest.fixture(scope="module")
def model(trained: Trained) -> RiskModel:
    result: Any = trained.result
    bundle = result.bundle
    assert isinstance(bundle, RiskModel)
    return bundle


@pytest.fixture(scope="module")
def items(small_world: Path) -> pd.DataFrame:
    declarations = pd.read_parquet(small_world / "declarations.parquet")
    return _after_the_world(declarations.tail(N_DECISIONS).reset_index(drop=True))


def test_every_feature_the_model_can_use_has_a_template(model: RiskModel) -> None:
    columns = model.state.feature_columns
    assert [c for c in columns if c not in REASON_TEMPLATES and c not in EXCLUDED_COLUMNS] == []


def test_every_template_reads_for_an_officer_on_real_items(
    model: RiskModel, items: pd.DataFrame
) -> None:
    """Every feature's text for every one of 2,000 items (not only those the model ranks)."""
    frame = items.head(N_EVERY_TEXT)
    features = model.state.feature_columns
    matrix = model.matrix(frame)
    columns = Columns.of_frames(frame)
    rows = np.arange(len(frame))
    context = {name: partial(columns.values_at, name, rows) for name in columns.names()}
    values = model.reason_values(matrix, context)
    every = np.ones((len(frame), len(features)))
    texts = build_reasons(every, features, values, REASON_TEMPLATES, top_k=len(features))
    flat = [t for row in texts for t in row]
    assert len(flat) > N_EVERY_TEXT * len(features) // 2
    assert _all_problems(flat, features) == {}


def test_reasons_of_10000_decisions(model: RiskModel, items: pd.DataFrame) -> None:
    decisions = model.decide(items)
    reasons = decisions["reasons"].tolist()
    assert sum(bool(r) for r in reasons) > 1_000
    features = model.state.feature_columns
    assert _all_problems([t for r in reasons for t in r], features) == {}
    grades = model.score(items)["trader_grade"].to_numpy(dtype=object)
    factors = model.policy.grade_factors_of(grades)
    explained = [i for i, r in enumerate(reasons) if r]
    raised = [i for i in explained if factors[i] > 1]
    assert len(raised) > 100
    for i in explained:
        said = [t for t in reasons[i] if "risk score x" in t]
        if factors[i] > 1:
            assert said == [t for t in said if f"grade {grades[i]} " in t], reasons[i]
            assert len(said) == 1 and f"risk score x{factors[i]:.1f}" in said[0], reasons[i]
        else:
            assert said == [], reasons[i]
