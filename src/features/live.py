"""Live history: a fitted state learns the declarations and results that come after its ``as_of``
without a refit.

``with_events(state, declarations, results)`` returns a new state that counts them as pending
events (a row sees those strictly before it: the point-in-time rule of ``history``), sharing
everything else with the old one, its event indexes built before it is returned, so that a reader
swaps one reference and never waits. ``compact(state, cut)`` folds the pending events before
``cut`` into the settled aggregates and moves ``as_of`` there: the state ``fit_state`` gives with
``as_of=cut`` on the same declarations and outcomes, for the entities its vocabulary knows
(``tests/features/test_live.py`` checks it bit for bit on the features of a probe batch).

Reference prices are daily snapshots (``prices``): the state keeps their contributors, live
declarations join them, and ``compact`` at a day's start refits the snapshot of the days before.
Limit, on purpose: the vocabularies are the model's (an importer first seen after training has
no history until the next training: the model has no code for it either).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from customs_risk.features.compute import texts_of
from customs_risk.features.declaration import declaration_features
from customs_risk.features.encoding import NS_PER_DAY, Batch
from customs_risk.features.history import MISSING, Events
from customs_risk.features.keys import composite_keys
from customs_risk.features.network import merge_links, unique_links
from customs_risk.features.prices import PRICE_BASES, PRICE_COLUMNS, contributors, refit_tables
from customs_risk.features.state import EVENT_FIELDS, FeatureState

Rows = pd.DataFrame | Sequence[Mapping[str, Any]]
_TIME_MAX = np.iinfo(np.int64).max


def entity_keys(state: FeatureState, batch: Batch) -> dict[str, np.ndarray]:
    """The state keys of every entity for the rows of a batch (-1: a part unknown or missing)."""
    columns = list(dict.fromkeys(c for comps in state.entities.values() for c in comps))
    texts = texts_of(batch, columns)
    codes = {c: state.vocab[c].encode(texts[c]) for c in columns}
    sizes = {c: len(state.vocab[c]) for c in columns}
    return {e: composite_keys([comps], codes, sizes)[0] for e, comps in state.entities.items()}


def declaration_events(
    state: FeatureState, declarations: Rows
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Pending-declaration arrays (``t``, ``key_<entity>``) and reference-price contributors
    (``prices.contributors``; empty when the state keeps none) of the declarations lodged at or
    after the state's ``as_of`` (earlier ones are in its aggregates or too late to count)."""
    batch = Batch(declarations)
    t = batch.times("declared_at")
    keep = t >= (state.as_of or 0)
    out = {"t": t[keep]}
    for entity, keys in entity_keys(state, batch).items():
        out[f"key_{entity}"] = keys[keep]
    if not state.price_rows:
        return out, {}
    texts = texts_of(batch, list(PRICE_COLUMNS))
    codes = {c: state.vocab[c].encode(texts[c])[keep] for c in PRICE_COLUMNS}
    numeric = declaration_features(batch, t)
    x = {column: numeric[column][keep] for column in PRICE_BASES.values()}
    return out, contributors(t[keep], codes, x, numeric["tariff_rate"][keep])


def result_events(state: FeatureState, results: pd.DataFrame) -> dict[str, np.ndarray]:
    """Pending outcome-event arrays (``EVENT_FIELDS``, ``key_<entity>``) of results, each row an
    outcome with the fields of its declaration (declared_at and the entity columns); results of
    declarations lodged before the state's ``as_of`` are left out, as ``declaration_events``
    leaves those declarations out."""
    batch = Batch(results)
    declared = batch.times("declared_at")
    keep = declared >= (state.as_of or 0)
    events = Events.from_outcomes(results, declared)
    out = dict(zip(EVENT_FIELDS, events.take(np.flatnonzero(keep)).astuple(), strict=True))
    for entity, keys in entity_keys(state, batch).items():
        out[f"key_{entity}"] = keys[keep]
    return out


def with_events(
    state: FeatureState,
    declarations: Rows | None = None,
    results: pd.DataFrame | None = None,
) -> FeatureState:
    """A new state that also counts ``declarations`` and ``results`` (see ``result_events``);
    the old one is unchanged."""
    if not state.fitted:
        raise ValueError("live history needs a fitted state")
    pending_declarations = dict(state.pending_declarations)
    pending = dict(state.pending)
    price_rows = state.price_rows
    added = {"declarations": 0, "results": 0}
    if declarations is not None and len(declarations):
        new, prices = declaration_events(state, declarations)
        pending_declarations = _append(pending_declarations, new)
        price_rows = _append(price_rows, prices) if prices else price_rows
        added["declarations"] = len(new["t"])
    if results is not None and len(results):
        new = result_events(state, results)
        pending = _append(pending, new)
        added["results"] = len(new["r"])
    if not any(added.values()):
        return state
    live = dict(state.meta.get("live", {}))
    for kind, n in added.items():
        live[kind] = int(live.get(kind, 0)) + n
    stale: tuple[str, ...] = ("pending:", "pending_times") if added["results"] else ()
    if added["declarations"]:
        stale += ("pending_declarations:",)
    out = _evolve(
        state, pending, pending_declarations, state.entity_tables, state.global_base, stale
    )
    out.price_rows = price_rows
    out.meta["live"] = live
    return _indexed(out)


