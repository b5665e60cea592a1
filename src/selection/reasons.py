"""Top model reasons in words an officer understands, from per-row feature contributions.

``templates`` maps a feature name to either a ``str.format`` template or a callable taking the row
context and returning text. The row context holds every column of ``values`` for that row,
plus ``feature``, ``value`` (the feature's own value), ``contribution``, and helpers for ratios:
``value_pct`` (value * 100), ``value_below_pct`` ((1 - value) * 100), ``value_above_pct``
((value - 1) * 100). Example::

    {"unit_value_ratio": "declared unit value {value_below_pct:.0f}% below the reference "
                         "for HS {hs6} from {origin_country}",
     "importer_offence_rate": "importer offence rate {value_pct:.0f}% over "
                              "{importer_inspections:.0f} inspections"}

A template may also be an :class:`Over`: a function of named columns, called with the row's
values of those columns (the fast kind for texts that read several columns: no row view)::

    Over(lambda rate, n: f"importer offence rate {rate:.0%} over {n:.0f} inspections",
         "value", "importer_inspections")

A callable (or an ``Over``) that returns None leaves the reason out (the feature says nothing an
officer can use for that row, e.g. a rate over no inspections); the next feature by contribution
takes its place, and a text a row already has is not repeated. A feature without a template, or
whose template fails on a row, reads "<feature in words>: value".
"""

from __future__ import annotations

import string
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd


class Over:
    """A template over named columns: ``text(*values)`` with the row's values of ``names``
    (``value``, ``contribution`` and ``feature`` name the reason's own; a column that ``values``
    lacks reads None)."""

    __slots__ = ("names", "text")

    def __init__(self, text: Callable[..., str | None], *names: str) -> None:
        self.text = text
        self.names = names


ReasonTemplate = str | Callable[[Mapping[str, Any]], str | None] | Over
# the ratio helpers of a row, made only when a template reads them
_HELPERS = ("value_pct", "value_below_pct", "value_above_pct")
# extra ranks tried for a row whose texts were left out or repeated
_SPARE_RANKS = 3


def humanise(feature: str) -> str:
    """``importer_offence_rate`` -> ``importer offence rate``."""
    return feature.replace("__", " ").replace("_", " ").strip()


def _fmt_value(value: Any) -> str:
    if isinstance(value, float | np.floating):
        if not np.isfinite(value):
            return "missing"
        return f"{value:.3g}"
    return str(value)


class _Listed(list):
    """A column as a list, with the ``tolist`` a frame column has."""

    def tolist(self) -> list[Any]:
        return self  # already a fresh list: the reader caches it and does not change it


class LazyColumns:
    """What ``build_reasons`` reads from ``values`` without building a DataFrame: column name ->
    a function giving the column's values as a list, called only for the columns a text uses."""

    def __init__(self, n: int, getters: Mapping[str, Callable[[], list[Any]]]) -> None:
        self._n = n
        self._getters = dict(getters)
        self.columns = list(self._getters)

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, name: str) -> _Listed:
        return _Listed(self._getters[name]())


class _Columns:
    """Python-object column lists of ``values``, converted on first use."""

    def __init__(self, values: pd.DataFrame | LazyColumns) -> None:
        self._values = values
        self._lists: dict[str, list[Any]] = {}

    def __contains__(self, name: str) -> bool:
        return name in self._values.columns

    def __iter__(self) -> Iterator[str]:
        return iter(str(c) for c in self._values.columns)

    def __getitem__(self, name: str) -> list[Any]:
        if name not in self._lists:
            self._lists[name] = self._values[name].tolist()
        return self._lists[name]


class _Row(Mapping[str, Any]):
    """Lazy view of one row of column lists plus the feature context."""

    def __init__(self, columns: _Columns, i: int, extra: dict[str, Any]) -> None:
        self._columns, self._i, self._extra = columns, i, extra

    def __getitem__(self, key: str) -> Any:
        if key in self._extra:
            return self._extra[key]
        if key in _HELPERS:
            helpers = _helpers(self._extra["value"])
            if helpers is None:
                raise KeyError(key)
            return helpers[key]
        return self._columns[key][self._i]

    def __iter__(self) -> Iterator[str]:
        helpers = _HELPERS if _helpers(self._extra["value"]) is not None else ()
        return iter(list(self._extra) + list(helpers) + list(self._columns))

    def __len__(self) -> int:
        return len(list(iter(self)))


