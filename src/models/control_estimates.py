"""Inverse-propensity estimates of a ranking's precision and revenue share, from the items whose
inspection probability is known (the control sample), with bootstrap intervals.

**The control sample** (:func:`control_sample`). An item is in it when it was inspected (red or
orange) and its inspection probability ``propensity``, given the deterministic part of the
decision, is known; it stands for ``1 / propensity`` items. The random control is what makes that
probability positive for every item, also for those no rule or model would inspect. Sources:

* ``decisions.parquet`` (``customs-risk store export``): the propensities the decision kernel
  recorded (docs/selection.md): 1 where a profile, the model or the fail-safe sent the item to
  inspection, the random share where only the control draw did. A random-control row that the
  model would have inspected anyway has propensity 1, not the random share, so the sample is
  every inspected item with its own propensity, not the random rows alone (those, weighted by
  their recorded propensity, would under-count the items the model ranks high).
* a generated world's legacy record (``truth.parquet``, its ``legacy_rule`` and ``legacy_channel``
  only): the legacy random rule picks each declaration no rule selected with one probability
  (``legacy.random_rate``), read back as the share of those declarations it picked over the
  whole record. Items a rule selected count with propensity 1: the rule draws are independent of
  offences and detection, so given them the rule items are a census and the random picks a
  uniform sample of the rest. Post-release audits (green) are left out: they detect with other
  probabilities.

**The estimates** (:func:`estimate_rankings`), for a ranking of all items of a window and its top
set (the first ``ceil(rate * n)`` items): precision = sum(w * found) / sum(w) over the sample
items in the top set (Hajek, self-normalised); revenue share = sum(w * recovered revenue) over
those / the same sum over the whole sample. The interval is the percentile bootstrap over the
sample's declarations (drawn with replacement with all their sample items: the legacy random rule
picks whole declarations, and the items of a declaration offend together; the same resamples for
every ranking, so the difference of two rankings has its own interval).

**The truth-based figure** (generated worlds, :func:`expected_outcomes`): the same quantities on
every item of the top set from ``truth.parquet``. Detection is imperfect, so what the estimate
targets is "an offence is found when the item is inspected", not "the item is an offence": an item
counts ``is_offence * P(detected | fraud type, channel)`` with the world's detection table and
the channel mix the design gives it (its recorded channel where the inspection was certain, the
random control's red/orange mix otherwise), and recovers that times its ``true_revenue``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from customs_risk.data.contracts import DECISIONS_FILE, KEY, TRUTH_FILE
from customs_risk.data.world.inspection import RULES
from customs_risk.models.metrics import top_mask

METRICS: tuple[str, ...] = ("precision", "revenue_share")
INSPECTED_CHANNELS: tuple[str, ...] = ("red", "orange")
_BLOCK = 4_000_000  # resample counts held at once (resamples x sample items)


@dataclass(frozen=True)
class ControlSample:
    """Per declaration row (in the order given): the propensity of its inspection (NaN outside
    the sample) and P(red | inspected) under the design (for the truth-based figure)."""

    propensity: np.ndarray
    red_share: np.ndarray
    source: str

    @property
    def member(self) -> np.ndarray:
        """Rows in the sample."""
        return np.isfinite(self.propensity) & (self.propensity > 0)

    def take(self, rows: np.ndarray) -> ControlSample:
        """The sample of a subset of the declaration rows (a boolean mask or positions)."""
        return ControlSample(self.propensity[rows], self.red_share[rows], self.source)

    def weights(self, cap: float = math.inf) -> np.ndarray:
        """``min(1 / propensity, cap)`` in the sample, 0 outside it."""
        safe = np.where(self.member, self.propensity, 1.0)
        return np.where(self.member, np.minimum(1.0 / safe, cap), 0.0)


def _aligned(declarations: pd.DataFrame, frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """``columns`` of ``frame`` in the order of the declaration rows (missing rows: NaN)."""
    left = pd.DataFrame(
        {
            "declaration_id": declarations["declaration_id"].astype("str").to_numpy(),
            "item_no": declarations["item_no"].astype("int64").to_numpy(),
        }
    )
    right = frame[[*KEY, *columns]].assign(
        declaration_id=frame["declaration_id"].astype("str"),
        item_no=frame["item_no"].astype("int64"),
    )
    return left.merge(right, on=KEY, how="left", validate="one_to_one")


def decision_propensities(data_dir: Path, declarations: pd.DataFrame) -> ControlSample | None:
    """The sample from ``decisions.parquet`` (a store export; None without the file): items
    decided red or orange, with the recorded propensity; an item decided again counts with its
    latest decision (its last row: the store exports decisions in the order they were made)."""
    path = Path(data_dir) / DECISIONS_FILE
    if not path.exists():
        return None
    decisions = pd.read_parquet(path)
    missing = sorted({*KEY, "channel", "propensity"} - set(decisions.columns))
    if missing:
        raise ValueError(f"{path} has no column {', '.join(missing)}: no propensities to weight by")
    if "propensity_red" not in decisions.columns:
        decisions = decisions.assign(propensity_red=np.nan)
    latest = decisions.drop_duplicates(KEY, keep="last")
    rows = _aligned(declarations, latest, ["channel", "propensity", "propensity_red"])
    p = rows["propensity"].to_numpy(dtype=np.float64, na_value=np.nan)
    p_red = rows["propensity_red"].to_numpy(dtype=np.float64, na_value=np.nan)
    inspected = rows["channel"].isin(INSPECTED_CHANNELS).to_numpy() & (p > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        red_share = np.where(p > 0, p_red / p, np.nan)
    source = f"{DECISIONS_FILE}: items decided red or orange, with their propensities"
    return ControlSample(np.where(inspected, p, np.nan), red_share, source)


def legacy_propensities(data_dir: Path, declarations: pd.DataFrame) -> ControlSample | None:
    """The sample from a generated world's legacy record (None without ``truth.parquet``):
    rule selections with propensity 1, random-rule picks with the rule's share of the
    declarations no rule selected. Reads only the record's columns, never the truth."""
    path = Path(data_dir) / TRUTH_FILE
    if not path.exists():
        return None
    record = pd.read_parquet(path, columns=[*KEY, "legacy_rule", "legacy_channel"])
    rule = record["legacy_rule"].astype("str")
    by_rule = rule.isin(RULES).to_numpy()
    picked = (rule == "random").to_numpy()
    red = (record["legacy_channel"].astype("str") == "red").to_numpy()
    if not picked.any():
        raise ValueError(f"{path}: the legacy record has no random-rule picks")
    # the rule draws whole declarations: count declarations, not items
    first = ~record["declaration_id"].duplicated().to_numpy()
    share = (picked & first).sum() / (~by_rule & first).sum()
    random_red = (red & picked & first).sum() / (picked & first).sum()
    record = record.assign(
        propensity=np.where(by_rule, 1.0, np.where(picked, share, np.nan)),
        red_share=np.where(by_rule, red.astype(np.float64), random_red),
    )
    rows = _aligned(declarations, record, ["propensity", "red_share"])
    source = (
        f"legacy record of a generated world: rule selections, propensity 1; random-rule "
        f"picks, propensity {share:.4f}"
    )
    return ControlSample(
        rows["propensity"].to_numpy(dtype=np.float64),
        rows["red_share"].to_numpy(dtype=np.float64),
        source,
    )


