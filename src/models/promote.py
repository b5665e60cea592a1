"""``customs-risk promote``: challenger vs champion on the newest time window, and rollback.

Both registered bundles score the items of the newest ``window_days`` with point-in-time
features (each bundle's own vocabularies, the training view over all the data), so neither sees
an outcome after the item it scores. Two estimators (``PromoteSettings.estimator``):

* ``control`` (default): each model's precision and revenue share at the inspection rate
  ``rate``: its top set is the first ``rate`` of all window items by the key its channel policy
  ranks by; the figures are inverse-propensity estimates on the window's control sample with
  bootstrap intervals (``customs_risk.models.control_estimates``), and on a generated world the
  truth-based figures beside them. A folder without a control sample is refused.
* ``inspected``: the earlier comparison, plain metrics on the inspected items of the window. Those
  are the items the champion's predecessors selected, so it favours a model that ranks like them.

``champion`` moves to the challenger only when it is better by the settings' rule (or with
``force``); ``to_version`` points ``champion`` at any registered version (rollback).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from customs_risk.data.contracts import TRUTH_FILE
from customs_risk.data.world_config import WorldConfig
from customs_risk.models.bundle import RiskModel
from customs_risk.models.control_estimates import (
    METRICS,
    ControlSample,
    RankingEstimates,
    control_sample,
    estimate_rankings,
    expected_outcomes,
)
from customs_risk.models.dataset import label_rows, load_training_data
from customs_risk.models.metrics import ranking_report, revenue_share_at
from customs_risk.models.settings import PromoteSettings
from customs_risk.models.tracking import (
    CHALLENGER,
    CHAMPION,
    MlflowSettings,
    configure,
    load_registered,
    resolve_version,
)

log = logging.getLogger(__name__)
COMPARED = ("auc", "precision_at_5", "precision_at_10", "recall_at_10", "revenue_share_at_10")


@dataclass
class Comparison:
    """Metrics of both versions on the window, and the decision. With the control estimator,
    ``intervals`` holds the bootstrap interval of each figure (role -> metric -> [low, high];
    role ``difference`` for challenger minus champion) and ``truth`` the truth-based figures of
    a generated world."""

    window_start: str
    window_end: str
    n_labelled: int  # the items the figures rest on: control sample or inspected items
    metric: str
    challenger_version: str
    champion_version: str | None
    challenger: dict[str, float]
    champion: dict[str, float] | None
    promoted: bool
    reason: str
    estimator: str = "inspected"
    sample: str = "inspected items"
    rate: float | None = None
    n_items: int | None = None  # items of the window (ranked by the control estimator)
    n_top: int | None = None  # items in each model's top set
    in_top: dict[str, int] = field(default_factory=dict)  # control-sample items per top set
    difference: dict[str, float] = field(default_factory=dict)
    intervals: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    truth: dict[str, dict[str, float]] = field(default_factory=dict)

    def table(self) -> str:
        """The comparison as aligned text."""
        if self.estimator == "control":
            return self._control_table()
        lines = [
            f"window {self.window_start} .. {self.window_end}: {self.n_labelled} inspected items",
            f"{'metric':<22}{'challenger v' + self.challenger_version:>16}"
            f"{'champion v' + str(self.champion_version):>16}",
        ]
        for key in self.challenger:
            old = self.champion.get(key, float("nan")) if self.champion else float("nan")
            mark = " <-" if key == self.metric else ""
            lines.append(f"{key:<22}{self.challenger[key]:>16.4f}{old:>16.4f}{mark}")
        lines.append(self.reason)
        return "\n".join(lines)

    def _control_table(self) -> str:
        roles = [("challenger", f"challenger v{self.challenger_version}")]
        if self.champion is not None:
            roles += [
                ("champion", f"champion v{self.champion_version}"),
                ("difference", "difference"),
            ]
        head = [f"{m} <-" if m == self.metric else m for m in METRICS]
        lines = [
            f"window {self.window_start} .. {self.window_end}: {self.n_items} items; each model's "
            f"top {100 * (self.rate or 0):g} % ({self.n_top} items) by its ranking key",
            f"control sample: {self.n_labelled} inspected items ({self.sample})",
            f"{'':<16}{'in top':>6}  {head[0]:<27}{head[1]}",
        ]
        for role, label in roles:
            signed = role == "difference"
            f = "{:+.4f}" if signed else "{:.4f}"
            values = self.difference if signed else getattr(self, role)
            cells = []
            for metric in METRICS:
                low, high = self.intervals[role][metric]
                cells.append(f"{f.format(values[metric])} [{f.format(low)}, {f.format(high)}]")
            count = str(self.in_top.get(role, ""))
            lines.append(f"{label:<16}{count:>6}  {cells[0]:<27}{cells[1]}")
            if self.truth:
                truth = [f.format(self.truth[role][metric]) for metric in METRICS]
                lines.append(f"{'  truth':<16}{'':>6}  {truth[0]:<27}{truth[1]}")
        note = "; truth: the same figure on every item, from truth.parquet" if self.truth else ""
        lines.append(f"(estimate [95 % bootstrap interval]{note})")
        lines.append(self.reason)
        return "\n".join(lines)


def window_features(
    model: RiskModel, declarations: pd.DataFrame, outcomes: pd.DataFrame, rows: np.ndarray
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Point-in-time features of ``rows`` (the bundle's own state) and their declarations."""
    from customs_risk.features.pipeline import FeaturePipeline

    pipeline = FeaturePipeline(model.state.config)
    pipeline.state_ = model.state
    features = pipeline.transform(declarations, outcomes=outcomes).iloc[rows]
    return features, declarations.iloc[rows].reset_index(drop=True)