def _helpers(value: Any) -> dict[str, float] | None:
    if isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool):
        v = float(value)
        return {
            "value_pct": v * 100,
            "value_below_pct": (1 - v) * 100,
            "value_above_pct": (v - 1) * 100,
        }
    return None


def _context(feature: str, value: Any, contribution: float) -> dict[str, Any]:
    return {"feature": feature, "value": value, "contribution": contribution}


def _fallback(feature: str, value: Any) -> str:
    return f"{humanise(feature)}: {_fmt_value(value)}"


def render_reason(template: ReasonTemplate | None, row: Mapping[str, Any]) -> str | None:
    """Text of one reason; None when the template leaves it out; falls back to
    '<feature in words>: value' when the template fails."""
    if template is not None:
        try:
            if isinstance(template, Over):
                text = template.text(*(row.get(name) for name in template.names))
            else:
                text = template(row) if callable(template) else template.format_map(row)
        except (KeyError, IndexError, ValueError, TypeError, AttributeError):
            text = ""
        if text is None:
            return None
        if text:
            return str(text)
    return _fallback(row["feature"], row["value"])


_CONVERSIONS: dict[str | None, Callable[[Any], Any]] = {
    None: lambda v: v,
    "s": str,
    "r": repr,
    "a": ascii,
}


def _render_group(
    feature: str,
    template: ReasonTemplate | None,
    rows: list[int],
    contribs: list[float],
    columns: _Columns,
) -> list[str | None]:
    """Texts of one feature for many rows: vectorised over a str template, one call per row with
    the named columns for an ``Over``, a row view per row for other callables.

    Gives exactly what ``render_reason`` gives row by row.
    """
    values = [columns[feature][i] for i in rows] if feature in columns else [None] * len(rows)
    if template is None:
        return [_fallback(feature, v) for v in values]
    if isinstance(template, Over):
        return _over_vector(feature, template, rows, values, contribs, columns)
    if isinstance(template, str):
        try:
            return _format_vector(feature, template, rows, values, contribs, columns)
        except (KeyError, IndexError, ValueError, TypeError, AttributeError):
            pass
    out: list[str | None] = []
    for i, v, c in zip(rows, values, contribs, strict=True):
        out.append(render_reason(template, _Row(columns, i, _context(feature, v, c))))
    return out


def _over_vector(
    feature: str,
    template: Over,
    rows: list[int],
    values: list[Any],
    contribs: list[float],
    columns: _Columns,
) -> list[str | None]:
    own = {"value": values, "contribution": contribs, "feature": [feature] * len(rows)}
    args = []
    for name in template.names:
        if name in own:
            args.append(own[name])
        elif name in columns:
            column = columns[name]
            args.append([column[i] for i in rows])
        else:
            args.append([None] * len(rows))
    per_row = zip(*args, strict=True) if args else [()] * len(rows)
    out: list[str | None] = []
    for value, row_args in zip(values, per_row, strict=True):
        try:
            text = template.text(*row_args)
        except (KeyError, IndexError, ValueError, TypeError, AttributeError):
            text = ""
        out.append(text if text is None or text else _fallback(feature, value))
    return out


def _format_vector(
    feature: str,
    template: str,
    rows: list[int],
    values: list[Any],
    contribs: list[float],
    columns: _Columns,
) -> list[str | None]:
    helpers = [_helpers(v) for v in values]
    pieces: list[list[str]] = []
    for literal, field, spec, conversion in string.Formatter().parse(template):
        if literal:
            pieces.append([literal] * len(rows))
        if field is None:
            continue
        if field == "feature":
            vec: list[Any] = [feature] * len(rows)
        elif field == "value":
            vec = values
        elif field == "contribution":
            vec = contribs
        elif field in ("value_pct", "value_below_pct", "value_above_pct"):
            vec = [h[field] if h is not None else _missing(field) for h in helpers]
        elif field in columns:
            col = columns[field]
            vec = [col[i] for i in rows]
        else:
            raise KeyError(field)
        convert = _CONVERSIONS[conversion]
        pieces.append([format(convert(v), spec or "") for v in vec])
    texts = ["".join(parts) for parts in zip(*pieces, strict=True)] if pieces else []
    if len(texts) != len(rows):
        texts = [""] * len(rows)
    return [t if t else _fallback(feature, v) for t, v in zip(texts, values, strict=True)]


def _missing(field: str) -> Any:
    raise KeyError(field)


