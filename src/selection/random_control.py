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
from functools import partial

import numpy as np
import pandas as pd

_SCALE = 2.0**-53


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


def control_draws(declaration_ids: pd.Series, item_nos: pd.Series, seed: int) -> np.ndarray:
    """Draws for a batch, identical to ``control_draw`` row by row."""
    if len(declaration_ids) == 0:
        return np.empty(0, dtype=np.float64)
    items = pd.Series(item_nos).astype("int64").astype("str").to_numpy()
    ids = pd.Series(declaration_ids).astype("str").to_numpy()
    messages = [f"{d}|{i}" for d, i in zip(ids, items, strict=True)]
    digest = partial(hashlib.blake2b, digest_size=8, key=control_key(seed))
    raw = b"".join([digest(m.encode()).digest() for m in messages])
    words = np.frombuffer(raw, dtype=">u8") >> np.uint64(11)
    return words.astype(np.float64) * _SCALE


def random_channel(u: np.ndarray, random_red: np.ndarray, random_orange: np.ndarray) -> np.ndarray:
    """Channel code of the random control per row: 2 red, 1 orange, 0 not in the group."""
    out = np.zeros(len(u), dtype=np.int8)
    out[u < random_red + random_orange] = 1
    out[u < random_red] = 2
    return out
