"""Selection strategies, plug-ins by name: each week a strategy gets a ``WeekView`` (the
declarations, the model's scores, the offices' capacity: never the truth) and returns a
``Selection``; results come back through ``observe`` once they arrive."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from customs_risk.simulation.capacity import Capacity, top_per_office
from customs_risk.simulation.model import Scores

ARMS = (0.0, 0.025, 0.05, 0.1, 0.2, 0.3)  # exploration shares the adaptive bandit plays


@dataclass(frozen=True)
class WeekView:
    """What a strategy may read about a week (no truth column reaches it)."""

    week: int
    start: pd.Timestamp
    declarations: pd.DataFrame
    scores: Scores
    legacy_channel: np.ndarray  # the world's own policy's channel per row
    capacity: Capacity
    reference: dict | None  # the model's validation risk distribution (models.drift)
    rng: np.random.Generator


@dataclass(frozen=True)
class Selection:
    """Rows inspected, those of them explored (chosen off the model's ranking), the order in
    which they go red first, the exploration share aimed at and the week's drift."""

    chosen: np.ndarray
    explored: np.ndarray
    priority: np.ndarray
    explore_share: float
    psi: float = float("nan")


@dataclass(frozen=True)
class Feedback:
    """Results that arrived in a week: outcome rows with ``decided_week``, ``explored`` and
    ``fraud_probability`` (the score when decided)."""

    week: int
    results: pd.DataFrame


class Strategy(ABC):
    """Base of the strategies: ``select`` each week, ``observe`` the results that arrive."""

    name = "base"

    def __init__(self, explore: float = 0.1) -> None:
        self.explore = explore

    @abstractmethod
    def select(self, view: WeekView) -> Selection:
        """The week's inspections."""

    def observe(self, feedback: Feedback) -> None:
        """Results of earlier selections (default: ignored)."""
        return None


def gumbel_top(
    view: WeekView, counts: np.ndarray, allowed: np.ndarray, weights: np.ndarray | None
) -> np.ndarray:
    """Per office ``counts`` rows among ``allowed`` drawn without replacement, with
    probability in proportion to ``weights`` (uniform: None); seeded by the view's rng."""
    n = len(allowed)
    keys = -np.log(-np.log(view.rng.random(n).clip(1e-300, 1.0 - 1e-16)))
    if weights is not None:
        keys = keys + np.log(np.maximum(weights, 1e-12))
    return top_per_office(keys, view.capacity.office, counts, allowed)


def explore_exploit(view: WeekView, share: float, weights: np.ndarray | None = None) -> Selection:
    """The top of the model's ranking for ``1 - share`` of each office's capacity, the rest
    drawn among the office's other rows (``weights``: in proportion to them)."""
    cap = view.capacity
    n_explore = int(round(share * cap.total))
    explore = cap.split(n_explore)
    exploited = top_per_office(view.scores.risk, cap.office, cap.quota - explore)
    explored = gumbel_top(view, explore, ~exploited, weights)
    return Selection(exploited | explored, explored, view.scores.risk, share)


class Exploit(Strategy):
    """The model's risk ranking, nothing else."""

    name = "exploit"

    def select(self, view: WeekView) -> Selection:
        return explore_exploit(view, 0.0)


class Random(Strategy):
    """Every inspection drawn at random (the whole selection is a control group)."""

    name = "random"

    def select(self, view: WeekView) -> Selection:
        keys = view.rng.random(len(view.declarations))
        chosen = top_per_office(keys, view.capacity.office, view.capacity.quota)
        return Selection(chosen, chosen.copy(), keys, 1.0)


class Legacy(Strategy):
    """The world's own legacy channels: its red first, then its orange, within capacity; free
    capacity goes to random rows."""

    name = "legacy"

    def select(self, view: WeekView) -> Selection:
        rank = {"red": 2.0, "orange": 1.0}
        level = np.array([rank.get(c, 0.0) for c in view.legacy_channel])
        priority = level + 0.5 * view.rng.random(len(level))
        chosen = top_per_office(priority, view.capacity.office, view.capacity.quota)
        return Selection(chosen, np.zeros_like(chosen), priority, 0.0)


class Hybrid(Strategy):
    """A fixed exploration share (``--explore``), the explored rows drawn at random."""

    name = "hybrid"

    def select(self, view: WeekView) -> Selection:
        return explore_exploit(view, self.explore)


class Bate(Strategy):
    """bATE-like: the explored rows drawn in proportion to uncertainty x predicted revenue
    (sqrt(p (1 - p)) x the expected revenue of an offence)."""

    name = "bate"

    def select(self, view: WeekView) -> Selection:
        p = np.clip(view.scores.fraud_probability, 1e-4, 1 - 1e-4)
        severity = view.scores.expected_revenue / p
        weights = np.sqrt(p * (1 - p)) * np.maximum(severity, 1e-6)
        return explore_exploit(view, self.explore, weights)


class Drift(Strategy):
    """Exploration raised with the drift of the week's scores from the model's validation
    window: share = explore x PSI / 0.1, between explore / 2 and 3 x explore."""

    name = "drift"

    def select(self, view: WeekView) -> Selection:
        from customs_risk.models.drift import bin_counts, psi

        value = float("nan")
        share = self.explore
        if view.reference is not None:
            value = psi(view.reference, bin_counts(view.reference, view.scores.risk))
            if math.isfinite(value):
                share = float(
                    np.clip(self.explore * value / 0.1, self.explore / 2, 3 * self.explore)
                )
        selection = explore_exploit(view, min(share, 1.0))
        return Selection(
            selection.chosen, selection.explored, selection.priority, selection.explore_share, value
        )


@dataclass
class _Play:
    arm: int
    expected: int  # results to wait for
    rows: list[pd.DataFrame] = field(default_factory=list)

    @property
    def arrived(self) -> int:
        return sum(len(r) for r in self.rows)


class Adaptive(Strategy):
    """The exploration share chosen each week by a UCB1 bandit over ``ARMS``; a week's reward,
    once all its results are in, is its hit rate plus the explored rows' surprise: how much
    more often they were found than the model predicted, relative to the exploited rows' hit
    rate, times the share explored (a model that misses a pattern makes exploring pay)."""

    name = "adaptive"

    def __init__(self, explore: float = 0.1, bonus: float = 0.15) -> None:
        super().__init__(explore)
        self.bonus = bonus
        self.plays = np.zeros(len(ARMS))
        self.rewarded = np.zeros(len(ARMS))
        self.total = np.zeros(len(ARMS))
        self.pending: dict[int, _Play] = {}
        self.rewards: list[tuple[int, int, float]] = []  # (week decided, arm, reward)

    def _arm(self) -> int:
        unplayed = np.flatnonzero(self.plays == 0)
        if len(unplayed):
            return int(unplayed[0])
        t = self.plays.sum()
        mean = np.where(self.rewarded > 0, self.total / np.maximum(self.rewarded, 1), 0.0)
        ucb = mean + self.bonus * np.sqrt(2 * np.log(t) / self.plays)
        return int(np.argmax(ucb))

    def select(self, view: WeekView) -> Selection:
        arm = self._arm()
        self.plays[arm] += 1
        selection = explore_exploit(view, ARMS[arm])
        self.pending[view.week] = _Play(arm, int(selection.chosen.sum()))
        return selection

    def observe(self, feedback: Feedback) -> None:
        for _, rows in feedback.results.groupby("decided_week"):
            week = int(rows["decided_week"].iloc[0])
            play = self.pending.get(week)
            if play is None:
                continue
            play.rows.append(rows)
            if play.arrived >= play.expected:
                reward = self.reward(pd.concat(play.rows))
                self.rewarded[play.arm] += 1
                self.total[play.arm] += reward
                self.rewards.append((week, play.arm, reward))
                del self.pending[week]

    @staticmethod
    def reward(rows: pd.DataFrame) -> float:
        found = rows["fraud_found"].to_numpy(dtype=bool)
        explored = rows["explored"].to_numpy(dtype=bool)
        if not len(found):
            return 0.0
        value = float(found.mean())
        if explored.any() and (~explored).any():
            predicted = float(rows["fraud_probability"].to_numpy()[explored].mean())
            surprise = float(found[explored].mean()) - predicted
            exploit_rate = max(float(found[~explored].mean()), 0.05)
            value += float(explored.mean()) * max(surprise, 0.0) / exploit_rate
        return value


STRATEGIES: dict[str, Callable[..., Strategy]] = {
    s.name: s for s in (Exploit, Random, Legacy, Hybrid, Adaptive, Bate, Drift)
}


def make_strategy(name: str, explore: float = 0.1) -> Strategy:
    """A strategy by name (``STRATEGIES``)."""
    factory = STRATEGIES.get(name)
    if factory is None:
        raise ValueError(f"unknown strategy {name!r}: one of {', '.join(STRATEGIES)}")
    return factory(explore=explore)
