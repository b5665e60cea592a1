"""Network features: offence history propagated over the trader graph (docs/features.md,
"Network").

For a declaration of day D: the inspections and offences found before D among the sellers its
importer bought from before D (``importer_sellers_*``), among the importers its seller sold to
(``seller_importers_*``) and among the importers its declarant declared for
(``declarant_importers_*``): groups of related traders that offend together show up before each
member has a record of its own. Like the reference prices these are daily snapshots: a row of
day D sees the links (first declaration of a pair) and the results dated before D's midnight.
Offline, :func:`offline_network` computes the snapshot of every day; a state keeps the links it
was fitted on (``links``) and looks the sums up against its settled entity aggregates
(:func:`network_tables`), so the day after the fit agrees bit for bit; live results count from
the next compaction (``features.live.compact``), as the reference prices do.
"""

from __future__ import annotations

import numpy as np

from customs_risk.features.encoding import NS_PER_DAY
from customs_risk.features.history import Events

# feature prefix -> (the row's entity, its neighbours' entity)
RELATIONS: dict[str, tuple[str, str]] = {
    "importer_sellers": ("importer", "seller"),
    "seller_importers": ("seller", "importer"),
    "declarant_importers": ("declarant", "importer"),
}
STATS = ("n_insp", "fraud_rate")
_MAX_PAIRS = 1 << 22  # (query, link) pairs per chunk: bounds memory on large batches


def link_name(a: str, b: str) -> str:
    """The links table of an unordered pair of entities."""
    return "-".join(sorted((a, b)))


def relations(entities: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, str]]:
    """The relations whose entities the state has."""
    return {n: (a, b) for n, (a, b) in RELATIONS.items() if a in entities and b in entities}


def network_columns(entities: dict[str, tuple[str, ...]]) -> list[str]:
    """Feature names, in output order."""
    return [f"{name}_{s}" for name in relations(entities) for s in STATS]


def fit_links(
    keys: dict[str, np.ndarray], t: np.ndarray, entities: dict[str, tuple[str, ...]]
) -> dict[str, dict[str, np.ndarray]]:
    """Per entity pair: its distinct (key, key) links and the first time each was declared."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for a, b in relations(entities).values():
        name = link_name(a, b)
        if name in out:
            continue
        first, second = sorted((a, b))
        out[name] = unique_links(keys[first], keys[second], t, first, second)
    return out


def unique_links(
    x: np.ndarray, y: np.ndarray, t: np.ndarray, first: str, second: str
) -> dict[str, np.ndarray]:
    """Distinct (x, y) pairs (both known) with their earliest ``t``, sorted by pair."""
    ok = (x >= 0) & (y >= 0)
    x, y, t = x[ok], y[ok], t[ok]
    order = np.lexsort((t, y, x))
    x, y, t = x[order], y[order], t[order]
    new = np.ones(len(x), dtype=bool)
    new[1:] = (x[1:] != x[:-1]) | (y[1:] != y[:-1])
    return {f"key_{first}": x[new], f"key_{second}": y[new], "t": t[new]}


def merge_links(
    links: dict[str, np.ndarray], new: dict[str, np.ndarray], first: str, second: str
) -> dict[str, np.ndarray]:
    """Links of both tables, the earliest time of a pair kept."""
    joined = {k: np.concatenate([links[k], new[k]]) for k in links}
    return unique_links(joined[f"key_{first}"], joined[f"key_{second}"], joined["t"], first, second)


def _rate(n_insp: np.ndarray, n_fraud: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_insp > 0, n_fraud / np.maximum(n_insp, 1), np.nan)


def _features(name: str, n_insp: np.ndarray, n_fraud: np.ndarray) -> dict[str, np.ndarray]:
    return {
        f"{name}_n_insp": n_insp.astype(np.float64),
        f"{name}_fraud_rate": _rate(n_insp, n_fraud),
    }


def offline_network(
    keys: dict[str, np.ndarray],
    t: np.ndarray,
    event_rows: np.ndarray,
    events: Events,
    entities: dict[str, tuple[str, ...]],
) -> dict[str, np.ndarray]:
    """Every row's network features from the batch alone, as of its day's midnight."""
    day = np.floor_divide(t, NS_PER_DAY)
    event_day = np.floor_divide(events.r, NS_PER_DAY)
    fraud = events.fraud.astype(np.int64)
    # days start at 0 in the key arithmetic: a row's day and an event's day share one origin
    origin = int(min(day.min(initial=0), event_day.min(initial=0)))
    span = int(max(day.max(initial=0), event_day.max(initial=0))) - origin + 2
    day, event_day = day - origin, event_day - origin
    out: dict[str, np.ndarray] = {}
    for name, (a, b) in relations(entities).items():
        n_insp, n_fraud = _neighbour_counts(
            keys[a], keys[b], day, keys[b][event_rows], event_day, fraud, span
        )
        out.update(_features(name, n_insp, n_fraud))
    return out


def _neighbour_counts(
    a: np.ndarray,
    b: np.ndarray,
    day: np.ndarray,
    event_b: np.ndarray,
    event_day: np.ndarray,
    fraud: np.ndarray,
    span: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the events before its day of the b's linked to its a before its day."""
    links = unique_links(a, b, day, "a", "b")
    link_key = links["key_a"] * span + links["t"]  # sorted: pairs by a, then b
    order = np.argsort(link_key, kind="stable")
    link_key, link_b = link_key[order], links["key_b"][order]
    known = event_b >= 0
    event_key = event_b[known] * span + event_day[known]
    event_order = np.argsort(event_key, kind="stable")
    event_key = event_key[event_order]
    cum_fraud = np.concatenate([[0], np.cumsum(fraud[known][event_order])])

    n = len(a)
    n_insp, n_fraud = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    valid = np.flatnonzero(a >= 0)
    query, inverse = np.unique(a[valid] * span + day[valid], return_inverse=True)
    query_a, query_day = np.divmod(query, span)
    lo = np.searchsorted(link_key, query_a * span, side="left")
    hi = np.searchsorted(link_key, query, side="left")  # links declared before the day
    q_insp, q_fraud = np.zeros(len(query), np.int64), np.zeros(len(query), np.int64)
    counts = hi - lo
    for start, stop in _chunks(counts):
        c = counts[start:stop]
        total = int(c.sum())
        if total == 0:
            continue
        owner = np.repeat(np.arange(start, stop), c)
        offset = np.arange(total) - np.repeat(np.cumsum(c) - c, c)
        neighbour = link_b[lo[owner] + offset]
        low = np.searchsorted(event_key, neighbour * span, side="left")
        high = np.searchsorted(event_key, neighbour * span + query_day[owner], side="left")
        q_insp[start:stop] = np.bincount(owner - start, high - low, stop - start).astype(np.int64)
        q_fraud[start:stop] = np.bincount(
            owner - start, cum_fraud[high] - cum_fraud[low], stop - start
        ).astype(np.int64)
    n_insp[valid], n_fraud[valid] = q_insp[inverse], q_fraud[inverse]
    return n_insp, n_fraud


