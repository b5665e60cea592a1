"""Point-in-time grouped quantiles on a fixed two-level histogram grid, vectorised.

``prefix_quantiles`` answers, for every query (group, day), the count and quantiles of the values
of the contributors of that group lodged on days strictly before the query's day;
``total_quantiles`` answers the same over all contributors of each group (what a state fitted on
them holds) by asking ``prefix_quantiles`` on the day after them, so both go through the same
integer counts and the same float arithmetic and agree bit for bit. A value is located in a coarse
bin by cumulative counts, then in one of its fine sub-bins, then (optionally) interpolated
linearly inside the sub-bin (grouped-data quantile).

Memory and time stay bounded: dense per-(group, day) cumulative histograms are built in chunks
aligned on groups, keeping only the bins a chunk uses; coarse bins are counted relative to the
group's first contributor (a pure index shift) so that a chunk uses few of them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd

from customs_risk.features.config import Grid

CHUNK_CELLS = 1 << 21


def bins(x: np.ndarray, grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """Coarse bin and fine sub-bin of each value (clipped into the grid)."""
    pos = (x - grid.low) / grid.width
    coarse = np.clip(np.floor(pos), 0, grid.n_coarse - 1)
    fine = np.clip(np.floor((pos - coarse) * grid.n_fine), 0, grid.n_fine - 1)
    return coarse.astype(np.int64), fine.astype(np.int64)


def _locate(cum_counts: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column holding the target rank and the count before it, from per-row cumulative counts."""
    # cumulative counts are integers: cum <= target  <=>  cum <= floor(target)
    threshold = np.floor(target).astype(cum_counts.dtype)
    where = np.count_nonzero(cum_counts <= threshold[:, None], axis=1)
    where = np.minimum(where, cum_counts.shape[1] - 1)
    rows = np.arange(len(target))
    before = np.where(where > 0, cum_counts[rows, np.maximum(where - 1, 0)], 0)
    return where, before


