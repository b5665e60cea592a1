"""Managed lists (the seed's pre-set indexes): prohibited goods, restricted goods and licence
requirements by HS prefix, trader watchlists; each entry with its validity dates and source.

An entry applies to an item when its target matches (the item's HS code starts with
``hs_prefix``; the item's importer, declarant or seller is the one listed) and the item's
decision date lies in [valid_from, valid_to]. It then imposes its channel as the item's least
channel (the kernel raises the channel, never lowers it):

- ``prohibited``: always (red unless the entry says orange), whatever the licence;
- ``restricted`` and ``licence``: unless the item carries a licence reference (``licence_ref``);
- ``watchlist``: always.

Evaluation reads a batch's :class:`~customs_risk.selection.columns.Columns` (frames or records,
the same values either way), factorised once: a target costs one lookup per distinct value.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from customs_risk.selection.columns import Columns
from customs_risk.selection.yaml_files import load_items

ListKind = Literal["prohibited", "restricted", "licence", "watchlist"]
Channel = Literal["red", "orange"]
GOODS_KINDS: frozenset[str] = frozenset({"prohibited", "restricted", "licence"})
EXEMPTABLE: frozenset[str] = frozenset({"restricted", "licence"})  # a licence reference lifts them
TRADER_FIELDS: tuple[str, ...] = ("importer_id", "declarant_id", "seller_id")
LICENCE_FIELD = "licence_ref"
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
_HS_PREFIX = re.compile(r"[0-9]{2,10}")
_CODES = {"red": 2, "orange": 1}
_KIND_ORDER = {"prohibited": 0, "restricted": 1, "licence": 2, "watchlist": 3}
_LIST_NAMES = {
    "prohibited": "the prohibited-goods list",
    "restricted": "the restricted-goods list",
    "licence": "the licence-requirements list",
    "watchlist": "the trader watchlist",
}
_TRADER_WORDS = {"importer_id": "importer", "declarant_id": "declarant", "seller_id": "seller"}
_EPOCH = dt.date(1970, 1, 1)
_NO_END = np.iinfo(np.int64).max


class ListError(ValueError):
    """A list entry that cannot be used: names its file, the offending field and the reason."""

    def __init__(self, file: str | None, field: str, reason: str, entry_id: str | None = None):
        self.file = file
        self.field = field
        self.reason = reason
        self.entry_id = entry_id
        where = file or (f"list entry {entry_id}" if entry_id else "<list entry>")
        super().__init__(f"{where}: {field}: {reason}")


class _FieldProblem(ValueError):
    """A rule across fields, reported on the field that breaks it."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class ListEntry(BaseModel):
    """One entry of a managed list (see module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=ID_PATTERN, max_length=64)
    kind: ListKind
    title: str = Field(min_length=1, max_length=200)
    hs_prefix: str | None = None
    importer_id: str | None = Field(None, min_length=1, max_length=64)
    declarant_id: str | None = Field(None, min_length=1, max_length=64)
    seller_id: str | None = Field(None, min_length=1, max_length=64)
    channel: Channel
    instructions: str = Field(min_length=1)
    valid_from: dt.date
    valid_to: dt.date | None = None
    source: str = Field(min_length=1, max_length=500)

    @model_validator(mode="before")
    @classmethod
    def _default_channel(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and data.get("channel") is None:
            return {**data, "channel": "red" if data.get("kind") == "prohibited" else "orange"}
        return data

    @field_validator("hs_prefix", mode="before")
    @classmethod
    def _check_prefix(cls, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            raise ValueError(
                'HS digits as text: quote them in YAML ("9303"; an unquoted 0303 reads as a number)'
            )
        if isinstance(value, str) and not _HS_PREFIX.fullmatch(value):
            raise ValueError(f"2 to 10 digits, got {value!r}")
        return value

    @field_validator("title", "instructions", "source")
    @classmethod
    def _strip(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be blank")
        return value

    @model_validator(mode="after")
    def _check_target(self) -> ListEntry:
        traders = [f for f in TRADER_FIELDS if getattr(self, f) is not None]
        if self.kind in GOODS_KINDS:
            if self.hs_prefix is None:
                raise _FieldProblem(
                    "hs_prefix", f"required for a {self.kind} entry (the HS code prefix it covers)"
                )
            if traders:
                raise _FieldProblem(traders[0], f"a {self.kind} entry covers goods, not a trader")
        else:
            if self.hs_prefix is not None:
                raise _FieldProblem("hs_prefix", "a watchlist entry names a trader, not goods")
            if not traders:
                reason = "a watchlist entry names one of importer_id, declarant_id, seller_id"
                raise _FieldProblem("importer_id", reason)
            if len(traders) > 1:
                reason = f"a watchlist entry names one trader ({traders[0]} given already)"
                raise _FieldProblem(traders[1], reason)
        if self.valid_to is not None and self.valid_to < self.valid_from:
            raise _FieldProblem(
                "valid_to", f"{self.valid_to} is before valid_from {self.valid_from}"
            )
        return self

    @property
    def target_field(self) -> str:
        """The column the entry matches: ``hs_code`` or the listed trader's field."""
        if self.hs_prefix is not None:
            return "hs_code"
        return next(f for f in TRADER_FIELDS if getattr(self, f) is not None)

    @property
    def target(self) -> str:
        """The HS prefix or the trader id listed."""
        value = self.hs_prefix if self.hs_prefix is not None else getattr(self, self.target_field)
        return str(value)

    def describe(self) -> str:
        """The target in words: ``HS 9303`` or ``importer IMP000123``."""
        if self.hs_prefix is not None:
            return f"HS {self.hs_prefix}"
        return f"{_TRADER_WORDS[self.target_field]} {self.target}"

    def is_valid_on(self, day: dt.date) -> bool:
        """Whether the entry applies on ``day``."""
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)

    def reason(self, imposed: bool) -> str:
        """The reason text of a hit: the list, the entry, what it found, its instructions."""
        if not imposed:
            finding = "licence reference declared, no channel imposed"
        elif self.kind == "prohibited":
            finding = "prohibited goods"
        elif self.kind in EXEMPTABLE:
            finding = "no licence reference"
        else:
            finding = ""
        head = f"on {_LIST_NAMES[self.kind]} {self.id} ({self.describe()}, {self.title})"
        body = f": {finding}" if finding else ""
        return f"{head}{body}; instructions: {self.instructions}"

    def hit(self, imposed: bool) -> dict[str, Any]:
        """The decision's record of a hit (the contract's ``list_hit``)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "title": self.title,
            "channel": self.channel,
            "imposed": imposed,
            "instructions": self.instructions,
            "source": self.source,
        }

    def to_yaml_dict(self) -> dict[str, Any]:
        """The entry as written in a list file (fields not set left out)."""
        return self.model_dump(exclude_none=True)


def _error_field(err: Mapping[str, Any]) -> tuple[str, str]:
    problem = (err.get("ctx") or {}).get("error")
    if isinstance(problem, _FieldProblem):
        return problem.field, problem.reason
    loc = ".".join(str(part) for part in err.get("loc", ()))
    return loc or "<entry>", str(err["msg"]).removeprefix("Value error, ")


def parse_list_entry(data: Any, source: str | None = None) -> ListEntry:
    """Validate one entry mapping; raise ListError naming the file, field and reason."""
    if not isinstance(data, Mapping):
        raise ListError(source, "<entry>", f"expected a mapping, got {type(data).__name__}")
    entry_id = data.get("id") if isinstance(data.get("id"), str) else None
    try:
        return ListEntry.model_validate(dict(data))
    except ValidationError as exc:
        field, reason = _error_field(exc.errors()[0])
        raise ListError(source, field, reason, entry_id) from exc


def load_lists(*paths: str | Path) -> ManagedLists:
    """Load entries from YAML files and/or folders of them (one entry, or a list, per file)."""
    return ManagedLists(load_items(paths, parse_list_entry, ListError, "entry"))


def write_lists(entries: Iterable[ListEntry], folder: str | Path, header: str = "") -> list[Path]:
    """One YAML file per entry (``<id in lower case>.yaml``), ``header`` as a comment on top;
    returns the files written."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for entry in entries:
        path = out / f"{entry.id.lower()}.yaml"
        comment = "".join(f"# {line}\n" for line in header.splitlines())
        text = yaml.safe_dump(entry.to_yaml_dict(), sort_keys=False, allow_unicode=True, width=96)
        path.write_text(comment + text, encoding="utf-8")
        written.append(path)
    return written


