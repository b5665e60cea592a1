"""Export the store to a dataset folder: ``declarations.parquet`` (the items decided, as received,
declaration contract), ``outcomes.parquet`` (the outcome contract: results of items this system
decided, the training labels), ``outcomes_other_sources.parquet`` (results that name their
``source``, kept apart) and ``decisions.parquet`` (with their propensities). ``validate`` accepts
the folder.

Tables are read a chunk at a time (memory stays flat whatever the store holds) as Arrow through
ADBC, which reads SQLite and PostgreSQL results into columns in C: measured on this project's
store, 1 M decisions in 5 s against 30 s as SQLAlchemy rows (benchmarks/store_export.py). ADBC's
SQLite driver infers a column's type from the first rows of a chunk; when a later value does not
fit, the table is read again through the store's own chunks (correct, slower), with a warning.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from customs_risk.data.contracts import (
    DECISIONS_FILE,
    DECLARATIONS_FILE,
    OUTCOME_COLUMNS,
    OUTCOMES_FILE,
    DeclarationSchema,
    OutcomeSchema,
)
from customs_risk.serving.store import BUSY_TIMEOUT_MS, CHUNK_ROWS, Store

__all__ = ["DECISIONS_FILE", "OTHER_SOURCES_FILE", "export"]
OTHER_SOURCES_FILE = "outcomes_other_sources.parquet"
log = logging.getLogger(__name__)
_ARROW_TYPES: dict[str, pa.DataType] = {
    "str": pa.string(),
    "int": pa.int64(),
    "int64": pa.int64(),
    "float": pa.float64(),
    "float64": pa.float64(),
    "bool": pa.bool_(),
    "timestamp": pa.timestamp("ns"),
}
Chunks = Callable[[], Iterator[pa.Table]]
EXPORT_THREADS = 2


def export(store: Store, out_dir: Path | str, chunk_rows: int = CHUNK_ROWS) -> dict[str, int]:
    """Write the four files (declarations and outcomes checked against their schemas, chunk by
    chunk); returns row counts."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    store.create()  # once, before the readers: an upgrade takes the write lock
    counts = dict.fromkeys(("declarations", "outcomes", "other_sources", "decisions"), 0)

    def declarations(chunks: Chunks) -> None:
        counts["declarations"] = 0
        with _Writer(out / DECLARATIONS_FILE) as writer:
            for table in chunks():
                DeclarationSchema.validate(table.to_pandas())
                writer.write(table)
                counts["declarations"] += table.num_rows

    def outcomes(chunks: Chunks) -> None:
        counts["outcomes"] = counts["other_sources"] = 0
        with _Writer(out / OUTCOMES_FILE) as own, _Writer(out / OTHER_SOURCES_FILE) as other:
            for table in chunks():
                table = table.select(list(OUTCOME_COLUMNS))
                OutcomeSchema.validate(table.to_pandas())
                apart = table["source"].is_valid()
                own.write(table.filter(pa.compute.invert(apart)))
                other.write(table.filter(apart))
                counts["other_sources"] += int(pa.compute.sum(apart).as_py() or 0)
                counts["outcomes"] += table.num_rows
        counts["outcomes"] -= counts["other_sources"]

    def decisions(chunks: Chunks) -> None:
        counts["decisions"] = 0
        with _Writer(out / DECISIONS_FILE) as writer:
            for table in chunks():
                writer.write(table)
                counts["decisions"] += table.num_rows

    jobs = [
        (declarations, store.declaration_query()),
        (outcomes, store.outcome_query()),
        (decisions, store.decision_query()),
    ]
    # two readers at once: ADBC reads and parquet writes release the GIL (10 M decisions:
    # 214 s one table after the other, see benchmarks/store_export.py)
    with ThreadPoolExecutor(max_workers=EXPORT_THREADS) as pool:
        futures = [
            pool.submit(_with_fallback, store, query, kinds, chunk_rows, write)
            for write, (query, kinds) in jobs
        ]
        for future in futures:
            future.result()
    return counts


def _with_fallback(
    store: Store,
    query: sa.Select[Any],
    kinds: dict[str, str],
    rows: int,
    write: Callable[[Chunks], None],
) -> None:
    """``write`` the query's chunks read through ADBC; again through the store if ADBC fails."""
    try:
        write(lambda: _adbc_chunks(store, query, kinds, rows))
        return
    except _adbc_errors() as exc:
        log.warning("export: ADBC could not read a table (%s): reading it through SQLAlchemy", exc)

    def slow() -> Iterator[pa.Table]:
        for frame in store.read_chunks(query, kinds, rows):
            yield conform(pa.Table.from_pandas(frame, preserve_index=False), kinds)

    write(slow)


def _adbc_errors() -> tuple[type[BaseException], ...]:
    import adbc_driver_manager

    return (adbc_driver_manager.Error, pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError)


def _adbc_chunks(
    store: Store, query: sa.Select[Any], kinds: dict[str, str], rows: int
) -> Iterator[pa.Table]:
    sql = str(query.compile(dialect=store.engine.dialect, compile_kwargs={"literal_binds": True}))
    url = sa.make_url(store.url)
    if url.get_backend_name() == "sqlite":
        import adbc_driver_sqlite.dbapi as driver

        connection = driver.connect(str(url.database))
    else:
        import adbc_driver_postgresql.dbapi as pg_driver

        plain = url.set(drivername="postgresql").render_as_string(hide_password=False)
        connection = pg_driver.connect(plain)
    with connection, connection.cursor() as cursor:
        if url.get_backend_name() == "sqlite":
            from adbc_driver_sqlite import StatementOptions

            cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")  # writers may be at work
            cursor.adbc_statement.set_options(**{StatementOptions.BATCH_ROWS.value: str(rows)})
        cursor.execute(sql)
        reader = cursor.fetch_record_batch()
        empty = True
        for batch in reader:
            empty = False
            yield conform(pa.Table.from_batches([batch]), kinds)
        if empty:
            yield conform(reader.schema.empty_table(), kinds)


def conform(table: pa.Table, kinds: dict[str, str]) -> pa.Table:
    """The columns in ``kinds`` order cast to their Arrow types (SQLite gives timestamps as
    text and booleans as integers)."""
    columns = []
    for name, kind in kinds.items():
        target = _ARROW_TYPES[kind]
        column = table[name]
        if column.type != target:
            if kind == "bool" and pa.types.is_string(column.type):
                column = pa.compute.equal(column, "1")
            column = column.cast(target)
        columns.append(column)
    return pa.table(columns, names=list(kinds))


class _Writer:
    """One parquet file written chunk by chunk (every chunk has the same Arrow schema)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.writer: pq.ParquetWriter | None = None

    def write(self, table: pa.Table) -> None:
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, table.schema)
        self.writer.write_table(table)

    def __enter__(self) -> _Writer:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.writer is not None:
            self.writer.close()
