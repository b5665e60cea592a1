"""The refreshed thresholds the service follows (``customs-risk thresholds refresh`` writes them).

The model bundle carries thresholds calibrated at training; a daily refresh recalibrates them on
the latest declarations, paced by what the capacity period has selected so far. The service
checks the file at most every ``check_seconds`` and swaps the engine's thresholds when it changed;
a missing file means the model's own thresholds, a bad one is reported (``/model``) and ignored.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

from customs_risk.selection.thresholds import Thresholds

log = logging.getLogger("customs_risk.serving")


class ThresholdsFile:
    """Follows one thresholds JSON file for an engine (see module docstring)."""

    def __init__(self, path: Path | None, model_thresholds: Thresholds, check_seconds: float):
        self.path = path
        self.model_thresholds = model_thresholds
        self.check_seconds = check_seconds
        self.source = "model"
        self.error: str | None = None
        self._mtime: int | None = None
        self._checked = -math.inf

    def poll(self, engine: Any) -> None:
        """Apply the file to ``engine`` if it changed since the last look (cheap otherwise)."""
        if self.path is None:
            return
        now = time.monotonic()
        if now - self._checked < self.check_seconds:
            return
        self._checked = now
        try:
            mtime: int | None = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            mtime = None
        if mtime == self._mtime:
            return
        self._mtime = mtime
        if mtime is None:
            engine.set_thresholds(self.model_thresholds)
            self.source, self.error = "model", None
            log.info("no thresholds file %s: serving the model's thresholds", self.path)
            return
        try:
            engine.set_thresholds(Thresholds.load(self.path))
        except Exception as exc:  # a bad file must not stop scoring: keep the current ones
            self.error = f"{type(exc).__name__}: {exc}"
            log.error("thresholds file %s ignored: %s", self.path, self.error)
            return
        self.source, self.error = str(self.path), None
        log.info("serving thresholds from %s", self.path)

    def info(self, engine: Any) -> dict[str, Any]:
        """What ``/model`` reports: where the served thresholds come from and their window."""
        current: Thresholds = engine.thresholds
        return {
            "source": self.source,
            "window_start": None if current.window_start is None else str(current.window_start),
            "window_end": None if current.window_end is None else str(current.window_end),
            "offices": len(current.offices),
            "error": self.error,
        }