def _chunks(counts: np.ndarray) -> list[tuple[int, int]]:
    """Consecutive query ranges of about _MAX_PAIRS pairs each (one query's pairs are never
    split, so a range may hold more)."""
    ends = np.cumsum(counts)
    total = int(ends[-1]) if len(ends) else 0
    cuts = np.searchsorted(ends, np.arange(_MAX_PAIRS, total, _MAX_PAIRS), side="right")
    edges = np.unique(np.concatenate([[0], cuts, [len(counts)]]))
    return list(zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True))


def _lookup(
    keys: np.ndarray, columns: tuple[np.ndarray, ...], query: np.ndarray
) -> list[np.ndarray]:
    """Each column's value at the query keys in the sorted ``keys`` (0 where absent or -1)."""
    if len(keys) == 0:
        return [np.zeros(len(query), dtype=np.int64) for _ in columns]
    pos = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
    hit = (query >= 0) & (keys[pos] == query)
    return [np.where(hit, column[pos], 0) for column in columns]


def network_tables(
    links: dict[str, dict[str, np.ndarray]],
    entity_table: dict[str, dict[str, np.ndarray]],
    entities: dict[str, tuple[str, ...]],
) -> dict[str, dict[str, np.ndarray]]:
    """Per relation and row entity key (sorted): the settled inspections and offences of its
    linked neighbours (the state's snapshot)."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for name, (a, b) in relations(entities).items():
        table = links[link_name(a, b)]
        key_a, key_b = table[f"key_{a}"], table[f"key_{b}"]
        counts = entity_table[b]
        insp, fraud = _lookup(counts["key"], (counts["n_insp"], counts["n_fraud"]), key_b)
        uniq, inverse = np.unique(key_a, return_inverse=True)
        out[name] = {
            "key": uniq,
            "n_insp": np.bincount(inverse, insp, len(uniq)).astype(np.int64),
            "n_fraud": np.bincount(inverse, fraud, len(uniq)).astype(np.int64),
        }
    return out


def lookup_network(
    tables: dict[str, dict[str, np.ndarray]], keys: dict[str, np.ndarray], relation: dict
) -> dict[str, np.ndarray]:
    """Rows' network features from the state's tables (unknown keys: no neighbours)."""
    out: dict[str, np.ndarray] = {}
    for name, (a, _) in relation.items():
        table = tables[name]
        n_insp, n_fraud = _lookup(table["key"], (table["n_insp"], table["n_fraud"]), keys[a])
        out.update(_features(name, n_insp, n_fraud))
    return out
