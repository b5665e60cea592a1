"""The feature computation shared by training and serving (``FeaturePipeline`` wraps it).

:func:`compute` appends a batch to what a state knows (nothing, in training) and sends every
numeric feature to a :class:`Sink` as soon as it is computed: declaration features, history of
every entity (stacked in one pass for small batches), reference prices and tariff structure.
Every row sees only declarations lodged strictly before it and outcomes with result_at strictly
before it; reference prices are daily snapshots (``prices``).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from customs_risk.data.contracts import KEY
from customs_risk.features.declaration import declaration_features
from customs_risk.features.duty import duty_features
from customs_risk.features.encoding import NS_PER_DAY, SMALL, Batch, Text, prefix
from customs_risk.features.grades import grade_codes
from customs_risk.features.history import (
    HISTORY_STATS,
    PRIOR_COLUMN,
    EventIndex,
    Events,
    entity_aggregates,
    lookup_base,
    prior_rate,
    stat_features,
)
from customs_risk.features.keys import composite_keys, stack_rows
from customs_risk.features.network import lookup_network, offline_network, relations
from customs_risk.features.prices import (
    PRICE_BASES,
    PRICE_LEVELS,
    deviation_features,
    lookup_resolved,
    offline_tariff_stats,
    offline_value_stats,
    tariff_features,
    value_features,
)
from customs_risk.features.state import GRADE_COLUMN, FeatureState


class Sink:
    """Receives numeric features by name and writes them into a preallocated matrix."""

    def __init__(self, out: np.ndarray, position: dict[str, int]):
        self.out = out
        self.position = position

    def __call__(self, name: str, column: np.ndarray) -> None:
        self.out[:, self.position[name]] = column

    def block(self, names: list[str], columns: np.ndarray) -> None:
        """Several features at once, ``columns`` shaped (len(names), rows)."""
        where = [self.position[n] for n in names]
        step = where[1] - where[0] if len(where) > 1 else 1
        if step > 0 and where == list(range(where[0], where[-1] + 1, step)):
            self.out[:, where[0] : where[-1] + 1 : step] = columns.T
        else:
            self.out[:, where] = columns.T


HS_PREFIX = {"hs2": 2, "hs4": 4, "hs6": 6}


def as_ns(value: Any) -> int:
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return int(stamp.value)


def texts_of(batch: Batch, columns: list[str]) -> dict[str, Text]:
    out: dict[str, Text] = {}
    hs = batch.text("hs_code") if any(c in HS_PREFIX for c in columns) else None
    for column in columns:
        if hs is not None and column in HS_PREFIX:
            out[column] = prefix(hs, HS_PREFIX[column])
        else:
            out[column] = batch.text(column)
    return out


class Keys:
    """Composite keys of a batch: state keys (fitted codes; -1 if any part is unknown) and batch
    keys (valid within the batch, unknown values included; -1 if any part is missing)."""

    def __init__(
        self, state: FeatureState, closed: dict[str, np.ndarray], open_codes: dict[str, np.ndarray]
    ):
        self.closed, self.open = closed, open_codes
        self.state_sizes = {c: len(state.vocab[c]) for c in closed}
        self.open_sizes = {
            c: max(len(state.vocab[c]), int(v.max(initial=-1)) + 1) for c, v in open_codes.items()
        }

    def state_matrix(self, specs: list[tuple[str, ...]]) -> np.ndarray:
        """State keys, shape (len(specs), rows)."""
        return composite_keys(specs, self.closed, self.state_sizes)

    def batch_matrix(self, specs: list[tuple[str, ...]]) -> np.ndarray:
        """Batch keys, shape (len(specs), rows)."""
        return composite_keys(specs, self.open, self.open_sizes)

    def stacked(self, specs: list[tuple[str, ...]]) -> tuple[np.ndarray, np.ndarray]:
        """State and batch keys of several entities stacked entity after entity."""
        return stack_rows(self.state_matrix(specs)), stack_rows(self.batch_matrix(specs))


def key_columns(state: FeatureState) -> list[str]:
    cols: dict[str, None] = {}
    for comps in state.entities.values():
        cols.update(dict.fromkeys(comps))
    if state.config.prices:
        for comps in PRICE_LEVELS.values():
            cols.update(dict.fromkeys(comps))
    return list(cols)


def batch_events(batch: Batch, t: np.ndarray, outcomes: pd.DataFrame | None) -> tuple:
    """Outcome events of the batch's own rows: (row positions, Events, unmatched count)."""
    if outcomes is None or len(outcomes) == 0 or batch.n == 0:
        return np.zeros(0, dtype=np.int64), Events.empty(), 0
    ids = batch.text("declaration_id")
    items = batch.floats("item_no").astype(np.int64)
    if isinstance(ids, list):
        rows_of = {(i, int(n)): r for r, (i, n) in enumerate(zip(ids, items, strict=True))}
        found = [
            rows_of.get((i, int(n)), -1)
            for i, n in zip(
                outcomes["declaration_id"].tolist(), outcomes["item_no"].tolist(), strict=True
            )
        ]
        found_arr = np.array(found, dtype=np.int64)
        hit = found_arr >= 0
        matched = outcomes.iloc[np.flatnonzero(hit)]
        rows = found_arr[hit]
    else:
        left = outcomes.reset_index(drop=True)
        left = left.assign(item_no=left["item_no"].astype(np.int64))
        right = pd.DataFrame({"declaration_id": ids, "item_no": items, "_row": np.arange(batch.n)})
        matched = left.merge(right, on=KEY, how="inner", sort=False)
        rows = matched["_row"].to_numpy(dtype=np.int64)
    return rows, Events.from_outcomes(matched, t[rows]), len(outcomes) - len(rows)


