"""The audit trail writer of ``POST /score``: every decision stored without holding up scoring.

A thread of the serving process batches requests (a quarter second or 5,000 rows) and turns them
into rows (input digests included); a child process runs the SQL. In a thread of the serving
process, SQLite's executemany gave the GIL back and took it again for every row, which stalled the
scoring thread: 1,000-item requests took p50 71 / p90 109 ms in the engine with the writer busy
beside it, 65 / 76 ms without. ``close`` drains the thread, then the process.
"""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import os
import queue
import signal
import threading
import time
from collections.abc import Sequence
from typing import Any

from pydantic import TypeAdapter

from customs_risk.data.contracts import DECLARATION
from customs_risk.serving.schemas import Declaration
from customs_risk.serving.store import STORED_DECISION_FIELDS, Store, input_digest, utcnow

log = logging.getLogger("customs_risk.serving")
FLUSH_ROWS = 5_000
FLUSH_SECONDS = 0.25  # one transaction per quarter second under load
_STOP = object()
_DECLARATIONS = TypeAdapter(list[Declaration])


class DecisionWriter:
    """Queue decisions with ``put``; they reach the store at ``url`` within about FLUSH_SECONDS."""

    def __init__(self, url: str) -> None:
        self.url = url
        context = mp.get_context("spawn")  # the serving process has threads: no fork
        self._rows: Any = context.Queue()
        self._written: Any = context.Value("q", 0)
        self._failed: Any = context.Value("q", 0)
        self.process: Any = context.Process(
            target=store_rows,
            args=(url, self._rows, self._written, self._failed, os.getpid()),
            name="decision-store",
            daemon=True,
        )
        try:
            self.process.start()
        except Exception:  # no child process here: the thread writes itself (slower scoring)
            log.exception("decision store process did not start: writing from the thread")
            self.process = None
        self._local: Any = None  # the thread's own store, when the process is gone
        self._local_written = 0
        self._local_failed = 0
        self.queue: queue.Queue[Any] = queue.Queue()
        self.sent = 0
        self.thread = threading.Thread(target=self._run, name="decision-writer", daemon=True)
        self.thread.start()

    @property
    def written(self) -> int:
        """Rows the store has committed."""
        return int(self._written.value) + self._local_written

    @property
    def failed(self) -> int:
        """Rows lost to store errors (logged)."""
        return int(self._failed.value) + self._local_failed

    def put(
        self, decisions: list[dict[str, Any]], inputs: Sequence[Declaration], request_id: str
    ) -> None:
        """Queue one request's decisions (the response dicts) with its validated inputs."""
        self.queue.put((decisions, inputs, request_id, utcnow()))

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until everything queued so far is committed (or failed)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and (
            self.queue.unfinished_tasks or self.written + self.failed < self.sent
        ):
            time.sleep(0.01)

    def close(self, timeout: float = 60.0) -> None:
        """Drain the queue and stop the thread and the store process."""
        deadline = time.monotonic() + timeout
        self.queue.put(_STOP)
        self.thread.join(timeout)
        if self.process is None:
            return
        self.process.join(max(1.0, deadline - time.monotonic()))
        if self.process.is_alive():
            log.error("decision store process did not stop in %.0f s: terminated", timeout)
            self.process.terminate()

    def _run(self) -> None:
        stop = False
        while not stop:
            batch = [self.queue.get()]
            rows = 0 if batch[0] is _STOP else len(batch[0][0])
            deadline = time.monotonic() + FLUSH_SECONDS
            while rows < FLUSH_ROWS and batch[-1] is not _STOP:
                try:
                    wait = deadline - time.monotonic()
                    batch.append(
                        self.queue.get(timeout=wait) if wait > 0 else self.queue.get_nowait()
                    )
                except queue.Empty:
                    break
                rows += len(batch[-1][0]) if batch[-1] is not _STOP else 0
            if any(b is _STOP for b in batch):
                stop = True
                batch = [b for b in batch if b is not _STOP]
            try:
                records = decision_rows(batch)
                if records:
                    self.sent += len(records)
                    self._send(records)
            except Exception:
                log.exception("decision rows could not be built: %d requests lost", len(batch))
            finally:
                for _ in range(len(batch) + (1 if stop else 0)):
                    self.queue.task_done()
        if self.process is not None:
            self._rows.put(None)

    def _send(self, records: list[dict[str, Any]]) -> None:
        """To the store process while it lives; else written here (and what the process took
        but never committed is counted as failed and logged, never dropped silently)."""
        if self.process is not None and self.process.is_alive():
            self._rows.put(records)
            return
        if self.process is not None:
            lost = self.sent - len(records) - self.written - self.failed
            log.error(
                "decision store process died (exit %s): %d rows lost; writing from the thread now",
                self.process.exitcode,
                lost,
            )
            self._local_failed += max(lost, 0)
            self.process = None
        try:
            self._local = self._local or Store(self.url)
            self._local_written += self._local.add_decision_records(records)
        except Exception:
            self._local_failed += len(records)
            log.exception("decision store write failed: %d rows lost", len(records))


# stored decision fields: from the answer, else (office_id) from the input declaration
_FROM_ANSWER: tuple[str, ...] = tuple(f.name for f in STORED_DECISION_FIELDS if f.in_view("answer"))
_FROM_INPUT: tuple[str, ...] = tuple(
    f.name for f in STORED_DECISION_FIELDS if not f.in_view("answer")
)
if not set(_FROM_INPUT) <= set(DECLARATION.names()):
    raise AssertionError(f"stored decision fields neither answered nor declared: {_FROM_INPUT}")


def decision_rows(batch: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """Rows of the decisions table for queued requests (decisions, inputs, request id, time):
    the stored fields of the decision contract, the input digest and the profile ids."""
    records = []
    for decisions, inputs, request_id, decided_at in batch:
        dumped = _DECLARATIONS.dump_python(inputs, mode="json")  # one call for the request
        for d, item in zip(decisions, dumped, strict=True):
            record = {name: d[name] for name in _FROM_ANSWER}
            for name in _FROM_INPUT:
                record[name] = item[name]
            record["decided_at"] = decided_at
            record["input_digest"] = input_digest(item)
            record["profile_ids"] = json.dumps([h["id"] for h in d["profile_hits"]])
            record["request_id"] = request_id
            records.append(record)
    return records


def store_rows(url: str, rows: Any, written: Any, failed: Any, parent: int) -> None:
    """The store process: commit each batch of rows until told to stop (None) or orphaned."""
    # shutdown signals go to the server, which drains this process through the queue
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(level=logging.INFO)
    store = Store(url)
    while True:
        try:
            records = rows.get(timeout=1.0)
        except queue.Empty:
            if os.getppid() != parent:  # the server died without closing: nothing more comes
                break
            continue
        if records is None:
            break
        try:
            n = store.add_decision_records(records)
            with written.get_lock():
                written.value += n
        except Exception:
            with failed.get_lock():
                failed.value += len(records)
            log.exception("decision store write failed: %d rows lost", len(records))
