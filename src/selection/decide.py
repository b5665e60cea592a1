"""The channel decision: profiles, random control, model thresholds and the fail-safe.

Order per declaration item:

1. a non-advisory profile hit forces the action of the highest-priority hit (``profile``);
2. otherwise the random control draw u decides first: u < random_red -> red, u < random_red +
   random_orange -> orange (``random``), whatever the model says;
3. otherwise the model: adjusted key >= red threshold -> red, >= orange threshold -> orange, else
   green (``model``); without a model (or a score) the policy's default channel (``default``).

Propensity (the probability, over the random draw, of the recorded outcome's selection):
``propensity`` = P(red or orange) and ``propensity_red`` = P(red) for this item given its data and
the state (policy, thresholds, profiles). With q = 1 - random_red - random_orange and ``base`` the
channel of step 3: forced by a profile -> 1 and (1 if red else 0); otherwise
``propensity = random_red + random_orange + q * [base != green]`` and
``propensity_red = random_red + q * [base == red]``. So a model/profile selection has propensity 1,
a random-only selection and a green item have the random share. P(orange) = propensity -
propensity_red. Inverse-propensity weights are 1 / propensity over the inspected items.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from pandas.api.types import is_numeric_dtype
from pandas.arrays import ArrowStringArray

from customs_risk.selection.policy import ChannelPolicy
from customs_risk.selection.profiles import (
    ProfileHits,
    ProfileSet,
    decision_days,
    evaluate_profiles,
)
from customs_risk.selection.random_control import control_draws, random_channel
from customs_risk.selection.reasons import ReasonTemplate, build_reasons
from customs_risk.selection.thresholds import Thresholds

log = logging.getLogger(__name__)

Scorer = Callable[[pd.DataFrame], pd.DataFrame]
CONTRIB_PREFIX = "contrib__"
REQUIRED_COLUMNS = ("declaration_id", "item_no", "office_id")
CHANNEL_NAMES = np.array(["green", "orange", "red"], dtype=object)
_CODES = {"green": 0, "orange": 1, "red": 2}
SELECTED_BY = np.array(["model", "profile", "random", "default"], dtype=object)
_MODEL, _PROFILE, _RANDOM, _DEFAULT = range(4)
_NO_CHANNEL = len(CHANNEL_NAMES)  # model_channel code of rows without a score

DECISION_COLUMNS: dict[str, str] = {
    "declaration_id": "str",
    "item_no": "int64",
    "office_id": "str",
    "channel": "str",
    "selected_by": "str",
    "model_channel": "str",
    "propensity": "float64",
    "propensity_red": "float64",
    "control_draw": "float64",
    "fraud_probability": "float64",
    "expected_revenue": "float64",
    "risk_score": "float64",
    "profile_id": "str",
    "profile_hits": "object",
    "instructions": "object",
    "reasons": "object",
    "model_version": "str",
    "policy_version": "str",
}


def _check_inputs(
    declarations: pd.DataFrame,
    scores: pd.DataFrame | None,
    policy: ChannelPolicy,
    thresholds: Thresholds | None,
) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in declarations.columns]
    if missing:
        raise ValueError(f"declarations lack columns {missing}")
    if scores is None:
        return
    if len(scores) != len(declarations):
        raise ValueError(f"scores have {len(scores)} rows, declarations {len(declarations)}")
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
    if thresholds is None:
        raise ValueError("thresholds are required with scores (calibrate_thresholds)")
    thresholds.check_policy(policy)


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


def _reasons(
    rows: np.ndarray,
    declarations: pd.DataFrame,
    scores: pd.DataFrame,
    templates: Mapping[str, ReasonTemplate] | None,
    top_k: int,
) -> list[list[str]] | None:
    """Reasons for ``rows``: a ``reasons`` column of the scores, else built from contributions."""
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


_STR = pd.Series([], dtype="str").dtype


def _text(values: np.ndarray) -> pd.Series:
    return pd.Series(values, dtype="str")


def _labels(names: Sequence[str | None], codes: np.ndarray) -> pd.Series:
    """The str column ``names[codes]``, built in Arrow (no Python object per row)."""
    if getattr(_STR, "storage", None) != "pyarrow":
        return _text(np.asarray(list(names), dtype=object)[codes])
    taken = pa.array(list(names), type=pa.large_string()).take(pa.array(codes))
    return pd.Series(ArrowStringArray(taken, dtype=_STR))


def _constant(value: str | None, n: int) -> pd.Series:
    return _labels([value], np.zeros(n, dtype=np.int8))


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
) -> pd.DataFrame:
    """Decide the channel of every declaration item (one row out per row in, same order).

    ``scores``: aligned with ``declarations``; ``fraud_probability``, ``expected_revenue``, optional
    ``trader_grade``, ``model_version``, ``reasons`` (list per row) or ``contrib__<feature>``
    columns (feature values from same-named columns of scores or declarations). ``scores=None``:
    no model, the fail-safe (profiles, random control, the default channel for the rest).
    ``as_of``: the decision date for profile validity; None: each row's ``declared_at`` date.
    """
    _check_inputs(declarations, scores, policy, thresholds)
    decl = declarations.reset_index(drop=True)
    sc = None if scores is None else scores.reset_index(drop=True)
    n = len(decl)
    profiles = profiles if profiles is not None else ProfileSet()
    frames = [decl] if sc is None else [decl, sc]
    days = decision_days(decl, as_of)
    hits = evaluate_profiles(profiles, frames, days)
    forced_idx, forced = hits.forced()

    shares = policy.share_arrays(decl["office_id"])
    u = control_draws(decl["declaration_id"], decl["item_no"], seed)
    rand = random_channel(u, shares["random_red"], shares["random_orange"])

    default = _CODES[policy.default_channel]
    nan = np.full(n, np.nan)
    if sc is None:
        fp = er = key = nan
        base = np.full(n, default, dtype=np.int8)
        base_by = np.full(n, _DEFAULT, dtype=np.int8)
        model_channel = np.full(n, _NO_CHANNEL, dtype=np.int8)
        if fail_safe_reason is None:
            fail_safe_reason = "no model scores"
    else:
        assert thresholds is not None
        fp = sc["fraud_probability"].to_numpy(dtype=np.float64, na_value=np.nan)
        er = (
            sc["expected_revenue"].to_numpy(dtype=np.float64, na_value=np.nan)
            if "expected_revenue" in sc.columns
            else nan
        )
        key = policy.adjusted_score(sc, decl, thresholds.revenue_scale)
        t_red, t_orange = thresholds.arrays_for(decl["office_id"])
        scored = np.isfinite(key)
        with np.errstate(invalid="ignore"):
            model = np.where(key >= t_red, 2, np.where(key >= t_orange, 1, 0)).astype(np.int8)
        base = np.where(scored, model, default).astype(np.int8)
        base_by = np.where(scored, _MODEL, _DEFAULT).astype(np.int8)
        model_channel = np.where(scored, model, _NO_CHANNEL).astype(np.int8)
        if not scored.all():
            log.warning("fail-safe: %d rows without a score", int((~scored).sum()))

    is_forced = forced > 0
    is_random = ~is_forced & (rand > 0)
    channel = np.where(is_forced, forced, np.where(is_random, rand, base)).astype(np.int8)
    selected_by = np.where(is_forced, _PROFILE, np.where(is_random, _RANDOM, base_by))

    q = 1.0 - shares["random_red"] - shares["random_orange"]
    propensity = np.where(
        is_forced, 1.0, shares["random_red"] + shares["random_orange"] + q * (base > 0)
    )
    propensity_red = np.where(
        is_forced, (forced == 2).astype(np.float64), shares["random_red"] + q * (base == 2)
    )

    hit_ids, instructions = _profile_lists(hits, n)
    profile_names = [*(p.id for p in hits.profiles), None]
    profile_code = np.where(forced_idx >= 0, forced_idx, len(hits.profiles))

    reasons = _empty_tuples(n)
    if sc is not None and policy.top_reasons > 0:
        wanted = np.isfinite(key) if policy.reasons_for_green else (channel > 0) & np.isfinite(key)
        rows = np.flatnonzero(wanted)
        built = _reasons(rows, decl, sc, reason_templates, policy.top_reasons)
        if built is not None:
            for r, texts in zip(rows.tolist(), built, strict=True):
                reasons[r] = tuple(texts)

    if sc is None:
        versions = _constant(None, n)
    elif model_version is not None:
        versions = _constant(model_version, n)
    elif "model_version" in sc.columns:
        versions = sc["model_version"].astype("str")
    else:
        versions = _constant(None, n)

    out = pd.DataFrame(
        {
            "declaration_id": decl["declaration_id"].astype("str"),
            "item_no": decl["item_no"].astype("int64"),
            "office_id": decl["office_id"].astype("str"),
            "channel": _labels(CHANNEL_NAMES, channel),
            "selected_by": _labels(SELECTED_BY, selected_by),
            "model_channel": _labels([*CHANNEL_NAMES, None], model_channel),
            "propensity": propensity.astype(np.float64),
            "propensity_red": propensity_red.astype(np.float64),
            "control_draw": u,
            "fraud_probability": fp,
            "expected_revenue": er,
            "risk_score": key,
            "profile_id": _labels(profile_names, profile_code),
            "profile_hits": pd.Series(hit_ids, dtype=object),
            "instructions": pd.Series(instructions, dtype=object),
            "reasons": pd.Series(reasons, dtype=object),
            "model_version": versions,
            "policy_version": _constant(policy.version, n),
        }
    )
    for status in hits.not_applied:
        log.warning(
            "profile %s not applied to %d rows: %s",
            status.profile_id,
            status.rows_outside,
            status.status,
        )
    if fail_safe_reason is not None:
        log.warning(
            "fail-safe (%s): non-profile, non-random items -> %s",
            fail_safe_reason,
            policy.default_channel,
        )
    out.attrs = {
        "profiles_not_applied": [s.as_dict() for s in hits.not_applied],
        "fail_safe": fail_safe_reason,
        "seed": seed,
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
