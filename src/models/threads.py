"""One small thread pool for splitting the rows of an XGBoost call over the cores.

XGBoost releases the GIL, so row chunks given to single-threaded booster copies in threads use
every core of a single-process server. Tasks of this pool never submit to it.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

WORKERS = 2  # the machine's cores: XGBoost's threads (boosting.NTHREAD) and this pool
_POOL: ThreadPoolExecutor | None = None


def pool() -> ThreadPoolExecutor:
    """The shared pool of WORKERS threads (made on first use)."""
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(WORKERS, thread_name_prefix="customs-risk-split")
    return _POOL


def row_bounds(n: int, parts: int = WORKERS) -> list[tuple[int, int]]:
    """``parts`` contiguous (start, stop) ranges covering rows 0..n-1 (sizes differ by <= 1)."""
    edges = [n * i // parts for i in range(parts + 1)]
    return [(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]
