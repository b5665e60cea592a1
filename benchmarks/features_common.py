"""Helpers of the feature benchmarks: a cached generated world and the process's peak memory."""

from __future__ import annotations

import multiprocessing as mp
import resource
import time
from pathlib import Path

import numpy as np

CACHE = Path("data/bench")


def _generate(n: int, seed: int, out: str) -> None:
    from customs_risk.data.generator import generate_world, write_world
    from customs_risk.data.world_config import WorldConfig

    write_world(generate_world(WorldConfig(), n, seed), Path(out))


def world_dir(n: int, seed: int, data: Path | None = None) -> Path:
    """The dataset folder to use: ``data`` if given, else a generated world cached under
    data/bench (generated in a child process so that it does not count in our memory)."""
    if data is not None:
        return data
    out = CACHE / f"world-{n}-{seed}"
    if not (out / "declarations.parquet").exists():
        start = time.perf_counter()
        process = mp.get_context("spawn").Process(target=_generate, args=(n, seed, str(out)))
        process.start()
        process.join()
        if process.exitcode != 0:
            raise RuntimeError("world generation failed")
        print(f"generated {n:,} declarations in {time.perf_counter() - start:.1f} s -> {out}")
    return out


def peak_rss_gib() -> float:
    """Peak resident memory of this process so far, GiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def numpy_call_us() -> float:
    """Cost of one tiny numpy call on this machine now (a yardstick for the timings)."""
    a = np.ones(1)
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(2000):
            np.add(a, 1.0)
        best = min(best, (time.perf_counter() - start) / 2000)
    return best * 1e6