class ManagedLists:
    """Entries in evaluation order: the higher channel first, then by kind (prohibited,
    restricted, licence, watchlist), then id."""

    def __init__(self, entries: Iterable[ListEntry] = ()) -> None:
        items = list(entries)
        ids = [e.id for e in items]
        if len(set(ids)) != len(ids):
            dup = sorted({i for i in ids if ids.count(i) > 1})
            raise ListError(None, "id", f"duplicate list entry ids {dup}")
        self.entries: tuple[ListEntry, ...] = tuple(
            sorted(items, key=lambda e: (-_CODES[e.channel], _KIND_ORDER[e.kind], e.id))
        )

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[ListEntry]:
        return iter(self.entries)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ManagedLists) and self.entries == other.entries

    def __hash__(self) -> int:
        return hash(self.entries)

    def ids(self) -> list[str]:
        """Entry ids in evaluation order."""
        return [e.id for e in self.entries]

    @cached_property
    def channel_codes(self) -> np.ndarray:
        """Per entry: 2 red, 1 orange."""
        return np.array([_CODES[e.channel] for e in self.entries], dtype=np.int8)

    @cached_property
    def exemptable(self) -> np.ndarray:
        """Per entry: whether a licence reference lifts it."""
        return np.array([e.kind in EXEMPTABLE for e in self.entries], dtype=bool)

    @cached_property
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Per entry: first and last valid day (days since 1970; open end: int64 max)."""
        start = [(e.valid_from - _EPOCH).days for e in self.entries]
        end = [_NO_END if e.valid_to is None else (e.valid_to - _EPOCH).days for e in self.entries]
        return np.array(start, dtype=np.int64), np.array(end, dtype=np.int64)

    @cached_property
    def texts(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Per entry: the reason text when exempted, and when imposed."""
        return (
            tuple(e.reason(False) for e in self.entries),
            tuple(e.reason(True) for e in self.entries),
        )

    @cached_property
    def records(self) -> tuple[tuple[dict[str, Any], ...], tuple[dict[str, Any], ...]]:
        """Per entry: the hit record when exempted, and when imposed (shared, never mutated)."""
        return (
            tuple(e.hit(False) for e in self.entries),
            tuple(e.hit(True) for e in self.entries),
        )

    @cached_property
    def _targets(self) -> dict[str, dict[str, list[int]]]:
        """Column -> target value (HS prefix, trader id) -> entry positions."""
        out: dict[str, dict[str, list[int]]] = {}
        for j, e in enumerate(self.entries):
            out.setdefault(e.target_field, {}).setdefault(e.target, []).append(j)
        return out


