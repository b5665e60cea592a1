"""The week loop: declarations before the start with the world's outcomes are the history; each
week from the start the model scores the week point in time, the strategy selects within the
offices' capacity, the world inspects (its detection rates and delays), the results reach the
strategy and the live history when their result_at comes, and every K weeks the model is
retrained on the labels known then. The business clock is declared_at."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from customs_risk.data.contracts import KEY
from customs_risk.simulation.capacity import Capacity, red_orange
from customs_risk.simulation.inspection import Inspector
from customs_risk.simulation.metrics import week_figures
from customs_risk.simulation.model import SimModel, train_model
from customs_risk.simulation.settings import SimulationSettings
from customs_risk.simulation.strategies import (
    Feedback,
    Selection,
    Strategy,
    WeekView,
    make_strategy,
)
from customs_risk.simulation.world import SimWorld

WEEK = pd.Timedelta(days=7)
OUTCOME_COLUMNS = [*KEY, "channel", "result_at", "fraud_found", "fraud_type", "critical"]
OUTCOME_COLUMNS.append("recovered_revenue")


@dataclass
class SimulationResult:
    """The weeks' figures and what the run cost."""

    weeks: pd.DataFrame
    outcomes: pd.DataFrame  # the simulated inspections' results
    seconds: dict[str, float] = field(default_factory=dict)
    strategy: Strategy | None = None


class Simulation:
    """One strategy over the weeks of a world (see the module docstring)."""

    def __init__(self, world: SimWorld, settings: SimulationSettings) -> None:
        self.world = world
        self.s = settings
        self.start = pd.Timestamp(settings.start)
        end = self.start + settings.weeks * WEEK
        if not (world.times.min() < self.start.value and end.value <= world.times.max() + 1):
            first = pd.Timestamp(world.times.min()).date()
            last = pd.Timestamp(world.times.max()).date()
            raise ValueError(
                f"start {self.start.date()} + {settings.weeks} weeks is outside the world "
                f"({first} to {last}), or leaves no history before the start"
            )
        self.inspector = Inspector.of(world.config, len(world.declarations), settings.seed)
        self.strategy = make_strategy(settings.strategy, settings.explore)
        self.rng = np.random.default_rng([settings.seed, 3])

    def _train(self, cut: pd.Timestamp, outcomes: pd.DataFrame) -> SimModel:
        n = int(np.searchsorted(self.world.times, cut.value))
        return train_model(
            self.world.declarations.iloc[:n].reset_index(drop=True),
            outcomes,
            cut,
            self.s.model,
            self.s.ranking,
            self.s.seed,
        )

    def run(self, on_week: Callable[[int, dict], None] | None = None) -> SimulationResult:
        w, s = self.world, self.s
        decl, times = w.declarations, w.times
        n_history = int(np.searchsorted(times, self.start.value))
        history_keys = decl[KEY].iloc[:n_history]
        history = w.outcomes.merge(history_keys, on=KEY, how="inner")[OUTCOME_COLUMNS]
        simulated: list[pd.DataFrame] = []
        decided: list[pd.DataFrame] = []  # per inspection: week, explored, score at decision
        seconds = {"train": 0.0, "score": 0.0, "select": 0.0, "advance": 0.0}
        started = time.perf_counter()
        tick = time.perf_counter()
        model = self._train(self.start, history)
        seconds["train"] += time.perf_counter() - tick
        rows_out = []
        for week in range(s.weeks):
            a = self.start + week * WEEK
            b = a + WEEK
            retrained = week == 0
            if week > 0 and s.retrain_every and week % s.retrain_every == 0:
                tick = time.perf_counter()
                model = self._train(a, pd.concat([history, *simulated], ignore_index=True))
                seconds["train"] += time.perf_counter() - tick
                retrained = True
            lo, hi = np.searchsorted(times, [a.value, b.value])
            rows = np.arange(lo, hi)
            frame = decl.iloc[lo:hi].reset_index(drop=True)
            tick = time.perf_counter()
            scores = model.score(frame)
            score_seconds = time.perf_counter() - tick
            seconds["score"] += score_seconds
            tick = time.perf_counter()
            capacity = Capacity.of(frame["office_id"], s.budget, model.policy)
            view = WeekView(
                week, a, frame, scores, w.legacy_channel[rows], capacity, model.reference, self.rng
            )
            selection = self.strategy.select(view)
            self._check(selection, capacity)
            seconds["select"] += time.perf_counter() - tick
            chosen = np.flatnonzero(selection.chosen)
            channel = red_orange(
                selection.chosen, selection.priority, capacity.office, capacity.red_share
            )
            truth = w.truth.take(rows)
            outcomes = self.inspector.inspect(
                rows[chosen],
                channel,
                decl,
                times,
                truth.fraud_type[chosen],
                truth.revenue[chosen],
                truth.critical[chosen],
            )
            simulated.append(outcomes)
            decided.append(
                outcomes[KEY].assign(
                    decided_week=week,
                    explored=selection.explored[chosen],
                    fraud_probability=scores.fraud_probability[chosen],
                )
            )
            arrived = self._arrived(simulated, decided, a, b)
            self.strategy.observe(Feedback(week, arrived))
            tick = time.perf_counter()
            model.advance(frame, outcomes, b)
            seconds["advance"] += time.perf_counter() - tick
            found = np.zeros(len(rows), dtype=bool)
            found[chosen] = outcomes["fraud_found"].to_numpy(dtype=bool)
            red_detect = self.inspector.probability(
                np.zeros(len(rows), dtype=np.int64),
                truth.fraud_type,
                frame["office_id"].to_numpy(),
            )
            figures: dict[str, Any] = dict(week_figures(truth, selection.chosen, found, red_detect))
            explored = int(selection.explored.sum())
            figures.update(
                week=week,
                week_start=a,
                red=float((channel == 0).sum()),
                explored=float(explored),
                exploration_share=explored / max(len(chosen), 1),
                explore_target=selection.explore_share,
                psi=selection.psi,
                labels_gained=float(len(arrived)),
                retrained=retrained,
                score_seconds=score_seconds,
                score_rows_per_second=len(rows) / max(score_seconds, 1e-9),
            )
            rows_out.append(figures)
            if on_week is not None:
                on_week(week, figures)
        seconds["total"] = time.perf_counter() - started
        all_outcomes = pd.concat(simulated, ignore_index=True) if simulated else history.iloc[:0]
        return SimulationResult(pd.DataFrame(rows_out), all_outcomes, seconds, self.strategy)

    @staticmethod
    def _arrived(
        simulated: list[pd.DataFrame], decided: list[pd.DataFrame], a: pd.Timestamp, b: pd.Timestamp
    ) -> pd.DataFrame:
        """The simulated results whose result_at falls in [a, b), with their decision context."""
        # results arrive at most a few weeks after the decision: look back over recent weeks
        recent = slice(max(0, len(simulated) - 8), len(simulated))
        results = pd.concat(simulated[recent], ignore_index=True)
        context = pd.concat(decided[recent], ignore_index=True)
        when = results["result_at"]
        arrived = results[(when >= a) & (when < b)]
        return arrived.merge(context, on=KEY, how="left")

    @staticmethod
    def _check(selection: Selection, capacity: Capacity) -> None:
        """The strategy kept to every office's quota (a bug otherwise, not a user error)."""
        chosen = selection.chosen
        used = np.bincount(capacity.office[chosen], minlength=len(capacity.quota))
        if (used > capacity.quota).any():
            office = capacity.offices[int(np.argmax(used - capacity.quota))]
            raise RuntimeError(f"the strategy exceeded the capacity of office {office}")