def control_sample(data_dir: Path, declarations: pd.DataFrame) -> ControlSample | None:
    """The control sample of a dataset folder: from ``decisions.parquet`` where there is one,
    else from a generated world's legacy record, else None."""
    sample = decision_propensities(data_dir, declarations)
    return sample if sample is not None else legacy_propensities(data_dir, declarations)


def expected_outcomes(
    truth: pd.DataFrame,
    declarations: pd.DataFrame,
    red_share: np.ndarray,
    detection: Mapping[str, Mapping[str, float]],
) -> tuple[np.ndarray, np.ndarray]:
    """Per declaration row: the probability that inspecting it finds an offence and the revenue
    that recovers on average (truth columns, the world's detection table per channel and fraud
    type, the design's share of red among its inspections)."""
    rows = _aligned(declarations, truth, ["is_offence", "fraud_type", "true_revenue"])
    types = rows["fraud_type"].astype("object")
    d_red = types.map(dict(detection["red"])).astype("float64").fillna(0.0).to_numpy()
    d_orange = types.map(dict(detection["orange"])).astype("float64").fillna(0.0).to_numpy()
    offence = rows["is_offence"].astype("float64").to_numpy(na_value=np.nan)
    found = offence * (red_share * d_red + (1.0 - red_share) * d_orange)
    revenue = rows["true_revenue"].to_numpy(dtype=np.float64, na_value=np.nan)
    return found, found * revenue


@dataclass(frozen=True)
class Estimate:
    """A point estimate, its bootstrap interval and, on a generated world, the truth-based
    figure."""

    value: float
    low: float
    high: float
    truth: float | None = None

    def covers(self, x: float) -> bool:
        """Whether ``x`` lies in the interval (bounds included)."""
        return bool(self.low <= x <= self.high)

    def text(self, signed: bool = False) -> str:
        """``value [low, high]``."""
        f = "{:+.4f}" if signed else "{:.4f}"
        return f"{f.format(self.value)} [{f.format(self.low)}, {f.format(self.high)}]"


@dataclass(frozen=True)
class RankingEstimates:
    """Estimates per metric and ranking, and of the first ranking minus the second."""

    estimates: dict[str, tuple[Estimate, ...]]
    differences: dict[str, Estimate]
    n_items: int  # items ranked
    n_top: int  # items in each top set
    n_sample: int  # control-sample items among them
    n_sample_top: tuple[int, ...]  # control-sample items in each top set


