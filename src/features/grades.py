"""Trader compliance assessment: four grades per importer from its point-in-time history.

The rule (thresholds in ``GradeRule``, documented in docs/features.md):

- **D high-risk**: at least ``high_risk_min_offences`` offences and a smoothed offence rate of at
  least ``high_risk_rate_multiple`` x the prior rate; or a critical offence on record and an
  offence found in the last ``high_risk_recent_days``.
- **C watch** (not D): smoothed rate above the prior rate, or an offence in the last
  ``watch_recent_days``, or fewer than ``watch_min_declarations`` declarations, or never inspected.
- **A certified-compliant** (not D or C): at least ``certified_min_declarations`` declarations and
  ``certified_min_inspections`` inspections, known for ``certified_min_days``, smoothed rate at
  most ``certified_rate_multiple`` x the prior rate and no offence in ``certified_clean_days``.
- **B compliant**: the others.

The same rule grades a declaration's importer as a feature (``importer_grade``, as of the
declaration) and the register of importers (:func:`grade_importers`, as of a date).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from customs_risk.features.config import GradeRule

GRADES: tuple[str, ...] = ("A", "B", "C", "D")
GRADE_LABELS: dict[str, str] = {
    "A": "certified-compliant",
    "B": "compliant",
    "C": "watch",
    "D": "high-risk",
}


def grade_conditions(
    stats: Mapping[str, np.ndarray], prior: np.ndarray, rule: GradeRule
) -> dict[str, np.ndarray]:
    """Boolean conditions of the rule per importer (``stats``: importer history features)."""
    rate = stats["fraud_rate"]
    n_fraud = stats["n_fraud"]
    since_fraud = stats["days_since_fraud"]
    clean = np.isnan(since_fraud) | (since_fraud > rule.certified_clean_days)
    # comparisons with NaN are False, quietly
    return {
        "repeat_offender": (n_fraud >= rule.high_risk_min_offences)
        & (rate >= rule.high_risk_rate_multiple * prior),
        "recent_critical": (stats["n_critical"] >= 1) & (since_fraud <= rule.high_risk_recent_days),
        "rate_above_prior": rate > prior,
        "recent_offence": since_fraud <= rule.watch_recent_days,
        "low_volume": stats["n_decl"] < rule.watch_min_declarations,
        "never_inspected": stats["n_insp"] == 0,
        "certified": (stats["n_decl"] >= rule.certified_min_declarations)
        & (stats["n_insp"] >= rule.certified_min_inspections)
        & (stats["days_since_first"] >= rule.certified_min_days)
        & (rate <= rule.certified_rate_multiple * prior)
        & clean,
    }


def grade_codes(stats: Mapping[str, np.ndarray], prior: np.ndarray, rule: GradeRule) -> np.ndarray:
    """Grade code per row: 0 A, 1 B, 2 C, 3 D; -1 where the importer is missing."""
    c = grade_conditions(stats, prior, rule)
    high = c["repeat_offender"] | c["recent_critical"]
    watch = c["rate_above_prior"] | c["recent_offence"] | c["low_volume"] | c["never_inspected"]
    codes = np.where(high, 3, np.where(watch, 2, np.where(c["certified"], 0, 1)))
    return np.where(np.isnan(stats["n_decl"]), -1, codes).astype(np.int64)


def _reasons(i: int, code: int, stats: Mapping[str, np.ndarray], prior: float, c: dict) -> str:
    rate = stats["fraud_rate"][i]
    since = stats["days_since_fraud"][i]
    facts = {
        "repeat_offender": f"{int(stats['n_fraud'][i])} offences, smoothed rate {rate:.3f} "
        f">= {rate / prior if prior else 0:.1f} x prior {prior:.3f}",
        "recent_critical": f"critical offence on record, last offence {since:.0f} days ago",
        "rate_above_prior": f"smoothed offence rate {rate:.3f} above prior {prior:.3f}",
        "recent_offence": f"offence found {since:.0f} days ago",
        "low_volume": f"only {int(stats['n_decl'][i])} declarations",
        "never_inspected": "never inspected",
    }
    if code == 3:
        names = ["repeat_offender", "recent_critical"]
    elif code == 2:
        names = ["rate_above_prior", "recent_offence", "low_volume", "never_inspected"]
    else:
        names = []
    fired = [facts[n] for n in names if c[n][i]]
    if code in (0, 1):
        fired.append(
            f"{int(stats['n_decl'][i])} declarations, {int(stats['n_insp'][i])} inspections, "
            f"smoothed rate {rate:.3f} vs prior {prior:.3f}"
        )
        if np.isnan(since):
            fired.append("no offence found")
        else:
            fired.append(f"last offence {since:.0f} days ago")
        if code == 1:
            fired.append("not (yet) meeting certification thresholds")
    return "; ".join(fired)


def grade_frame(
    importer_ids: list[str],
    stats: Mapping[str, np.ndarray],
    prior: np.ndarray,
    rule: GradeRule,
) -> pd.DataFrame:
    """The graded register: one row per importer with its figures and the reasons."""
    codes = grade_codes(stats, prior, rule)
    conditions = grade_conditions(stats, prior, rule)
    grades = np.array(GRADES, dtype=object)[codes]
    frame = pd.DataFrame(
        {
            "importer_id": pd.Series(importer_ids, dtype="str"),
            "grade": pd.Categorical(grades, categories=list(GRADES)),
            "label": [GRADE_LABELS[g] for g in grades],
            "reasons": [
                _reasons(i, int(code), stats, float(prior[i]), conditions)
                for i, code in enumerate(codes)
            ],
            "n_declarations": stats["n_decl"].astype(np.int64),
            "n_inspections": stats["n_insp"].astype(np.int64),
            "n_offences": stats["n_fraud"].astype(np.int64),
            "n_critical": stats["n_critical"].astype(np.int64),
            "offence_rate": stats["fraud_rate"],
            "prior_rate": prior,
            "revenue_recovered": stats["rev_sum"],
            "days_since_first": stats["days_since_first"],
            "days_since_last_offence": stats["days_since_fraud"],
        }
    )
    return frame


def grade_importers(source: Any, as_of: Any) -> pd.DataFrame:
    """Grades of every known importer as of a time.

    ``source`` is a fitted ``FeatureState`` (``as_of`` must not precede the state's own), or the
    history itself: a (declarations, outcomes) pair, a mapping or an object with
    ``declarations`` and ``outcomes`` (e.g. a generated world). Returns columns importer_id,
    grade (A-D), label, reasons and the figures behind them.
    """
    from customs_risk.features.pipeline import FeaturePipeline, history_as_of
    from customs_risk.features.state import FeatureState

    stamp = pd.Timestamp(as_of)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    t = int(stamp.value)
    if isinstance(source, FeatureState):
        state = source
    else:
        if isinstance(source, tuple):
            declarations, outcomes = source
        elif isinstance(source, Mapping):
            declarations, outcomes = source["declarations"], source.get("outcomes")
        else:
            declarations, outcomes = source.declarations, getattr(source, "outcomes", None)
        pipeline = FeaturePipeline.importer_only()
        state = pipeline.fit(declarations, outcomes, as_of=stamp)
    ids = list(state.vocab["importer_id"].values)
    stats, prior = history_as_of(state, "importer", np.arange(len(ids)), t)
    return grade_frame(ids, stats, prior, state.config.grade_rule)