EMPTY_LISTS = ManagedLists()


@dataclass(frozen=True)
class ListHits:
    """Hits of a batch: ``matrix[i, j]`` is True when ``lists.entries[j]`` applies to row i;
    ``licensed[i]``: row i carries a licence reference."""

    lists: ManagedLists
    matrix: np.ndarray
    licensed: np.ndarray

    @classmethod
    def empty(cls, n: int) -> ListHits:
        """No entries, ``n`` rows."""
        return cls(EMPTY_LISTS, np.zeros((n, 0), dtype=bool), np.zeros(n, dtype=bool))

    @cached_property
    def imposed(self) -> np.ndarray:
        """The hits that impose their channel (a licence lifts restricted and licence ones)."""
        lifted = self.lists.exemptable[None, :] & self.licensed[:, None]
        return self.matrix & ~lifted

    def forced(self) -> tuple[np.ndarray, np.ndarray]:
        """Per row: position of the entry imposing the highest channel (-1 none) and that
        channel's code (0 none, 1 orange, 2 red)."""
        n = self.matrix.shape[0]
        if self.matrix.shape[1] == 0 or n == 0:
            return np.full(n, -1, dtype=np.int64), np.zeros(n, dtype=np.int8)
        imposed = self.imposed
        idx = np.where(imposed.any(axis=1), imposed.argmax(axis=1), -1)
        codes = np.append(self.lists.channel_codes, np.int8(0))
        return idx, codes[idx]

    @cached_property
    def _patterns(self) -> tuple[np.ndarray, np.ndarray, list[list[tuple[int, bool]]]]:
        """The rows with hits, each row's pattern (index into the third) and the distinct
        patterns: [(entry, imposed)], imposed ones first, each group in evaluation order. A
        batch holds few distinct patterns, so the texts are built once per pattern."""
        hit = self.matrix.any(axis=1)
        rows = np.flatnonzero(hit)
        if len(rows) == 0:
            return rows, rows, []
        both = np.concatenate([self.matrix[rows], self.imposed[rows]], axis=1)
        packed = np.packbits(both, axis=1)
        keys = np.ascontiguousarray(packed).view(np.dtype((np.void, packed.shape[1]))).ravel()
        _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        patterns = []
        for r in rows[first].tolist():
            cols = np.flatnonzero(self.matrix[r]).tolist()
            flags = self.imposed[r, cols].tolist()
            group = sorted(zip(cols, flags, strict=True), key=lambda h: (not h[1], h[0]))
            patterns.append(group)
        return rows, inverse.ravel(), patterns

    def _per_row(self, values: list[Any]) -> np.ndarray:
        """An object array with ``values[pattern]`` on each row with hits, () elsewhere."""
        out = _empty_tuples(self.matrix.shape[0])
        rows, inverse, _ = self._patterns
        if len(rows):
            held = np.empty(len(values), dtype=object)
            for k, value in enumerate(values):  # one by one: numpy would unpack equal tuples
                held[k] = value
            out[rows] = held[inverse]
        return out

    def ids(self) -> np.ndarray:
        """Per row: the ids of the entries that hit (a tuple; object array)."""
        entries = self.lists.entries
        patterns = self._patterns[2]
        return self._per_row([tuple(entries[j].id for j, _ in g) for g in patterns])

    def instructions(self) -> np.ndarray:
        """Per row: ``"<id>: <instructions>"`` of the entries that hit (tuples)."""
        entries = self.lists.entries
        patterns = self._patterns[2]
        texts = [
            tuple(f"{entries[j].id}: {entries[j].instructions}" for j, _ in g) for g in patterns
        ]
        return self._per_row(texts)

    def reasons(self) -> dict[int, tuple[str, ...]]:
        """Reason texts of the rows with hits (row -> texts)."""
        texts = self.lists.texts
        rows, inverse, patterns = self._patterns
        by_pattern = [tuple(texts[imp][j] for j, imp in g) for g in patterns]
        return {r: by_pattern[k] for r, k in zip(rows.tolist(), inverse.tolist(), strict=True)}

    def records(self) -> list[list[dict[str, Any]]]:
        """Per row: the hit records (the answer's ``list_hits``; a list of its own per row)."""
        out: list[list[dict[str, Any]]] = [[] for _ in range(self.matrix.shape[0])]
        records = self.lists.records
        rows, inverse, patterns = self._patterns
        by_pattern = [[records[imp][j] for j, imp in g] for g in patterns]
        for r, k in zip(rows.tolist(), inverse.tolist(), strict=True):
            out[r] = list(by_pattern[k])
        return out