def evaluate_bundle(
    model: RiskModel, declarations: pd.DataFrame, outcomes: pd.DataFrame, rows: np.ndarray
) -> dict[str, float]:
    """Metrics of a bundle on the labelled ``rows``, features point-in-time."""
    features, decl = window_features(model, declarations, outcomes, rows)
    labels = label_rows(decl, outcomes)
    scores = model.score_frame(features, decl)
    report = ranking_report(labels.fraud, scores["fraud_probability"].to_numpy())
    out = {k: float(report[k]) for k in COMPARED if k in report}
    if "revenue" in model.models:
        revenue = scores["expected_revenue"].to_numpy()
        out["revenue_share_at_10"] = revenue_share_at(np.nan_to_num(labels.revenue), revenue, 0.1)
    return out


def ranking_key(
    model: RiskModel, declarations: pd.DataFrame, outcomes: pd.DataFrame, rows: np.ndarray
) -> np.ndarray:
    """The key a bundle's channel policy ranks ``rows`` by (its thresholds apply to it): the
    ranking score times the trader-grade factor."""
    from customs_risk.selection.thresholds import revenue_scale_of

    features, decl = window_features(model, declarations, outcomes, rows)
    scores = model.score_frame(features, decl)
    if model.thresholds is not None:
        scale = model.thresholds.revenue_scale
    else:
        scale = revenue_scale_of(scores, model.policy)
    return np.asarray(model.policy.adjusted_score(scores, decl, scale), dtype=np.float64)


def newest_window(
    declarations: pd.DataFrame, outcomes: pd.DataFrame, window_days: int
) -> tuple[np.ndarray, pd.Timestamp, pd.Timestamp]:
    """Labelled rows of the newest ``window_days`` days and the window bounds."""
    in_window, start, end = window_mask(declarations, window_days)
    inspected = label_rows(declarations, outcomes).inspected
    return np.flatnonzero(in_window & inspected), start, end


def window_mask(
    declarations: pd.DataFrame, window_days: int
) -> tuple[np.ndarray, pd.Timestamp, pd.Timestamp]:
    """Mask of the rows of the newest ``window_days`` days and the window bounds."""
    days = declarations["declared_at"].dt.normalize()
    start = days.max() - pd.Timedelta(days=window_days - 1)
    return (days >= start).to_numpy(), start, days.max()


def set_champion(settings: MlflowSettings, version: str, note: str) -> None:
    """Point ``champion`` at ``version`` and record why on the version."""
    from mlflow import MlflowClient

    client = MlflowClient()
    client.set_registered_model_alias(settings.model_name, CHAMPION, version)
    client.set_model_version_tag(settings.model_name, version, "champion_note", note)
    client.set_model_version_tag(
        settings.model_name, version, "champion_since", pd.Timestamp.now(tz="UTC").isoformat()
    )


def rollback(settings: MlflowSettings, version: str) -> str:
    """Point ``champion`` at a given version; returns the previous champion (or 'none')."""
    configure(settings)
    resolve_version(settings, version=version)  # raises LookupError if unknown
    try:
        previous = str(resolve_version(settings, alias=CHAMPION).version)
    except LookupError:
        previous = "none"
    set_champion(settings, str(version), f"rollback from v{previous}")
    return previous