def _prior(state: FeatureState, t: np.ndarray, events: Events) -> np.ndarray:
    """Global smoothed offence rate before each row."""
    agg = {
        "n_insp": np.full(len(t), state.global_base.get("n_insp", 0), dtype=np.int64),
        "n_fraud": np.full(len(t), state.global_base.get("n_fraud", 0), dtype=np.int64),
    }
    if state.n_pending:
        times, offences = state.pending_times()
        before = np.searchsorted(times, t, side="left")
        agg["n_insp"] = agg["n_insp"] + before
        agg["n_fraud"] = agg["n_fraud"] + offences[before]
    if len(events):
        zeros = np.zeros(len(t), dtype=np.int64)
        part = EventIndex(np.zeros(len(events), dtype=np.int64), events).query(zeros, t)
        agg["n_insp"] = agg["n_insp"] + part["n_insp"]
        agg["n_fraud"] = agg["n_fraud"] + part["n_fraud"]
    cfg = state.config
    return prior_rate(agg, cfg.prior_offences, cfg.prior_inspections)


STACK_CELLS = 1 << 20


def _stacked_stats(
    state: FeatureState,
    entities: tuple[str, ...],
    state_keys: np.ndarray,
    batch_keys: np.ndarray,
    t: np.ndarray,
    event_rows: np.ndarray,
    events: Events,
    prior: np.ndarray,
    isolated: bool = False,
) -> dict[str, np.ndarray]:
    """History features of several entities at once: keys stacked entity after entity (each
    of length len(t)), outputs likewise. ``isolated``: no row sees another row of the batch."""
    k = len(entities)
    times = np.tile(t, k) if k > 1 else t
    base = lookup_base(*state.stacked_base(entities), state_keys) if state.fitted else None
    indexes = []
    if state.n_pending:
        indexes.append((state.pending_index(entities), state_keys))
    if len(events):
        rows = (event_rows[None, :] + len(t) * np.arange(k)[:, None]).ravel()
        tiled = Events(*(np.tile(a, k) for a in events.astuple())) if k > 1 else events
        indexes.append((EventIndex(batch_keys[rows], tiled), batch_keys))
    declared = None
    if state.n_pending_declarations:
        declared = (state.pending_declaration_index(entities), state_keys)
    agg = entity_aggregates(
        batch_keys, times, base, indexes, alone=isolated or len(t) < 2, declared=declared
    )
    priors = np.tile(prior, k) if k > 1 else prior
    return stat_features(agg, times, priors, state.config.prior_strength, batch_keys >= 0)


