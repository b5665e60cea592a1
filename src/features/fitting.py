"""Fitting a feature state: vocabularies, entity aggregates, pending outcomes, reference tables,
the trader graph's links."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from customs_risk.data.contracts import DECLARATION_COLUMNS
from customs_risk.features.compute import HS_PREFIX, as_ns, batch_events, key_columns, texts_of
from customs_risk.features.config import EXCLUDED_COLUMNS, FeatureConfig
from customs_risk.features.declaration import DECLARATION_CATEGORICAL, declaration_features
from customs_risk.features.encoding import NS_PER_DAY, Batch, Vocabulary
from customs_risk.features.history import fit_table
from customs_risk.features.keys import composite_keys
from customs_risk.features.network import fit_links
from customs_risk.features.prices import PRICE_BASES, PRICE_LEVELS, contributors, fit_tables
from customs_risk.features.state import EVENT_FIELDS, FeatureState


def _extra_columns(frame: pd.DataFrame, config: FeatureConfig) -> tuple[list[str], list[str]]:
    """Non-contract columns a dataset brings: (categorical, numeric)."""
    categorical, numeric = [], []
    for column in frame.columns:
        name = str(column)
        if name in DECLARATION_COLUMNS or name in EXCLUDED_COLUMNS:
            continue
        dtype = frame[column].dtype
        if pd.api.types.is_bool_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype):
            categorical.append(name)
        elif pd.api.types.is_numeric_dtype(dtype):
            numeric.append(name)
        elif pd.api.types.is_string_dtype(dtype):
            if frame[column].nunique(dropna=True) <= config.max_extra_categories:
                categorical.append(name)
            else:
                warnings.warn(
                    f"column {name!r} has too many values for a categorical", stacklevel=3
                )
    return categorical, numeric


def fit_vocabulary(frame: pd.DataFrame, config: FeatureConfig) -> FeatureState:
    """A state with vocabularies only (first-appearance order over time-sorted rows)."""
    batch = Batch(frame)
    t = batch.times("declared_at")
    extra_cat, extra_num = _extra_columns(frame, config)
    entities = {
        e: comps
        for e, comps in config.entities.items()
        if all(c in HS_PREFIX or batch.has(c) for c in comps)
    }
    state = FeatureState(
        config=config,
        vocab={},
        entities=entities,
        extra_categorical=extra_cat,
        extra_numeric=extra_num,
    )
    columns = list(dict.fromkeys(key_columns(state) + list(DECLARATION_CATEGORICAL) + extra_cat))
    for column, values in texts_of(batch, columns).items():
        state.vocab[column] = Vocabulary.fit(values, t)
    return state


def fit_state(
    config: FeatureConfig,
    declarations: pd.DataFrame,
    outcomes: pd.DataFrame | None = None,
    as_of: Any = None,
) -> FeatureState:
    """Learn vocabularies, entity aggregates and reference tables from the declarations lodged
    before ``as_of`` (default: midnight after the last one) and their outcomes. Outcomes
    dated at or after ``as_of`` are kept as pending events, counted at serving only for rows
    lodged after their result_at."""
    if len(declarations) == 0:
        raise ValueError("cannot fit a feature state on no declarations")
    full = Batch(declarations)
    t_full = full.times("declared_at")
    cut = (int(t_full.max()) // NS_PER_DAY + 1) * NS_PER_DAY if as_of is None else as_ns(as_of)
    keep = t_full < cut
    rows_all, events, unmatched = batch_events(full, t_full, outcomes)
    if unmatched:
        warnings.warn(f"{unmatched} outcomes of unknown declarations are ignored", stacklevel=3)
    ev_keep = keep[rows_all]
    new_pos = np.cumsum(keep) - 1
    event_rows, events = new_pos[rows_all[ev_keep]], events.take(np.flatnonzero(ev_keep))
    frame = declarations if keep.all() else declarations.loc[keep]
    if len(frame) == 0:
        raise ValueError("no declarations before as_of")
    state = fit_vocabulary(frame, config)
    batch = Batch(frame)
    t = t_full[keep]
    key_cols = key_columns(state)
    texts = texts_of(batch, key_cols)
    codes = {c: state.vocab[c].encode(texts[c]) for c in key_cols}
    sizes = {c: len(state.vocab[c]) for c in key_cols}
    settled = events.r < cut
    settled_events = events.take(np.flatnonzero(settled))
    pending_rows = event_rows[~settled]
    pending = dict(zip(EVENT_FIELDS, events.take(np.flatnonzero(~settled)).astuple(), strict=True))
    entity_keys = {}
    for entity, comps in state.entities.items():
        keys = entity_keys[entity] = composite_keys([comps], codes, sizes)[0]
        state.entity_tables[entity] = fit_table(keys, t, keys[event_rows[settled]], settled_events)
        pending[f"key_{entity}"] = keys[pending_rows]
    if config.network:
        state.links = fit_links(entity_keys, t, state.entities)
    state.pending = pending
    state.global_base = {
        "n_insp": int(settled.sum()),
        "n_fraud": int(settled_events.fraud.sum()),
    }
    if config.prices:
        numeric = declaration_features(batch, t)
        x = {col: numeric[col] for col in PRICE_BASES.values()}
        groups = {
            lv: composite_keys([comps], codes, sizes)[0] for lv, comps in PRICE_LEVELS.items()
        }
        state.reference = fit_tables(groups, x, numeric["tariff_rate"])
        state.price_rows = contributors(t, codes, x, numeric["tariff_rate"])
    state.as_of = cut
    state.fitted = True
    state.meta = {
        "n_declarations": int(len(frame)),
        "n_outcomes": int(len(events)),
        "n_pending": int((~settled).sum()),
        "first_declared_at": str(pd.Timestamp(int(t.min()))),
        "last_declared_at": str(pd.Timestamp(int(t.max()))),
    }
    return state
