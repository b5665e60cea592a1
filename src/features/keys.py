"""Composite keys: component codes to one int64 key, and several key spaces stacked in one."""

from __future__ import annotations

import numpy as np

STACK_SHIFT = 40


def stack_keys(keys: list[np.ndarray]) -> np.ndarray:
    """Concatenate key arrays of several entities (or levels) into one key space: the i-th
    array is offset by i << STACK_SHIFT; missing keys (-1) stay -1."""
    if len(keys) == 1:
        return keys[0]
    return np.concatenate(
        [np.where(k >= 0, (i << STACK_SHIFT) + k, -1) for i, k in enumerate(keys)]
    )


def composite_keys(
    specs: list[tuple[str, ...]], codes: dict[str, np.ndarray], sizes: dict[str, int]
) -> np.ndarray:
    """Keys of several composite keys at once, shape (len(specs), rows): the mixed-radix number
    of the component codes, -1 where a code is missing (< 0) or not below its size."""
    width = max(len(spec) for spec in specs)
    rows = len(codes[specs[0][0]])
    zero = np.zeros(rows, dtype=np.int32)
    key = np.zeros((len(specs), rows), dtype=np.int64)
    bad = np.zeros((len(specs), rows), dtype=bool)
    for j in range(width):
        part = np.array([codes[s[j]] if j < len(s) else zero for s in specs], dtype=np.int64)
        size = np.array([[sizes[s[j]] if j < len(s) else 1] for s in specs], dtype=np.int64)
        key = key * size + part
        bad |= (part < 0) | (part >= size)
    key[bad] = -1
    return key


def stack_rows(keys: np.ndarray) -> np.ndarray:
    """``stack_keys`` of the rows of a (K, rows) key matrix."""
    if len(keys) == 1:
        return keys[0]
    shift = (np.arange(len(keys), dtype=np.int64) << STACK_SHIFT)[:, None]
    return np.where(keys >= 0, keys + shift, -1).ravel()
