"""The scoring engine behind ``POST /score``: records in, response dicts out.

A thin adapter: ``RiskModel.decide_batch`` featurises the records against the served state
(each item on its own, ``isolated``: a batch equals single calls), scores them and decides
through the one decision kernel (``selection.kernel``); this module only turns the kernel's
arrays into the ``Decision`` response shape.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from customs_risk.models.bundle import RiskModel
from customs_risk.selection.columns import Columns
from customs_risk.selection.kernel import CHANNELS, SELECTED_BY
from customs_risk.selection.lists import EMPTY_LISTS, ManagedLists
from customs_risk.selection.profiles import ProfileSet, check_fields
from customs_risk.selection.thresholds import Thresholds
from customs_risk.serving.schemas import DECISION_ANSWER_FIELDS, DECLARATION_FIELDS

_MODEL_CHANNELS: tuple[str | None, ...] = (*CHANNELS, None)


class Engine:
    """Decisions for lists of declaration records (dicts with the contract fields)."""

    def __init__(
        self,
        model: RiskModel,
        profiles: ProfileSet | None = None,
        seed: int = 0,
        nthread: int | None = 1,
        reasons: bool = True,
        lists: ManagedLists | None = None,
    ) -> None:
        if model.thresholds is None:
            raise ValueError("the model bundle has no thresholds: it cannot decide channels")
        self.model = model
        self.reasons = reasons
        self.seed = seed
        self.policy = model.policy
        self.version = model.version
        if nthread is not None:
            model.set_threads(nthread)
        self._profiles = self._profile_state(profiles if profiles is not None else ProfileSet())
        self.lists = lists if lists is not None else EMPTY_LISTS

    @staticmethod
    def _profile_state(profiles: ProfileSet) -> tuple[ProfileSet, list[dict[str, str]]]:
        hits = [
            {"id": p.id, "title": p.title, "instructions": p.instructions.strip()} for p in profiles
        ]
        return profiles, hits

    @property
    def profiles(self) -> ProfileSet:
        """The profiles decisions apply now."""
        return self._profiles[0]

    def set_profiles(self, profiles: ProfileSet, example: Mapping[str, Any]) -> None:
        """Apply ``profiles`` from the next request on (the platform approved or retired one);
        checked against ``example`` first (ProfileError: the current ones stay)."""
        scores = self.model.score_arrays([example])
        check_fields(
            profiles, Columns.of_records([example], scores.columns(self.policy.grade_column))
        )
        self._profiles = self._profile_state(profiles)  # one reference: a request sees one set

    def set_lists(self, lists: ManagedLists) -> None:
        """Apply these managed lists from the next request on (one reference: a request sees
        one set)."""
        self.lists = lists

    @property
    def thresholds(self) -> Thresholds:
        """The thresholds decisions use now."""
        assert self.model.thresholds is not None
        return self.model.thresholds

    def set_thresholds(self, thresholds: Thresholds) -> None:
        """Decide with new thresholds from the next request on (the daily refresh); they must
        have been calibrated for this policy and ranking."""
        thresholds.check_policy(self.policy)
        self.model.thresholds = thresholds

    def check(self, example: Mapping[str, Any]) -> None:
        """Raise if the profiles read a column scoring does not provide (ProfileError)."""
        scores = self.model.score_arrays([example])
        check_fields(
            self.profiles, Columns.of_records([example], scores.columns(self.policy.grade_column))
        )

    def warm(self, example: Mapping[str, Any]) -> None:
        """Run the path once (lookup tables, first-call costs)."""
        self.model.warm()
        self.decide([dict(example)])

    def frame(self, records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
        """The declarations frame of the records (contract columns, contract order)."""
        return pd.DataFrame(
            {k: [r.get(k) for r in records] for k in DECLARATION_FIELDS},
            columns=list(DECLARATION_FIELDS),
        )

    def decide(self, records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """One decision dict per record (the ``Decision`` response shape), in order."""
        if not records:
            return []
        profiles, hits = self._profiles
        lists = self.lists
        _, batch, scores, texts = self.model.decide_batch(
            records, profiles, self.seed, None, self.reasons, lists if len(lists) else None
        )
        k = batch.kernel
        hit_rows: list[list[dict[str, str]]] = [[] for _ in records]
        rows, cols = np.nonzero(batch.hits.matrix)
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
            hit_rows[r].append(hits[c])
        reasons: list[list[str]] = [[] for _ in records]
        for r, t in (texts if batch.list_hits is None else batch.reasons(texts)).items():
            reasons[r] = list(t)
        columns: dict[str, list[Any]] = {
            "declaration_id": [str(r["declaration_id"]) for r in records],
            "item_no": [int(r["item_no"]) for r in records],
            "channel": [CHANNELS[c] for c in k.channel.tolist()],
            "selected_by": [SELECTED_BY[c] for c in k.selected_by.tolist()],
            "model_channel": [_MODEL_CHANNELS[c] for c in k.model_channel.tolist()],
            "risk_score": _finite_or_none(batch.risk_score),
            "fraud_probability": _finite_or_none(scores.fraud_probability),
            "critical_probability": _finite_or_none(scores.critical_probability),
            "expected_revenue": _finite_or_none(scores.expected_revenue),
            "trader_grade": _grades(scores.trader_grade, len(records)),
            "propensity": k.propensity.tolist(),
            "propensity_red": k.propensity_red.tolist(),
            "profile_hits": hit_rows,
            "list_hits": batch.lists.records(),
            "reasons": reasons,
            "model_version": [self.version] * len(records),
            "policy_version": [self.policy.version] * len(records),
        }
        keys = DECISION_ANSWER_FIELDS  # the answer's keys: the decision contract's
        answer = zip(*(columns[name] for name in keys), strict=True)
        return [dict(zip(keys, row, strict=True)) for row in answer]


def _finite_or_none(values: np.ndarray) -> list[float | None]:
    """Python floats, None where not finite (JSON has no NaN)."""
    out = values.astype(object)
    out[~np.isfinite(values)] = None
    return out.tolist()


def _grades(grades: np.ndarray | None, n: int) -> list[str | None]:
    if grades is None:
        return [None] * n
    return [None if g is None else str(g) for g in grades.tolist()]
