"""Simulation behaviour: the weekly replay is deterministic, respects capacity, labels only what
it inspects, and a model beats random selection (issue 17; the command comes next)."""

from __future__ import annotations

from pathlib import Path

import pytest

from customs_risk.simulation.loop import Simulation
from customs_risk.simulation.settings import SimulationSettings
from customs_risk.simulation.world import load_world


def _run(world: Path, strategy: str, seed: int = 0):
    settings = SimulationSettings(
        world=world,
        start="2024-06-03",
        weeks=6,
        budget=0.05,
        strategy=strategy,
        seed=seed,
        retrain_every=3,
    )
    return Simulation(load_world(world), settings).run()


@pytest.fixture(scope="module")
def runs(small_world: Path) -> dict:
    return {
        "exploit": _run(small_world, "exploit"),
        "again": _run(small_world, "exploit"),
        "random": _run(small_world, "random"),
        "adaptive": _run(small_world, "adaptive"),
    }


def test_replay_is_deterministic_with_a_seed(runs: dict) -> None:
    first, again = runs["exploit"], runs["again"]
    assert first.weeks.drop(columns=[c for c in first.weeks if "second" in c]).equals(
        again.weeks.drop(columns=[c for c in again.weeks if "second" in c])
    )
    assert first.outcomes.equals(again.outcomes)


def test_only_inspected_items_get_results_within_the_budget(runs: dict) -> None:
    for result in runs.values():
        weeks = result.weeks
        assert len(weeks) == 6
        assert (weeks["inspected"] <= (0.05 * weeks["items"]).round() + 1).all()  # capacity
        assert len(result.outcomes) == int(weeks["inspected"].sum())


def test_the_model_finds_more_than_random(runs: dict) -> None:
    assert runs["exploit"].weeks["hits"].sum() > runs["random"].weeks["hits"].sum()
    assert runs["adaptive"].weeks["hits"].sum() > runs["random"].weeks["hits"].sum()