def compact(state: FeatureState, cut: int) -> FeatureState:
    """Fold the pending declarations lodged and the outcome events dated before ``cut`` (ns)
    into the settled aggregates; ``as_of`` becomes ``cut`` (never earlier than it was)."""
    if state.as_of is not None and cut <= state.as_of:
        return state
    decl = state.pending_declarations
    settle_decl = decl["t"] < cut if decl else np.zeros(0, dtype=bool)
    pend = state.pending
    settle = pend["r"] < cut if pend else np.zeros(0, dtype=bool)
    tables = dict(state.entity_tables)
    for entity in state.entities:
        tables[entity] = _fold(
            state.entity_table(entity),
            decl[f"key_{entity}"][settle_decl] if decl else np.zeros(0, dtype=np.int64),
            decl["t"][settle_decl] if decl else np.zeros(0, dtype=np.int64),
            pend[f"key_{entity}"][settle] if pend else np.zeros(0, dtype=np.int64),
            Events(*(pend[f][settle] for f in EVENT_FIELDS)) if pend else Events.empty(),
        )
    base = dict(state.global_base)
    if pend:
        base["n_insp"] = int(base.get("n_insp", 0)) + int(settle.sum())
        base["n_fraud"] = int(base.get("n_fraud", 0)) + int(pend["fraud"][settle].sum())
    stale: tuple[str, ...] = ("pending", "stacked", "base", "network")
    refit = bool(state.price_rows) and state.reference is not None
    if refit:
        stale += ("reference", "resolved")
    out = _evolve(
        state,
        {k: v[~settle] for k, v in pend.items()},
        {k: v[~settle_decl] for k, v in decl.items()},
        tables,
        base,
        stale,
    )
    if refit:
        sizes = {c: len(state.vocab[c]) for c in PRICE_COLUMNS}
        out.reference = refit_tables(state.price_rows, sizes, cut)
    if state.links and decl:
        out.links = _folded_links(state.links, {k: v[settle_decl] for k, v in decl.items()})
    out.as_of = int(cut)
    out.meta["as_of_iso"] = str(pd.Timestamp(int(cut)))
    return _indexed(out)


def _folded_links(
    links: dict[str, dict[str, np.ndarray]], declarations: dict[str, np.ndarray]
) -> dict[str, dict[str, np.ndarray]]:
    """The trader graph's links plus those of the declarations (``t``, ``key_<entity>``)."""
    out = {}
    for name, table in links.items():
        first, second = name.split("-")
        new = unique_links(
            declarations[f"key_{first}"],
            declarations[f"key_{second}"],
            declarations["t"],
            first,
            second,
        )
        out[name] = merge_links(table, new, first, second)
    return out


def day_start(t: int) -> int:
    """Midnight (UTC, ns) of the day of ``t``: the cut a compaction uses."""
    return (int(t) // NS_PER_DAY) * NS_PER_DAY


def _append(arrays: dict[str, np.ndarray], new: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    if not arrays:
        return new
    return {k: np.concatenate([arrays[k], new[k].astype(arrays[k].dtype)]) for k in arrays}


def _evolve(
    state: FeatureState,
    pending: dict[str, np.ndarray],
    pending_declarations: dict[str, np.ndarray],
    tables: dict[str, dict[str, np.ndarray]],
    global_base: dict[str, int],
    stale: tuple[str, ...],
) -> FeatureState:
    """A copy sharing the vocabularies, references and their lookups, with new pending events
    (the cached indexes whose keys start with ``stale`` dropped: those of what changed)."""
    cache = {k: v for k, v in state._cache.items() if not k.startswith(stale)}
    return dataclasses.replace(
        state,
        pending=pending,
        pending_declarations=pending_declarations,
        entity_tables=tables,
        global_base=global_base,
        meta=dict(state.meta),
        _cache=cache,
    )


def _indexed(state: FeatureState) -> FeatureState:
    """Build the event indexes serving reads (off the request path)."""
    entities = tuple(state.entities)
    if state.n_pending:
        state.pending_times()
        state.pending_index(entities)
    if state.n_pending_declarations:
        state.pending_declaration_index(entities)
    if state.fitted:
        state.stacked_base(entities)
    if state.reference is not None:
        state.resolved_reference()
    if state.links:
        state.network_table()
    return state


def _fold(
    table: dict[str, np.ndarray],
    decl_keys: np.ndarray,
    decl_t: np.ndarray,
    event_keys: np.ndarray,
    events: Events,
) -> dict[str, np.ndarray]:
    """A settled table plus declarations and outcome events (``history.fit_table``'s rule:
    events count only for keys that have declarations)."""
    ok = decl_keys >= 0
    keys = np.union1d(table["key"], decl_keys[ok])
    n = len(keys)
    out = {f: np.zeros(n, dtype=np.int64) for f in table if f != "key"}
    old = np.searchsorted(keys, table["key"])
    for f, values in table.items():
        if f != "key":
            out[f][:] = MISSING if f in ("first_t", "last_t", "last_fraud_t") else 0
            out[f][old] = values
    out["key"] = keys
    pos = np.searchsorted(keys, decl_keys[ok])
    t = decl_t[ok]
    np.add.at(out["n_decl"], pos, 1)
    first = np.where(out["first_t"] == MISSING, _TIME_MAX, out["first_t"])
    np.minimum.at(first, pos, t)
    out["first_t"] = np.where(first == _TIME_MAX, MISSING, first)
    np.maximum.at(out["last_t"], pos, t)
    where = np.minimum(np.searchsorted(keys, event_keys), max(n - 1, 0))
    hit = (event_keys >= 0) & (n > 0)
    if n:
        hit &= keys[where] == event_keys
    where = where[hit]
    ev = events.take(np.flatnonzero(hit))
    np.add.at(out["n_insp"], where, 1)
    for f, values in (
        ("n_fraud", ev.fraud),
        ("n_critical", ev.critical),
        ("rev_cents", ev.rev_cents),
        ("rev_n", ev.has_rev),
    ):
        np.add.at(out[f], where, values.astype(np.int64))
    np.maximum.at(out["last_fraud_t"], where[ev.fraud], ev.r[ev.fraud])
    return out
