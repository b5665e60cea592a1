"""Risk profiles: analysts' targeting rules, loaded from YAML and evaluated over a batch.

A profile hits a declaration item when every criterion holds and the item's decision date lies in
[valid_from, valid_to]. A missing value never satisfies a criterion (not even ``not_in``).
Evaluation is vectorised: text columns are factorised once per batch, so a criterion costs one
lookup over the distinct values plus one gather over the rows.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

Operator = Literal["eq", "in", "not_in", "prefix", "gt", "ge", "lt", "le", "between"]
Action = Literal["red", "orange"]
PROFILE_SUFFIXES = (".yaml", ".yml")
_SEVERITY = {"red": 2, "orange": 1}
_NUMERIC_OPS = {"gt", "ge", "lt", "le", "between"}
Scalar = str | int | float | bool | dt.date


class ProfileError(ValueError):
    """A profile that cannot be used: names its file, the offending field and the reason."""

    def __init__(
        self, file: str | None, field: str, reason: str, profile_id: str | None = None
    ) -> None:
        self.file = file
        self.field = field
        self.reason = reason
        self.profile_id = profile_id
        where = file or (f"profile {profile_id}" if profile_id else "<profile>")
        super().__init__(f"{where}: {field}: {reason}")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_ordered(value: Any) -> bool:
    return _is_number(value) or isinstance(value, dt.date)


class Criterion(BaseModel):
    """One condition on one column: ``field op value``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    field: str = Field(min_length=1)
    op: Operator
    value: Any

    @field_validator("value")
    @classmethod
    def _check_value(cls, value: Any, info: ValidationInfo) -> Any:
        op = info.data.get("op")
        if op is None:
            return value
        if op == "eq":
            if isinstance(value, list | dict) or value is None:
                raise ValueError("eq needs a single value")
        elif op in ("in", "not_in"):
            if not isinstance(value, list) or not value:
                raise ValueError(f"{op} needs a non-empty list")
            if any(isinstance(v, list | dict) or v is None for v in value):
                raise ValueError(f"{op} needs a list of single values")
        elif op == "prefix":
            value = value if isinstance(value, list) else [value]
            if not value or not all(isinstance(v, str) and v for v in value):
                raise ValueError(
                    "prefix needs a string or a non-empty list of strings (quote HS codes in YAML)"
                )
        elif op == "between":
            if not isinstance(value, list) or len(value) != 2:
                raise ValueError("between needs a list [low, high]")
            low, high = value
            numbers = _is_number(low) and _is_number(high)
            dates = isinstance(low, dt.date) and isinstance(high, dt.date)
            if not (numbers or dates):
                raise ValueError("between needs two numbers (or two dates)")
            if (low > high) if numbers else (pd.Timestamp(low) > pd.Timestamp(high)):
                raise ValueError(f"between needs low <= high, got [{low}, {high}]")
        elif not _is_ordered(value):
            raise ValueError(f"{op} needs a number (or a date)")
        return value

    @cached_property
    def text_values(self) -> frozenset[str]:
        """The list values as text (in / not_in on text columns), computed once."""
        values = self.value if isinstance(self.value, list) else [self.value]
        return frozenset(_as_text(v) for v in values)


class RiskProfile(BaseModel):
    """An analyst's targeting rule: when all criteria hold, send the item to ``action``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    title: str = Field(min_length=1)
    owner: str = Field(min_length=1)
    valid_from: dt.date
    valid_to: dt.date | None = None
    criteria: list[Criterion] = Field(min_length=1)
    action: Action
    priority: int = Field(ge=0, le=1000)
    instructions: str = Field(min_length=1)
    advisory: bool = False
    _source: str | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _check_dates(self) -> RiskProfile:
        if self.valid_to is not None and self.valid_to < self.valid_from:
            raise ValueError(f"valid_to {self.valid_to} is before valid_from {self.valid_from}")
        return self

    @property
    def source(self) -> str | None:
        """The file the profile was loaded from, if any."""
        return self._source

    def is_valid_on(self, day: dt.date) -> bool:
        """Whether the profile applies on ``day``."""
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)


def _error_field(err: dict[str, Any]) -> str:
    loc = ".".join(str(part) for part in err.get("loc", ()))
    return loc or "<profile>"


def parse_profile(data: Any, source: str | None = None) -> RiskProfile:
    """Validate one profile mapping; raise ProfileError naming the file, field and reason."""
    if not isinstance(data, dict):
        raise ProfileError(source, "<profile>", f"expected a mapping, got {type(data).__name__}")
    pid = data.get("id") if isinstance(data.get("id"), str) else None
    try:
        profile = RiskProfile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        reason = first["msg"].removeprefix("Value error, ")
        raise ProfileError(source, _error_field(first), reason, pid) from exc
    profile._source = source
    return profile


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans: only true/false, so country code NO stays text."""