def _empty_tuples(n: int) -> np.ndarray:
    out = np.empty(n, dtype=object)
    out.fill(())
    return out


def _source(batch: Columns | Sequence[pd.DataFrame]) -> Columns:
    return batch if isinstance(batch, Columns) else Columns.of_frames(*batch)


def _licensed(cols: Columns) -> np.ndarray:
    if not cols.stored(LICENCE_FIELD):
        return np.zeros(cols.n, dtype=bool)
    codes, uniques = cols.factorized(LICENCE_FIELD)
    present = np.array([bool(u.strip()) for u in uniques] + [False], dtype=bool)
    return present[codes]  # a blank reference is no reference


def _target_table(
    uniques: list[str], targets: dict[str, list[int]], prefix: bool, m: int
) -> np.ndarray:
    """(distinct values + 1) x entries: does the value hit the entry (last row: missing)."""
    table = np.zeros((len(uniques) + 1, m), dtype=bool)
    lengths = sorted({len(t) for t in targets}) if prefix else []
    for i, value in enumerate(uniques):
        if prefix:
            for length in lengths:
                for j in targets.get(value[:length], ()) if len(value) >= length else ():
                    table[i, j] = True
        else:
            for j in targets.get(value, ()):
                table[i, j] = True
    return table


def evaluate_lists(
    lists: ManagedLists, batch: Columns | Sequence[pd.DataFrame], days: np.ndarray
) -> ListHits:
    """Evaluate every entry over a batch (Columns, or aligned frames); ``days`` is each row's
    decision date (datetime64[D]). A column the batch lacks hits nothing."""
    n, m = len(days), len(lists)
    if m == 0:
        return ListHits.empty(n)
    cols = _source(batch)
    matrix = np.zeros((n, m), dtype=bool)
    for field, targets in lists._targets.items():
        if not cols.stored(field):
            continue
        codes, uniques = cols.factorized(field)
        table = _target_table(uniques, targets, field == "hs_code", m)
        matrix |= table[codes]
    if matrix.any():
        day_numbers = np.asarray(days, dtype="datetime64[D]").view(np.int64)[:, None]
        start, end = lists.bounds
        matrix &= (day_numbers >= start[None, :]) & (day_numbers <= end[None, :])
    return ListHits(lists, matrix, _licensed(cols))
