"""Live history of the served model: every worker tails the store's history event sequence and
swaps in a feature state that counts what it read (``features.live``), so the next request sees
the declarations decided and the results posted since, without a restart or a retrain.

Each worker reads the same sequence, so all see the same history within ``poll_seconds`` of a
commit. A start replays the whole sequence (the cold start; ``customs-risk state rebuild`` does
the same offline). Event numbers are taken in commit order on SQLite (one writer at a time); on
PostgreSQL a transaction can commit after a later number, so a hole in the numbers is read again
until it fills or ``gap_seconds`` pass (a rolled-back insert leaves one for good).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

import pandas as pd

from customs_risk.features.live import compact, day_start, with_events
from customs_risk.models.bundle import RiskModel
from customs_risk.serving.store import HistoryEvents, Store

log = logging.getLogger(__name__)


class LiveHistory:
    """Keeps ``model.state`` up to date with the store's history events."""

    def __init__(
        self,
        store: Store,
        model: RiskModel,
        poll_seconds: float = 1.0,
        compact_after: int = 200_000,
        batch: int = 50_000,
        gap_seconds: float = 30.0,
    ) -> None:
        self.store = store
        self.model = model
        self.poll_seconds = poll_seconds
        self.compact_after = compact_after
        self.batch = batch
        self.gap_seconds = gap_seconds
        self.floor = 0  # every event up to here is applied
        self._seen: set[int] = set()  # applied events above the floor (PostgreSQL holes)
        self._hole_since: float | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.applied = {"declarations": 0, "results": 0}
        self.last_update: float | None = None
        self.error: str | None = None

    def catch_up(self) -> int:
        """Apply every event committed so far; returns how many were applied."""
        total = 0
        with self._lock:
            while True:
                events = self.store.history_since(self.floor, self.batch)
                fresh = [s for s in events.seqs if s not in self._seen]
                if fresh:
                    self._apply(events, set(fresh))
                    total += len(fresh)
                self._seen.update(fresh)
                self._advance()
                if len(events.seqs) < self.batch:
                    return total

    def _apply(self, events: HistoryEvents, fresh: set[int]) -> None:
        declarations = _only(events.declarations, fresh)
        results = _only(events.results, fresh)
        state = with_events(self.model.state, declarations, results)
        if state.n_pending_declarations > self.compact_after:
            state = compact(state, day_start(int(state.pending_declarations["t"].max())))
        self.model.state = state  # one reference: a request reads the old or the new state
        self.applied["declarations"] += len(declarations)
        self.applied["results"] += len(results)
        self.last_update = time.time()

    def _advance(self) -> None:
        """Move the floor over applied events; past a hole once it is ``gap_seconds`` old."""
        while self.floor + 1 in self._seen:
            self.floor += 1
            self._seen.discard(self.floor)
        if not self._seen:
            self._hole_since = None
            return
        now = time.monotonic()
        if self._hole_since is None:
            self._hole_since = now
        elif now - self._hole_since > self.gap_seconds:
            log.warning(
                "history events %d..%d never came: skipped", self.floor + 1, min(self._seen) - 1
            )
            self.floor = min(self._seen) - 1
            self._hole_since = None
            self._advance()

    def start(self) -> None:
        """Tail the sequence in a background thread."""
        self._thread = threading.Thread(target=self._run, name="live-history", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop tailing (the state stays as it is)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.catch_up()
                self.error = None
            except Exception as exc:  # a store hiccup: keep the state, try again next poll
                self.error = f"{type(exc).__name__}: {exc}"
                log.warning("live history not updated: %s", self.error)

    def info(self) -> dict[str, Any]:
        """What ``GET /model`` reports: events applied, the state's as_of, the last update."""
        state = self.model.state
        return {
            "worker_pid": os.getpid(),
            "last_event": max(self._seen, default=self.floor),
            "declarations": self.applied["declarations"],
            "results": self.applied["results"],
            "pending_declarations": state.n_pending_declarations,
            "pending_results": state.n_pending,
            "as_of": None if state.as_of is None else str(pd.Timestamp(state.as_of)),
            "updated_at": None
            if self.last_update is None
            else pd.Timestamp(self.last_update, unit="s", tz="UTC").isoformat(),
            "poll_seconds": self.poll_seconds,
            "error": self.error,
        }


def _only(frame: pd.DataFrame, seqs: set[int]) -> pd.DataFrame:
    if frame.empty:
        return frame
    return frame[frame["seq"].isin(seqs)]
