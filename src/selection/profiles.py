"""Risk profiles: analysts' targeting rules, loaded from YAML and evaluated over a batch.

A profile hits a declaration item when every criterion holds and the item's decision date lies in
[valid_from, valid_to]. A missing value never satisfies a criterion (not even ``not_in``).
Evaluation is vectorised over a batch's :class:`~customs_risk.selection.columns.Columns` (from
frames or from records, the same values either way): text columns are factorised once per batch,
so a criterion costs one lookup over the distinct values plus one gather over the rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
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

from customs_risk.data.coercion import utc_naive_ns
from customs_risk.selection.columns import NAT, Columns, as_text
from customs_risk.selection.yaml_files import load_items

Operator = Literal["eq", "in", "not_in", "prefix", "gt", "ge", "lt", "le", "between"]
Action = Literal["red", "orange"]
_SEVERITY = {"red": 2, "orange": 1}
_NUMERIC_OPS = {"gt", "ge", "lt", "le", "between"}
Scalar = str | int | float | bool | dt.date
StatusName = Literal["expired", "not_yet_valid", "partially_valid", "outside_validity"]


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
        return frozenset(as_text(v) for v in values)


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

    def fields(self) -> set[str]:
        """Columns the criteria read."""
        return {c.field for c in self.criteria}

    @property
    def source(self) -> str | None:
        """The file the profile was loaded from, if any."""
        return self._source

    def is_valid_on(self, day: dt.date) -> bool:
        """Whether the profile applies on ``day``."""
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)


def _error_field(err: Mapping[str, Any]) -> str:
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


def load_profiles(*paths: str | Path) -> ProfileSet:
    """Load profiles from YAML files and/or folders of them (one profile, or a list, per file)."""
    return ProfileSet(load_items(paths, parse_profile, ProfileError, "profile"))


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
        return set().union(*(p.fields() for p in self.profiles))


@dataclass(frozen=True)
class ProfileStatus:
    """A profile not applied to some or all rows because of its validity dates."""

    profile_id: str
    source: str | None
    status: StatusName
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


def _text_table(crit: Criterion, uniques: list[str]) -> list[bool]:
    """Per distinct value: does it satisfy the criterion?"""
    op, value = crit.op, crit.value
    if op == "prefix":
        prefixes = tuple(value)
        return [u.startswith(prefixes) for u in uniques]
    if op == "eq":
        target = as_text(value)
        return [u == target for u in uniques]
    wanted = crit.text_values
    if op == "not_in":
        return [u not in wanted for u in uniques]
    return [u in wanted for u in uniques]


def _criterion_mask(cols: Columns, crit: Criterion) -> np.ndarray:
    op, value, kind = crit.op, crit.value, cols.kind(crit.field)
    if kind == "text":
        if op in _NUMERIC_OPS:
            raise ValueError(f"{op} needs a numeric or date column, {crit.field!r} holds text")
        arrow = cols.arrow_text(crit.field)
        if arrow is not None:
            return _arrow_text_mask(arrow, crit)
        codes, uniques = cols.factorized(crit.field)
        table = _text_table(crit, uniques)
        table.append(False)  # code -1: missing
        return np.array(table, dtype=bool)[codes]
    if op == "prefix":
        raise ValueError(f"prefix needs a text column, {crit.field!r} holds {kind}s")
    values = value if isinstance(value, list) else [value]
    if kind == "time":
        stamps = cols.times(crit.field)
        present = stamps != NAT
        try:
            vals = [utc_naive_ns(v) for v in values]
        except (TypeError, ValueError) as exc:
            raise ValueError(f"value {value!r} is not a date for column {crit.field!r}") from exc
        return _compare(stamps, present, op, vals)
    arr = cols.numbers(crit.field)
    try:
        floats = [float(v) for v in values]
    except (TypeError, ValueError) as exc:
        raise ValueError(f"value {value!r} is not a number for column {crit.field!r}") from exc
    return _compare(arr, ~np.isnan(arr), op, floats)


def _arrow_text_mask(arr: pa.Array, crit: Criterion) -> np.ndarray:
    """A text criterion in Arrow (large batches): the same answers as ``_text_table``."""
    op = crit.op
    if op == "prefix":
        hit = pc.starts_with(arr, crit.value[0])
        for prefix in crit.value[1:]:
            hit = pc.or_(hit, pc.starts_with(arr, prefix))
    elif op == "eq":
        hit = pc.equal(arr, as_text(crit.value))
    else:
        hit = pc.is_in(arr, value_set=pa.array(sorted(crit.text_values), type=arr.type))
        if op == "not_in":  # is_in answers false, not null, for a missing value
            hit = pc.and_(pc.invert(hit), pc.is_valid(arr))
    return np.asarray(hit.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


def _compare(arr: np.ndarray, present: np.ndarray, op: str, vals: list[Any]) -> np.ndarray:
    """``arr op vals`` where a value is present; a missing value satisfies nothing."""
    if op == "eq":
        mask = arr == vals[0]
    elif op in ("in", "not_in"):
        mask = np.isin(arr, vals)
        mask = mask if op == "in" else ~mask
    elif op == "gt":
        mask = arr > vals[0]
    elif op == "ge":
        mask = arr >= vals[0]
    elif op == "lt":
        mask = arr < vals[0]
    elif op == "le":
        mask = arr <= vals[0]
    else:
        mask = (arr >= vals[0]) & (arr <= vals[1])
    return np.asarray(mask & present, dtype=bool)


def _source(batch: Columns | Sequence[pd.DataFrame]) -> Columns:
    return batch if isinstance(batch, Columns) else Columns.of_frames(*batch)


def check_fields(profiles: ProfileSet, batch: Columns | Sequence[pd.DataFrame]) -> None:
    """Raise ProfileError for a criterion on a column the batch does not have."""
    cols = _source(batch)
    for profile in profiles:
        for i, crit in enumerate(profile.criteria):
            if not cols.has(crit.field):
                raise ProfileError(
                    profile.source,
                    f"criteria.{i}.field",
                    f"no column {crit.field!r} in the declarations",
                    profile.id,
                )


def decision_days(batch: Columns | pd.DataFrame, as_of: dt.date | str | None = None) -> np.ndarray:
    """Decision date per row (datetime64[D]): ``as_of`` for all rows, else each row's
    ``declared_at`` (its wall-clock date), else today (UTC)."""
    cols = batch if isinstance(batch, Columns) else Columns.of_frames(batch)
    n = cols.n
    today = np.datetime64(dt.datetime.now(dt.UTC).date(), "D")
    if as_of is not None:
        return np.full(n, np.datetime64(pd.Timestamp(as_of).date(), "D"))
    if not cols.stored("declared_at"):
        return np.full(n, today)
    ns = cols.times("declared_at")
    days = ns.view("datetime64[ns]").astype("datetime64[D]")
    return np.where(ns == NAT, today, days)


_EPOCH = dt.date(1970, 1, 1)
_NO_END = np.iinfo(np.int64).max


def _day_number(day: dt.date | None, default: int = _NO_END) -> int:
    return default if day is None else (day - _EPOCH).days


def _validity(profile: RiskProfile, day_numbers: np.ndarray) -> tuple[np.ndarray | None, int]:
    """Mask of rows whose decision day (days since 1970) is in the profile's validity (None:
    all), and the number of rows outside."""
    start, end = _day_number(profile.valid_from), _day_number(profile.valid_to)
    inside = (day_numbers >= start) & (day_numbers <= end)
    outside = len(inside) - int(np.count_nonzero(inside))
    return (None if outside == 0 else inside), outside


def _status(profile: RiskProfile, day_numbers: np.ndarray, outside: int) -> ProfileStatus:
    status: StatusName
    if outside < len(day_numbers):
        status = "partially_valid"
    elif profile.valid_to is not None and np.all(day_numbers > _day_number(profile.valid_to)):
        status = "expired"
    elif np.all(day_numbers < _day_number(profile.valid_from)):
        status = "not_yet_valid"
    else:
        status = "outside_validity"
    return ProfileStatus(
        profile.id, profile.source, status, profile.valid_from, profile.valid_to, outside
    )


def evaluate_profiles(
    profiles: ProfileSet, batch: Columns | Sequence[pd.DataFrame], days: np.ndarray
) -> ProfileHits:
    """Evaluate every profile over a batch (Columns, or aligned frames); ``days`` is each row's
    decision date (datetime64[D])."""
    n = len(days)
    cols = _source(batch)
    check_fields(profiles, cols)
    day_numbers = np.asarray(days, dtype="datetime64[D]").view(np.int64)
    matrix = np.zeros((n, len(profiles)), dtype=bool)
    not_applied: list[ProfileStatus] = []
    for j, profile in enumerate(profiles):
        valid, outside = _validity(profile, day_numbers)
        if outside:
            not_applied.append(_status(profile, day_numbers, outside))
            if outside == n:
                continue
        mask: np.ndarray | None = valid
        for i, crit in enumerate(profile.criteria):
            try:
                hit = _criterion_mask(cols, crit)
            except ValueError as exc:
                raise ProfileError(profile.source, f"criteria.{i}", str(exc), profile.id) from exc
            mask = hit if mask is None else mask & hit
            if not mask.any():
                break
        if mask is not None:
            matrix[:, j] = mask
    return ProfileHits(profiles.profiles, matrix, not_applied)
