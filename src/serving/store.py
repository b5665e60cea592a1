"""The outcome and decision store: inspection results and channel decisions in SQL.

SQLite (a file, WAL mode, busy timeout; a relative file under the project root, see
``customs_risk.data.locations``) by default; PostgreSQL through a
``postgresql+psycopg://`` URL with the same code. Outcomes are idempotent on
(declaration_id, item_no): the first write of a key wins, repeats count as duplicates.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import math
import operator
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import orjson
import pandas as pd
import pandera.errors as pa_errors
import sqlalchemy as sa
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.dialects import postgresql, sqlite

from customs_risk.data import coercion
from customs_risk.data.contracts import (
    DECISION,
    DECLARATION,
    KEY,
    OUTCOME,
    OUTCOME_COLUMNS,
    FieldSpec,
    OutcomeSchema,
    RecordSpec,
    RuleViolation,
    outcome_link_violations,
    outcome_rule_violations,
)
from customs_risk.data.locations import resolve_sqlite_url
from customs_risk.selection.lists import ListEntry

ENV_URL = "CUSTOMS_RISK_STORE_URL"
DEFAULT_PATH = Path("data/store/outcomes.db")
BUSY_TIMEOUT_MS = 60_000
_LOCK_RETRIES = 20
_RETRY_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock detected, serialization failure
_PG_DDL_LOCK = 0x6375_7374_6F6D  # advisory lock key: table creation, one process at a time
_IN_CHUNK = 1_000  # declaration ids per IN (...) lookup
CHUNK_ROWS = 200_000  # rows per frame when a table is read in chunks (export)
MIGRATIONS = Path(__file__).with_name("migrations")  # Alembic: one file per schema change
_UPGRADE_LOCK = threading.Lock()
NOT_DECIDED = (
    "item not decided by this system: results of items decided elsewhere name their source "
    "(field source)"
)

T = TypeVar("T")


class StoreSettings(BaseSettings):
    """``CUSTOMS_RISK_STORE_URL`` or ``CUSTOMS_RISK_STORE_PATH`` (a SQLite file); a relative
    SQLite file lives under the project root (``customs_risk.data.locations``)."""

    model_config = SettingsConfigDict(env_prefix="CUSTOMS_RISK_STORE_")

    url: str | None = None
    path: Path = DEFAULT_PATH

    def resolved_url(self) -> str:
        """The URL, else ``sqlite:///<path>``; relative files made absolute (or refused)."""
        setting = ENV_URL if self.url else "CUSTOMS_RISK_STORE_PATH"
        return resolve_sqlite_url(self.url or f"sqlite:///{self.path}", setting)


class OutcomeRejected(ValueError):
    """Outcome rows break the contract or its rules; nothing of their batch was written.

    ``problems``: every refusal found, as (row, field, reason), by row (the checks of one type
    stop at its first bad value; the field checks and the rules report every row);
    ``field``, ``row`` and ``reason`` are the first.
    """

    def __init__(
        self,
        field: str,
        row: int | None,
        reason: str,
        problems: Sequence[RuleViolation] | None = None,
    ) -> None:
        where = f"row {row}" if row is not None else "batch"
        self.problems: list[RuleViolation] = list(problems or [RuleViolation(row, field, reason)])
        more = len(self.problems) - 1
        tail = f" (and {more} more)" if more > 0 else ""
        super().__init__(f"outcome {where}, field {field!r}: {reason}{tail}")
        self.field, self.row, self.reason = field, row, reason

    @classmethod
    def of(cls, problems: Sequence[RuleViolation]) -> OutcomeRejected:
        """The rejection of a non-empty list of problems (sorted by row, the batch's last)."""
        ordered = sorted(problems, key=lambda p: (p.row is None, p.row or 0))
        first = ordered[0]
        return cls(first.field, first.row, first.reason, ordered)


metadata = sa.MetaData()
_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite rowid autoincrement
_SQL_TYPES: dict[str, Callable[[], sa.types.TypeEngine[Any]]] = {
    "str": sa.String,
    "int": sa.BigInteger,
    "float": sa.Float,
    "bool": sa.Boolean,
    "timestamp": sa.DateTime,
    "list": sa.Text,  # JSON text
}


def spec_columns(spec: RecordSpec, view: str | None = None) -> list[sa.Column[Any]]:
    """SQL columns of a record kind's fields: the key is the primary key unless ``view`` is
    given (then the key columns are only NOT NULL); a field is nullable when it is optional or
    nullable in the contract."""
    columns: list[sa.Column[Any]] = []
    for f in spec.fields_in(view):
        primary = view is None and f.name in spec.key
        columns.append(
            sa.Column(
                f.name,
                _SQL_TYPES[f.kind](),
                primary_key=primary,
                autoincrement=False if primary else "auto",
                nullable=not primary and (f.nullable or not f.required),
            )
        )
    return columns


