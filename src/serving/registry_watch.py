"""Whether the served model is still the registry's: the alias it was imported under, read
from the MLflow registry at most every ``check_seconds`` (``GET /model`` asks; a rollback or a
promotion while the server runs shows as ``stale``)."""

from __future__ import annotations

import datetime as dt
import threading
import time
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
            from mlflow import MlflowClient

            settings = MlflowSettings()
            client = MlflowClient(tracking_uri=settings.uri, registry_uri=settings.uri)
            version = client.get_model_version_by_alias(settings.model_name, str(self.alias))
            return {"alias_version": str(version.version), "checked_at": now, "error": None}
        except Exception as exc:  # an unreachable registry is reported, never an error answer
            reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            return {"alias_version": None, "checked_at": now, "error": reason}
