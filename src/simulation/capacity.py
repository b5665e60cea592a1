"""The offices' capacity in a week: each office inspects the budget share of its own items
(scaled by the policy's per-office red + orange share), split red : orange as the policy's
shares; whole items by the largest-remainder rule, so the week's total is the rounded budget."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from customs_risk.selection.policy import ChannelPolicy


def largest_remainder(wanted: np.ndarray, total: int) -> np.ndarray:
    """Whole numbers near ``wanted`` (each its floor or ceiling) summing to ``total``."""
    base = np.floor(wanted).astype(np.int64)
    extra = int(total) - int(base.sum())
    if extra > 0:
        order = np.argsort(-(wanted - base), kind="stable")
        base[order[:extra]] += 1
    return base


@dataclass(frozen=True)
class Capacity:
    """Per office of a week: codes of the rows, office names, quotas and red shares."""

    office: np.ndarray  # per row, index into offices
    offices: list[str]
    quota: np.ndarray  # items each office inspects this week
    red_share: np.ndarray  # of the office's inspections, those sent red

    @classmethod
    def of(cls, office_ids: pd.Series, budget: float, policy: ChannelPolicy) -> Capacity:
        codes, uniques = pd.factorize(office_ids.astype("str"))
        offices = [str(u) for u in uniques]
        counts = np.bincount(codes, minlength=len(offices)).astype(np.float64)
        base = policy.shares.red + policy.shares.orange
        scale, red = [], []
        for office in offices:
            shares = policy.shares_for(office)
            scale.append((shares.red + shares.orange) / base if base > 0 else 1.0)
            total = shares.red + shares.orange
            red.append(shares.red / total if total > 0 else 0.0)
        wanted = np.minimum(counts * budget * np.array(scale), counts)
        quota = largest_remainder(wanted, int(round(float(wanted.sum()))))
        return cls(
            np.asarray(codes), offices, np.minimum(quota, counts.astype(np.int64)), np.array(red)
        )

    @property
    def total(self) -> int:
        return int(self.quota.sum())

    def split(self, total: int) -> np.ndarray:
        """``total`` items spread over the offices in proportion to their quotas (never above)."""
        if self.total == 0:
            return np.zeros_like(self.quota)
        wanted = self.quota * (total / self.total)
        return np.minimum(largest_remainder(wanted, total), self.quota)


def top_per_office(
    priority: np.ndarray, office: np.ndarray, quota: np.ndarray, allowed: np.ndarray | None = None
) -> np.ndarray:
    """Mask of each office's ``quota`` highest-priority rows (among ``allowed``); ties by row."""
    n = len(priority)
    chosen = np.zeros(n, dtype=bool)
    ok = np.ones(n, dtype=bool) if allowed is None else allowed
    rows = np.flatnonzero(ok)
    order = rows[np.lexsort((rows, -priority[rows], office[rows]))]
    if not len(order):
        return chosen
    offices = office[order]
    starts = np.searchsorted(offices, np.arange(len(quota)))
    rank = np.arange(len(order)) - starts[offices]
    chosen[order[rank < quota[offices]]] = True
    return chosen


def red_orange(
    chosen: np.ndarray, priority: np.ndarray, office: np.ndarray, red_share: np.ndarray
) -> np.ndarray:
    """Channel code (0 red, 1 orange) of the chosen rows: each office's highest-priority
    ``red_share`` of its chosen go red."""
    rows = np.flatnonzero(chosen)
    counts = np.bincount(office[rows], minlength=len(red_share))
    n_red = np.round(counts * red_share).astype(np.int64)
    red = top_per_office(priority, office, n_red, chosen)
    return np.where(red[rows], 0, 1).astype(np.int64)
