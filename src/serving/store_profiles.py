"""The risk profiles a worker applies: the profile folder's (``CUSTOMS_RISK_SERVE_PROFILES``)
and the store's active ones (the platform's life cycle). An id the store has approved (active or
retired) is the store's: retiring it there stops the folder's profile of that id too, as for the
managed lists. Looked at on the request path at most every ``check_seconds`` (one small query), so a
profile approved or retired on the platform applies within that time, without a restart."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from customs_risk.selection.profiles import ProfileSet
from customs_risk.serving.profile_store import active_profiles, held_ids, profiles_stamp
from customs_risk.serving.store_follow import StoreFollower

log = logging.getLogger("customs_risk.serving")


class StoreProfiles(StoreFollower):
    """Follows the store's active profiles for an engine."""

    what = "profiles"

    def __init__(
        self,
        store_engine: sa.Engine,
        folder: ProfileSet,
        example: Mapping[str, Any],
        check_seconds: float,
    ) -> None:
        super().__init__(check_seconds)
        self.store_engine = store_engine
        self.folder = folder
        self.example = dict(example)
        self.from_store = 0

    def combined(self, stored: ProfileSet, held: set[str]) -> ProfileSet:
        """The folder's profiles whose id the store does not decide (``held``: approved there,
        active or retired), and the store's active ones."""
        ids = held | {p.id for p in stored}
        return ProfileSet([*(p for p in self.folder if p.id not in ids), *stored])

    def stamp(self) -> tuple[Any, ...]:
        return profiles_stamp(self.store_engine)

    def refresh(self, engine: Any) -> None:
        stored = active_profiles(self.store_engine)
        engine.set_profiles(self.combined(stored, held_ids(self.store_engine)), self.example)
        self.from_store = len(stored)
        log.info(
            "profiles: %d from the store applied, %d in all", len(stored), len(engine.profiles)
        )

    def info(self) -> dict[str, Any]:
        """What ``/model`` reports."""
        return {"from_store": self.from_store, "error": self.error}