# store-only columns, besides the fields of the contract
_OUTCOME_EXTRA: list[sa.Column[Any]] = [
    sa.Column("received_at", sa.DateTime, nullable=False),
    sa.Column("client_key", sa.String, nullable=True),  # the API key's name (None: not by API)
]
_DECISION_HEAD: list[sa.Column[Any]] = [
    sa.Column("id", _BigId, primary_key=True, autoincrement=True),
    sa.Column("decided_at", sa.DateTime, nullable=False),
]
_DECISION_TAIL: list[sa.Column[Any]] = [
    sa.Column("input_digest", sa.String(64), nullable=True),  # sha256 of the input item
    sa.Column("profile_ids", sa.Text, nullable=True),  # JSON list of the profiles that hit
    sa.Column("request_id", sa.String, nullable=True),
    sa.Column("client_key", sa.String, nullable=True),  # the API key's name (None: not by API)
]

outcomes_table = sa.Table("outcomes", metadata, *spec_columns(OUTCOME), *_OUTCOME_EXTRA)

# the tables as the head migration leaves them (a schema change is a new revision in
# migrations/versions; tests compare the two)
decisions_table = sa.Table(
    "decisions",
    metadata,
    *_DECISION_HEAD,
    *spec_columns(DECISION, "store"),
    *_DECISION_TAIL,
    sa.Index("ix_decisions_key", "declaration_id", "item_no"),
)

# the declarations decided, as received: one row per distinct content of an item (an amended
# declaration scored again adds a row); decisions point to theirs by input_digest
declarations_table = sa.Table(
    "declarations",
    metadata,
    *spec_columns(DECLARATION, "store"),
    sa.Column("input_digest", sa.String(64), nullable=False),
    sa.Column("extra", sa.Text, nullable=True),  # JSON of the fields beyond the contract
    sa.Column("received_at", sa.DateTime, nullable=False),
    sa.PrimaryKeyConstraint("declaration_id", "item_no", "input_digest"),
)

# the history event sequence (``live_history``): an item's first decision and its result, each
# once, numbered in commit order, written in the transaction of the rows they announce
history_events_table = sa.Table(
    "history_events",
    metadata,
    sa.Column("seq", _BigId, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(16), nullable=False),  # DECLARATION_EVENT or RESULT_EVENT
    sa.Column("declaration_id", sa.String, nullable=False),
    sa.Column("item_no", sa.BigInteger, nullable=False),
    sa.Column("recorded_at", sa.DateTime, nullable=False),
    sa.UniqueConstraint("kind", "declaration_id", "item_no", name="uq_history_events_item"),
)
DECLARATION_EVENT, RESULT_EVENT = "declaration", "result"