_Loader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def _read_yaml(path: Path) -> list[Any]:
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # a SafeLoader
    except yaml.YAMLError as exc:
        raise ProfileError(str(path), "<yaml>", f"not valid YAML: {exc}") from exc
    if doc is None:
        raise ProfileError(str(path), "<profile>", "empty file")
    return doc if isinstance(doc, list) else [doc]


def load_profiles(*paths: str | Path) -> ProfileSet:
    """Load profiles from YAML files and/or folders of them (one profile, or a list, per file)."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.suffix in PROFILE_SUFFIXES))
        elif path.is_file():
            files.append(path)
        else:
            raise ProfileError(str(path), "<path>", "no such file or folder")
    profiles: list[RiskProfile] = []
    seen: dict[str, str | None] = {}
    for file in files:
        for data in _read_yaml(file):
            profile = parse_profile(data, str(file))
            if profile.id in seen:
                reason = f"duplicate id {profile.id!r}, also in {seen[profile.id]}"
                raise ProfileError(str(file), "id", reason, profile.id)
            seen[profile.id] = str(file)
            profiles.append(profile)
    return ProfileSet(profiles)


class ProfileSet:
    """Profiles in evaluation order: priority descending, then red before orange, then id."""

    def __init__(self, profiles: Iterable[RiskProfile] = ()) -> None:
        items = list(profiles)
        ids = [p.id for p in items]
        if len(set(ids)) != len(ids):
            dup = sorted({i for i in ids if ids.count(i) > 1})
            raise ProfileError(None, "id", f"duplicate profile ids {dup}")
        self.profiles: tuple[RiskProfile, ...] = tuple(
            sorted(items, key=lambda p: (-p.priority, -_SEVERITY[p.action], p.id))
        )

    def __len__(self) -> int:
        return len(self.profiles)

    def __iter__(self) -> Iterator[RiskProfile]:
        return iter(self.profiles)

    def fields(self) -> set[str]:
        """Columns the profiles read."""
        return {c.field for p in self.profiles for c in p.criteria}


@dataclass(frozen=True)
class ProfileStatus:
    """A profile not applied to some or all rows because of its validity dates."""

    profile_id: str
    source: str | None
    status: Literal["expired", "not_yet_valid", "partially_valid", "outside_validity"]
    valid_from: dt.date
    valid_to: dt.date | None
    rows_outside: int

    def as_dict(self) -> dict[str, Any]:
        """Plain-dict form for reports and JSON."""
        return {
            "profile_id": self.profile_id,
            "source": self.source,
            "status": self.status,
            "valid_from": self.valid_from.isoformat(),
            "valid_to": None if self.valid_to is None else self.valid_to.isoformat(),
            "rows_outside": self.rows_outside,
        }


@dataclass(frozen=True)
class ProfileHits:
    """Hit matrix of a batch: ``matrix[i, j]`` is True when ``profiles[j]`` hits row i."""

    profiles: tuple[RiskProfile, ...]
    matrix: np.ndarray
    not_applied: list[ProfileStatus] = field(default_factory=list)

    def forced(self) -> tuple[np.ndarray, np.ndarray]:
        """Index of the forcing (first non-advisory) profile per row, -1 if none; and its action.

        Action codes: 2 red, 1 orange, 0 none.
        """
        n = self.matrix.shape[0]
        idx = np.full(n, -1, dtype=np.int64)
        action = np.zeros(n, dtype=np.int8)
        cols = [j for j, p in enumerate(self.profiles) if not p.advisory]
        if not cols or n == 0:
            return idx, action
        sub = self.matrix[:, cols]
        any_hit = sub.any(axis=1)
        first = np.asarray(cols, dtype=np.int64)[sub.argmax(axis=1)]
        idx = np.where(any_hit, first, -1)
        codes = np.array([_SEVERITY[p.action] for p in self.profiles] + [0], dtype=np.int8)
        action = codes[idx]
        return idx, action


class _Columns:
    """Column access over one or more aligned frames, with per-batch caches.

    Text columns are factorised once: codes (-1 for missing) and the distinct values as a list.
    """

    _DERIVED_HS = {"hs2": 2, "hs4": 4, "hs6": 6}

    def __init__(self, frames: Sequence[pd.DataFrame]) -> None:
        self.frames = frames
        self._series: dict[str, pd.Series] = {}
        self._text: dict[str, bool] = {}
        self._codes: dict[str, tuple[np.ndarray, list[str]]] = {}
        self._numbers: dict[str, np.ndarray] = {}

    def _stored(self, name: str) -> bool:
        return any(name in f.columns for f in self.frames)

    def has(self, name: str) -> bool:
        if self._stored(name):
            return True
        if name in self._DERIVED_HS:
            return self.has("hs_code")
        if name in ("unit_value", "value_per_kg"):
            return self.has("customs_value")
        return False

    def series(self, name: str) -> pd.Series:
        if name not in self._series:
            self._series[name] = self._build_series(name)
        return self._series[name]

    def _build_series(self, name: str) -> pd.Series:
        for frame in self.frames:
            if name in frame.columns:
                return frame[name]
        if name == "unit_value":
            value, qty = self.series("customs_value"), self.series("quantity")
            return value / qty.where(qty > 0)
        if name == "value_per_kg":
            value, mass = self.series("customs_value"), self.series("net_mass_kg")
            return value / mass.where(mass > 0)
        raise KeyError(name)

    def is_text(self, name: str) -> bool:
        if name not in self._text:
            if name in self._DERIVED_HS and not self._stored(name):
                self._text[name] = True
            else:
                dtype = self.series(name).dtype
                self._text[name] = not (
                    pd.api.types.is_numeric_dtype(dtype)
                    or pd.api.types.is_datetime64_any_dtype(dtype)
                )
        return self._text[name]

    def numbers(self, name: str) -> np.ndarray:
        if name not in self._numbers:
            series = self.series(name)
            self._numbers[name] = series.to_numpy(dtype=np.float64, na_value=np.nan)
        return self._numbers[name]

    def factorized(self, name: str) -> tuple[np.ndarray, list[str]]:
        if name not in self._codes:
            if name in self._DERIVED_HS and not self._stored(name):
                codes, uniques = self.factorized("hs_code")
                short = [u[: self._DERIVED_HS[name]] for u in uniques]
                sub, sub_uniques = pd.factorize(pd.Index(short, dtype=object))
                self._codes[name] = (np.append(sub, -1)[codes], [str(u) for u in sub_uniques])
            else:
                series = self.series(name)
                codes, uniques = pd.factorize(series, use_na_sentinel=True)
                if pd.api.types.is_string_dtype(series.dtype) and not isinstance(
                    series.dtype, pd.CategoricalDtype
                ):
                    texts = uniques.tolist()  # already text: skip the per-value conversion
                else:
                    texts = [_as_text(u) for u in uniques]
                self._codes[name] = (np.asarray(codes), texts)
        return self._codes[name]


def _as_text(value: Any) -> str:
    if isinstance(value, bool | np.bool_):
        return str(bool(value)).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _text_table(crit: Criterion, uniques: list[str]) -> np.ndarray:
    """Per distinct value: does it satisfy the criterion?"""
    op, value, n = crit.op, crit.value, len(uniques)
    if op == "prefix":
        prefixes = tuple(value)
        return np.fromiter((u.startswith(prefixes) for u in uniques), dtype=bool, count=n)
    if op == "eq":
        target = _as_text(value)
        return np.fromiter((u == target for u in uniques), dtype=bool, count=n)
    wanted = crit.text_values
    table = np.fromiter((u in wanted for u in uniques), dtype=bool, count=n)
    return ~table if op == "not_in" else table


def _criterion_mask(cols: _Columns, crit: Criterion) -> np.ndarray:
    op, value = crit.op, crit.value
    if cols.is_text(crit.field):
        if op in _NUMERIC_OPS:
            raise ValueError(f"{op} needs a numeric or date column, {crit.field!r} holds text")
        codes, uniques = cols.factorized(crit.field)
        table = np.append(_text_table(crit, uniques), False)
        return table[codes]
    series = cols.series(crit.field)
    if op == "prefix":
        raise ValueError(f"prefix needs a text column, {crit.field!r} is {series.dtype}")
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return _datetime_mask(series, op, value)
    arr = cols.numbers(crit.field)
    try:
        vals = [float(v) for v in (value if isinstance(value, list) else [value])]
    except (TypeError, ValueError) as exc:
        raise ValueError(f"value {value!r} is not a number for column {crit.field!r}") from exc
    with np.errstate(invalid="ignore"):
        if op == "eq":
            return arr == vals[0]
        if op in ("in", "not_in"):
            mask = np.isin(arr, vals)
            return mask if op == "in" else ~mask & ~np.isnan(arr)
        return _ordered_mask(arr, op, vals)


def _ordered_mask(arr: Any, op: str, vals: list[Any]) -> np.ndarray:
    if op == "gt":
        return np.asarray(arr > vals[0])
    if op == "ge":
        return np.asarray(arr >= vals[0])
    if op == "lt":
        return np.asarray(arr < vals[0])
    if op == "le":
        return np.asarray(arr <= vals[0])
    return np.asarray((arr >= vals[0]) & (arr <= vals[1]))


def _datetime_mask(series: pd.Series, op: str, value: Any) -> np.ndarray:
    tz = getattr(series.dtype, "tz", None)

    def stamp(v: Any) -> pd.Timestamp:
        ts = pd.Timestamp(v)
        if tz is not None and ts.tzinfo is None:
            ts = ts.tz_localize(tz)
        return ts

    vals = [stamp(v) for v in (value if isinstance(value, list) else [value])]
    if op == "eq":
        mask = series == vals[0]
    elif op in ("in", "not_in"):
        mask = series.isin(vals)
        mask = mask if op == "in" else ~mask & series.notna()
    else:
        mask = pd.Series(_ordered_mask(series, op, vals), index=series.index)
    return mask.fillna(False).to_numpy(dtype=bool)


def check_fields(profiles: ProfileSet, frames: Sequence[pd.DataFrame]) -> None:
    """Raise ProfileError for a criterion on a column the batch does not have."""
    cols = _Columns(frames)
    for profile in profiles:
        for i, crit in enumerate(profile.criteria):
            if not cols.has(crit.field):
                raise ProfileError(
                    profile.source,
                    f"criteria.{i}.field",
                    f"no column {crit.field!r} in the declarations",
                    profile.id,
                )


def decision_days(declarations: pd.DataFrame, as_of: dt.date | str | None = None) -> np.ndarray:
    """Decision date per row (datetime64[D]): ``as_of`` for all rows, else each row's
    ``declared_at`` (its wall-clock date), else today (UTC)."""
    n = len(declarations)
    if as_of is not None:
        day = pd.Timestamp(as_of)
        return np.full(n, np.datetime64(day.date(), "D"))
    if "declared_at" in declarations.columns:
        stamps = pd.to_datetime(declarations["declared_at"])
        if getattr(stamps.dtype, "tz", None) is not None:
            stamps = stamps.dt.tz_localize(None)
        days = stamps.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")
        today = np.datetime64(dt.datetime.now(dt.UTC).date(), "D")
        return np.where(np.isnat(days), today, days)
    return np.full(n, np.datetime64(dt.datetime.now(dt.UTC).date(), "D"))


def _validity(profile: RiskProfile, days: np.ndarray) -> tuple[np.ndarray | None, int]:
    """Mask of rows whose decision day is in the profile's validity (None: all), rows outside."""
    start = np.datetime64(profile.valid_from, "D")
    inside = days >= start
    if profile.valid_to is not None:
        inside &= days <= np.datetime64(profile.valid_to, "D")
    outside = int((~inside).sum())
    return (None if outside == 0 else inside), outside


