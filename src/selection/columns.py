"""Named columns of a batch, whatever holds them: DataFrames, plain records or arrays.

The decision kernel's adapters differ only in where rows come from (``decide`` takes DataFrames,
the service takes validated records); everything that reads a batch column by column (profile
criteria, offices, control draws, decision dates) reads it through :class:`Columns`, so both see
the same values. A column is one of three kinds, fixed by the data:

- text: compared as text (``_as_text``: ``True`` -> ``"true"``, ``5.0`` -> ``"5"``); factorised
  once per batch into codes (-1 missing) and distinct texts;
- number: float64 with NaN for missing (booleans are numbers, as in pandas);
- time: wall-clock int64 nanoseconds, ``NAT`` for missing (tz-aware stamps keep their wall
  clock, as ``decision_days`` reads them).

Derived columns: ``hs2``, ``hs4``, ``hs6`` (prefixes of ``hs_code``), ``unit_value``
(``customs_value / quantity``) and ``value_per_kg`` (``customs_value / net_mass_kg``), missing
where the divisor is not positive.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

Kind = Literal["text", "number", "time"]
NAT = np.iinfo(np.int64).min
_SMALL = 256
HS_PREFIXES = {"hs2": 2, "hs4": 4, "hs6": 6}
RATIOS = {"unit_value": "quantity", "value_per_kg": "net_mass_kg"}


def as_text(value: Any) -> str:
    """A value as the text a criterion compares (one rule for frames and records)."""
    if isinstance(value, bool | np.bool_):
        return str(bool(value)).lower()
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def is_missing(value: Any) -> bool:
    """None, NA, NaT or a float NaN (the rule of the selection's readers)."""
    return (
        value is None
        or value is pd.NA
        or value is pd.NaT
        or (isinstance(value, float) and value != value)
    )


def _kind_of_values(values: Iterable[Any]) -> Kind:
    for v in values:
        if is_missing(v):
            continue
        if isinstance(v, dt.date | pd.Timestamp | np.datetime64):
            return "time"
        if isinstance(v, bool | int | float | np.number | np.bool_):
            return "number"
        return "text"
    return "text"  # all missing: an object column of a frame, also text


def _kind_of_series(series: pd.Series) -> Kind:
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return "time"
    if pd.api.types.is_numeric_dtype(series.dtype):
        return "number"
    if series.dtype == object:
        return _kind_of_values(series)  # stops at the first value present
    return "text"


_EPOCH = dt.datetime(1970, 1, 1)
_MICROSECOND = dt.timedelta(microseconds=1)


def _wall_ns(value: Any) -> int:
    """Wall-clock nanoseconds of one timestamp-like value."""
    if is_missing(value):
        return NAT
    if type(value) is dt.datetime:  # the service's records: integer arithmetic, no Timestamp
        return (value.replace(tzinfo=None) - _EPOCH) // _MICROSECOND * 1000
    ts = pd.Timestamp(value)
    if ts.tzinfo is not None:
        ts = ts.tz_localize(None)
    return int(ts.value)


class Columns:
    """Column access over aligned sources, with per-batch caches (see module docstring).

    Build with :meth:`of_frames` (DataFrames) or :meth:`of_records` (mappings, plus optional
    named arrays such as model scores); the first source holding a name wins.
    """

    def __init__(self, n: int, getters: Mapping[str, Callable[[], Any]]) -> None:
        self.n = n
        self._getters = dict(getters)
        self._raw: dict[str, Any] = {}
        self._kinds: dict[str, Kind] = {}
        self._codes: dict[str, tuple[np.ndarray, list[str]]] = {}
        self._numbers: dict[str, np.ndarray] = {}
        self._times: dict[str, np.ndarray] = {}

    # --- construction ---------------------------------------------------------------------
    @classmethod
    def of_frames(cls, *frames: pd.DataFrame | None) -> Columns:
        """Columns of aligned DataFrames (positional alignment; the index is ignored)."""
        present = [f for f in frames if f is not None]
        n = len(present[0]) if present else 0
        getters: dict[str, Callable[[], Any]] = {}
        for frame in present:
            for name in frame.columns:
                getters.setdefault(str(name), _frame_getter(frame, name))
        return cls(n, getters)

    @classmethod
    def of_records(
        cls, records: Sequence[Mapping[str, Any]], arrays: Mapping[str, Any] | None = None
    ) -> Columns:
        """Columns of records (one mapping per row) and of named arrays aligned with them."""
        getters: dict[str, Callable[[], Any]] = {}
        names: dict[str, None] = {}
        for record in records:
            names.update(dict.fromkeys(record))
        for name in names:
            getters[name] = _record_getter(records, name)
        for name, values in (arrays or {}).items():
            getters.setdefault(name, _constant_getter(values))
        return cls(len(records), getters)

    def with_arrays(self, arrays: Mapping[str, Any]) -> Columns:
        """These columns plus named arrays aligned with them (held columns win)."""
        getters = dict(self._getters)
        for name, values in arrays.items():
            getters.setdefault(name, _constant_getter(values))
        return Columns(self.n, getters)

    # --- reading --------------------------------------------------------------------------
    def stored(self, name: str) -> bool:
        """Whether a source holds the column (not derived)."""
        return name in self._getters

    def has(self, name: str) -> bool:
        """Whether the column is held or can be derived."""
        if self.stored(name):
            return True
        if name in HS_PREFIXES:
            return self.stored("hs_code")
        if name in RATIOS:
            return self.stored("customs_value")
        return False

    def raw(self, name: str) -> Any:
        """The column as its source holds it (a Series, an array or a list)."""
        if name not in self._raw:
            self._raw[name] = self._getters[name]()
        return self._raw[name]

    def kind(self, name: str) -> Kind:
        """text, number or time."""
        if name not in self._kinds:
            if not self.stored(name):
                if name in HS_PREFIXES:
                    self._kinds[name] = "text"
                elif name in RATIOS:
                    self._kinds[name] = "number"
                else:
                    raise KeyError(name)
            else:
                raw = self.raw(name)
                if isinstance(raw, pd.Series):
                    self._kinds[name] = _kind_of_series(raw)
                elif isinstance(raw, np.ndarray) and raw.dtype != object:
                    self._kinds[name] = (
                        "time" if np.issubdtype(raw.dtype, np.datetime64) else "number"
                    )
                else:
                    self._kinds[name] = _kind_of_values(raw)
        return self._kinds[name]

    def numbers(self, name: str) -> np.ndarray:
        """A number column as float64 (NaN missing)."""
        if name not in self._numbers:
            if name in RATIOS and not self.stored(name):
                value = self.numbers("customs_value")
                divisor = (
                    self.numbers(RATIOS[name])
                    if self.has(RATIOS[name])
                    else np.full(self.n, np.nan)
                )
                with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                    out = np.where(divisor > 0, value / np.where(divisor > 0, divisor, 1), np.nan)
            else:
                raw = self.raw(name)
                if isinstance(raw, pd.Series):
                    out = raw.to_numpy(dtype=np.float64, na_value=np.nan)
                elif isinstance(raw, np.ndarray) and raw.dtype != object:
                    out = raw.astype(np.float64, copy=False)
                else:
                    out = np.array(
                        [np.nan if is_missing(v) else float(v) for v in raw], dtype=np.float64
                    )
            self._numbers[name] = out
        return self._numbers[name]

    def factorized(self, name: str) -> tuple[np.ndarray, list[str]]:
        """A text column as codes (-1 missing) and its distinct texts."""
        if name not in self._codes:
            if name in HS_PREFIXES and not self.stored(name):
                codes, uniques = self.factorized("hs_code")
                short = [u[: HS_PREFIXES[name]] for u in uniques]
                index: dict[str, int] = {}
                sub = np.array([index.setdefault(s, len(index)) for s in short], dtype=np.int64)
                self._codes[name] = (np.append(sub, -1)[codes], list(index))
            else:
                self._codes[name] = _factorize(self.raw(name))
        return self._codes[name]

    def arrow_text(self, name: str) -> pa.Array | None:
        """A text column as an Arrow string array when its source holds one (a str Series of
        more than a few rows), else None: criteria on it run in Arrow, with no factorising."""
        if name in HS_PREFIXES and not self.stored(name):
            whole = self.arrow_text("hs_code")
            return None if whole is None else pc.utf8_slice_codeunits(whole, 0, HS_PREFIXES[name])
        if not self.stored(name):
            return None
        raw = self.raw(name)
        if not isinstance(raw, pd.Series) or len(raw) <= _SMALL:
            return None
        storage = getattr(raw.dtype, "storage", None)
        if storage != "pyarrow" or isinstance(raw.dtype, pd.CategoricalDtype):
            return None
        return pa.chunked_array(pa.array(raw)).combine_chunks()

    def names(self) -> list[str]:
        """The stored column names (first source first)."""
        return list(self._getters)

    def values_at(self, name: str, rows: np.ndarray) -> list[Any]:
        """Python values of a stored column at ``rows`` (timestamps as pandas Timestamps)."""
        raw = self.raw(name)
        if isinstance(raw, pd.Series):
            return raw.iloc[rows].tolist()
        if isinstance(raw, np.ndarray):
            return raw[rows].tolist()
        return [_context_value(raw[i]) for i in rows.tolist()]

    def times(self, name: str) -> np.ndarray:
        """A time column as wall-clock int64 ns (``NAT`` missing)."""
        if name not in self._times:
            raw = self.raw(name)
            if isinstance(raw, pd.Series):
                stamps = pd.to_datetime(raw)
                if getattr(stamps.dtype, "tz", None) is not None:
                    stamps = stamps.dt.tz_localize(None)
                out = stamps.to_numpy(dtype="datetime64[ns]").view(np.int64)
            elif isinstance(raw, np.ndarray) and np.issubdtype(raw.dtype, np.datetime64):
                out = raw.astype("datetime64[ns]").view(np.int64)
            else:
                out = np.array([_wall_ns(v) for v in raw], dtype=np.int64)
            self._times[name] = out
        return self._times[name]


def _context_value(value: Any) -> Any:
    return pd.Timestamp(value) if isinstance(value, dt.datetime) else value


def _factorize(raw: Any) -> tuple[np.ndarray, list[str]]:
    if isinstance(raw, pd.Series) and len(raw) > _SMALL:
        codes, uniques = pd.factorize(raw, use_na_sentinel=True)
        codes = np.asarray(codes, dtype=np.int64)
        text_dtype = raw.dtype != object and pd.api.types.is_string_dtype(raw.dtype)
        if text_dtype and not isinstance(raw.dtype, pd.CategoricalDtype):
            return codes, [str(u) for u in uniques.tolist()]  # distinct texts already
        return _merge_equal_texts(codes, [as_text(u) for u in uniques])
    values = raw.tolist() if isinstance(raw, pd.Series | np.ndarray) else raw
    index: dict[str, int] = {}
    codes_list = [
        -1
        if is_missing(v)
        else index.setdefault(v if isinstance(v, str) else as_text(v), len(index))
        for v in values
    ]
    return np.array(codes_list, dtype=np.int64), list(index)


def _merge_equal_texts(codes: np.ndarray, texts: list[str]) -> tuple[np.ndarray, list[str]]:
    """Distinct values with the same text (1 and "1") become one code, as in the records path."""
    index: dict[str, int] = {}
    remap = np.array([index.setdefault(t, len(index)) for t in texts] + [-1], dtype=np.int64)
    if len(index) == len(texts):
        return codes, texts
    return remap[codes], list(index)


def _frame_getter(frame: pd.DataFrame, name: Any) -> Callable[[], Any]:
    def get() -> pd.Series:
        return frame[name].reset_index(drop=True)

    return get


def _record_getter(records: Sequence[Mapping[str, Any]], name: str) -> Callable[[], Any]:
    def get() -> list[Any]:
        return [r.get(name) for r in records]

    return get


def _constant_getter(values: Any) -> Callable[[], Any]:
    def get() -> Any:
        return values

    return get
