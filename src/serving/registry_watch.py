"""The served model and the MLflow registry: ``RegistryWatch`` tells whether the served model is
still the one its alias points to (read at most every ``check_seconds`` when ``GET /model``
asks; ``stale`` until the switch); ``AliasFollower`` switches to the version the alias moved to
(a promotion or a rollback) without a restart."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from customs_risk.models.tracking import MlflowSettings


class RegistryWatch:
    """The registry's version of one alias, cached for ``check_seconds``."""

    def __init__(
        self, alias: str | None, served_version: str | None, check_seconds: float = 60.0
    ) -> None:
        self.alias = alias or None
        self.served_version = served_version
        self.check_seconds = check_seconds
        self._lock = threading.Lock()
        self._checked = -float("inf")
        self._state: dict[str, Any] = {
            "alias_version": None,
            "checked_at": None,
            "error": None,
        }

    def start(self) -> None:
        """First look in the background (importing MLflow takes seconds)."""
        threading.Thread(target=self.info, name="registry-watch", daemon=True).start()

    def info(self) -> dict[str, Any]:
        """alias, alias_version (the registry's now), served_version, stale (None: unknown),
        checked_at, error."""
        with self._lock:
            if self.alias and time.monotonic() - self._checked >= self.check_seconds:
                self._state = self._look()
                self._checked = time.monotonic()
            state = dict(self._state)
        current = state["alias_version"]
        stale = (
            None
            if current is None or self.served_version is None
            else (str(current) != str(self.served_version))
        )
        return {
            "alias": self.alias,
            "served_version": self.served_version,
            **state,
            "stale": stale,
        }

    def _look(self) -> dict[str, Any]:
        now = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
        try:
            return {
                "alias_version": alias_version(str(self.alias)),
                "checked_at": now,
                "error": None,
            }
        except Exception as exc:  # an unreachable registry is reported, never an error answer
            return {"alias_version": None, "checked_at": now, "error": _reason(exc)}


def alias_version(alias: str) -> str:
    """The registry version an alias of the served model name points to now."""
    from mlflow import MlflowClient

    settings = MlflowSettings()
    client = MlflowClient(tracking_uri=settings.uri, registry_uri=settings.uri)
    return str(client.get_model_version_by_alias(settings.model_name, alias).version)


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


log = logging.getLogger("customs_risk.serving")
MIN_CHECK_SECONDS = 1.0


class AliasFollower:
    """Reads the alias every ``check_seconds`` (at least ``MIN_CHECK_SECONDS``) in the
    background and calls ``switch(version)`` when it points elsewhere than the served version;
    a version that fails to switch to is not tried again until the alias moves on."""

    def __init__(
        self,
        alias: str | None,
        served_version: str | None,
        check_seconds: float,
        switch: Callable[[str], None],
    ) -> None:
        self.alias = alias or None
        self.served_version = served_version
        self.check_seconds = max(check_seconds, MIN_CHECK_SECONDS)
        self.switch = switch
        self.switches = 0
        self.failed: str | None = None
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Follow in a background thread (nothing to follow without an alias)."""
        if self.alias is None:
            return
        self._thread = threading.Thread(target=self._run, name="alias-follower", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop following."""
        self._stop.set()

    def check(self) -> bool:
        """Look once; switch if the alias moved. True when a switch happened."""
        if self.alias is None:
            return False
        try:
            version = alias_version(self.alias)
        except Exception as exc:  # an unreachable registry: keep serving, look again later
            self.error = _reason(exc)
            return False
        if version in (self.served_version, self.failed):
            return False
        try:
            self.switch(version)
        except Exception as exc:
            self.failed, self.error = version, _reason(exc)
            log.exception(
                "alias %s -> version %s: switch failed, still serving %s",
                self.alias,
                version,
                self.served_version,
            )
            return False
        self.served_version, self.failed, self.error = version, None, None
        self.switches += 1
        return True

    def _run(self) -> None:
        while not self._stop.wait(self.check_seconds):
            self.check()

    def info(self) -> dict[str, Any]:
        """What ``GET /model`` reports: the alias followed, switches made, the last failure."""
        return {
            "alias": self.alias,
            "check_seconds": self.check_seconds if self.alias else None,
            "switches": self.switches,
            "failed_version": self.failed,
            "error": self.error,
        }