def _ratios(sums: np.ndarray, m: int) -> dict[str, np.ndarray]:
    """Metric -> (rows, m) from column sums laid out as in :func:`estimate_rankings`."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "precision": sums[:, :m] / sums[:, m : 2 * m],
            "revenue_share": sums[:, 2 * m : 3 * m] / sums[:, 3 * m :],
        }


def bootstrap_sums(columns: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """Column sums of ``resamples`` resamples of the rows (with replacement), in blocks."""
    n = len(columns)
    if n == 0:
        return np.zeros((resamples, columns.shape[1]))
    rng = np.random.default_rng(seed)
    p = np.full(n, 1.0 / n)
    block = max(1, _BLOCK // n)
    sums = []
    for start in range(0, resamples, block):
        counts = rng.multinomial(n, p, size=min(block, resamples - start))
        sums.append(counts.astype(np.float64) @ columns)
    return np.vstack(sums)


def percentile_interval(draws: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bounds per column (resamples without a value left out; all NaN: NaN)."""
    tail = 50.0 * (1.0 - level)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column
        low, high = np.nanpercentile(draws, [tail, 100.0 - tail], axis=0)
    return low, high


def estimate_rankings(
    keys: Sequence[np.ndarray],
    weight: np.ndarray,
    found: np.ndarray,
    revenue: np.ndarray,
    rate: float = 0.05,
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    expected: tuple[np.ndarray, np.ndarray] | None = None,
    clusters: np.ndarray | None = None,
) -> RankingEstimates:
    """Precision and revenue share of the top ``rate`` of each ranking.

    Arrays run over the items of the window: ``keys`` one per ranking (higher first), ``weight``
    1/propensity (0 outside the control sample), ``found`` (0/1) and ``revenue`` (recovered,
    NaN counts as 0) read where the weight is positive; ``expected`` the per-item expected found
    and recovered revenue from the truth (:func:`expected_outcomes`) for the truth-based figures;
    ``clusters`` labels (e.g. the declaration) whose items the bootstrap draws together (None:
    each item alone).
    """
    m = len(keys)
    top = np.stack([top_mask(k, rate) for k in keys]) if m else np.zeros((0, len(weight)), bool)
    sampled = np.asarray(weight, dtype=np.float64) > 0
    w = np.asarray(weight, dtype=np.float64)[sampled]
    y = np.nan_to_num(np.asarray(found, dtype=np.float64)[sampled])
    v = np.nan_to_num(np.asarray(revenue, dtype=np.float64)[sampled])
    t = top[:, sampled].astype(np.float64)
    # rows: sample items; columns: w*y per ranking, w per ranking, w*v per ranking, w*v
    columns = np.concatenate([w * y * t, w * t, w * v * t, (w * v)[None, :]]).T
    point = _ratios(columns.sum(axis=0)[None, :], m)
    if clusters is not None:
        # items of one declaration are drawn, inspected and offend together: resample them as one
        _, codes = np.unique(np.asarray(clusters)[sampled], return_inverse=True)
        grouped = np.zeros((codes.max(initial=-1) + 1, columns.shape[1]))
        np.add.at(grouped, codes, columns)
        columns = grouped
    draws = _ratios(bootstrap_sums(columns, resamples, seed), m)
    truth: dict[str, np.ndarray] = {}
    if expected is not None:
        e_found, e_revenue = (np.asarray(a, dtype=np.float64) for a in expected)
        truth["precision"] = np.array([e_found[top[j]].mean() for j in range(m)])
        truth["revenue_share"] = np.array([e_revenue[top[j]].sum() for j in range(m)])
        truth["revenue_share"] /= e_revenue.sum()
    estimates: dict[str, tuple[Estimate, ...]] = {}
    differences: dict[str, Estimate] = {}
    for metric in METRICS:
        low, high = percentile_interval(draws[metric], level)
        figures = truth.get(metric)
        estimates[metric] = tuple(
            Estimate(
                float(point[metric][0, j]),
                float(low[j]),
                float(high[j]),
                None if figures is None else float(figures[j]),
            )
            for j in range(m)
        )
        if m == 2:
            d_low, d_high = percentile_interval(draws[metric][:, 0] - draws[metric][:, 1], level)
            differences[metric] = Estimate(
                float(point[metric][0, 0] - point[metric][0, 1]),
                float(d_low),
                float(d_high),
                None if figures is None else float(figures[0] - figures[1]),
            )
    return RankingEstimates(
        estimates,
        differences,
        n_items=len(weight),
        n_top=int(top[0].sum()) if m else 0,
        n_sample=int(sampled.sum()),
        n_sample_top=tuple(int(t[j].sum()) for j in range(m)),
    )
