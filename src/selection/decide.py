"""The channel decision of a batch, over the one kernel (``selection.kernel``).

:func:`decide_batch` reads a batch through :class:`~customs_risk.selection.columns.Columns`
(frames or records alike): profile hits, office shares and thresholds, control draws, the
adjusted key; it hands the arrays to :func:`~customs_risk.selection.kernel.channel_kernel` and
returns :class:`BatchDecision` (arrays). Adapters turn that into their shape: :func:`decide`
(DataFrames in, a DataFrame out), ``RiskModel.decide`` and the service (records in, response
dicts out). The rule itself, the propensities and who gets reasons are the kernel's docstring.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from pandas.api.types import is_numeric_dtype
from pandas.arrays import ArrowStringArray

from customs_risk.data import contracts
from customs_risk.selection.columns import Columns
from customs_risk.selection.kernel import (
    CHANNEL_CODES,
    CHANNELS,
    SELECTED_BY,
    KernelInput,
    KernelOutput,
    channel_kernel,
)
from customs_risk.selection.lists import ListHits, ManagedLists, evaluate_lists
from customs_risk.selection.policy import ChannelPolicy
from customs_risk.selection.profiles import (
    ProfileHits,
    ProfileSet,
    decision_days,
    evaluate_profiles,
)
from customs_risk.selection.random_control import control_draws
from customs_risk.selection.reasons import ReasonTemplate, build_reasons
from customs_risk.selection.thresholds import Thresholds

log = logging.getLogger(__name__)

Scorer = Callable[[pd.DataFrame], pd.DataFrame]
CONTRIB_PREFIX = "contrib__"
REQUIRED_COLUMNS = ("declaration_id", "item_no", "office_id")
SCORE_FIELDS = ("fraud_probability", "critical_probability", "expected_revenue")

DECISION_COLUMNS: dict[str, str] = contracts.DECISION_COLUMNS  # the frame view of DECISION


@dataclass(frozen=True)
class ScoreArrays:
    """Model outputs aligned with a batch: float64 (NaN missing), grades as objects (None)."""

    fraud_probability: np.ndarray
    critical_probability: np.ndarray
    expected_revenue: np.ndarray
    trader_grade: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.fraud_probability)

    def columns(self, grade_column: str = "trader_grade") -> dict[str, np.ndarray]:
        """The named arrays profiles may read."""
        out = {name: getattr(self, name) for name in SCORE_FIELDS}
        if self.trader_grade is not None:
            out[grade_column] = self.trader_grade
        return out

    @classmethod
    def of_frame(cls, scores: pd.DataFrame, grade_column: str = "trader_grade") -> ScoreArrays:
        """The arrays of a scores frame (columns it lacks are missing)."""
        n = len(scores)

        def floats(name: str) -> np.ndarray:
            if name not in scores.columns:
                return np.full(n, np.nan)
            return scores[name].to_numpy(dtype=np.float64, na_value=np.nan)

        grades = None
        if grade_column in scores.columns:
            column = scores[grade_column].astype(object)
            grades = column.where(column.notna(), None).to_numpy()
        return cls(
            fraud_probability=floats("fraud_probability"),
            critical_probability=floats("critical_probability"),
            expected_revenue=floats("expected_revenue"),
            trader_grade=grades,
        )


@dataclass(frozen=True)
class BatchDecision:
    """What :func:`decide_batch` found for every row (arrays aligned with the batch)."""

    kernel: KernelOutput
    control_draw: np.ndarray
    risk_score: np.ndarray
    scores: ScoreArrays | None
    hits: ProfileHits
    forced_profile: np.ndarray
    fail_safe: str | None
    list_hits: ListHits | None = None

    def __len__(self) -> int:
        return len(self.control_draw)

    @property
    def lists(self) -> ListHits:
        """The managed-list hits (none when no list applied)."""
        return self.list_hits if self.list_hits is not None else ListHits.empty(len(self))

    def reasons(self, model: Mapping[int, Sequence[str]] | None) -> dict[int, Sequence[str]]:
        """Per row with any: the list entries' reasons, then the model's (``model``)."""
        out: dict[int, Sequence[str]] = dict(self.lists.reasons())
        for r, texts in (model or {}).items():
            if texts:
                listed = out.get(r)
                out[r] = texts if listed is None else (*listed, *texts)
        return out

    @property
    def explain_rows(self) -> np.ndarray:
        """Rows that get the model's reasons (the kernel's rule)."""
        return np.flatnonzero(self.kernel.explain)

    def profile_lists(self) -> tuple[np.ndarray, np.ndarray]:
        """Per row: ids of the profiles that hit and their instructions, in priority order."""
        return _profile_lists(self.hits, len(self))

    def log_warnings(self, policy: ChannelPolicy) -> None:
        """Log the profiles not applied for their dates and a fail-safe."""
        for status in self.hits.not_applied:
            log.warning(
                "profile %s not applied to %d rows: %s",
                status.profile_id,
                status.rows_outside,
                status.status,
            )
        if self.fail_safe is not None:
            log.warning(
                "fail-safe (%s): non-profile, non-random items -> %s",
                self.fail_safe,
                policy.default_channel,
            )


def decide_batch(
    columns: Columns,
    scores: ScoreArrays | None,
    policy: ChannelPolicy,
    thresholds: Thresholds | None,
    profiles: ProfileSet | None,
    seed: int,
    as_of: dt.date | str | None = None,
    *,
    fail_safe_reason: str | None = None,
    lists: ManagedLists | None = None,
) -> BatchDecision:
    """Decide every row of a batch (the kernel over the batch's columns and scores).

    ``scores=None``: no model, the fail-safe (profiles, random control, the default channel).
    ``as_of``: the decision date for profile and list validity; None: each row's
    ``declared_at`` date. ``lists``: the managed lists, applied as a least channel.
    """
    missing = [c for c in REQUIRED_COLUMNS if not columns.stored(c)]
    if missing:
        raise ValueError(f"declarations lack columns {missing}")
    n = columns.n
    if scores is not None:
        if len(scores) != n:
            raise ValueError(f"scores have {len(scores)} rows, declarations {n}")
        if thresholds is None:
            raise ValueError("thresholds are required with scores (calibrate_thresholds)")
        thresholds.check_policy(policy)
    days = decision_days(columns, as_of)
    hits = evaluate_profiles(profiles if profiles is not None else ProfileSet(), columns, days)
    forced_idx, forced = hits.forced()
    list_hits = None
    listed = None
    if lists is not None and len(lists):
        list_hits = evaluate_lists(lists, columns, days)
        listed = list_hits.forced()[1]
    codes, offices = columns.factorized("office_id")
    shares = policy.shares_of(codes, offices)
    u = control_draws(columns.raw("declaration_id"), columns.raw("item_no"), seed)
    if scores is None:
        key = np.full(n, np.nan)
        inputs = KernelInput(
            forced, u, shares["random_red"], shares["random_orange"], listed=listed
        )
        if fail_safe_reason is None:
            fail_safe_reason = "no model scores"
    else:
        assert thresholds is not None
        key = policy.adjusted_key(
            scores.fraud_probability,
            scores.expected_revenue,
            scores.trader_grade,
            thresholds.revenue_scale,
        )
        t_red, t_orange = thresholds.cuts_of(codes, offices)
        inputs = KernelInput(
            forced, u, shares["random_red"], shares["random_orange"], key, t_red, t_orange, listed
        )
    kernel = channel_kernel(
        inputs,
        CHANNEL_CODES[policy.default_channel],
        explain_green=policy.reasons_for_green,
        explain=policy.top_reasons > 0,
    )
    if scores is not None and not kernel.scored.all():
        log.warning("fail-safe: %d rows without a score", int((~kernel.scored).sum()))
    return BatchDecision(kernel, u, key, scores, hits, forced_idx, fail_safe_reason, list_hits)


def _check_alignment(declarations: pd.DataFrame, scores: pd.DataFrame) -> None:
    for col in ("declaration_id", "item_no"):
        if col in scores.columns:
            left, right = declarations[col].reset_index(drop=True), scores[col]
            if is_numeric_dtype(left.dtype) and is_numeric_dtype(right.dtype):
                differs = left.to_numpy() != right.to_numpy()
            else:
                differs = left.astype("str").ne(right.astype("str").reset_index(drop=True))
                differs = differs.to_numpy(dtype=bool)
            bad = np.flatnonzero(differs)
            if len(bad):
                raise ValueError(f"scores are not aligned with declarations: {col} at row {bad[0]}")


def _empty_tuples(n: int) -> np.ndarray:
    out = np.empty(n, dtype=object)
    out.fill(())
    return out


def _profile_lists(hits: ProfileHits, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row: ids of the profiles that hit and their instructions, in priority order."""
    ids, texts = _empty_tuples(n), _empty_tuples(n)
    rows, cols = np.nonzero(hits.matrix)  # row-major: per row, columns in priority order
    if len(rows) == 0:
        return ids, texts
    pid = [p.id for p in hits.profiles]
    text = [f"{p.id}: {p.instructions.strip()}" for p in hits.profiles]
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    ends = np.r_[starts[1:], len(rows)]
    cols_list = cols.tolist()
    for r, a, b in zip(rows[starts].tolist(), starts.tolist(), ends.tolist(), strict=True):
        group = cols_list[a:b]
        ids[r] = tuple(pid[c] for c in group)
        texts[r] = tuple(text[c] for c in group)
    return ids, texts


_STR = pd.Series([], dtype="str").dtype


def _text(values: np.ndarray) -> pd.Series:
    return pd.Series(values, dtype="str")


def _labels(names: Sequence[str | None], codes: np.ndarray) -> pd.Series:
    """The str column ``names[codes]``, built in Arrow (no Python object per row)."""
    if getattr(_STR, "storage", None) != "pyarrow":
        return _text(np.asarray(list(names), dtype=object)[codes])
    taken = pa.array(list(names), type=pa.large_string()).take(pa.array(codes))
    # pandas-stubs lack the dtype argument pandas 3's ArrowStringArray takes
    return pd.Series(ArrowStringArray(taken, dtype=_STR))  # type: ignore[call-arg]


def _constant(value: str | None, n: int) -> pd.Series:
    return _labels([value], np.zeros(n, dtype=np.int8))


def _frame_reasons(
    rows: np.ndarray,
    declarations: pd.DataFrame,
    scores: pd.DataFrame,
    templates: Mapping[str, ReasonTemplate] | None,
    top_k: int,
) -> list[list[str]] | None:
    """Reasons for ``rows`` from a scores frame: its ``reasons`` column, else built from its
    ``contrib__<feature>`` columns (None when it has neither)."""
    if "reasons" in scores.columns:
        given = scores["reasons"].to_numpy(dtype=object)[rows]
        return [list(v)[:top_k] if isinstance(v, list | tuple | np.ndarray) else [] for v in given]
    contrib = [c for c in scores.columns if c.startswith(CONTRIB_PREFIX)]
    if not contrib or len(rows) == 0:
        return None
    names = [c[len(CONTRIB_PREFIX) :] for c in contrib]
    matrix = scores[contrib].to_numpy(dtype=np.float64, na_value=0.0)[rows]
    values = scores.drop(columns=contrib).iloc[rows].reset_index(drop=True)
    extra = [c for c in declarations.columns if c not in values.columns]
    if extra:
        values = pd.concat([values, declarations[extra].iloc[rows].reset_index(drop=True)], axis=1)
    return build_reasons(matrix, names, values, templates, top_k=top_k)


def decide(
    declarations: pd.DataFrame,
    scores: pd.DataFrame | None,
    policy: ChannelPolicy,
    thresholds: Thresholds | None,
    profiles: ProfileSet | None,
    seed: int,
    as_of: dt.date | str | None = None,
    *,
    reason_templates: Mapping[str, ReasonTemplate] | None = None,
    model_version: str | None = None,
    fail_safe_reason: str | None = None,
    lists: ManagedLists | None = None,
) -> pd.DataFrame:
    """Decide the channel of every declaration item (one row out per row in, same order).

    ``scores``: aligned with ``declarations``; ``fraud_probability``, ``expected_revenue``, optional
    ``trader_grade``, ``model_version``, ``reasons`` (list per row) or ``contrib__<feature>``
    columns (feature values from same-named columns of scores or declarations). ``scores=None``:
    no model, the fail-safe (profiles, random control, the default channel for the rest).
    ``as_of``: the decision date for profile and list validity; None: each row's
    ``declared_at`` date. ``lists``: managed lists (a least channel; their reasons come first).
    """
    decl = declarations.reset_index(drop=True)
    sc = None if scores is None else scores.reset_index(drop=True)
    if sc is not None:
        if len(sc) != len(decl):
            raise ValueError(f"scores have {len(sc)} rows, declarations {len(decl)}")
        _check_alignment(decl, sc)
    columns = Columns.of_frames(decl, sc)
    arrays = None if sc is None else ScoreArrays.of_frame(sc, policy.grade_column)
    batch = decide_batch(
        columns,
        arrays,
        policy,
        thresholds,
        profiles,
        seed,
        as_of,
        fail_safe_reason=fail_safe_reason,
        lists=lists,
    )
    reasons = None
    if sc is not None:
        rows = batch.explain_rows
        built = _frame_reasons(rows, decl, sc, reason_templates, policy.top_reasons)
        if built is not None:
            reasons = dict(zip(rows.tolist(), built, strict=True))
    if sc is None:
        versions = _constant(None, len(decl))
    elif model_version is not None:
        versions = _constant(model_version, len(decl))
    elif "model_version" in sc.columns:
        versions = sc["model_version"].astype("str")
    else:
        versions = _constant(None, len(decl))
    out = decision_frame(decl, batch, policy, versions, reasons)
    out.attrs["seed"] = seed
    batch.log_warnings(policy)
    return out


def decision_frame(
    declarations: pd.DataFrame,
    batch: BatchDecision,
    policy: ChannelPolicy,
    model_version: pd.Series | str | None,
    reasons: Mapping[int, Sequence[str]] | None = None,
) -> pd.DataFrame:
    """The decisions frame (``DECISION_COLUMNS``) of a batch decided by :func:`decide_batch`."""
    n = len(batch)
    k = batch.kernel
    hit_ids, instructions = batch.profile_lists()
    profile_names = [*(p.id for p in batch.hits.profiles), None]
    profile_code = np.where(
        batch.forced_profile >= 0, batch.forced_profile, len(batch.hits.profiles)
    )
    texts = _empty_tuples(n)
    for r, t in batch.reasons(reasons).items():
        texts[r] = tuple(t)
    listed = batch.lists
    if len(listed.lists):
        on_list = listed.matrix.any(axis=1)
        both = on_list & batch.hits.matrix.any(axis=1)
        list_instructions = listed.instructions()
        instructions[on_list & ~both] = list_instructions[on_list & ~both]
        for r in np.flatnonzero(both).tolist():
            instructions[r] = (*instructions[r], *list_instructions[r])
    nan = np.full(n, np.nan)
    sc = batch.scores
    versions = (
        model_version if isinstance(model_version, pd.Series) else _constant(model_version, n)
    )
    out = pd.DataFrame(
        {
            "declaration_id": declarations["declaration_id"].astype("str"),
            "item_no": declarations["item_no"].astype("int64"),
            "office_id": declarations["office_id"].astype("str"),
            "channel": _labels(CHANNELS, k.channel),
            "selected_by": _labels(SELECTED_BY, k.selected_by),
            "model_channel": _labels([*CHANNELS, None], k.model_channel),
            "propensity": k.propensity.astype(np.float64),
            "propensity_red": k.propensity_red.astype(np.float64),
            "control_draw": batch.control_draw,
            "fraud_probability": nan if sc is None else sc.fraud_probability,
            "expected_revenue": nan if sc is None else sc.expected_revenue,
            "risk_score": batch.risk_score,
            "profile_id": _labels(profile_names, profile_code),
            "profile_hits": pd.Series(hit_ids, dtype=object),
            "list_hits": pd.Series(listed.ids(), dtype=object),
            "instructions": pd.Series(instructions, dtype=object),
            "reasons": pd.Series(texts, dtype=object),
            "model_version": versions.reset_index(drop=True),
            "policy_version": _constant(policy.version, n),
        }
    )
    out.attrs = {
        "profiles_not_applied": [s.as_dict() for s in batch.hits.not_applied],
        "fail_safe": batch.fail_safe,
        "policy_version": policy.version,
    }
    return out


def score_or_none(
    declarations: pd.DataFrame, scorer: Scorer | None
) -> tuple[pd.DataFrame | None, str | None]:
    """Run the scorer; on absence or failure return (None, reason) so the fail-safe applies."""
    if scorer is None:
        return None, "no model"
    try:
        return scorer(declarations), None
    except Exception as exc:  # any scorer failure must fall back to the fail-safe, never block
        log.exception("scorer failed; fail-safe applies")
        return None, f"scorer failed: {type(exc).__name__}: {exc}"


def decide_with_scorer(
    declarations: pd.DataFrame,
    scorer: Scorer | None,
    policy: ChannelPolicy,
    thresholds: Thresholds | None,
    profiles: ProfileSet | None,
    seed: int,
    as_of: dt.date | str | None = None,
    *,
    unavailable_reason: str | None = None,
    **kwargs: Any,
) -> pd.DataFrame:
    """Score with ``scorer`` (the models issue's hook) and decide; fail-safe if it is missing.

    ``unavailable_reason`` says why there is no scorer (recorded as the fail-safe reason).
    """
    scores, reason = score_or_none(declarations, scorer)
    if scorer is None and unavailable_reason:
        reason = unavailable_reason
    if scores is not None and thresholds is None:
        scores, reason = None, "no thresholds for the model"
    return decide(
        declarations,
        scores,
        policy,
        thresholds,
        profiles,
        seed,
        as_of,
        fail_safe_reason=reason,
        **kwargs,
    )
