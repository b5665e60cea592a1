"""Point-in-time entity history: past declarations, inspections, offences, revenue, recency.

A row lodged at t sees the declarations of its entity lodged strictly before t and the outcomes
whose result_at is strictly before t (an outcome's time is never earlier than its own declaration,
so a row never sees its own result, nor those of items lodged at the same instant). Everything is
integer (counts, revenue in cents, nanosecond times) so that sums do not depend on their order:
a state fitted on the past plus the rows of a batch gives exactly the offline numbers.

Three sources add up for a row: the state's settled aggregates of its entity (``EntityBase``),
the state's pending events (outcomes known at fit time but dated after its ``as_of``, and what
live history added since: declarations and results) and the batch itself (earlier rows, and
outcome events passed with the batch), all but the first through :class:`EventIndex`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from customs_risk.features.encoding import NS_PER_DAY

MISSING = np.iinfo(np.int64).min
HISTORY_STATS: list[str] = [
    "n_decl",
    "n_insp",
    "insp_rate",
    "n_fraud",
    "n_critical",
    "fraud_rate",
    "rev_sum",
    "rev_mean",
    "days_since_first",
    "days_since_last",
    "days_since_fraud",
]
PRIOR_COLUMN = "hist_prior_rate"
BASE_FIELDS: list[str] = [
    "n_decl",
    "first_t",
    "last_t",
    "n_insp",
    "n_fraud",
    "n_critical",
    "rev_cents",
    "rev_n",
    "last_fraud_t",
]
_TIME_FIELDS = ("first_t", "last_t", "last_fraud_t")


def history_columns(entities: list[str]) -> list[str]:
    """Feature names: the prior rate, then every stat of every entity."""
    return [PRIOR_COLUMN] + [f"{e}_{s}" for e in entities for s in HISTORY_STATS]


@dataclass
class Events:
    """Outcome events: effective time, offence and critical flags, revenue in cents."""

    r: np.ndarray
    fraud: np.ndarray
    critical: np.ndarray
    rev_cents: np.ndarray
    has_rev: np.ndarray

    def __len__(self) -> int:
        return len(self.r)

    def take(self, rows: np.ndarray) -> Events:
        """A subset of the events."""
        return Events(*(a[rows] for a in self.astuple()))

    def astuple(self) -> tuple[np.ndarray, ...]:
        """The arrays in field order."""
        return (self.r, self.fraud, self.critical, self.rev_cents, self.has_rev)

    @classmethod
    def times(cls, t: np.ndarray) -> Events:
        """Events that are only times (declarations: ``EventIndex.spans`` reads them)."""
        z = np.zeros(len(t), dtype=np.int64)
        return cls(np.asarray(t, dtype=np.int64), z.astype(bool), z.astype(bool), z, z.astype(bool))

    @classmethod
    def empty(cls) -> Events:
        """No events."""
        z = np.zeros(0, dtype=np.int64)
        return cls(z, z.astype(bool), z.astype(bool), z, z.astype(bool))

    @classmethod
    def from_outcomes(cls, outcomes: pd.DataFrame, declared_ns: np.ndarray) -> Events:
        """Events of outcome rows whose declarations were lodged at ``declared_ns``; the time is
        max(result_at, declared_at), so a declaration never sees its own outcome."""
        from customs_risk.features.encoding import to_ns

        r = np.maximum(to_ns(outcomes["result_at"]), declared_ns)
        rev = outcomes["recovered_revenue"].to_numpy(dtype=np.float64, na_value=np.nan)
        has_rev = np.isfinite(rev)
        cents = np.where(has_rev, np.rint(np.where(has_rev, rev, 0.0) * 100.0), 0).astype(np.int64)
        fraud = outcomes["fraud_found"].to_numpy(dtype=bool, na_value=False)
        critical = outcomes["critical"].to_numpy(dtype=bool, na_value=False)
        return cls(r, fraud, critical, cents, has_rev)


class EventIndex:
    """Outcome events sorted by (group, time) with prefix sums, answering for each query
    (group, t): the count, offences, criticals, revenue and latest offence time of the events of
    that group with time < t."""

    def __init__(self, group: np.ndarray, events: Events):
        self.size = len(events)
        self.groups, dense = np.unique(group, return_inverse=True)
        self.times = np.unique(events.r)
        self.radix = len(self.times) + 1
        key = dense * self.radix + np.searchsorted(self.times, events.r)
        order = np.argsort(key, kind="stable")
        self.keys = key[order]
        sorted_events = events.take(order)

        def cum(values: np.ndarray) -> np.ndarray:
            return np.concatenate([[0], np.cumsum(values, dtype=np.int64)])

        self.c_fraud = cum(sorted_events.fraud)
        self.c_critical = cum(sorted_events.critical)
        self.c_rev = cum(sorted_events.rev_cents)
        self.c_rev_n = cum(sorted_events.has_rev)
        self.last_fraud = np.maximum.accumulate(
            np.where(sorted_events.fraud, np.arange(self.size), -1)
        )
        self.r_sorted = sorted_events.r

    def _ranges(self, group: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per query, the slice [lo, hi) of sorted events of its group with time < t."""
        gi = np.searchsorted(self.groups, group)
        known = (gi < len(self.groups)) & (group >= 0)
        known[known] &= self.groups[gi[known]] == group[known]
        base = gi * self.radix
        lo = np.searchsorted(self.keys, base)
        hi = np.searchsorted(self.keys, base + np.searchsorted(self.times, t))
        return lo, np.where(known, hi, lo)

    def query(self, group: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
        """Prefix aggregates per query row (zeros / MISSING where nothing is before)."""
        lo, hi = self._ranges(group, t)
        last = np.full(len(group), MISSING, dtype=np.int64)
        some = hi > lo
        if some.any():
            j = self.last_fraud[hi[some] - 1]
            ok = j >= lo[some]
            idx = np.flatnonzero(some)[ok]
            last[idx] = self.r_sorted[j[ok]]
        return {
            "n_insp": hi - lo,
            "n_fraud": self.c_fraud[hi] - self.c_fraud[lo],
            "n_critical": self.c_critical[hi] - self.c_critical[lo],
            "rev_cents": self.c_rev[hi] - self.c_rev[lo],
            "rev_n": self.c_rev_n[hi] - self.c_rev_n[lo],
            "last_fraud_t": last,
        }

    def spans(self, group: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
        """Per query row, the count and the first and latest times of its group's events
        before t (declarations as events: ``Events.times``)."""
        lo, hi = self._ranges(group, t)
        some = hi > lo
        first = np.full(len(group), MISSING, dtype=np.int64)
        last = np.full(len(group), MISSING, dtype=np.int64)
        first[some] = self.r_sorted[lo[some]]
        last[some] = self.r_sorted[hi[some] - 1]
        return {"n_decl": hi - lo, "first_t": first, "last_t": last}


def empty_base(n: int) -> dict[str, np.ndarray]:
    """Base aggregates of unknown entities."""
    return {f: np.full(n, MISSING if f in _TIME_FIELDS else 0, dtype=np.int64) for f in BASE_FIELDS}


EMPTY_ROW = np.array([MISSING if f in _TIME_FIELDS else 0 for f in BASE_FIELDS], dtype=np.int64)


def base_matrix(table: dict[str, np.ndarray]) -> np.ndarray:
    """A key-sorted table as one matrix (BASE_FIELDS x rows, then one empty column)."""
    fields = np.array([table[f] for f in BASE_FIELDS], dtype=np.int64).reshape(len(BASE_FIELDS), -1)
    return np.concatenate([fields, EMPTY_ROW[:, None]], axis=1)


def lookup_base(keys_sorted: np.ndarray, matrix: np.ndarray, keys: np.ndarray) -> dict:
    """Base aggregates for state keys (-1 or absent -> empty) from a key-sorted table given as
    its keys and its ``base_matrix``."""
    size = len(keys_sorted)
    if size == 0:
        return empty_base(len(keys))
    pos = np.minimum(np.searchsorted(keys_sorted, keys), size - 1)
    hit = (keys >= 0) & (keys_sorted[pos] == keys)
    rows = matrix[:, np.where(hit, pos, size)]
    return dict(zip(BASE_FIELDS, rows, strict=True))


def batch_declarations(group: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
    """For each row, the rows of the batch in its group lodged strictly before it: count, first
    and latest time."""
    n = len(group)
    prior = np.zeros(n, dtype=np.int64)
    first = np.full(n, MISSING, dtype=np.int64)
    last = np.full(n, MISSING, dtype=np.int64)
    if n < 2:
        return {"n_decl": prior, "first_t": first, "last_t": last}
    order = np.lexsort((t, group))
    gs, ts = group[order], t[order]
    idx = np.arange(n)
    new_group = np.r_[True, gs[1:] != gs[:-1]]
    new_run = new_group | np.r_[True, ts[1:] != ts[:-1]]
    g_start = np.maximum.accumulate(np.where(new_group, idx, 0))
    r_start = np.maximum.accumulate(np.where(new_run, idx, 0))
    count = r_start - g_start
    has = count > 0
    prior[order] = count
    first[order] = np.where(has, ts[g_start], MISSING)
    last[order] = np.where(has, ts[np.maximum(r_start - 1, 0)], MISSING)
    return {"n_decl": prior, "first_t": first, "last_t": last}


def add_declarations(
    first: dict[str, np.ndarray], later: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Declaration counts and times of two sources, ``later`` lodged after ``first``."""
    return {
        "n_decl": first["n_decl"] + later["n_decl"],
        "first_t": np.where(first["n_decl"] > 0, first["first_t"], later["first_t"]),
        "last_t": np.where(later["n_decl"] > 0, later["last_t"], first["last_t"]),
    }


def combine(
    base: dict[str, np.ndarray] | None,
    declarations: dict[str, np.ndarray],
    event_parts: list[dict[str, np.ndarray]],
) -> dict[str, np.ndarray]:
    """State aggregates (None: nothing known) + earlier batch rows + outcome events before each
    row."""
    if base is None:
        out = empty_base(0) | declarations
        n = len(declarations["n_decl"])
        for f in ("n_insp", "n_fraud", "n_critical", "rev_cents", "rev_n"):
            out[f] = np.zeros(n, dtype=np.int64)
        out["last_fraud_t"] = np.full(n, MISSING, dtype=np.int64)
    else:
        out = dict(base) | add_declarations(base, declarations)
    for part in event_parts:
        for f in ("n_insp", "n_fraud", "n_critical", "rev_cents", "rev_n"):
            out[f] = out[f] + part[f]
        out["last_fraud_t"] = np.maximum(out["last_fraud_t"], part["last_fraud_t"])
    return out


def entity_aggregates(
    group: np.ndarray,
    t: np.ndarray,
    base: dict[str, np.ndarray] | None,
    indexes: list[tuple[EventIndex, np.ndarray]],
    alone: bool = False,
    declared: tuple[EventIndex, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Raw integer aggregates per row: ``indexes`` pairs an event index with the row keys to
    query it with (batch group ids or state keys); ``declared``: the state's pending
    declarations and the row keys to query them with; ``alone``: no row sees another batch
    row."""
    parts = [index.query(keys, t) for index, keys in indexes if index.size]
    if base is not None and declared is not None and declared[0].size:
        base = dict(base) | add_declarations(base, declared[0].spans(declared[1], t))
    if alone:
        n = len(group)
        declarations = {
            "n_decl": np.zeros(n, dtype=np.int64),
            "first_t": np.full(n, MISSING, dtype=np.int64),
            "last_t": np.full(n, MISSING, dtype=np.int64),
        }
    else:
        declarations = batch_declarations(group, t)
    return combine(base, declarations, parts)


def prior_rate(
    aggregates: dict[str, np.ndarray], offences: float, inspections: float
) -> np.ndarray:
    """Global offence rate before each row, smoothed by a fixed beta prior."""
    return (aggregates["n_fraud"] + offences) / (aggregates["n_insp"] + inspections)


def _days(t: np.ndarray, then: np.ndarray) -> np.ndarray:
    # (t - MISSING) wraps around silently; those rows are replaced by NaN
    return np.where(then == MISSING, np.nan, (t - then) / NS_PER_DAY)


def stat_features(
    agg: dict[str, np.ndarray], t: np.ndarray, prior: np.ndarray, strength: float, known: np.ndarray
) -> dict[str, np.ndarray]:
    """Float features (HISTORY_STATS) from raw aggregates; NaN where the entity is missing."""
    n_decl = agg["n_decl"].astype(np.float64)
    n_insp = agg["n_insp"].astype(np.float64)
    n_fraud = agg["n_fraud"].astype(np.float64)
    rev = agg["rev_cents"] / 100.0
    rev_n = agg["rev_n"].astype(np.float64)
    out = {
        "n_decl": n_decl,
        "n_insp": n_insp,
        "insp_rate": np.where(n_decl > 0, n_insp / np.maximum(n_decl, 1.0), np.nan),
        "n_fraud": n_fraud,
        "n_critical": agg["n_critical"].astype(np.float64),
        "fraud_rate": (n_fraud + strength * prior) / (n_insp + strength),
        "rev_sum": rev,
        "rev_mean": np.where(rev_n > 0, rev / np.maximum(rev_n, 1.0), np.nan),
        "days_since_first": _days(t, agg["first_t"]),
        "days_since_last": _days(t, agg["last_t"]),
        "days_since_fraud": _days(t, agg["last_fraud_t"]),
    }
    if not known.all():
        for values in out.values():
            values[~known] = np.nan
    return out


def fit_table(keys: np.ndarray, t: np.ndarray, event_keys: np.ndarray, events: Events) -> dict:
    """Settled aggregates per state key (sorted) from all rows and the events given."""
    ok = keys >= 0
    uniq, inverse = np.unique(keys[ok], return_inverse=True)
    n = len(uniq)
    table: dict[str, np.ndarray] = {"key": uniq}
    table["n_decl"] = np.bincount(inverse, minlength=n).astype(np.int64)
    first = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, inverse, t[ok])
    last = np.full(n, MISSING, dtype=np.int64)
    np.maximum.at(last, inverse, t[ok])
    table["first_t"] = np.where(table["n_decl"] > 0, first, MISSING)
    table["last_t"] = last
    pos = np.searchsorted(uniq, event_keys)
    pos = np.minimum(pos, max(n - 1, 0))
    hit = (event_keys >= 0) & (n > 0)
    if n:
        hit &= uniq[pos] == event_keys
    pos = pos[hit]
    ev = events.take(np.flatnonzero(hit))

    def total(values: np.ndarray) -> np.ndarray:
        out = np.zeros(n, dtype=np.int64)
        np.add.at(out, pos, values.astype(np.int64))
        return out

    table["n_insp"] = np.bincount(pos, minlength=n).astype(np.int64)
    table["n_fraud"] = total(ev.fraud)
    table["n_critical"] = total(ev.critical)
    table["rev_cents"] = total(ev.rev_cents)
    table["rev_n"] = total(ev.has_rev)
    last_fraud = np.full(n, MISSING, dtype=np.int64)
    np.maximum.at(last_fraud, pos[ev.fraud], ev.r[ev.fraud])
    table["last_fraud_t"] = last_fraud
    return table