@dataclass(frozen=True)
class _Outcome:
    """Figures of the versions compared, ready for a Comparison."""

    figures: dict[str, dict[str, float]]  # role -> metric -> value
    n_labelled: int
    better: bool | None  # None: no champion to compare with
    verdict: str
    extra: dict[str, Any]


def _inspected(
    versions: dict[str, RiskModel],
    declarations: pd.DataFrame,
    outcomes: pd.DataFrame,
    options: PromoteSettings,
    metric: str,
    data_dir: Path,
) -> _Outcome:
    rows, _, _ = newest_window(declarations, outcomes, options.window_days)
    if len(rows) == 0:
        raise ValueError(
            f"no inspected items in the newest {options.window_days} days of {data_dir}"
        )
    figures = {r: evaluate_bundle(m, declarations, outcomes, rows) for r, m in versions.items()}
    if "champion" not in figures:
        return _Outcome(figures, len(rows), None, "", {})
    new, old = figures["challenger"][metric], figures["champion"][metric]
    better = new > old + options.min_delta
    verdict = (
        f"challenger {'better' if better else 'not better'} on {metric} ({new:.4f} vs {old:.4f})"
    )
    return _Outcome(figures, len(rows), better, verdict, {})


def required_sample(data_dir: Path, declarations: pd.DataFrame) -> ControlSample:
    """The folder's control sample; a ValueError saying why when it has none."""
    sample = control_sample(data_dir, declarations)
    if sample is None:
        raise ValueError(
            f"{data_dir} has no control sample: neither decisions.parquet with propensities "
            "(customs-risk store export) nor a generated world's legacy record (truth.parquet); "
            "--estimator inspected compares on the inspected items instead (biased toward the "
            "model that selected them)"
        )
    return sample


def estimate_window(
    data_dir: Path,
    declarations: pd.DataFrame,
    outcomes: pd.DataFrame,
    keys: list[np.ndarray],
    options: PromoteSettings,
    world: WorldConfig | None = None,
    sample: ControlSample | None = None,
) -> tuple[RankingEstimates, ControlSample]:
    """The control estimates of rankings of the newest window's items (``keys``: one array per
    ranking over the rows of :func:`window_mask`), with the truth-based figures of a generated
    world (detection table of ``world``, default parameters when None)."""
    sample = sample if sample is not None else required_sample(data_dir, declarations)
    in_window, _, _ = window_mask(declarations, options.window_days)
    rows = np.flatnonzero(in_window)
    labels = label_rows(declarations.iloc[rows].reset_index(drop=True), outcomes)
    member = sample.member[rows] & labels.inspected  # an inspection without a result: left out
    if not member.any():
        raise ValueError(f"no control-sample items in the newest {options.window_days} days")
    est = estimate_rankings(
        keys,
        np.where(member, sample.weights()[rows], 0.0),
        labels.fraud,
        labels.revenue,
        rate=options.rate,
        resamples=options.resamples,
        seed=options.seed,
        expected=_expected(data_dir, declarations.iloc[rows], sample, rows, world),
        clusters=declarations["declaration_id"].to_numpy()[rows],
    )
    return est, sample


def _control(
    versions: dict[str, RiskModel],
    declarations: pd.DataFrame,
    outcomes: pd.DataFrame,
    options: PromoteSettings,
    metric: str,
    data_dir: Path,
    world: WorldConfig | None,
) -> _Outcome:
    sample = required_sample(data_dir, declarations)  # before the features: fail fast
    rows = np.flatnonzero(window_mask(declarations, options.window_days)[0])
    roles = list(versions)
    keys = [ranking_key(versions[r], declarations, outcomes, rows) for r in roles]
    est, _ = estimate_window(data_dir, declarations, outcomes, keys, options, world, sample)
    figures = {r: {k: est.estimates[k][j].value for k in METRICS} for j, r in enumerate(roles)}
    extra = _control_extra(est, roles, sample, options.rate)
    if "champion" not in versions:
        return _Outcome(figures, est.n_sample, None, "", extra)
    diff = est.differences[metric]
    deciding = diff.low if options.rule == "interval" else diff.value
    better = bool(deciding > options.min_delta)  # NaN (no sample item in a top set): not better
    what = "the interval of the difference" if options.rule == "interval" else "the estimate"
    verdict = (
        f"challenger {'better' if better else 'not better'} on {metric} at "
        f"{100 * options.rate:g} % by {what} (difference {diff.text(signed=True)}, "
        f"min_delta {options.min_delta:g})"
    )
    return _Outcome(figures, est.n_sample, better, verdict, extra)