# API keys (``customs_risk.serving.keys``): only the sha256 of a key is kept
api_keys_table = sa.Table(
    "api_keys",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("scope", sa.String(16), nullable=False),
    sa.Column("key_sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("rate_per_second", sa.Float, nullable=True),  # None: the service's default
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("revoked_at", sa.DateTime, nullable=True),
)

# managed-list entries (``selection.lists``): added and retired, never changed or deleted, so
# that every decision's list hits can be traced to the entry as it was
managed_lists_table = sa.Table(
    "managed_lists",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("hs_prefix", sa.String(10), nullable=True),
    sa.Column("importer_id", sa.String(64), nullable=True),
    sa.Column("declarant_id", sa.String(64), nullable=True),
    sa.Column("seller_id", sa.String(64), nullable=True),
    sa.Column("channel", sa.String(8), nullable=False),
    sa.Column("instructions", sa.Text, nullable=False),
    sa.Column("valid_from", sa.Date, nullable=False),
    sa.Column("valid_to", sa.Date, nullable=True),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("added_at", sa.DateTime, nullable=False),
    sa.Column("added_by", sa.String(64), nullable=False),
    sa.Column("retired_at", sa.DateTime, nullable=True),
    sa.Column("retired_by", sa.String(64), nullable=True),
)
LIST_ENTRY_FIELDS: tuple[str, ...] = tuple(ListEntry.model_fields)  # one definition: the entry's
if not set(LIST_ENTRY_FIELDS) <= set(managed_lists_table.c.keys()):
    raise AssertionError("managed_lists lacks fields of ListEntry")

STORED_OUTCOME_COLUMNS: list[str] = [c.name for c in outcomes_table.columns]
STORED_DECISION_FIELDS: tuple[FieldSpec, ...] = DECISION.fields_in("store")
_LOGICAL_TYPES: dict[type, str] = {
    sa.String: "str",
    sa.Text: "str",
    sa.BigInteger: "int64",
    sa.Integer: "int64",
    sa.Float: "float64",
    sa.Boolean: "bool",
    sa.DateTime: "timestamp",
}
DECISION_STORE_COLUMNS: dict[str, str] = {
    c.name: _LOGICAL_TYPES[type(c.type)] for c in decisions_table.columns
}


class ListEntryRefused(ValueError):
    """A list entry cannot be added or retired (the message says why)."""


@dataclass(frozen=True)
class StoredListEntry:
    """A managed-list entry as the store keeps it: who added it and when, and its retirement."""

    entry: ListEntry
    added_at: dt.datetime
    added_by: str
    retired_at: dt.datetime | None = None
    retired_by: str | None = None

    @property
    def retired(self) -> bool:
        return self.retired_at is not None


@dataclass(frozen=True)
class HistoryEvents:
    """A read of the history event sequence (``Store.history_since``): the event numbers read,
    the declarations announced (contract columns and ``seq``) and the results announced
    (outcome columns, the declaration's contract columns and ``seq``)."""

    seqs: list[int]
    declarations: pd.DataFrame
    results: pd.DataFrame

    @classmethod
    def empty(cls) -> HistoryEvents:
        """No events."""
        return cls([], pd.DataFrame(), pd.DataFrame())


def utcnow() -> dt.datetime:
    """Now in UTC, naive (the store keeps naive UTC timestamps)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    """Busy timeout first (so the WAL switch itself waits), then WAL mode."""
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA journal_mode=WAL")
    # FULL: a commit is on disk before the client is answered (0.46 ms a commit here against
    # 0.06 for NORMAL, which survives a crash of the process but not of the machine)
    cur.execute("PRAGMA synchronous=FULL")
    cur.close()


def _is_transient(exc: sa.exc.DBAPIError) -> bool:
    """SQLite busy past its timeout, or a PostgreSQL deadlock / serialization failure."""
    if getattr(exc.orig, "sqlstate", None) in _RETRY_SQLSTATES:
        return True
    text = str(exc.orig).lower()
    return "database is locked" in text or "database is busy" in text


def _with_lock_retry(fn: Callable[[], T]) -> T:
    """Run ``fn`` (one transaction), retrying with back-off on transient lock errors."""
    for attempt in range(_LOCK_RETRIES):
        try:
            return fn()
        except sa.exc.DBAPIError as exc:
            if not _is_transient(exc) or attempt == _LOCK_RETRIES - 1:
                raise
            time.sleep(min(0.05 * 2**attempt, 2.0))
    raise AssertionError("unreachable")


class Store:
    """Outcomes and decisions in one SQL database (SQLite file or PostgreSQL)."""

    def __init__(self, url: str | None = None) -> None:
        self.url = resolve_sqlite_url(url, "store URL") if url else StoreSettings().resolved_url()
        self.engine = _make_engine(self.url)
        self._ready = False

    @classmethod
    def from_env(cls) -> Store:
        """A store at ``CUSTOMS_RISK_STORE_URL`` (else the default SQLite file)."""
        return cls(StoreSettings().resolved_url())

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        """Release the pooled connections."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def create(self) -> None:
        """Create the tables if absent; safe when several processes start at once."""
        if self._ready:
            return
        for attempt in range(5):
            try:
                _with_lock_retry(self._create_tables)
                break
            except (sa.exc.IntegrityError, sa.exc.OperationalError) as exc:
                # another process created the version table or stamped the revision first
                raced = isinstance(exc, sa.exc.IntegrityError) or "already exists" in str(exc)
                if not raced or attempt == 4:
                    raise
        self._ready = True

    def _create_tables(self) -> None:
        """Upgrade the schema to the head revision (``customs_risk.serving.migrations``)."""
        from alembic import command
        from alembic.config import Config

        logging.getLogger("alembic").setLevel(logging.WARNING)  # no plugin lines in server logs

        # Alembic's migration context is process-global: one upgrade at a time in a process
        with _UPGRADE_LOCK, self.engine.begin() as conn:
            if self.dialect == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_DDL_LOCK})
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS))
            config.attributes["connection"] = conn
            command.upgrade(config, "heads")

    def add_outcomes(
        self,
        rows: pd.DataFrame | Iterable[Mapping[str, Any]],
        received_at: dt.datetime | None = None,
        *,
        client_key: str | None = None,
        check_decided: bool = True,
    ) -> dict[str, int]:
        """Validate and store outcomes; a key already stored (or repeated) is a duplicate.

        The contract and its rules, then (``check_decided``) the link to this store's decisions:
        an item must have been decided here unless its row names a ``source``, and its result
        may not precede its declared_at. Raises :class:`OutcomeRejected` (nothing written)
        listing every refused row. Returns ``{"inserted": n, "duplicates": m}``.
        """
        frame = validate_outcomes(rows)
        if check_decided and len(frame):
            problems = outcome_link_violations(frame, self.decided_items(frame), NOT_DECIDED)
            if problems:
                raise OutcomeRejected.of(problems)
        # sorted: concurrent writers take row locks in one order (no PostgreSQL deadlock)
        unique = frame.drop_duplicates(subset=KEY, keep="first").sort_values(KEY, kind="stable")
        records = _outcome_records(unique, received_at or utcnow(), client_key)
        inserted = self._insert_ignore(records) if records else 0
        return {"inserted": inserted, "duplicates": len(frame) - inserted}

    def decided_items(self, keys: pd.DataFrame) -> pd.DataFrame:
        """KEY and declared_at of the stored decisions of the items in ``keys`` (one row per
        decision; a decision stored before declared_at was kept has a null one)."""
        self.create()
        table = decisions_table
        ids = pd.unique(keys["declaration_id"].astype(object))
        found: list[Any] = []
        with self.engine.connect() as conn:
            for start in range(0, len(ids), _IN_CHUNK):
                chunk = [str(i) for i in ids[start : start + _IN_CHUNK]]
                query = sa.select(table.c.declaration_id, table.c.item_no, table.c.declared_at)
                found += conn.execute(query.where(table.c.declaration_id.in_(chunk))).all()
        frame = pd.DataFrame(found, columns=[*KEY, "declared_at"])
        return frame.astype({"declaration_id": "str", "item_no": "int64"}).assign(
            declared_at=pd.to_datetime(frame["declared_at"]).astype("datetime64[ns]")
        )

    def _insert_ignore(self, records: list[dict[str, Any]]) -> int:
        self.create()
        insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        stmt = (
            insert(outcomes_table)
            .on_conflict_do_nothing(index_elements=KEY)
            .returning(outcomes_table.c.item_no)
        )

        def run() -> int:
            with self.engine.begin() as conn:
                inserted = len(conn.execute(stmt, records).all())
                _insert_many(conn, history_events_table, _events(RESULT_EVENT, records), True)
            return inserted

        return _with_lock_retry(run)

    def add_decisions(
        self,
        decisions: pd.DataFrame,
        inputs: pd.DataFrame | list[Mapping[str, Any]] | None = None,
        request_id: str | None = None,
        decided_at: dt.datetime | None = None,
    ) -> int:
        """Store decision rows (``decide`` output); ``inputs`` align by position (digests).

        Returns the number of rows stored.
        """
        records = decision_records(decisions, inputs, request_id, decided_at or utcnow())
        return self.add_decision_records(records)

    def add_decision_records(
        self,
        records: list[dict[str, Any]],
        declarations: list[dict[str, Any]] | None = None,
    ) -> int:
        """Store decision rows given as plain dicts (the columns of the decisions table) and,
        in the same transaction, the declarations they decided (rows of the declarations
        table; one already stored with the same digest is kept)."""
        if not records:
            return 0
        self.create()

        def run() -> int:
            with self.engine.begin() as conn:
                if declarations:
                    _insert_many(conn, declarations_table, declarations, ignore=True)
                    events = _events(DECLARATION_EVENT, declarations)
                    _insert_many(conn, history_events_table, events, ignore=True)
                _insert_many(conn, decisions_table, records)
            return len(records)

        return _with_lock_retry(run)

    def outcomes_frame(self, with_received_at: bool = False) -> pd.DataFrame:
        """All stored outcomes in contract column order and dtypes, sorted by key."""
        frame = _concat(self.outcome_chunks())
        return frame if with_received_at else frame[list(OUTCOME_COLUMNS)]

    def decisions_frame(
        self, since: dt.datetime | None = None, until: dt.datetime | None = None
    ) -> pd.DataFrame:
        """Stored decisions in insertion order; ``since`` <= decided_at < ``until`` when given."""
        return _concat(self.decision_chunks(since=since, until=until))

    def declarations_frame(self) -> pd.DataFrame:
        """The declarations decided, in the contract's columns and dtypes: the latest content
        of each item (an amended item scored again replaces the earlier one), sorted by key."""
        return _concat(self.declaration_chunks())

    def outcome_chunks(self, rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
        """The stored outcomes (with received_at) sorted by key, ``rows`` at a time."""
        yield from self.read_chunks(*self.outcome_query(), rows)

    def decision_chunks(
        self,
        rows: int = CHUNK_ROWS,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
    ) -> Iterator[pd.DataFrame]:
        """The stored decisions in insertion order, ``rows`` at a time; ``since`` <=
        decided_at < ``until`` when given."""
        yield from self.read_chunks(*self.decision_query(since, until), rows)

    def declaration_chunks(self, rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
        """The latest content of each item decided, sorted by key, ``rows`` at a time."""
        yield from self.read_chunks(*self.declaration_query(), rows)

    def outcome_query(self) -> tuple[sa.Select[Any], dict[str, str]]:
        """The query of the stored outcomes (with received_at) sorted by key, and its columns'
        logical kinds."""
        t = outcomes_table
        kinds = OUTCOME_COLUMNS | {"received_at": "timestamp"}
        query = sa.select(*_readable(t, list(kinds), self.dialect))
        return query.order_by(*[t.c[k] for k in KEY]), kinds

    def decision_query(
        self, since: dt.datetime | None = None, until: dt.datetime | None = None
    ) -> tuple[sa.Select[Any], dict[str, str]]:
        """The query of the stored decisions in insertion order (``since`` <= decided_at <
        ``until`` when given), and its columns' logical kinds."""
        t = decisions_table
        query = sa.select(*_readable(t, list(DECISION_STORE_COLUMNS), self.dialect))
        if since is not None:
            query = query.where(t.c.decided_at >= since)
        if until is not None:
            query = query.where(t.c.decided_at < until)
        return query.order_by(t.c.id), dict(DECISION_STORE_COLUMNS)

    def declaration_query(self) -> tuple[sa.Select[Any], dict[str, str]]:
        """The query of the latest content of each item decided (the one received last; equal
        times: the greater digest) sorted by key, and its columns' logical kinds."""
        t = declarations_table
        later = t.alias("later")
        superseded = sa.exists().where(
            (later.c.declaration_id == t.c.declaration_id)
            & (later.c.item_no == t.c.item_no)
            & (
                (later.c.received_at > t.c.received_at)
                | (
                    (later.c.received_at == t.c.received_at)
                    & (later.c.input_digest > t.c.input_digest)
                )
            )
        )
        kinds = DECLARATION.kinds()
        query = sa.select(*_readable(t, list(kinds), self.dialect)).where(~superseded)
        return query.order_by(*[t.c[k] for k in KEY]), kinds

    def read_chunks(
        self, query: sa.Select[Any], kinds: Mapping[str, str], rows: int
    ) -> Iterator[pd.DataFrame]:
        """Frames of ``rows`` result rows at a time (a server-side cursor where the driver has
        one), typed by ``kinds``."""
        self.create()
        with self.engine.connect().execution_options(stream_results=True) as conn:
            result = conn.execute(query)
            empty = True
            for part in result.partitions(rows):
                empty = False
                yield _columns_frame(part, kinds)
            if empty:
                yield _columns_frame([], kinds)

    def history_since(self, after: int, limit: int = 50_000) -> HistoryEvents:
        """The history events numbered above ``after`` (at most ``limit``, in order) with the
        rows they announce: each declaration event with its item as first received, each
        result event with the outcome and its item (events whose rows are gone are dropped)."""
        self.create()
        e, d, o = history_events_table, declarations_table, outcomes_table
        with self.engine.connect() as conn:
            query = sa.select(e.c.seq).where(e.c.seq > after).order_by(e.c.seq).limit(limit)
            seqs = conn.execute(query).scalars().all()
            if not seqs:
                return HistoryEvents.empty()
            window = (e.c.seq > after) & (e.c.seq <= seqs[-1])
            same_item = (e.c.declaration_id == d.c.declaration_id) & (e.c.item_no == d.c.item_no)
            kinds = {"seq": "int64", "kind": "str", **DECLARATION.kinds()}
            item_columns = _readable(d, list(DECLARATION.kinds()), self.dialect)
            items = conn.execute(
                sa.select(e.c.seq, e.c.kind, *item_columns)
                .join(d, same_item)
                .where(window)
                .order_by(e.c.seq, d.c.received_at)
            ).all()
            same_result = (e.c.declaration_id == o.c.declaration_id) & (e.c.item_no == o.c.item_no)
            outcome_kinds = {"seq": "int64", **OUTCOME_COLUMNS}
            outcome_columns = _readable(o, list(OUTCOME_COLUMNS), self.dialect)
            results = conn.execute(
                sa.select(e.c.seq, *outcome_columns)
                .join(o, same_result)
                .where(window & (e.c.kind == RESULT_EVENT))
                .order_by(e.c.seq)
            ).all()
        frame = _columns_frame(items, kinds).drop_duplicates("seq", keep="first")
        declared = frame[frame["kind"] == DECLARATION_EVENT].drop(columns="kind")
        of_results = frame[frame["kind"] == RESULT_EVENT].drop(columns=["kind", *KEY])
        outcome = _columns_frame(results, outcome_kinds)
        joined = outcome.merge(of_results, on="seq", how="inner", sort=True)
        return HistoryEvents([int(x) for x in seqs], declared.reset_index(drop=True), joined)

    def item_record(self, declaration_id: str) -> dict[str, list[dict[str, Any]]]:
        """Everything stored on one declaration: its decisions (oldest first), the items as
        received, the outcomes."""
        self.create()
        out = {}
        with self.engine.connect() as conn:
            for name, table, order in (
                ("decisions", decisions_table, decisions_table.c.id),
                ("declarations", declarations_table, declarations_table.c.received_at),
                ("outcomes", outcomes_table, outcomes_table.c.item_no),
            ):
                query = sa.select(table).where(table.c.declaration_id == declaration_id)
                rows = conn.execute(query.order_by(order)).mappings().all()
                out[name] = [dict(r) for r in rows]
        return out

    # --- managed lists ----------------------------------------------------------------------

    def add_list_entry(self, entry: ListEntry, actor: str) -> None:
        """Store a new entry; :class:`ListEntryRefused` when its id is taken (by an entry in
        force or retired: an id names one entry for good)."""
        self.add_list_entries([entry], actor)

    def add_list_entries(self, entries: Sequence[ListEntry], actor: str) -> None:
        """Store new entries in one transaction: all, or none when an id is taken."""
        _check_actor(actor)
        ids = [e.id for e in entries]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ListEntryRefused(f"list entry ids given twice: {', '.join(repeated)}")
        if not entries:
            return
        self.create()
        table = managed_lists_table
        now = utcnow()
        rows = [
            {**e.model_dump(), "added_at": now, "added_by": actor, "retired_at": None}
            for e in entries
        ]

        def run() -> None:
            with self.engine.begin() as conn:
                query = sa.select(table.c.id).where(table.c.id.in_(ids)).order_by(table.c.id)
                taken = conn.execute(query).scalars().all()
                if taken:
                    raise ListEntryRefused(
                        f"list entry {', '.join(taken)} exists (an id names one entry for good: "
                        "retire it and add the new version under a new id)"
                    )
                conn.execute(table.insert(), rows)

        try:
            _with_lock_retry(run)
        except sa.exc.IntegrityError as exc:  # added by someone else since the check
            raise ListEntryRefused(f"list entry {', '.join(ids)}: added concurrently") from exc

    def retire_list_entry(self, entry_id: str, actor: str) -> None:
        """Retire an entry in force (kept, with ``retired_at`` and ``retired_by``);
        :class:`ListEntryRefused` for an unknown or already retired id."""
        _check_actor(actor)
        self.create()
        table = managed_lists_table
        with self.engine.begin() as conn:
            done = conn.execute(
                table.update()
                .where(table.c.id == entry_id, table.c.retired_at.is_(None))
                .values(retired_at=utcnow(), retired_by=actor)
            )
            if done.rowcount == 0:
                query = sa.select(table.c.retired_at, table.c.retired_by)
                known = conn.execute(query.where(table.c.id == entry_id)).first()
                if known is None:
                    raise ListEntryRefused(f"no list entry {entry_id!r}")
                raise ListEntryRefused(
                    f"list entry {entry_id!r} was retired already ({known[0]:%Y-%m-%d %H:%M} "
                    f"UTC, by {known[1]})"
                )

    def list_entries(self, active_on: dt.date | None = None) -> list[ListEntry]:
        """The entries not retired, by id; ``active_on``: only those valid on that day."""
        table = managed_lists_table
        query = sa.select(*[table.c[f] for f in LIST_ENTRY_FIELDS]).where(
            table.c.retired_at.is_(None)
        )
        if active_on is not None:
            query = query.where(
                table.c.valid_from <= active_on,
                sa.or_(table.c.valid_to.is_(None), table.c.valid_to >= active_on),
            )
        self.create()
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(table.c.id)).mappings().all()
        return [ListEntry.model_validate(dict(r)) for r in rows]

    def list_records(self) -> list[StoredListEntry]:
        """Every entry, retired ones included, by id, with who added and retired it when."""
        self.create()
        with self.engine.connect() as conn:
            query = sa.select(managed_lists_table).order_by(managed_lists_table.c.id)
            rows = conn.execute(query).mappings().all()
        return [
            StoredListEntry(
                ListEntry.model_validate({f: r[f] for f in LIST_ENTRY_FIELDS}),
                r["added_at"],
                r["added_by"],
                r["retired_at"],
                r["retired_by"],
            )
            for r in rows
        ]

    def lists_version(self) -> int:
        """A number that grows whenever an entry is added or retired (entries are never
        changed or deleted: the count of entries plus the count of retirements)."""
        self.create()
        table = managed_lists_table
        query = sa.select(sa.func.count() + sa.func.count(table.c.retired_at))
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def counts(self) -> dict[str, int]:
        """Rows per table."""
        self.create()
        with self.engine.connect() as conn:
            return {
                t.name: int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())
                for t in (outcomes_table, decisions_table)
            }