def _chunks(starts: np.ndarray, total: int, width: int) -> list[tuple[int, int]]:
    """Split [0, total) into chunks of about CHUNK_CELLS / width rows beginning at stream starts."""
    out: list[tuple[int, int]] = []
    size = max(1024, CHUNK_CELLS // max(width, 1))
    a = 0
    while a < total:
        b = a + size
        if b >= total:
            b = total
        else:
            b = int(starts[np.searchsorted(starts, b, side="left")]) if starts[-1] >= b else total
        out.append((a, b))
        a = b
    return out


def _stream_starts(stream: np.ndarray) -> np.ndarray:
    """Row index where each run of equal stream ids begins (stream sorted)."""
    if len(stream) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(np.r_[True, stream[1:] != stream[:-1]])


def _prefix_hist_rows(
    stream: np.ndarray,
    keys: np.ndarray,
    bin_of: np.ndarray,
    n_bins: int,
    query_keys: np.ndarray,
    query_stream: np.ndarray,
    width_hint: int,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """For each query, the histogram of contributors in its stream with key < query key.

    ``stream``, ``keys`` (stream-major, sorted) and ``bin_of`` (in [0, n_bins)) describe the
    contributors. Yields chunk by chunk (query positions, histograms over the bins the chunk
    uses, those bins); queries with nothing before them are not yielded.
    """
    uniq, first = np.unique(keys, return_index=True)
    uniq_stream = stream[first]
    target = np.searchsorted(uniq, query_keys, side="left") - 1
    valid = target >= 0
    valid[valid] &= uniq_stream[target[valid]] == query_stream[valid]
    order = np.flatnonzero(valid)
    order = order[np.argsort(target[order], kind="stable")]
    sorted_target = target[order]
    pair_of = np.searchsorted(uniq, keys, side="left")
    starts = _stream_starts(uniq_stream)
    for a, b in _chunks(starts, len(uniq), width_hint):
        qa, qb = np.searchsorted(sorted_target, [a, b], side="left")
        if qa == qb:
            continue
        ca, cb = np.searchsorted(pair_of, [a, b], side="left")
        present = np.bincount(bin_of[ca:cb], minlength=n_bins) > 0
        used = np.flatnonzero(present)
        local_bin = (np.cumsum(present) - 1)[bin_of[ca:cb]]
        rows_in, width = b - a, len(used)
        # bins x pairs layout: the cumulative sum runs along contiguous memory
        dense = np.bincount(
            local_bin * rows_in + (pair_of[ca:cb] - a), minlength=width * rows_in
        ).reshape(width, rows_in)
        cum = np.ascontiguousarray(np.cumsum(dense, axis=1, dtype=np.int32).T)
        del dense
        local_starts = starts[(starts >= a) & (starts < b)] - a
        run = np.searchsorted(local_starts, np.arange(rows_in), side="right") - 1
        rows = sorted_target[qa:qb] - a
        begin = local_starts[run[rows]]
        hist = cum[rows]
        later = begin > 0
        hist[later] -= cum[begin[later] - 1]
        yield order[qa:qb], hist, used


def prefix_quantiles(
    group: np.ndarray,
    day: np.ndarray,
    x: np.ndarray,
    query_group: np.ndarray,
    query_day: np.ndarray,
    grid: Grid,
    qs: Sequence[float],
) -> tuple[np.ndarray, np.ndarray]:
    """Count and quantiles of x over contributors (group >= 0, finite x) with the query's group
    and day < the query's day. Returns (n[Q], values[Q, len(qs)]), NaN where n == 0."""
    n_q = len(query_group)
    ok = (group >= 0) & np.isfinite(x)
    if not ok.any() or n_q == 0:
        return np.zeros(n_q, dtype=np.int64), np.full((n_q, len(qs)), np.nan)
    g, d, xv = group[ok], day[ok], x[ok]
    d0 = int(min(d.min(), query_day.min()))
    span = int(max(d.max(), query_day.max())) - d0 + 2
    qkey, inverse = np.unique(query_group * span + (query_day - d0), return_inverse=True)
    qg = qkey // span
    coarse, fine = bins(xv, grid)
    order = np.lexsort((d, g))
    g, d, coarse, fine = g[order], d[order], coarse[order], fine[order]
    key = g * span + (d - d0)
    n = np.searchsorted(key, qkey, side="left") - np.searchsorted(key, qg * span, side="left")
    n = np.where(qg >= 0, n, 0)
    # coarse bins relative to each group's first contributor (an index shift, nothing more)
    starts = _stream_starts(g)
    anchor = coarse[starts]
    shift = grid.n_coarse - 1
    relative = coarse - np.repeat(anchor, np.diff(np.r_[starts, len(g)])) + shift
    q_anchor = anchor[np.minimum(np.searchsorted(g[starts], qg), len(starts) - 1)]
    chosen = np.zeros((len(qkey), len(qs)), dtype=np.int64)
    rest = np.zeros((len(qkey), len(qs)))
    pieces = _prefix_hist_rows(g, key, relative, 2 * grid.n_coarse - 1, qkey, qg, 64)
    for rows, hist, used in pieces:
        cum = np.cumsum(hist, axis=1, dtype=hist.dtype)
        for j, q in enumerate(qs):
            target = q * n[rows].astype(np.float64)
            column, before = _locate(cum, target)
            chosen[rows, j] = used[column] - shift + q_anchor[rows]
            rest[rows, j] = target - before
    # fine histograms of (group, coarse) streams before the query day
    stream = g * grid.n_coarse + coarse
    order = np.argsort(stream, kind="stable")
    stream, fine = stream[order], fine[order]
    key_f = stream * span + (d[order] - d0)
    idx = np.flatnonzero(n > 0)
    q_stream = (qg[idx, None] * grid.n_coarse + chosen[idx]).T.ravel()
    q_day = np.tile(qkey[idx] % span, len(qs))
    q_rest = rest[idx].T.ravel()
    q_coarse = chosen[idx].T.ravel()
    flat = np.full(len(q_stream), np.nan)
    pieces = _prefix_hist_rows(
        stream, key_f, fine, grid.n_fine, q_stream * span + q_day, q_stream, grid.n_fine
    )
    for rows, hist, used in pieces:
        cum = np.cumsum(hist, axis=1, dtype=hist.dtype)
        column, before = _locate(cum, q_rest[rows])
        step = grid.width / grid.n_fine
        offset = used[column].astype(np.float64)
        if grid.interpolate:
            count = hist[np.arange(len(rows)), column].astype(np.float64)
            offset = offset + (q_rest[rows] - before) / count
        flat[rows] = grid.low + q_coarse[rows] * grid.width + offset * step
    values = np.full((len(qkey), len(qs)), np.nan)
    values[idx] = flat.reshape(len(qs), len(idx)).T
    return n[inverse], values[inverse]


def total_quantiles(
    group: np.ndarray, x: np.ndarray, grid: Grid, qs: Sequence[float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per group (>= 0) over all its finite values: (groups, n, values[G, len(qs)]), computed as
    the prefix on the day after every contributor (hence identical to it)."""
    ok = (group >= 0) & np.isfinite(x)
    groups = np.unique(group[ok])
    day = np.zeros(len(group), dtype=np.int64)
    n, values = prefix_quantiles(
        group, day, x, groups, np.ones(len(groups), dtype=np.int64), grid, qs
    )
    return groups, n, values


def prefix_max(
    group: np.ndarray,
    day: np.ndarray,
    x: np.ndarray,
    query_group: np.ndarray,
    query_day: np.ndarray,
) -> np.ndarray:
    """Largest x over contributors (group >= 0, finite x) of the query's group on earlier days."""
    out = np.full(len(query_group), np.nan)
    ok = (group >= 0) & np.isfinite(x)
    if not ok.any() or len(query_group) == 0:
        return out
    frame = pd.DataFrame({"g": group[ok], "d": day[ok], "x": x[ok]})
    daily = frame.groupby(["g", "d"], sort=True)["x"].max().reset_index()
    running = daily.groupby("g", sort=False)["x"].cummax().to_numpy()
    dg, dd = daily["g"].to_numpy(), daily["d"].to_numpy()
    d0 = int(min(dd.min(), query_day.min()))
    span = int(max(dd.max(), query_day.max())) - d0 + 2
    target = np.searchsorted(dg * span + (dd - d0), query_group * span + (query_day - d0)) - 1
    valid = (target >= 0) & (query_group >= 0)
    valid[valid] &= dg[target[valid]] == query_group[valid]
    out[valid] = running[target[valid]]
    return out


def total_max(group: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per group (>= 0): (groups, largest finite x)."""
    ok = (group >= 0) & np.isfinite(x)
    series = pd.Series(x[ok]).groupby(group[ok], sort=True).max()
    return series.index.to_numpy(dtype=np.int64), series.to_numpy(dtype=np.float64)