def _contribution_matrix(
    contributions: pd.DataFrame | np.ndarray, feature_names: Sequence[str]
) -> np.ndarray:
    if isinstance(contributions, pd.DataFrame):
        missing = [f for f in feature_names if f not in contributions.columns]
        if missing:
            raise ValueError(f"contributions lack features {missing[:5]}")
        return contributions[list(feature_names)].to_numpy(dtype=np.float64, na_value=0.0)
    arr = np.asarray(contributions, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"contributions must be 2-D, got shape {arr.shape}")
    if arr.shape[1] == len(feature_names) + 1:  # XGBoost pred_contribs: bias last
        arr = arr[:, :-1]
    if arr.shape[1] != len(feature_names):
        got, want = arr.shape[1], len(feature_names)
        raise ValueError(f"contributions have {got} columns for {want} feature names")
    return np.nan_to_num(arr, nan=0.0)


def build_reasons(
    contributions: pd.DataFrame | np.ndarray,
    feature_names: Sequence[str],
    values: pd.DataFrame | LazyColumns,
    templates: Mapping[str, ReasonTemplate] | None = None,
    top_k: int = 3,
    min_contribution: float = 0.0,
) -> list[list[str]]:
    """Per row, the texts of the ``top_k`` largest positive contributions (largest first).

    ``values`` is aligned with the rows of ``contributions`` and holds the feature values and any
    context columns the templates use (hs6, origin_country, ...): a DataFrame or
    :class:`LazyColumns`.
    """
    templates = templates or {}
    matrix = _contribution_matrix(contributions, feature_names)
    n = matrix.shape[0]
    if len(values) != n:
        raise ValueError(f"values have {len(values)} rows, contributions {n}")
    if n == 0 or top_k <= 0 or matrix.shape[1] == 0:
        return [[] for _ in range(n)]
    depth = min(top_k + _SPARE_RANKS, matrix.shape[1])
    top = np.argsort(-matrix, axis=1, kind="stable")[:, :depth]
    top_vals = np.take_along_axis(matrix, top, axis=1)
    keep = np.cumprod(top_vals > min_contribution, axis=1).astype(bool)
    cells = _Cells(top, top_vals, list(feature_names), templates, _Columns(values))
    out: list[list[str]] = [[] for _ in range(n)]
    k = min(top_k, depth)
    rows, ranks = np.nonzero(keep[:, :k])  # row-major, ranks ascending within a row
    short = _collect(out, rows, cells.texts(rows, ranks), top_k)
    for rank in range(k, depth):  # rows that lost a text: the next feature takes its place
        if not short:
            break
        rows = np.array([r for r in sorted(short) if keep[r, rank]], dtype=np.int64)
        _collect(out, rows, cells.texts(rows, np.full(len(rows), rank)), top_k)
        short = {r for r in rows.tolist() if len(out[r]) < top_k}
    return out


class _Cells:
    """Texts of (row, rank) cells of the ranked contributions, rendered feature by feature."""

    def __init__(
        self,
        top: np.ndarray,
        top_vals: np.ndarray,
        names: list[str],
        templates: Mapping[str, ReasonTemplate],
        columns: _Columns,
    ) -> None:
        self._top, self._vals, self._names = top, top_vals, names
        self._templates, self._columns = templates, columns

    def texts(self, rows: np.ndarray, ranks: np.ndarray) -> list[str | None]:
        """Text per cell (None: left out by its template)."""
        feats = self._top[rows, ranks]
        contribs = self._vals[rows, ranks]
        texts: list[str | None] = [None] * len(rows)
        for j in np.unique(feats).tolist():
            sel = np.flatnonzero(feats == j)
            name = self._names[j]
            group = _render_group(
                name,
                self._templates.get(name),
                rows[sel].tolist(),
                contribs[sel].tolist(),
                self._columns,
            )
            for pos, text in zip(sel.tolist(), group, strict=True):
                texts[pos] = text
        return texts


def _collect(
    out: list[list[str]], rows: np.ndarray, texts: list[str | None], top_k: int
) -> set[int]:
    """Append each cell's text to its row (not a left-out or repeated one, at most ``top_k``);
    returns the rows that lost a text and still have room."""
    short: set[int] = set()
    for r, text in zip(rows.tolist(), texts, strict=True):
        given = out[r]
        if text is None or text in given:
            short.add(r)
        elif len(given) < top_k:
            given.append(text)
    return {r for r in short if len(out[r]) < top_k}
