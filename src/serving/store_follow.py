"""Following a part of the store from the request path: looked at most every ``check_seconds``
(one cheap stamp query), read again and applied only when the stamp moved; a failure keeps what
is in force and is reported (``error``). The store's profiles and managed lists use it."""

from __future__ import annotations

import logging
import math
import time
from abc import ABC, abstractmethod
from typing import Any

log = logging.getLogger("customs_risk.serving")


class StoreFollower(ABC):
    """Subclasses say what the stamp is (:meth:`stamp`) and how to read and apply the part
    (:meth:`refresh`, which raises to keep the current state)."""

    what = "store part"

    def __init__(self, check_seconds: float) -> None:
        self.check_seconds = check_seconds
        self.error: str | None = None
        self.current: Any = None
        self._checked = -math.inf

    @abstractmethod
    def stamp(self) -> Any:
        """A cheap value that changes whenever the part changes."""

    @abstractmethod
    def refresh(self, engine: Any) -> None:
        """Read the part and apply it to ``engine``."""

    def poll(self, engine: Any) -> None:
        """Apply the store's state to ``engine`` if it changed since the last look."""
        now = time.monotonic()
        if now - self._checked < self.check_seconds:
            return
        self._checked = now
        try:
            stamp = self.stamp()
            if stamp == self.current:
                return
            self.refresh(engine)
        except Exception as exc:  # a store hiccup or a bad entry must not stop scoring
            self.error = f"{type(exc).__name__}: {exc}"
            log.error(
                "%s not applied from the store (those in force stay): %s", self.what, self.error
            )
            return
        self.current, self.error = stamp, None