_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy stores DateTime in SQLite


def _check_actor(actor: str) -> None:
    if not actor or not actor.strip() or len(actor) > 64:
        raise ListEntryRefused("actor: who adds or retires an entry, 1 to 64 characters")


def _events(kind: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """History-event rows of stored rows (a repeat is ignored by the unique key)."""
    now = utcnow()
    return [
        {
            "kind": kind,
            "declaration_id": r["declaration_id"],
            "item_no": r["item_no"],
            "recorded_at": now,
        }
        for r in rows
    ]


def _insert_many(
    conn: sa.Connection, table: sa.Table, records: list[dict[str, Any]], ignore: bool = False
) -> None:
    """One executemany of ``records`` (same keys each); ``ignore``: rows whose primary key is
    stored already are skipped. On SQLite the rows go to the driver as tuples: SQLAlchemy's
    per-row parameter processing cost as much as SQLite itself (and holds the GIL the scoring
    threads need); elsewhere through SQLAlchemy Core."""
    if conn.dialect.name != "sqlite":
        stmt: Any = table.insert()
        if ignore:
            stmt = postgresql.insert(table).on_conflict_do_nothing()
        conn.execute(stmt, records)
        return
    columns = list(records[0])
    times = [c for c in columns if isinstance(table.c[c].type, sa.DateTime)]
    if times:  # SQLAlchemy's text form; a request's rows share one timestamp: format it once
        cache: dict[Any, Any] = {}
        records = [{**r, **{c: _sqlite_time(r[c], cache) for c in times}} for r in records]
    row = operator.itemgetter(*columns)
    rows = [row(r) for r in records]  # tuples: a decisions row has several columns
    names = ", ".join(columns)
    marks = ", ".join("?" * len(columns))
    verb = "INSERT OR IGNORE" if ignore else "INSERT"
    conn.exec_driver_sql(f"{verb} INTO {table.name} ({names}) VALUES ({marks})", rows)


def _sqlite_time(value: Any, cache: dict[Any, Any]) -> Any:
    if not isinstance(value, dt.datetime):
        return value
    text = cache.get(value)
    if text is None:
        text = cache[value] = value.strftime(_SQLITE_TIME)
    return text


def _make_engine(url: str) -> sa.Engine:
    """An engine; SQLite gets its folder created, WAL and a busy timeout on every connection."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(url, pool_pre_ping=True)
    database = parsed.database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
    sa.event.listen(engine, "connect", _sqlite_on_connect)
    return engine


# --- outcome validation -----------------------------------------------------------------------


def _as_frame(rows: pd.DataFrame | Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    if isinstance(rows, pd.DataFrame):
        return rows.reset_index(drop=True)
    records = list(rows)
    for i, row in enumerate(records):
        if not isinstance(row, Mapping):
            raise OutcomeRejected("*", i, f"not an object ({type(row).__name__})")
    return pd.DataFrame.from_records(records, columns=None if records else list(OUTCOME_COLUMNS))


def _first_bad(bad: np.ndarray | pd.Series, field: str, reason: str) -> None:
    hits = np.flatnonzero(np.asarray(bad, dtype=bool))
    if len(hits):
        raise OutcomeRejected(field, int(hits[0]), reason)


def _is_instance(values: pd.Series, types: type | tuple[type, ...]) -> np.ndarray:
    return np.fromiter((isinstance(v, types) for v in values), dtype=bool, count=len(values))


def _coerce_str(s: pd.Series, field: str) -> pd.Series:
    present = s.notna().to_numpy()
    if not pd.api.types.is_string_dtype(s.dtype) or s.dtype == object:
        _first_bad(present & ~_is_instance(s, str), field, "not a string")
    return s.astype("str").where(present, None).astype("str")


def _coerce_int(s: pd.Series, field: str) -> pd.Series:
    _first_bad(s.isna(), field, "missing value")
    _first_bad(coercion.not_integer(s), field, "not an integer")
    return pd.Series(coercion.to_int(s), dtype="int64")


def _coerce_float(s: pd.Series, field: str) -> pd.Series:
    _first_bad(coercion.not_number(s), field, "not a number")
    num = coercion.to_float(s)
    _first_bad(np.isinf(num), field, "not a finite number")
    return pd.Series(num, dtype="float64")


def _coerce_bool(s: pd.Series, field: str) -> pd.Series:
    _first_bad(s.isna(), field, "missing value")
    _first_bad(coercion.not_boolean(s), field, "not a boolean")
    return pd.Series(coercion.to_boolean(s), dtype=bool)


def _coerce_timestamp(s: pd.Series, field: str) -> pd.Series:
    _first_bad(s.isna(), field, "missing value")
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        return s.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[ns]")
    if pd.api.types.is_datetime64_dtype(s.dtype):
        return s.astype("datetime64[ns]")
    ok = _is_instance(s, (str, dt.datetime, dt.date, np.datetime64))
    _first_bad(~ok, field, "not a timestamp")
    parsed = pd.to_datetime(s, errors="coerce", utc=True, format="ISO8601")
    _first_bad(parsed.isna(), field, "not an ISO 8601 timestamp")
    return parsed.dt.tz_localize(None).astype("datetime64[ns]")


_COERCE: dict[str, Callable[[pd.Series, str], pd.Series]] = {
    "str": _coerce_str,
    "int": _coerce_int,
    "float": _coerce_float,
    "bool": _coerce_bool,
    "timestamp": _coerce_timestamp,
}


def validate_outcomes(rows: pd.DataFrame | Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Coerce rows to the outcome contract and check it: the field checks (OutcomeSchema) and
    the rules across fields (``outcome_rule_violations``). Raises :class:`OutcomeRejected` with
    every refused row (a value of the wrong type: the first of its field).

    Row numbers are positions in the batch (0-based). Returns the contract columns only.
    """
    frame = _as_frame(rows)
    missing = [f.name for f in OUTCOME.fields if f.required and f.name not in frame]
    if missing and len(frame):
        raise OutcomeRejected(missing[0], None, "missing column")
    out = {}
    for f in OUTCOME.fields:
        column = f.name
        values = frame[column] if column in frame else pd.Series([None] * len(frame), dtype=object)
        out[column] = _COERCE[f.kind](values.reset_index(drop=True), column)
    typed = pd.DataFrame(out, index=pd.RangeIndex(len(frame)))
    problems: list[RuleViolation] = []
    try:
        OutcomeSchema.validate(typed, lazy=True)
    except pa_errors.SchemaErrors as exc:
        problems += _schema_problems(exc.failure_cases)
    problems += outcome_rule_violations(typed)
    if problems:
        raise OutcomeRejected.of(problems)
    return typed


def _schema_problems(cases: pd.DataFrame) -> list[RuleViolation]:
    """pandera's failure cases as (row, field, reason); row None: a check of the whole column."""
    rows = pd.to_numeric(cases["index"], errors="coerce")
    problems = []
    for row, column, check, value in zip(
        rows, cases["column"], cases["check"], cases["failure_case"], strict=True
    ):
        value = value.item() if isinstance(value, np.generic) else value
        problems.append(
            RuleViolation(
                None if pd.isna(row) else int(row),
                str(column) if pd.notna(column) else "*",
                f"{check} (value {value!r})",
            )
        )
    return problems


def _outcome_records(
    frame: pd.DataFrame, received_at: dt.datetime, client_key: str | None = None
) -> list[dict[str, Any]]:
    """Plain Python values (None for nulls), ready for executemany."""
    result_at = frame["result_at"].dt.to_pydatetime()
    records: list[dict[str, Any]] = [
        {str(k): v for k, v in rec.items()}
        for rec in frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
    ]
    for rec, ts in zip(records, result_at, strict=True):
        rec["result_at"] = ts
        rec["received_at"] = received_at
        rec["client_key"] = client_key
    return records


# --- decisions --------------------------------------------------------------------------------


_DIGEST_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def _json_default(value: Any) -> Any:
    if value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, pd.Timestamp | dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray | set):
        return list(value)
    return str(value)


