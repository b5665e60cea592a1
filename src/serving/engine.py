"""The scoring engine behind ``POST /score``: features, models and the channel decision.

Large batches go through the canonical pandas path (``RiskModel.score`` and
``selection.decide.decide``). Small ones (up to ``fast_path_max`` items, the single-declaration
case) take a pandas-free path: ``transform_array`` on plain records, the boosters directly, and a
per-row replica of ``decide`` (profiles, random control, thresholds, propensities). Both give the
same decisions (``tests/serving/test_service.py`` checks it row by row).

Every item is featurised against the served state on its own (``isolated``): an item's decision
does not depend on the other items of its request, so a batch equals single calls.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from customs_risk.features.pipeline import FeaturePipeline
from customs_risk.models.bundle import RiskModel
from customs_risk.selection.decide import decide
from customs_risk.selection.profiles import ProfileSet, RiskProfile, _as_text, check_fields
from customs_risk.selection.random_control import control_draw
from customs_risk.selection.thresholds import Thresholds
from customs_risk.serving.schemas import DECLARATION_FIELDS

_TEXT_FIELDS = frozenset(
    {
        "declaration_id",
        "office_id",
        "importer_id",
        "declarant_id",
        "seller_id",
        "hs_code",
        "origin_country",
        "departure_country",
        "transport_mode",
        "procedure_code",
        "payment_type",
        "incoterm",
        "trader_grade",
        "model_version",
        "hs2",
        "hs4",
        "hs6",
    }
)
_NUMBER_FIELDS = frozenset(
    {
        "item_no",
        "quantity",
        "net_mass_kg",
        "customs_value",
        "tariff_rate",
        "duty_declared",
        "unit_value",
        "value_per_kg",
        "fraud_probability",
        "critical_probability",
        "expected_revenue",
    }
)
_TEXT_OPS = frozenset({"eq", "in", "not_in", "prefix"})
_NUMBER_OPS = frozenset({"eq", "in", "not_in", "gt", "ge", "lt", "le", "between"})
_HS = {"hs2": 2, "hs4": 4, "hs6": 6}
_CHANNELS = ("green", "orange", "red")
_SEVERITY = {"red": 2, "orange": 1}


def _nan_none(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _fast_profile_ok(profile: RiskProfile) -> bool:
    """Criteria the per-row evaluator replicates exactly (no dates, known column types)."""
    for crit in profile.criteria:
        values = crit.value if isinstance(crit.value, list) else [crit.value]
        if any(isinstance(v, dt.date) for v in values):
            return False
        if crit.field in _TEXT_FIELDS:
            if crit.op not in _TEXT_OPS:
                return False
        elif crit.field not in _NUMBER_FIELDS or crit.op not in _NUMBER_OPS:
            return False
    return True


def _number(row: Mapping[str, Any], name: str) -> float:
    if name == "unit_value":
        qty = _number(row, "quantity")
        return row["customs_value"] / qty if qty > 0 else math.nan
    if name == "value_per_kg":
        mass = _number(row, "net_mass_kg")
        return row["customs_value"] / mass if mass > 0 else math.nan
    value = row.get(name)
    return math.nan if value is None else float(value)


def _text(row: Mapping[str, Any], name: str) -> str | None:
    if name in _HS:
        hs = row.get("hs_code")
        return None if hs is None else _as_text(hs)[: _HS[name]]
    value = row.get(name)
    return None if value is None else _as_text(value)


def _criterion_holds(row: Mapping[str, Any], crit: Any) -> bool:
    """One criterion on one row, as ``profiles._criterion_mask`` decides it."""
    op, value = crit.op, crit.value
    if crit.field in _TEXT_FIELDS:
        text = _text(row, crit.field)
        if text is None:
            return False
        if op == "prefix":
            return text.startswith(tuple(value))
        if op == "eq":
            return text == _as_text(value)
        hit = text in crit.text_values
        return not hit if op == "not_in" else hit
    x = _number(row, crit.field)
    vals = [float(v) for v in (value if isinstance(value, list) else [value])]
    if op == "eq":
        return x == vals[0]
    if op in ("in", "not_in"):
        hit = any(x == v for v in vals)
        return hit if op == "in" else (not hit and not math.isnan(x))
    if op == "gt":
        return x > vals[0]
    if op == "ge":
        return x >= vals[0]
    if op == "lt":
        return x < vals[0]
    if op == "le":
        return x <= vals[0]
    return vals[0] <= x <= vals[1]


@dataclass
class Scores:
    """Model outputs per row (numpy arrays aligned with the batch)."""

    fraud_probability: np.ndarray
    critical_probability: np.ndarray
    expected_revenue: np.ndarray
    trader_grade: np.ndarray
    matrix: np.ndarray


class Engine:
    """Decisions for lists of declaration records (dicts with the contract fields)."""

    def __init__(
        self,
        model: RiskModel,
        profiles: ProfileSet | None = None,
        seed: int = 0,
        fast_path_max: int = 64,
        nthread: int | None = 1,
        reasons: bool = True,
    ) -> None:
        self.model = model
        self.top_reasons = model.policy.top_reasons if reasons else 0
        self.profiles = profiles if profiles is not None else ProfileSet()
        self.seed = seed
        self.policy = model.policy
        self.thresholds = model.thresholds
        if self.thresholds is None:
            raise ValueError("the model bundle has no thresholds: it cannot decide channels")
        if nthread is not None:
            for target in model.models.values():
                booster = getattr(target, "booster", None)
                if booster is not None:
                    booster.set_param({"nthread": nthread})
        self._pipeline = FeaturePipeline(model.state.config)
        self._xgb = all(m.kind == "xgboost" for m in model.models.values())
        self._profile_rows = [(p, not p.advisory, _SEVERITY[p.action]) for p in self.profiles]
        fast_ok = self._xgb and all(_fast_profile_ok(p) for p in self.profiles)
        self.fast_path_max = fast_path_max if fast_ok else 0
        self._offices: dict[str, tuple[float, float, float, float]] = {}
        self.version = model.version
        self.profile_titles = {p.id: p.title for p in self.profiles}
        self.profile_texts = {p.id: p.instructions.strip() for p in self.profiles}

    # --- public -------------------------------------------------------------------------------
    def set_thresholds(self, thresholds: Thresholds) -> None:
        """Decide with new thresholds from the next request on (the daily refresh); they must
        have been calibrated for this policy and ranking."""
        thresholds.check_policy(self.policy)
        self.thresholds = thresholds
        self._offices = {}

    def check(self, example: Mapping[str, Any]) -> None:
        """Raise if the profiles read a column scoring does not provide (ProfileError)."""
        frame = self.frame([example])
        scores = self.model.score(frame)
        check_fields(self.profiles, [frame, scores])

    def warm(self, example: Mapping[str, Any]) -> None:
        """Run both paths once (lookup tables, first-call costs)."""
        self.model.warm()
        self.decide([dict(example)])
        self.decide([dict(example)], fast=False)

    def frame(self, records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
        """The declarations frame of the records (contract columns, contract order)."""
        return pd.DataFrame(
            {k: [r.get(k) for r in records] for k in DECLARATION_FIELDS},
            columns=list(DECLARATION_FIELDS),
        )

    def decide(
        self, records: Sequence[Mapping[str, Any]], fast: bool | None = None
    ) -> list[dict[str, Any]]:
        """One decision dict per record (the ``Decision`` response shape), in order."""
        if fast is None:
            fast = 0 < len(records) <= self.fast_path_max
        if fast and self.fast_path_max:
            return self._decide_fast(records)
        return self._decide_frame(self.frame(records))

    def score_arrays(self, records: Sequence[Mapping[str, Any]] | pd.DataFrame) -> Scores:
        """Model outputs without pandas (the arithmetic of ``RiskModel.score``)."""
        model = self.model
        matrix = self._pipeline.transform_array(records, state=model.state, isolated=True)
        return self._scores(matrix)

    def _scores(self, matrix: np.ndarray) -> Scores:
        model = self.model
        raw = model._predict("offence", matrix, None, None)
        n = len(raw)
        crit = (
            model._predict("critical", matrix, None, None)
            if "critical" in model.models
            else np.full(n, np.nan)
        )
        revenue = (
            np.maximum(model._predict("revenue", matrix, None, None), 0.0)
            if "revenue" in model.models
            else np.full(n, np.nan)
        )
        return Scores(model.calibrator(raw), crit, revenue, model._grades(matrix), matrix)

    # --- canonical (pandas) path -------------------------------------------------------------
    def _decide_frame(self, frame: pd.DataFrame) -> list[dict[str, Any]]:
        model, policy = self.model, self.policy
        matrix = model.matrix(frame)
        scores = model.score(frame, matrix)
        out = decide(
            frame,
            scores,
            policy,
            self.thresholds,
            self.profiles,
            self.seed,
            None,
            model_version=self.version,
        )
        reasons = out["reasons"].to_numpy(dtype=object).copy()
        if self.top_reasons > 0:
            model_channel = out["model_channel"].to_numpy(dtype=object)
            wanted = np.isin(model_channel, ["red", "orange"])
            if not policy.reasons_for_green:
                wanted &= np.isin(out["channel"].to_numpy(dtype=object), ["red", "orange"])
            rows = np.flatnonzero(wanted)
            if len(rows):
                texts = model.reasons(frame, rows, self.top_reasons, matrix)
                for r, t in zip(rows.tolist(), texts, strict=True):
                    reasons[r] = tuple(t)
        grades = [_grade(g) for g in scores["trader_grade"].to_numpy(dtype=object)]
        columns: dict[str, list[Any]] = {
            "declaration_id": _objects(out["declaration_id"]),
            "item_no": out["item_no"].to_numpy(dtype=np.int64).tolist(),
            "channel": _objects(out["channel"]),
            "selected_by": _objects(out["selected_by"]),
            "model_channel": _objects(out["model_channel"]),
            "risk_score": _finite_or_none(out["risk_score"]),
            "fraud_probability": _finite_or_none(out["fraud_probability"]),
            "critical_probability": _finite_or_none(scores["critical_probability"]),
            "expected_revenue": _finite_or_none(out["expected_revenue"]),
            "trader_grade": grades,
            "propensity": out["propensity"].to_numpy(dtype=np.float64).tolist(),
            "propensity_red": out["propensity_red"].to_numpy(dtype=np.float64).tolist(),
            "profile_hits": [self._hits(h) for h in out["profile_hits"].to_numpy(dtype=object)],
            "reasons": [list(r) for r in reasons.tolist()],
            "model_version": _objects(out["model_version"]),
            "policy_version": _objects(out["policy_version"]),
        }
        keys = list(columns)
        return [dict(zip(keys, row, strict=True)) for row in zip(*columns.values(), strict=True)]

    def _hits(self, ids: Sequence[str]) -> list[dict[str, str]]:
        return [
            {"id": pid, "title": self.profile_titles[pid], "instructions": self.profile_texts[pid]}
            for pid in ids
        ]

    # --- fast path -----------------------------------------------------------------------------
    def _office(self, office: str) -> tuple[float, float, float, float]:
        """Random red and orange shares, red and orange thresholds of an office (cached)."""
        offices = self._offices
        if office not in offices:
            shares = self.policy.shares_for(office)
            cut = self.thresholds.offices.get(office, self.thresholds.fallback)
            offices[office] = (shares.random_red, shares.random_orange, cut.red, cut.orange)
        return offices[office]

    def _key(self, fp: float, er: float, grade: str | None) -> float:
        policy = self.policy
        fp64, er64 = np.float64(fp), np.float64(er)
        if policy.ranking == "fraud_probability":
            key = fp64
        elif policy.ranking == "expected_revenue":
            key = er64
        else:
            w = policy.blend_weight
            key = w * fp64 + (1.0 - w) * er64 / self.thresholds.revenue_scale
        if grade is None:
            factor = policy.unknown_grade_factor
        else:
            factor = policy.grade_factors.get(str(grade), policy.unknown_grade_factor)
        return float(key * np.float64(factor))

    def _decide_fast(self, records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        scores = self.score_arrays(list(records))
        policy = self.policy
        default = _CHANNELS.index(policy.default_channel)
        fps = scores.fraud_probability.tolist()
        ers = scores.expected_revenue.tolist()
        crits = scores.critical_probability.tolist()
        grades = [_grade(g) for g in scores.trader_grade]
        results: list[dict[str, Any]] = []
        need_reasons: list[int] = []
        for i, rec in enumerate(records):
            row = dict(rec)
            row.update(
                fraud_probability=fps[i],
                critical_probability=crits[i],
                expected_revenue=ers[i],
                trader_grade=grades[i],
                model_version=self.version,
            )
            hit_ids, forced = self._profile_hits(row, rec["declared_at"])
            rr, ro, t_red, t_orange = self._office(str(rec["office_id"]))
            u = control_draw(str(rec["declaration_id"]), int(rec["item_no"]), self.seed)
            rand = 2 if u < rr else (1 if u < rr + ro else 0)
            key = self._key(fps[i], ers[i], grades[i])
            scored = math.isfinite(key)
            model = (2 if key >= t_red else (1 if key >= t_orange else 0)) if scored else None
            base = model if model is not None else default
            base_by = "model" if scored else "default"
            if forced:
                channel, selected_by = forced, "profile"
            elif rand:
                channel, selected_by = rand, "random"
            else:
                channel, selected_by = base, base_by
            q = 1.0 - rr - ro
            if forced:
                propensity, propensity_red = 1.0, 1.0 if forced == 2 else 0.0
            else:
                propensity = rr + ro + q * float(base > 0)
                propensity_red = rr + q * float(base == 2)
            if self.top_reasons > 0 and model and (channel > 0 or policy.reasons_for_green):
                need_reasons.append(i)
            results.append(
                {
                    "declaration_id": str(rec["declaration_id"]),
                    "item_no": int(rec["item_no"]),
                    "channel": _CHANNELS[channel],
                    "selected_by": selected_by,
                    "model_channel": None if model is None else _CHANNELS[model],
                    "risk_score": _nan_none(key),
                    "fraud_probability": _nan_none(fps[i]),
                    "critical_probability": _nan_none(crits[i]),
                    "expected_revenue": _nan_none(ers[i]),
                    "trader_grade": grades[i],
                    "propensity": propensity,
                    "propensity_red": propensity_red,
                    "profile_hits": self._hits(hit_ids),
                    "reasons": [],
                    "model_version": self.version,
                    "policy_version": policy.version,
                }
            )
        if need_reasons:
            texts = self._fast_reasons(
                [records[r] for r in need_reasons], scores.matrix[need_reasons]
            )
            for r, t in zip(need_reasons, texts, strict=True):
                results[r]["reasons"] = list(t)
        return results

    def _fast_reasons(self, subset: list[Mapping[str, Any]], matrix: np.ndarray) -> list[list[str]]:
        """``RiskModel.reasons`` for these rows (their batch feature matrix) without pandas."""
        from customs_risk.models.reason_texts import REASON_TEMPLATES
        from customs_risk.selection.reasons import build_reasons

        state = self.model.state
        contrib = self.model.models["offence"].contributions_array(matrix, state.feature_types)
        context = {name: partial(_record_list, subset, name) for name in DECLARATION_FIELDS}
        values = self.model.reason_values(matrix, context)
        return build_reasons(
            contrib, list(state.feature_columns), values, REASON_TEMPLATES, self.top_reasons
        )

    def _profile_hits(self, row: Mapping[str, Any], declared_at: dt.datetime) -> tuple[list, int]:
        """Ids of the profiles that hit (priority order) and the forced channel code (0: none)."""
        day = declared_at.date()
        ids: list[str] = []
        forced = 0
        for profile, forcing, severity in self._profile_rows:
            late = profile.valid_to is not None and day > profile.valid_to
            if day < profile.valid_from or late:
                continue
            if all(_criterion_holds(row, c) for c in profile.criteria):
                ids.append(profile.id)
                if forcing and not forced:
                    forced = severity
        return ids, forced


def _record_list(records: list[Mapping[str, Any]], name: str) -> list[Any]:
    return [_context_value(r.get(name)) for r in records]


def _context_value(value: Any) -> Any:
    """A declaration value as a frame column would hold it (timestamps as pandas Timestamps)."""
    if isinstance(value, dt.datetime):
        return pd.Timestamp(value)
    return value


def _objects(series: pd.Series) -> list[Any]:
    """Python values of a column, None for missing."""
    return series.to_numpy(dtype=object, na_value=None).tolist()


def _finite_or_none(series: pd.Series) -> list[float | None]:
    """Python floats of a column, None where not finite (JSON has no NaN)."""
    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    out = values.astype(object)
    out[~np.isfinite(values)] = None
    return out.tolist()


def _grade(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    return str(value)