def _history(
    state: FeatureState,
    keys: Keys,
    t: np.ndarray,
    event_rows: np.ndarray,
    events: Events,
    prior: np.ndarray,
    sink: Sink,
    codes: dict[str, np.ndarray],
    isolated: bool = False,
) -> None:
    """History features of every entity; small batches stack all entities in one pass (few
    numpy calls), large ones go entity by entity (bounded memory). Same arithmetic either way."""
    names = list(state.entities)
    n = len(t)
    per = max(1, STACK_CELLS // max(n, 1))
    for start in range(0, len(names), per):
        group = tuple(names[start : start + per])
        state_keys, batch_keys = keys.stacked([state.entities[e] for e in group])
        stats = _stacked_stats(
            state, group, state_keys, batch_keys, t, event_rows, events, prior, isolated
        )
        for name in HISTORY_STATS:
            sink.block([f"{e}_{name}" for e in group], stats[name].reshape(len(group), n))
        if "importer" in group:
            i = group.index("importer")
            part = {name: values[i * n : (i + 1) * n] for name, values in stats.items()}
            codes[GRADE_COLUMN] = grade_codes(part, prior, state.config.grade_rule)
        del stats


def _network(
    state: FeatureState,
    keys: Keys,
    t: np.ndarray,
    event_rows: np.ndarray,
    events: Events,
    sink: Sink,
) -> None:
    """Network features: the state's snapshot, or the batch's daily snapshots (training)."""
    names = list(state.entities)
    specs = [state.entities[e] for e in names]
    if state.fitted:
        by_entity = dict(zip(names, keys.state_matrix(specs), strict=True))
        _emit(sink, lookup_network(state.network_table(), by_entity, relations(state.entities)))
    else:
        by_entity = dict(zip(names, keys.batch_matrix(specs), strict=True))
        _emit(sink, offline_network(by_entity, t, event_rows, events, state.entities))


def _price_features(
    state: FeatureState,
    keys: Keys,
    t: np.ndarray,
    x: dict[str, np.ndarray],
    rate: np.ndarray,
    value: np.ndarray,
    sink: Sink,
) -> None:
    """Reference-price, tariff and duty-at-stake features: the state's snapshot, or daily
    snapshots of the batch itself when the state holds none (training)."""
    cfg = state.config
    deviations: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if state.reference is not None:
        by_level = dict(
            zip(PRICE_LEVELS, keys.state_matrix(list(PRICE_LEVELS.values())), strict=True)
        )
        stacked, matrix, columns = state.resolved_reference()
        found = lookup_resolved(stacked, matrix, by_level)
        estimates = dict(zip(columns, found.T, strict=True))
        max_rate, typical = estimates.pop("hs4_max_rate"), estimates.pop("hs6_rate_median")
        for base, column in PRICE_BASES.items():
            ref, spread = estimates[f"uv_{base}_ref"], estimates[f"uv_{base}_spread"]
            estimates.update(deviation_features(base, ref, spread, x[column]))
            deviations[base] = (estimates[f"uv_{base}_dev"], spread)
        _emit(sink, estimates)
    else:
        groups = {lv: keys.batch_matrix([comps])[0] for lv, comps in PRICE_LEVELS.items()}
        day = np.floor_divide(t, NS_PER_DAY)
        for base, column in PRICE_BASES.items():
            stats = offline_value_stats(groups, day, x[column])
            values = value_features(base, stats, x[column], cfg)
            deviations[base] = (values[f"uv_{base}_dev"], values[f"uv_{base}_spread"])
            _emit(sink, values)
            del stats, values
        max_rate, typical = offline_tariff_stats(groups, day, rate)
    tariff = tariff_features(max_rate, typical, rate, cfg)
    _emit(sink, tariff)
    _emit(
        sink,
        duty_features(
            value,
            rate,
            deviations,
            tariff["tariff_gap_hs4"],
            tariff["pref_margin"],
            tariff["is_preferential"],
        ),
    )


def _emit(sink: Sink, values: dict[str, np.ndarray]) -> None:
    if len(sink.out) <= SMALL:
        sink.block(list(values), np.array(list(values.values())))
    else:
        for name, column in values.items():
            sink(name, column)


def compute(
    batch: Batch,
    state: FeatureState,
    outcomes: pd.DataFrame | None,
    sink: Sink,
    isolated: bool = False,
) -> dict[str, np.ndarray]:
    """Featurise a batch: numeric features go to the sink (by name) as they are
    computed (memory stays low); returns the categorical codes (int64, -1 unknown).

    ``isolated``: every row is featurised against the state alone, as if it came on its own
    (serving: a declaration's score must not depend on what else its request carried)."""
    cfg = state.config
    if isolated and not state.fitted:
        raise ValueError("isolated rows need a fitted state to be featurised against")
    if isolated and outcomes is not None and len(outcomes):
        raise ValueError("isolated rows see no outcomes of the batch: pass outcomes=None")
    t = batch.times("declared_at")
    if state.fitted and batch.n and state.as_of is not None and int(t.min()) < state.as_of:
        warnings.warn(
            "rows declared before the state's as_of see aggregates of later declarations",
            stacklevel=3,
        )
    key_cols = key_columns(state)
    cat_cols = [c for c in state.categorical_columns if c != GRADE_COLUMN]
    texts = texts_of(batch, list(dict.fromkeys(key_cols + cat_cols)))
    declaration = declaration_features(batch, t)
    x = {col: declaration[col] for col in PRICE_BASES.values()}
    rate = declaration["tariff_rate"]
    value = batch.floats("customs_value")
    _emit(sink, declaration)
    del declaration
    for column in state.extra_numeric:
        sink(column, batch.floats(column))
    open_codes = {c: state.vocab[c].encode_open(texts[c]) for c in key_cols}
    closed = {c: np.where(v < len(state.vocab[c]), v, -1) for c, v in open_codes.items()}
    codes = {c: closed[c] if c in closed else state.vocab[c].encode(texts[c]) for c in cat_cols}
    del texts
    event_rows, events, unmatched = batch_events(batch, t, outcomes)
    if unmatched:
        warnings.warn(
            f"{unmatched} outcomes do not belong to rows of the batch and are ignored",
            stacklevel=3,
        )
    prior = _prior(state, t, events)
    sink(PRIOR_COLUMN, prior)
    keys = Keys(state, closed, open_codes)
    _history(state, keys, t, event_rows, events, prior, sink, codes, isolated)
    if cfg.network:
        _network(state, keys, t, event_rows, events, sink)
    if cfg.prices:
        _price_features(state, keys, t, x, rate, value, sink)
    return codes


def history_as_of(
    state: FeatureState, entity: str, keys: np.ndarray, t: int
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """History features of entities (by state key) at time t, from the state alone."""
    if state.as_of is not None and t < state.as_of:
        raise ValueError("as_of precedes the state's as_of: the state cannot go back in time")
    times = np.full(len(keys), t, dtype=np.int64)
    prior = _prior(state, times, Events.empty())
    empty = np.zeros(0, dtype=np.int64)
    group = (entity,)
    stats = _stacked_stats(state, group, keys, keys, times, empty, Events.empty(), prior)
    return stats, prior
