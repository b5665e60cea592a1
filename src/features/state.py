"""The fitted feature state: vocabularies, entity history, pending outcomes, reference tables.

Saved as one directory without pickles: ``state.json`` (settings, columns, global counts) and
parquet files (``vocabulary.parquet``, ``entity_<name>.parquet``, ``pending.parquet``,
``pending_declarations.parquet``, ``reference_<level>.parquet``, ``price_rows.parquet``,
``links_<entities>.parquet``).
Pending events are what the state learnt after its ``as_of``: outcome events (results dated
later, or posted live) and declarations lodged after it (live history, ``features.live``); a
row counts those before it. ``price_rows`` are the reference tables' contributors.
Lookup structures (dicts, sorted key arrays, event indexes) are built on first use after
loading, so serving a record needs no pandas.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from customs_risk.features.config import FeatureConfig
from customs_risk.features.declaration import DECLARATION_CATEGORICAL, DECLARATION_NUMERIC
from customs_risk.features.encoding import Vocabulary
from customs_risk.features.history import (
    BASE_FIELDS,
    EventIndex,
    Events,
    base_matrix,
    history_columns,
)
from customs_risk.features.keys import stack_keys
from customs_risk.features.network import network_columns, network_tables
from customs_risk.features.prices import PRICE_NUMERIC, resolve_reference

FORMAT_VERSION = 1
STATE_FILE = "state.json"
GRADE_COLUMN = "importer_grade"
GRADE_CATEGORIES: list[str] = ["A", "B", "C", "D"]
EVENT_FIELDS = ("r", "fraud", "critical", "rev_cents", "has_rev")


@dataclass
class FeatureState:
    """Everything ``FeaturePipeline.transform`` needs besides the rows (see module docstring).

    A state without aggregates (``fitted`` False) describes the training setting: only the
    vocabularies are used and the batch itself provides all history and reference prices.
    """

    config: FeatureConfig
    vocab: dict[str, Vocabulary]
    entities: dict[str, tuple[str, ...]]
    extra_categorical: list[str]
    extra_numeric: list[str]
    as_of: int | None = None
    fitted: bool = False
    entity_tables: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    pending: dict[str, np.ndarray] = field(default_factory=dict)
    pending_declarations: dict[str, np.ndarray] = field(default_factory=dict)
    global_base: dict[str, int] = field(default_factory=dict)
    reference: dict[str, dict[str, np.ndarray]] | None = None
    price_rows: dict[str, np.ndarray] = field(default_factory=dict)  # ``prices.contributors``
    links: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # ``network``
    meta: dict[str, Any] = field(default_factory=dict)
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    # columns -----------------------------------------------------------------------------
    @property
    def numeric_columns(self) -> list[str]:
        """Numeric feature names, in output order (built once: serving reads them per call)."""
        if "numeric" not in self._cache:
            cols = list(DECLARATION_NUMERIC) + list(self.extra_numeric)
            if self.config.prices:
                cols += PRICE_NUMERIC
            cols += history_columns(list(self.entities))
            if self.config.network:
                cols += network_columns(self.entities)
            self._cache["numeric"] = cols
        return list(self._cache["numeric"])

    @property
    def numeric_position(self) -> dict[str, int]:
        """Numeric feature name -> its position in ``numeric_columns`` (cached)."""
        if "position" not in self._cache:
            self._cache["position"] = {c: j for j, c in enumerate(self.numeric_columns)}
        return self._cache["position"]

    @property
    def categorical_columns(self) -> list[str]:
        """Categorical feature names, in output order (built once)."""
        if "categorical" not in self._cache:
            cols = list(DECLARATION_CATEGORICAL) + list(self.extra_categorical)
            if "importer" in self.entities:
                cols.append(GRADE_COLUMN)
            self._cache["categorical"] = cols
        return list(self._cache["categorical"])

    @property
    def feature_columns(self) -> list[str]:
        """All feature names: numeric then categorical."""
        return self.numeric_columns + self.categorical_columns

    @property
    def feature_types(self) -> list[str]:
        """XGBoost feature types ('q' numeric, 'c' categorical) in ``feature_columns`` order."""
        return ["q"] * len(self.numeric_columns) + ["c"] * len(self.categorical_columns)

    def categories(self, column: str) -> list[str]:
        """The fitted categories of a categorical feature."""
        if column == GRADE_COLUMN:
            return list(GRADE_CATEGORIES)
        return list(self.vocab[column].values)

    def category_dtype(self, column: str) -> pd.CategoricalDtype:
        """The pandas dtype that encodes a categorical identically at training and serving."""
        key = f"dtype:{column}"
        if key not in self._cache:
            self._cache[key] = pd.CategoricalDtype(self.categories(column), ordered=False)
        return self._cache[key]

    # derived views -----------------------------------------------------------------------
    def training_view(self) -> FeatureState:
        """The same vocabularies without aggregates: the setting of an offline transform."""
        return FeatureState(
            config=self.config,
            vocab=self.vocab,
            entities=self.entities,
            extra_categorical=self.extra_categorical,
            extra_numeric=self.extra_numeric,
            meta=dict(self.meta),
        )

    def sizes(self, columns: tuple[str, ...]) -> list[int]:
        """Vocabulary sizes of key components."""
        return [len(self.vocab[c]) for c in columns]

    def entity_table(self, entity: str) -> dict[str, np.ndarray]:
        """Key-sorted settled aggregates of an entity (empty when not fitted)."""
        table = self.entity_tables.get(entity)
        if table is None:
            return {f: np.zeros(0, dtype=np.int64) for f in ["key", *BASE_FIELDS]}
        return table

    def stacked_table(self, entities: tuple[str, ...]) -> dict[str, np.ndarray]:
        """The tables of several entities as one, keys offset by ``stack_keys`` (cached)."""
        if len(entities) == 1:
            return self.entity_table(entities[0])
        key = f"stacked:{entities}"
        if key not in self._cache:
            tables = [self.entity_table(e) for e in entities]
            out = {f: np.concatenate([t[f] for t in tables]) for f in BASE_FIELDS}
            out["key"] = stack_keys([t["key"] for t in tables])
            self._cache[key] = out
        return self._cache[key]

    def stacked_base(self, entities: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
        """Keys and ``history.base_matrix`` of the stacked table (cached)."""
        key = f"base:{entities}"
        if key not in self._cache:
            table = self.stacked_table(entities)
            self._cache[key] = (table["key"], base_matrix(table))
        return self._cache[key]

    @property
    def n_pending(self) -> int:
        """Number of pending outcome events."""
        return len(self.pending.get("r", ()))

    def pending_index(self, entities: tuple[str, ...] | None) -> EventIndex:
        """Event index of the pending outcomes by stacked entity keys (None: global)."""
        key = f"pending:{entities}"
        if key not in self._cache:
            events = Events(*(self.pending[f] for f in EVENT_FIELDS))
            if entities is None:
                group = np.zeros(len(events), dtype=np.int64)
            else:
                group = stack_keys([self.pending[f"key_{e}"] for e in entities])
                events = Events(*(np.tile(a, len(entities)) for a in events.astuple()))
            self._cache[key] = EventIndex(group, events)
        return self._cache[key]

    def reference_stack(self) -> dict[str, np.ndarray]:
        """The value columns of the reference tables of all levels as one (cached)."""
        if "reference" not in self._cache:
            assert self.reference is not None
            tables = list(self.reference.values())
            names = [c for c in tables[0] if c != "key" and c[:2] in ("kg", "un")]
            out = {c: np.concatenate([t[c] for t in tables]) for c in names}
            out["key"] = stack_keys([t["key"] for t in tables])
            self._cache["reference"] = out
        return self._cache["reference"]

    def resolved_reference(self) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """``prices.resolve_reference`` of the snapshot (cached)."""
        if "resolved" not in self._cache:
            assert self.reference is not None
            hs6 = self.vocab["hs6"].values
            hs4_of_hs6 = self.vocab["hs4"].encode([v[:4] for v in hs6])
            self._cache["resolved"] = resolve_reference(
                self.reference,
                self.reference_stack(),
                len(self.vocab["origin_country"]),
                hs4_of_hs6,
                self.config,
            )
        return self._cache["resolved"]

    def network_table(self) -> dict[str, dict[str, np.ndarray]]:
        """``network.network_tables`` of the links and the settled aggregates (cached)."""
        if "network" not in self._cache:
            tables = {e: self.entity_table(e) for e in self.entities}
            self._cache["network"] = network_tables(self.links, tables, self.entities)
        return self._cache["network"]

    @property
    def n_pending_declarations(self) -> int:
        """Number of declarations lodged after ``as_of`` that the state counts (live history)."""
        return len(self.pending_declarations.get("t", ()))

    def pending_declaration_index(self, entities: tuple[str, ...]) -> EventIndex:
        """Event index of the pending declarations by stacked entity keys (cached): a query
        gives their count and first and latest times before each row."""
        key = f"pending_declarations:{entities}"
        if key not in self._cache:
            t = self.pending_declarations["t"]
            group = stack_keys([self.pending_declarations[f"key_{e}"] for e in entities])
            self._cache[key] = EventIndex(group, Events.times(np.tile(t, len(entities))))
        return self._cache[key]

    def pending_times(self) -> tuple[np.ndarray, np.ndarray]:
        """Pending outcome times sorted, and the offences among the first i of them (cached)."""
        if "pending_times" not in self._cache:
            order = np.argsort(self.pending["r"], kind="stable")
            fraud = self.pending["fraud"][order]
            cum = np.concatenate([[0], np.cumsum(fraud, dtype=np.int64)])
            self._cache["pending_times"] = (self.pending["r"][order], cum)
        return self._cache["pending_times"]

    def warm(self) -> FeatureState:
        """Build every lookup structure now (dicts, dtypes, event indexes) instead of lazily."""
        for column in self.vocab:
            _ = self.vocab[column].lookup
            _ = self.vocab[column].index
        for column in self.categorical_columns:
            self.category_dtype(column)
        if self.n_pending:
            self.pending_times()
            self.pending_index(tuple(self.entities))
        if self.n_pending_declarations:
            self.pending_declaration_index(tuple(self.entities))
        if self.fitted:
            self.stacked_base(tuple(self.entities))
        if self.reference is not None:
            self.resolved_reference()
        if self.links:
            self.network_table()
        return self

    # persistence -------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the state to a directory (created if needed); returns it."""
        root = Path(path)
        root.mkdir(parents=True, exist_ok=True)
        for old in root.glob("*.parquet"):
            old.unlink()
        vocab_frame = pd.DataFrame(
            {
                "column": pd.Series(
                    [c for c, v in self.vocab.items() for _ in v.values], dtype="str"
                ),
                "value": pd.Series([x for v in self.vocab.values() for x in v.values], dtype="str"),
            }
        )
        vocab_frame.to_parquet(root / "vocabulary.parquet", index=False)
        for entity, table in self.entity_tables.items():
            pd.DataFrame(table).to_parquet(root / f"entity_{entity}.parquet", index=False)
        if self.pending:
            pd.DataFrame(self.pending).to_parquet(root / "pending.parquet", index=False)
        if self.pending_declarations:
            pd.DataFrame(self.pending_declarations).to_parquet(
                root / "pending_declarations.parquet", index=False
            )
        if self.price_rows:
            pd.DataFrame(self.price_rows).to_parquet(root / "price_rows.parquet", index=False)
        for level, table in (self.reference or {}).items():
            pd.DataFrame(table).to_parquet(root / f"reference_{level}.parquet", index=False)
        for name, table in self.links.items():
            pd.DataFrame(table).to_parquet(root / f"links_{name}.parquet", index=False)
        doc = {
            "format_version": FORMAT_VERSION,
            "config": self.config.to_dict(),
            "vocab_columns": list(self.vocab),
            "entities": {k: list(v) for k, v in self.entities.items()},
            "extra_categorical": self.extra_categorical,
            "extra_numeric": self.extra_numeric,
            "as_of": self.as_of,
            "as_of_iso": None if self.as_of is None else str(pd.Timestamp(self.as_of)),
            "fitted": self.fitted,
            "global_base": self.global_base,
            "reference_levels": list(self.reference) if self.reference is not None else None,
            "links": list(self.links),
            "numeric_columns": self.numeric_columns,
            "categorical_columns": self.categorical_columns,
            "meta": self.meta,
        }
        (root / STATE_FILE).write_text(json.dumps(doc, indent=2))
        return root

    @classmethod
    def load(cls, path: str | Path) -> FeatureState:
        """Read a state written by :meth:`save`."""
        root = Path(path)
        doc = json.loads((root / STATE_FILE).read_text())
        if doc.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"{root}: unsupported feature state format {doc.get('format_version')}"
            )
        frame = pd.read_parquet(root / "vocabulary.parquet")
        columns = frame["column"].to_numpy(dtype=object)
        values = frame["value"].to_numpy(dtype=object)
        vocab = {c: Vocabulary(values[columns == c].tolist()) for c in doc["vocab_columns"]}

        def arrays(file: Path) -> dict[str, np.ndarray]:
            table = pd.read_parquet(file)
            return {c: table[c].to_numpy() for c in table.columns}

        entities = {k: tuple(v) for k, v in doc["entities"].items()}
        tables = {
            e: arrays(root / f"entity_{e}.parquet")
            for e in entities
            if (root / f"entity_{e}.parquet").exists()
        }
        pending_file = root / "pending.parquet"
        declarations_file = root / "pending_declarations.parquet"
        price_file = root / "price_rows.parquet"
        levels = doc["reference_levels"]
        state = cls(
            config=FeatureConfig.from_dict(doc["config"]),
            vocab=vocab,
            entities=entities,
            extra_categorical=doc["extra_categorical"],
            extra_numeric=doc["extra_numeric"],
            as_of=doc["as_of"],
            fitted=doc["fitted"],
            entity_tables=tables,
            pending=arrays(pending_file) if pending_file.exists() else {},
            pending_declarations=arrays(declarations_file) if declarations_file.exists() else {},
            global_base=doc["global_base"],
            reference=None
            if levels is None
            else {lv: arrays(root / f"reference_{lv}.parquet") for lv in levels},
            meta=doc["meta"],
            price_rows=arrays(price_file) if price_file.exists() else {},
            links={name: arrays(root / f"links_{name}.parquet") for name in doc.get("links", [])},
        )
        return state