def _expected(
    data_dir: Path,
    window: pd.DataFrame,
    sample: ControlSample,
    rows: np.ndarray,
    world: WorldConfig | None,
) -> tuple[np.ndarray, np.ndarray] | None:
    """Expected found and recovered revenue per window item from a generated world's truth."""
    path = Path(data_dir) / TRUTH_FILE
    if not path.exists():
        return None
    world = world or WorldConfig()
    truth = pd.read_parquet(
        path, columns=["declaration_id", "item_no", "is_offence", "fraud_type", "true_revenue"]
    )
    return expected_outcomes(truth, window, sample.red_share[rows], world.legacy.detection)


def _control_extra(
    est: RankingEstimates, roles: list[str], sample: ControlSample, rate: float
) -> dict[str, Any]:
    """The control estimator's fields of a Comparison."""
    rows = {role: {k: est.estimates[k][j] for k in METRICS} for j, role in enumerate(roles)}
    if est.differences:
        rows["difference"] = dict(est.differences)
    has_truth = est.estimates[METRICS[0]][0].truth is not None
    return {
        "estimator": "control",
        "sample": sample.source,
        "rate": rate,
        "n_items": est.n_items,
        "n_top": est.n_top,
        "in_top": dict(zip(roles, est.n_sample_top, strict=True)),
        "difference": {k: e.value for k, e in est.differences.items()},
        "intervals": {r: {k: [e.low, e.high] for k, e in m.items()} for r, m in rows.items()},
        "truth": {r: {k: float(e.truth or 0.0) for k, e in m.items()} for r, m in rows.items()}
        if has_truth
        else {},
    }


def promote(
    settings: MlflowSettings,
    data_dir: Path,
    options: PromoteSettings | None = None,
    force: bool = False,
    world: WorldConfig | None = None,
) -> Comparison:
    """Compare challenger and champion on the newest window; move champion if better.

    ``world``: the parameters a generated world was made with (its detection table gives the
    truth-based figures; default parameters when None)."""
    options = options or PromoteSettings()
    configure(settings)
    allowed = METRICS if options.estimator == "control" else COMPARED
    metric = options.metric or allowed[0]
    if metric not in allowed:
        raise ValueError(
            f"metric must be one of {allowed} with --estimator {options.estimator}, got {metric!r}"
        )
    challenger_mv = resolve_version(settings, alias=CHALLENGER)
    try:
        champion_mv = resolve_version(settings, alias=CHAMPION)
    except LookupError:
        champion_mv = None
    same = champion_mv is not None and str(champion_mv.version) == str(challenger_mv.version)
    declarations, outcomes = load_training_data(data_dir)
    _, start, end = window_mask(declarations, options.window_days)
    versions = {"challenger": load_registered(settings, version=challenger_mv.version)}
    if champion_mv is not None and not same:
        versions["champion"] = load_registered(settings, version=champion_mv.version)
    if options.estimator == "control":
        result = _control(versions, declarations, outcomes, options, metric, data_dir, world)
    else:
        result = _inspected(versions, declarations, outcomes, options, metric, data_dir)
    if champion_mv is None:
        promoted, reason = True, "no champion yet: the challenger becomes champion"
    elif same:
        promoted, reason = False, "the challenger is already the champion"
    else:
        promoted, reason = bool(result.better) or force, result.verdict
        if force and not result.better:
            reason += ": promoted anyway (--force)"
    if promoted and not same:
        set_champion(settings, str(challenger_mv.version), reason)
        reason += f"; champion -> v{challenger_mv.version}"
    elif not promoted:
        reason += "; champion unchanged"
    return Comparison(
        window_start=str(start.date()),
        window_end=str(end.date()),
        n_labelled=result.n_labelled,
        metric=metric,
        challenger_version=str(challenger_mv.version),
        champion_version=None if champion_mv is None else str(champion_mv.version),
        challenger=result.figures["challenger"],
        champion=result.figures.get("champion"),
        promoted=promoted,
        reason=reason,
        **result.extra,
    )
