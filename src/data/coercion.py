"""One rule for booleans and numbers: data files, the outcome store and the API apply it alike.

- A **boolean** is ``True`` or ``False``: a Python bool, a numpy bool, or a value of a pandas
  boolean column. ``"yes"``, ``"true"``, ``"1"``, ``1`` and ``0`` are not booleans.
- A **number** is an int or a float (Python or numpy), never a bool and never a string: ``"12.5"``
  is not a number. An int is a number where a float is expected.
- An **integer** is a number with an integral value (``3`` or ``3.0``, not ``3.5``).

Missing values (None, NaN, NaT, NA) are neither: whether a field may be null is the contract's
business (``FieldSpec.nullable``), not this module's.

Three forms of the same rule:

- scalars: :func:`is_boolean`, :func:`is_number`, :func:`is_integer`;
- columns (validation and the store): :func:`not_boolean`, :func:`not_number`,
  :func:`not_integer` (masks of the present values that break the rule) and the conversions
  :func:`to_boolean`, :func:`to_float`, :func:`to_int`;
- timestamps as naive-UTC nanoseconds: :func:`utc_naive_ns`;
- pydantic field types (the API): :func:`pydantic_type` (strict booleans and floats; integers
  through :func:`integer_value`).
"""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
import pandas as pd
from pydantic import BeforeValidator, Field, Strict

_BOOL_TYPES: tuple[type, ...] = (bool, np.bool_)
_NUMBER_TYPES: tuple[type, ...] = (int, float, np.integer, np.floating)


def is_boolean(value: object) -> bool:
    """True for a Python or numpy bool, False for anything else (strings and numbers included)."""
    return isinstance(value, _BOOL_TYPES)


def is_number(value: object) -> bool:
    """True for an int or a float (Python or numpy); a bool or a string is not a number."""
    return isinstance(value, _NUMBER_TYPES) and not isinstance(value, _BOOL_TYPES)


def utc_naive_ns(value: Any) -> int:
    """A date or timestamp as nanoseconds of naive UTC (an aware one converted first)."""
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return int(stamp.value)


def is_integer(value: object) -> bool:
    """A number with an integral, finite value."""
    if isinstance(value, float | np.floating):
        return float(value).is_integer()
    return is_number(value)


# --- columns ------------------------------------------------------------------------------------


def _present(values: pd.Series) -> np.ndarray:
    return values.notna().to_numpy(dtype=bool)


def _each(values: pd.Series, test: Any) -> np.ndarray:
    return np.fromiter((bool(test(v)) for v in values), dtype=bool, count=len(values))


def _object_dtype(dtype: Any) -> bool:
    return bool(pd.api.types.is_object_dtype(dtype))


def _boolean_dtype(dtype: Any) -> bool:
    return not _object_dtype(dtype) and pd.api.types.is_bool_dtype(dtype)


def _number_dtype(dtype: Any) -> bool:
    return (
        not _object_dtype(dtype)
        and pd.api.types.is_numeric_dtype(dtype)
        and not pd.api.types.is_bool_dtype(dtype)
    )


def _breaking(values: pd.Series, kind_dtype: Any, test: Any) -> np.ndarray:
    """Present values that break a kind: none in a column of the kind's dtype, each value tested
    in an object column, every present one in a column of another dtype."""
    if kind_dtype(values.dtype):
        return np.zeros(len(values), dtype=bool)
    present = _present(values)
    if _object_dtype(values.dtype):
        return present & ~_each(values, test)
    return present


def not_boolean(values: pd.Series) -> np.ndarray:
    """Mask of the present values that are not booleans (every present one in a column of
    another dtype: a 0/1 integer column or a text column is not boolean)."""
    return _breaking(values, _boolean_dtype, is_boolean)


def not_number(values: pd.Series) -> np.ndarray:
    """Mask of the present values that are not numbers (every present one in a boolean, text or
    timestamp column)."""
    return _breaking(values, _number_dtype, is_number)


def not_integer(values: pd.Series) -> np.ndarray:
    """Mask of the present values that are not integers (not numbers, or not integral)."""
    bad = not_number(values)
    present = _present(values) & ~bad
    if present.any():
        numbers = to_float(values.where(pd.Series(present, index=values.index)))
        with np.errstate(invalid="ignore"):
            integral = np.isfinite(numbers) & (np.mod(numbers, 1.0) == 0.0)
        bad |= present & ~integral
    return bad


def to_float(values: pd.Series) -> np.ndarray:
    """float64 of a column whose present values are numbers (NaN where missing)."""
    if _number_dtype(values.dtype):
        return values.to_numpy(dtype=np.float64, na_value=np.nan)
    present = _present(values)
    out = np.full(len(values), np.nan)
    if present.any():
        out[present] = np.asarray(values.to_numpy(dtype=object)[present], dtype=np.float64)
    return out


def to_int(values: pd.Series, fill: int = 0) -> np.ndarray:
    """int64 of a column whose present values are integers (``fill`` where missing)."""
    if _number_dtype(values.dtype) and pd.api.types.is_integer_dtype(values.dtype):
        return values.to_numpy(dtype=np.int64, na_value=fill)
    numbers = to_float(values)
    return np.where(np.isnan(numbers), float(fill), numbers).astype(np.int64)


def to_boolean(values: pd.Series, fill: bool = False) -> np.ndarray:
    """bool of a column whose present values are booleans (``fill`` where missing)."""
    present = _present(values)
    if _boolean_dtype(values.dtype) and present.all():
        return values.to_numpy(dtype=bool)
    out = np.full(len(values), fill, dtype=bool)
    raw = values.to_numpy(dtype=object)
    out[present] = [bool(v) for v in raw[present]]
    return out


# --- the API (pydantic) -------------------------------------------------------------------------


def integer_value(value: Any) -> Any:
    """Before-validator of integer fields: an integral number becomes an int; anything else is
    refused here (pydantic's lax int would take ``"3"`` and ``True``)."""
    kind = type(value)
    if kind is int:
        return value
    if kind is float or is_number(value):
        if is_integer(value):
            return int(value)
        raise ValueError("must be an integer")
    raise ValueError("must be an integer, not a string or a boolean")


def boolean_value(value: Any) -> Any:
    """Before-validator of boolean fields: a numpy bool becomes a bool (the strict bool that
    follows refuses everything that is not a bool)."""
    return bool(value) if isinstance(value, np.bool_) else value


def pydantic_type(kind: str, **constraints: Any) -> Any:
    """The pydantic type of a boolean, integer or float field under this rule; ``constraints``
    (``ge``, ``le``, ...) go to ``pydantic.Field`` on the inner type (so the JSON schema shows
    them as minimum and maximum)."""
    if kind == "bool":
        return Annotated[bool, Strict(), BeforeValidator(boolean_value)]
    if kind == "int":
        return Annotated[int, Field(**constraints), BeforeValidator(integer_value)]
    if kind == "float":
        # strict float: ints are taken, bools and strings refused (pydantic-core, no Python call
        # per value); one difference, unreachable from JSON: a numpy bool passes in Python mode
        return Annotated[float, Strict(), Field(allow_inf_nan=False, **constraints)]
    raise ValueError(f"no number or boolean kind: {kind!r}")
