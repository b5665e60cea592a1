"""The managed lists a worker applies: the list folder's entries (``CUSTOMS_RISK_SERVE_LISTS``)
and the store's entries in force (``customs-risk lists``, the platform). An id the store holds,
in force or retired, takes the place of the folder's entry of that id (so retiring an imported
entry retires it). Looked at on the request path at most every ``check_seconds``: one count
query (``Store.lists_version``), the entries read again only when it moved; a change applies
within that time, without a restart."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from customs_risk.selection.lists import ManagedLists
from customs_risk.serving.store import Store, StoredListEntry
from customs_risk.serving.store_follow import StoreFollower

log = logging.getLogger("customs_risk.serving")


class StoreLists(StoreFollower):
    """Follows the store's managed lists for an engine (see module docstring)."""

    what = "managed lists"

    def __init__(
        self,
        store: Store,
        folder: ManagedLists,
        check_seconds: float,
        folder_path: Path | None = None,
    ) -> None:
        super().__init__(check_seconds)
        self.store = store
        self.folder = folder
        self.folder_path = folder_path
        self.from_store = 0
        self.applied: list[str] = folder.ids()

    @property
    def version(self) -> int | None:
        """The store's lists version applied (None: not read yet)."""
        return self.current

    def combined(self, stored: list[StoredListEntry]) -> ManagedLists:
        """The folder's entries whose id the store does not hold, and the store's in force."""
        held = {s.entry.id for s in stored}
        in_force = [s.entry for s in stored if not s.retired]
        return ManagedLists([*(e for e in self.folder if e.id not in held), *in_force])

    def stamp(self) -> int:
        return self.store.lists_version()

    def refresh(self, engine: Any) -> None:
        stored = self.store.list_records()
        lists = self.combined(stored)
        engine.set_lists(lists)
        self.from_store = sum(not s.retired for s in stored)
        self.applied = lists.ids()
        log.info(
            "managed lists: %d entries applied, %d from the store", len(lists), self.from_store
        )

    def info(self) -> dict[str, Any]:
        """What ``/model`` reports."""
        return {
            "folder": None if self.folder_path is None else str(self.folder_path),
            "from_folder": len(self.applied) - self.from_store,
            "from_store": self.from_store,
            "entries": self.applied,
            "version": self.version,
            "error": self.error,
        }