def _status(profile: RiskProfile, days: np.ndarray, outside: int) -> ProfileStatus:
    if outside < len(days):
        status = "partially_valid"
    elif profile.valid_to is not None and np.all(days > np.datetime64(profile.valid_to, "D")):
        status = "expired"
    elif np.all(days < np.datetime64(profile.valid_from, "D")):
        status = "not_yet_valid"
    else:
        status = "outside_validity"
    return ProfileStatus(
        profile.id, profile.source, status, profile.valid_from, profile.valid_to, outside
    )


def evaluate_profiles(
    profiles: ProfileSet, frames: Sequence[pd.DataFrame], days: np.ndarray
) -> ProfileHits:
    """Evaluate every profile over aligned frames; ``days`` is each row's decision date (D)."""
    n = len(days)
    check_fields(profiles, frames)
    cols = _Columns(frames)
    matrix = np.zeros((n, len(profiles)), dtype=bool)
    not_applied: list[ProfileStatus] = []
    for j, profile in enumerate(profiles):
        valid, outside = _validity(profile, days)
        if outside:
            not_applied.append(_status(profile, days, outside))
            if outside == n:
                continue
        mask = np.ones(n, dtype=bool) if valid is None else valid
        for i, crit in enumerate(profile.criteria):
            try:
                mask &= _criterion_mask(cols, crit)
            except ValueError as exc:
                raise ProfileError(profile.source, f"criteria.{i}", str(exc), profile.id) from exc
            if not mask.any():
                break
        matrix[:, j] = mask
    return ProfileHits(profiles.profiles, matrix, not_applied)
