"""Random control group: a reproducible, auditable uniform draw per declaration item.

The draw for an item is

    u = (int.from_bytes(blake2b(f"{declaration_id}|{item_no}".encode("utf-8"),
                                digest_size=8, key=f"customs-risk/control/{seed}".encode()
                                ).digest(), "big") >> 11) / 2**53

a number in [0, 1) that anyone can recompute from the key and the seed, on any platform and in any
process. An item is in the random red group when u < random_red, in the random orange group when
random_red <= u < random_red + random_orange.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

_SCALE = 2.0**-53
_SMALL = 32  # batches up to this size hash item by item (Arrow's set-up costs more)
_SEPARATOR = pa.scalar("|", pa.large_string())


def control_key(seed: int) -> bytes:
    """The blake2b key for a seed."""
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    return f"customs-risk/control/{seed}".encode()


def control_draw(declaration_id: str, item_no: int, seed: int) -> float:
    """The draw of one item (the audit formula)."""
    digest = hashlib.blake2b(
        f"{declaration_id}|{int(item_no)}".encode(), digest_size=8, key=control_key(seed)
    ).digest()
    return (int.from_bytes(digest, "big") >> 11) * _SCALE


def control_draws(
    declaration_ids: pd.Series | Sequence[Any], item_nos: pd.Series | Sequence[Any], seed: int
) -> np.ndarray:
    """Draws for a batch, identical to ``control_draw`` row by row."""
    n = len(declaration_ids)
    if n == 0:
        return np.empty(0, dtype=np.float64)
    if n <= _SMALL and not isinstance(declaration_ids, pd.Series):
        if any(i is None for i in declaration_ids):
            raise ValueError("declaration_id is missing: the control draw needs it")
        items = list(item_nos)
        return np.array(
            [
                control_draw(str(d), int(i), seed)
                for d, i in zip(declaration_ids, items, strict=True)
            ],
            dtype=np.float64,
        )
    ids = pa.array(pd.Series(declaration_ids).astype("str"), type=pa.large_string())
    if ids.null_count:
        raise ValueError("declaration_id is missing: the control draw needs it")
    item_array = pa.array(pd.Series(item_nos).astype("int64"), type=pa.int64())
    messages = pc.binary_join_element_wise(ids, pc.cast(item_array, pa.large_string()), _SEPARATOR)
    keyed = hashlib.blake2b(digest_size=8, key=control_key(seed))
    digests = []
    for message in pc.cast(messages, pa.large_binary()).to_pylist():
        h = keyed.copy()  # the key block is hashed once, not once per item
        h.update(message)
        digests.append(h.digest())
    words = np.frombuffer(b"".join(digests), dtype=">u8") >> np.uint64(11)
    return words.astype(np.float64) * _SCALE


def random_channel(u: np.ndarray, random_red: np.ndarray, random_orange: np.ndarray) -> np.ndarray:
    """Channel code of the random control per row: 2 red, 1 orange, 0 not in the group."""
    out = np.zeros(len(u), dtype=np.int8)
    out[u < random_red + random_orange] = 1
    out[u < random_red] = 2
    return out