def json_list(value: Any) -> str | None:
    """A list field as stored: JSON text (None stays None)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return orjson.dumps(list(value), default=_json_default).decode()


def input_digest(item: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of one input item: keys sorted, compact UTF-8, NaN / NaT /
    NA as null, timestamps in ISO 8601 (``orjson`` with sorted keys)."""
    text = orjson.dumps(dict(item), option=_DIGEST_OPTIONS, default=_json_default)
    return hashlib.sha256(text).hexdigest()


def _input_digests(inputs: pd.DataFrame | list[Mapping[str, Any]] | None, n: int) -> list[Any]:
    if inputs is None:
        return [None] * n
    items: Sequence[Mapping[Any, Any]] = (
        inputs.to_dict(orient="records") if isinstance(inputs, pd.DataFrame) else inputs
    )
    if len(items) != n:
        raise ValueError(f"inputs has {len(items)} rows, decisions {n}: they align by position")
    return [input_digest(item) for item in items]


def _profile_ids(values: pd.Series | None, n: int) -> list[str | None]:
    if values is None:
        return [None] * n
    out: list[str | None] = []
    for v in values:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            out.append(None)
        else:
            out.append(json.dumps([str(x) for x in v]) if not isinstance(v, str) else v)
    return out


def decision_records(
    decisions: pd.DataFrame,
    inputs: pd.DataFrame | list[Mapping[str, Any]] | None,
    request_id: str | None,
    decided_at: dt.datetime,
) -> list[dict[str, Any]]:
    """Rows for the ``decisions`` table from a ``decide`` frame: the stored fields of the
    decision contract (``STORED_DECISION_FIELDS``; from ``inputs`` when the frame lacks them;
    absent optional ones stored as null), the
    input digests, the profile ids, the request id and the time."""
    n = len(decisions)
    for f in STORED_DECISION_FIELDS:
        if f.required and f.name not in decisions:
            raise ValueError(f"decisions lack column {f.name!r}")
    hits = "profile_ids" if "profile_ids" in decisions else "profile_hits"
    cols: dict[str, list[Any]] = {}
    given = inputs if isinstance(inputs, pd.DataFrame) else pd.DataFrame(inputs or [])
    for f in STORED_DECISION_FIELDS:
        values = decisions.get(f.name)
        if values is None and f.name in given:  # a declaration field (office_id, declared_at)
            values = given[f.name].reset_index(drop=True)
        if values is None:
            cols[f.name] = [None] * n
        elif f.kind == "int":
            cols[f.name] = values.astype("int64").tolist()
        elif f.kind == "float":
            floats = values.astype("float64").tolist()
            cols[f.name] = [None if math.isnan(v) else v for v in floats]
        elif f.kind == "list":
            cols[f.name] = [json_list(v) for v in values]
        elif f.kind == "timestamp":
            times = pd.to_datetime(values).astype(object)
            cols[f.name] = [None if pd.isna(v) else v.to_pydatetime() for v in times]
        else:
            cols[f.name] = [None if pd.isna(v) else str(v) for v in values]
    cols["input_digest"] = _input_digests(inputs, n)
    cols["profile_ids"] = _profile_ids(decisions.get(hits), n)
    extra = {"decided_at": decided_at, "request_id": request_id, "client_key": None}
    return [
        {**dict(zip(cols, row, strict=True)), **extra} for row in zip(*cols.values(), strict=True)
    ]


