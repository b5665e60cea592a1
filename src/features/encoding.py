"""Column access and code lookups shared by training (large frames) and serving (a few records).

A :class:`Batch` hides where rows come from: a DataFrame, one record (a mapping) or a list of
records. Small batches are handled with plain Python (no pandas overhead per call), large ones with
vectorised pandas; both give identical codes and numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from customs_risk.data.coercion import utc_naive_ns

SMALL = 256
FEW_DISTINCT = 64  # up to this many distinct values a dict beats a hash index
NS_PER_DAY = 86_400_000_000_000
Text = list[Any] | pd.Series


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value) or value is pd.NA


def to_ns(series: pd.Series) -> np.ndarray:
    """Timestamps as int64 nanoseconds since the epoch (UTC for tz-aware input)."""
    if not isinstance(series.dtype, np.dtype) or series.dtype.kind != "M":
        if isinstance(series.dtype, pd.DatetimeTZDtype):
            series = series.dt.tz_convert("UTC").dt.tz_localize(None)
        else:
            series = pd.to_datetime(series)
    return series.to_numpy(dtype="datetime64[ns]").view(np.int64)


class Batch:
    """Rows to featurise, from a DataFrame, a mapping (one record) or a sequence of mappings."""

    def __init__(self, data: pd.DataFrame | Mapping[str, Any] | Sequence[Mapping[str, Any]]):
        self.frame: pd.DataFrame | None = None
        self.records: list[Mapping[str, Any]] | None = None
        if isinstance(data, pd.DataFrame):
            self.frame = data
            self.n = len(data)
            self.columns: list[str] = [str(c) for c in data.columns]
            self.small = self.n <= SMALL
        else:
            self.records = [data] if isinstance(data, Mapping) else list(data)
            self.n = len(self.records)
            seen: dict[str, None] = {}
            for record in self.records:
                seen.update(dict.fromkeys(record))
            self.columns = list(seen)
            self.small = True
        self._cache: dict[str, Any] = {}

    @property
    def index(self) -> pd.Index:
        """Index of the output frame: the input frame's index, else 0..n-1."""
        return self.frame.index if self.frame is not None else pd.RangeIndex(self.n)

    def has(self, column: str) -> bool:
        """Whether the rows carry this column."""
        return column in self.columns

    def raw(self, column: str) -> Text:
        """Values of a column: a list when small, a Series otherwise; all missing if absent."""
        if column in self._cache:
            return self._cache[column]
        if not self.has(column):
            values: Text = [None] * self.n if self.small else pd.Series([None] * self.n)
        elif self.records is not None:
            values = [record.get(column) for record in self.records]
        elif self.small:
            values = self.frame[column].tolist()  # type: ignore[index]
        else:
            values = self.frame[column].reset_index(drop=True)  # type: ignore[index]
        self._cache[column] = values
        return values

    def text(self, column: str) -> Text:
        """A column as text (non-text values are converted with ``str``; missing stays missing)."""
        values = self.raw(column)
        if isinstance(values, list):
            return [v if isinstance(v, str) or _missing(v) else str(v) for v in values]
        if pd.api.types.is_string_dtype(values.dtype) and not isinstance(
            values.dtype, pd.CategoricalDtype
        ):
            return values
        return values.astype("str").where(values.notna(), None)

    def floats(self, column: str) -> np.ndarray:
        """A column as float64 (missing -> NaN)."""
        values = self.raw(column)
        if isinstance(values, list):
            return np.array([np.nan if _missing(v) else v for v in values], dtype=np.float64)
        return values.to_numpy(dtype=np.float64, na_value=np.nan)

    def times(self, column: str = "declared_at") -> np.ndarray:
        """A timestamp column as int64 ns since the epoch."""
        if column in self._cache:
            return self._cache[column]
        values = self.raw(column)
        if isinstance(values, list):
            out = np.array([utc_naive_ns(v) for v in values], dtype=np.int64)
        else:
            out = to_ns(values)
        self._cache[column] = out
        return out


def prefix(values: Text, length: int) -> Text:
    """The first ``length`` characters of each value (HS headings)."""
    if isinstance(values, list):
        return [v[:length] if isinstance(v, str) else None for v in values]
    return values.str.slice(0, length)


def missing_mask(values: Text) -> np.ndarray:
    """True where a value is missing."""
    if isinstance(values, list):
        return np.array([_missing(v) for v in values], dtype=bool)
    return values.isna().to_numpy()


class Vocabulary:
    """Values of one column; code = position, unknown or missing = -1.

    First-appearance order (over time-sorted training rows) means rows added later only append
    categories, so the codes of earlier rows never change.
    """

    def __init__(self, values: Sequence[str]):
        self.values: list[str] = list(values)
        self._lookup: dict[str, int] | None = None
        self._index: pd.Index | None = None

    def __len__(self) -> int:
        return len(self.values)

    @property
    def lookup(self) -> dict[str, int]:
        """value -> code (built on first use)."""
        if self._lookup is None:
            self._lookup = {v: i for i, v in enumerate(self.values)}
        return self._lookup

    @property
    def index(self) -> pd.Index:
        """A hash index for vectorised lookups (built on first use)."""
        if self._index is None:
            self._index = pd.Index(self.values, dtype="str")
        return self._index

    def encode(self, values: Text) -> np.ndarray:
        """Codes (int32) of the values; unknown or missing -> -1."""
        if isinstance(values, list):
            get = self.lookup.get
            return np.array([get(v, -1) if isinstance(v, str) else -1 for v in values], np.int32)
        if len(self.values) == 0:
            return np.full(len(values), -1, dtype=np.int32)
        # look up each distinct value once: batches repeat offices, countries and traders
        local, uniques = pd.factorize(values)
        found: list[int] | np.ndarray
        if len(uniques) <= FEW_DISTINCT:
            get = self.lookup.get
            found = [get(v, -1) for v in uniques.tolist()]
        else:
            found = self.index.get_indexer(uniques)
        table = np.append(np.asarray(found, dtype=np.int32), np.int32(-1))  # local -1: missing
        return table[local]

    def encode_open(self, values: Text) -> np.ndarray:
        """Codes where unknown values get fresh codes >= len(self) (in order of appearance)
        and missing values -1: a group id valid within one batch."""
        codes = self.encode(values)
        unknown = codes < 0
        if not unknown.any():
            return codes
        unknown &= ~missing_mask(values)
        if isinstance(values, list):
            fresh: dict[str, int] = {}
            base = len(self.values)
            for i in np.flatnonzero(unknown):
                codes[i] = base + fresh.setdefault(values[i], len(fresh))
            return codes
        local, _ = pd.factorize(values[unknown])
        codes[unknown] = len(self.values) + local
        return codes

    @classmethod
    def fit(cls, values: Text, times: np.ndarray) -> Vocabulary:
        """Vocabulary of the non-missing values ordered by first appearance in time (ties by
        value), so the order depends neither on row order nor on anything later."""
        frame = pd.DataFrame({"v": pd.Series(values, dtype="str"), "t": times})
        first = frame.dropna(subset=["v"]).groupby("v", sort=False)["t"].min().reset_index()
        first = first.sort_values(["t", "v"], kind="stable")
        return cls([str(v) for v in first["v"]])