def _readable(table: sa.Table, names: list[str], dialect: str) -> list[Any]:
    """The columns to select: on SQLite timestamps as their stored text (parsed in one call by
    ``_columns_frame``; SQLAlchemy's per-value parsing cost more than the query)."""
    out: list[Any] = []
    for name in names:
        column = table.c[name]
        if dialect == "sqlite" and isinstance(column.type, sa.DateTime):
            out.append(sa.type_coerce(column, sa.String()).label(name))
        else:
            out.append(column)
    return out


def _columns_frame(rows: Sequence[Any], kinds: Mapping[str, str]) -> pd.DataFrame:
    """A frame of result rows (tuples in ``kinds`` order) typed by logical kind."""
    names = list(kinds)
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    out = {
        name: _typed(values, kind)
        for name, values, kind in zip(names, columns, kinds.values(), strict=True)
    }
    return pd.DataFrame(out, columns=names)


def _concat(chunks: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """One frame of a table's chunks (``read_chunks`` yields at least one)."""
    frames = list(chunks)
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def _typed(values: Sequence[Any], kind: str) -> Any:
    """One column's values as a numpy array or pandas array of the kind's dtype (numpy parses
    the text SQLite keeps for timestamps: one call a column; None is NaN / NaT)."""
    if kind == "str":
        return pd.array(values, dtype="str")
    if kind in ("int", "int64"):
        return np.array(values, dtype=np.int64)
    if kind in ("float", "float64"):
        return np.array(values, dtype=np.float64)
    if kind == "bool":
        return np.array(values, dtype=bool)
    return np.array(values, dtype="datetime64[ns]")
