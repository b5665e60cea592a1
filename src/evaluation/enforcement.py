"""Law-enforcement evaluation per office, district or headquarters, from the outcome and decision
records only (never the truth).

Per unit of the level (``evaluation.units``):

- items and declarations; inspections (outcome rows) by the channel applied: red, orange and
  green (post-release verification), each as a rate of the items and with its hit rate
  (``fraud_found``); recovered duty in all and per inspection (unknown amounts left out);
- **lift over the control group**: the hit rate of the unit's targeted inspections (sent by a
  rule, profile or the model for certain: propensity 1) over that of its random-control
  inspections (only the draw sent them: propensity below 1, weighted by 1 / propensity), with a
  95 % interval from the Taylor linearisation of the log ratio over declarations (the items of
  a declaration are selected and offend together); missing where the control found nothing;
- **overrides**: inspections whose recommended channel differs from the channel applied (the
  outcome's ``recommended_channel``, else the decision record's channel), their share of the
  inspections and the most frequent reason;
- **release of high-risk items**: of the inspected items recommended red or orange, those
  overridden down or cleared with no finding;
- **the funnel test** (``evaluation.funnel``) on the hits of the items recommended red or
  orange, indirectly standardised: each such inspection is expected to find what the
  inspections of its stratum find in the other units (leave one out: a large office does not
  set its own standard), the strata being recommended channel x what selected it
  (``selected_by`` or the legacy rule) x HS chapter (chapters with fewer than ``min_stratum``
  inspections in a channel x selection pooled), so a unit is judged on its results, not on its
  mix. Judging by the recommended channel makes a downgrade count against the unit that made
  it. Flags: ``low`` (finds less than its mix predicts), ``high``, or "". Districts and
  headquarters carry their offices' overdispersion (too few of them to estimate their own).

docs/enforcement.md has the columns and the figures measured on generated worlds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from customs_risk.data.contracts import CHANNELS, KEY
from customs_risk.evaluation.decision_record import DecisionRecord
from customs_risk.evaluation.funnel import FunnelResult, FunnelSettings, funnel_test
from customs_risk.evaluation.units import level_column, with_levels

HIGH_RISK: tuple[str, ...] = ("red", "orange")
_SEVERITY = {"green": 0, "orange": 1, "red": 2}
COLUMNS: tuple[str, ...] = (
    "level",
    "unit",
    "office_id",
    "district_id",
    "items",
    "declarations",
    "inspections",
    "inspection_rate",
    *(f"{kind}_{c}" for kind in ("inspections", "inspection_rate") for c in CHANNELS),
    "hits",
    "hit_rate",
    *(f"hit_rate_{c}" for c in CHANNELS),
    "recovered_revenue",
    "recovered_per_inspection",
    "targeted_inspections",
    "targeted_hit_rate",
    "control_inspections",
    "control_hit_rate",
    "lift",
    "lift_low",
    "lift_high",
    "small_control",
    "overrides",
    "override_share",
    "top_override_reason",
    "high_risk_inspected",
    "high_risk_released",
    "released_by_override",
    "high_risk_release_rate",
    "expected",
    "observed",
    "ratio",
    "standardised_hit_rate",
    "flag_statistic",
    "lower_limit",
    "upper_limit",
    "flag",
    "overdispersion",
    "between_variance",
)


@dataclass(frozen=True)
class EnforcementSettings:
    """How the units are judged."""

    min_stratum: int = 20  # inspections a chapter needs in a stratum to stand alone
    min_control: int = 30  # control inspections below which the lift is marked small
    confidence: float = 0.95  # of the lift interval
    leave_one_out: bool = True  # a unit's expectation from the other units' strata
    funnel: FunnelSettings = field(default_factory=FunnelSettings)


@dataclass(frozen=True)
class EnforcementResult:
    """``table``: one row per unit (``COLUMNS``); ``funnel``: the test (its ``curve`` has the
    control limits of the ratio over expected hits, and ``inspections``, expected hits over
    ``reference_rate``, the hit rate of every inspection recommended red or orange);
    ``unplaced``: outcome rows of items not among the declarations (no unit to count them
    for)."""

    table: pd.DataFrame
    funnel: FunnelResult
    reference_rate: float
    unplaced: int


@dataclass(frozen=True)
class _Items:
    """Per declaration row: its unit, declaration and what the records say about it."""

    unit: np.ndarray
    office: np.ndarray  # the office's code (the unit at office level)
    cluster: np.ndarray
    inspected: np.ndarray
    applied: pd.Series  # channel applied (outcome), null where not inspected
    recommended: pd.Series  # outcome's recommended_channel, else the decision's, else applied
    found: np.ndarray
    revenue: np.ndarray  # recovered, NaN where unknown or not inspected
    reason: np.ndarray  # override_reason (object, None where none)


def _severity(channel: pd.Series) -> np.ndarray:
    """Green 0, orange 1, red 2 per row (NaN: none)."""
    out = np.full(len(channel), np.nan)
    for name, rank in _SEVERITY.items():
        out[(channel == name).to_numpy(dtype=bool, na_value=False)] = rank
    return out


def _outcome_rows(declarations: pd.DataFrame, outcomes: pd.DataFrame) -> pd.DataFrame:
    columns = ["channel", "fraud_found", "recovered_revenue", "recommended_channel"]
    columns.append("override_reason")
    right = outcomes.drop_duplicates(KEY, keep="first")  # the store's rule: the first write wins
    right = right.assign(**{c: None for c in columns if c not in right.columns})
    right = right[[*KEY, *columns]].astype({"declaration_id": "str", "item_no": "int64"})
    left = declarations[KEY].astype({"declaration_id": "str", "item_no": "int64"})
    return left.merge(right, on=KEY, how="left", validate="one_to_one")


def _count(
    unit: np.ndarray, mask: np.ndarray, n: int, weights: np.ndarray | None = None
) -> np.ndarray:
    """Rows of ``mask`` (or their ``weights``) summed per unit."""
    w = None if weights is None else weights[mask]
    return np.bincount(unit[mask], weights=w, minlength=n).astype(np.float64)


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1.0), np.nan)


def _codes(*columns: pd.Series | np.ndarray) -> np.ndarray:
    """One integer code per distinct combination of the columns."""
    code = np.zeros(len(columns[0]), dtype=np.int64)
    for values in columns:
        part, names = pd.factorize(values, use_na_sentinel=False)
        code = code * len(names) + part
    return pd.factorize(code)[0]


def _strata(
    recommended: pd.Series, selection: np.ndarray, chapter: pd.Series, min_stratum: int
) -> np.ndarray:
    """Stratum code per row: recommended x selection x chapter, rare chapters pooled."""
    base = _codes(recommended, selection)
    cell = _codes(base, chapter)
    small = np.bincount(cell)[cell] < min_stratum
    return _codes(base, np.where(small, -1, pd.factorize(chapter)[0]))


def _stratum_rates(
    stratum: np.ndarray, unit: np.ndarray, found: np.ndarray, n_units: int, leave_one_out: bool
) -> np.ndarray:
    """Per row, the hit rate of its stratum: over the other units (``leave_one_out``; where no
    other unit has the stratum, over all) or over all units."""
    hits = np.bincount(stratum, weights=found.astype(np.float64))
    cases = np.bincount(stratum).astype(np.float64)
    pooled = _ratio(hits, cases)[stratum]
    if not leave_one_out:
        return pooled
    pair = stratum * n_units + unit
    own_hits = np.bincount(pair, weights=found.astype(np.float64))[pair]
    own_cases = np.bincount(pair).astype(np.float64)[pair]
    others = _ratio(hits[stratum] - own_hits, cases[stratum] - own_cases)
    return np.where(np.isfinite(others), others, pooled)


def _lift(
    unit: np.ndarray,
    cluster: np.ndarray,
    found: np.ndarray,
    targeted: np.ndarray,
    control: np.ndarray,
    weight: np.ndarray,
    n_units: int,
    confidence: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lift and its interval per unit: exp(log L +- z sd), sd from the linearised log ratio
    (per declaration: y_t/Y_t - x_t/X_t - y_c/Y_c + x_c/X_c, summed over its items)."""
    from scipy.stats import norm

    y_t = _count(unit, targeted & found, n_units)
    x_t = _count(unit, targeted, n_units)
    y_c = _count(unit, control & found, n_units, weight)
    x_c = _count(unit, control, n_units, weight)
    lift = _ratio(_ratio(y_t, x_t), _ratio(y_c, x_c))
    lift = np.where(y_c > 0, lift, np.nan)
    rows = targeted | control
    with np.errstate(divide="ignore", invalid="ignore"):
        u = unit[rows]
        score = (
            np.where(targeted & found, 1.0, 0.0)[rows] / y_t[u]
            - np.where(targeted, 1.0, 0.0)[rows] / x_t[u]
            - np.where(control & found, weight, 0.0)[rows] / y_c[u]
            + np.where(control, weight, 0.0)[rows] / x_c[u]
        )
    score = np.nan_to_num(score, nan=0.0, posinf=0.0, neginf=0.0)
    frame = pd.DataFrame({"unit": u, "cluster": cluster[rows], "score": score})
    per = frame.groupby(["unit", "cluster"], sort=False)["score"].sum().reset_index()
    k = np.bincount(per["unit"], minlength=n_units).astype(np.float64)
    ss = np.bincount(per["unit"], weights=per["score"] ** 2, minlength=n_units)
    sd = np.sqrt(_ratio(k, k - 1) * ss)
    z = float(norm.ppf(0.5 + confidence / 2.0))
    ok = np.isfinite(lift) & (lift > 0) & (y_t > 0)
    low = np.where(ok, lift * np.exp(-z * sd), np.nan)
    high = np.where(ok, lift * np.exp(z * sd), np.nan)
    return lift, low, high


def _top_reason(unit: np.ndarray, reason: np.ndarray, mask: np.ndarray, n_units: int) -> np.ndarray:
    out = np.full(n_units, None, dtype=object)
    given = mask & pd.notna(reason)
    if given.any():
        counts = pd.DataFrame({"unit": unit[given], "reason": reason[given]}).value_counts()
        ranked = counts.reset_index().sort_values(
            ["unit", "count", "reason"], ascending=[True, False, True]
        )
        first = ranked.drop_duplicates("unit")
        out[first["unit"].to_numpy()] = first["reason"].to_numpy(dtype=object)
    return out


def _items(
    declarations: pd.DataFrame,
    outcomes: pd.DataFrame,
    record: DecisionRecord,
    districts: pd.DataFrame | None,
    column: str,
) -> tuple[_Items, np.ndarray, pd.DataFrame]:
    """The rows, the unit names and the rows' levels (office_id, district_id, headquarters)."""
    levels = with_levels(declarations[[*KEY, "office_id"]], districts)
    unit, names = pd.factorize(levels[column].astype("str"), sort=True)
    office = pd.factorize(levels["office_id"].astype("str"), sort=True)[0]
    merged = _outcome_rows(declarations, outcomes)
    applied = merged["channel"].astype("str")
    inspected = applied.notna().to_numpy()
    found = merged["fraud_found"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    decided = pd.Series(record.channel, dtype="str", index=merged.index)
    items = _Items(
        unit=unit,
        office=office,
        cluster=pd.factorize(declarations["declaration_id"])[0],
        inspected=inspected,
        applied=applied,
        recommended=merged["recommended_channel"].astype("str").fillna(decided).fillna(applied),
        found=inspected & found,
        revenue=pd.to_numeric(merged["recovered_revenue"], errors="coerce").to_numpy(np.float64),
        reason=merged["override_reason"].astype("object").to_numpy(dtype=object),
    )
    return items, np.asarray(names, dtype=object), levels


def _activity(r: _Items, n: int) -> dict[str, np.ndarray]:
    """Items, declarations, inspections and hits by channel, recovered duty."""
    items = np.bincount(r.unit, minlength=n).astype(np.float64)
    pairs = pd.DataFrame({"unit": r.unit, "cluster": r.cluster}).drop_duplicates()
    inspections = _count(r.unit, r.inspected, n)
    hits = _count(r.unit, r.found, n)
    out = {
        "items": items.astype(np.int64),
        "declarations": np.bincount(pairs["unit"], minlength=n).astype(np.int64),
        "inspections": inspections.astype(np.int64),
        "inspection_rate": _ratio(inspections, items),
        "hits": hits.astype(np.int64),
        "hit_rate": _ratio(hits, inspections),
    }
    for c in CHANNELS:
        mask = r.inspected & (r.applied == c).to_numpy(dtype=bool, na_value=False)
        count = _count(r.unit, mask, n)
        out[f"inspections_{c}"] = count.astype(np.int64)
        out[f"inspection_rate_{c}"] = _ratio(count, items)
        out[f"hit_rate_{c}"] = _ratio(_count(r.unit, mask & r.found, n), count)
    known = r.inspected & np.isfinite(r.revenue)
    recovered = _count(r.unit, known, n, np.nan_to_num(r.revenue))
    with_amount = _count(r.unit, known, n)
    out["recovered_revenue"] = np.where(with_amount > 0, recovered, np.nan)
    out["recovered_per_inspection"] = _ratio(recovered, with_amount)
    return out


def _control(
    r: _Items, record: DecisionRecord, n: int, s: EnforcementSettings
) -> dict[str, np.ndarray]:
    """Targeted and control hit rates, the lift and its interval."""
    targeted = r.inspected & record.targeted
    control = r.inspected & record.control
    n_targeted, n_control = _count(r.unit, targeted, n), _count(r.unit, control, n)
    lift, low, high = _lift(
        r.unit, r.cluster, r.found, targeted, control, record.weight, n, s.confidence
    )
    return {
        "targeted_inspections": n_targeted.astype(np.int64),
        "targeted_hit_rate": _ratio(_count(r.unit, targeted & r.found, n), n_targeted),
        "control_inspections": n_control.astype(np.int64),
        "control_hit_rate": _ratio(
            _count(r.unit, control & r.found, n, record.weight),
            _count(r.unit, control, n, record.weight),
        ),
        "lift": lift,
        "lift_low": low,
        "lift_high": high,
        "small_control": n_control < s.min_control,
    }


def _high_risk(r: _Items) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows inspected and recommended red or orange; rows overridden; rows overridden down."""
    applied, recommended = _severity(r.applied), _severity(r.recommended)
    overridden = r.inspected & (applied != recommended)
    down = overridden & (applied < recommended)
    high = r.inspected & r.recommended.isin(HIGH_RISK).to_numpy(dtype=bool, na_value=False)
    return high, overridden, down


def _overrides(r: _Items, n: int) -> dict[str, np.ndarray]:
    """Overrides and the release of high-risk items."""
    high, overridden, down = _high_risk(r)
    overrides = _count(r.unit, overridden, n)
    released = high & (down | ~r.found)
    n_high = _count(r.unit, high, n)
    return {
        "overrides": overrides.astype(np.int64),
        "override_share": _ratio(overrides, _count(r.unit, r.inspected, n)),
        "top_override_reason": _top_reason(r.unit, r.reason, overridden, n),
        "high_risk_inspected": n_high.astype(np.int64),
        "high_risk_released": _count(r.unit, released, n).astype(np.int64),
        "released_by_override": _count(r.unit, high & down, n).astype(np.int64),
        "high_risk_release_rate": _ratio(_count(r.unit, released, n), n_high),
    }


def _flags(
    r: _Items,
    record: DecisionRecord,
    chapter: pd.Series,
    n: int,
    s: EnforcementSettings,
    above_offices: bool,
) -> tuple[dict[str, np.ndarray], FunnelResult, float]:
    """The funnel test of the hits of the inspections recommended red or orange. Above the
    offices, a unit's variance carries its offices' spread (a sum of offices each with
    variance phi V + tau^2 E^2), since a few districts cannot estimate it themselves."""
    high, _, _ = _high_risk(r)
    pop = np.flatnonzero(high)
    stratum = _strata(
        r.recommended.iloc[pop], record.selection[pop], chapter.iloc[pop], s.min_stratum
    )
    found = r.found[pop]
    p = _stratum_rates(stratum, r.unit[pop], found, n, s.leave_one_out)
    expected = np.bincount(r.unit[pop], weights=p, minlength=n)
    variance = np.bincount(r.unit[pop], weights=p * (1.0 - p), minlength=n)
    phi = 1.0
    if above_offices:
        m = int(r.office.max()) + 1 if len(r.office) else 0
        q = _stratum_rates(stratum, r.office[pop], found, m, s.leave_one_out)
        offices = funnel_test(
            _count(r.office, high & r.found, m),
            np.bincount(r.office[pop], weights=q, minlength=m),
            np.bincount(r.office[pop], weights=q * (1.0 - q), minlength=m),
            s.funnel,
        )
        unit_of_office = np.zeros(m, dtype=np.int64)
        unit_of_office[r.office] = r.unit
        share = np.bincount(r.office[pop], weights=p, minlength=m)  # the unit's E per office
        extra = np.bincount(unit_of_office, weights=share**2, minlength=n)
        phi = offices.phi
        variance = phi * variance + offices.tau2 * extra
    funnel = funnel_test(_count(r.unit, high & r.found, n), expected, variance, s.funnel)
    reference = float(found.mean()) if len(pop) else float("nan")
    t = funnel.table
    out = {c: t[c].to_numpy() for c in ("expected", "observed", "ratio")}
    out["standardised_hit_rate"] = t["ratio"].to_numpy() * reference
    out |= {c: t[c].to_numpy() for c in ("flag_statistic", "lower_limit", "upper_limit")}
    out["flag"] = t["flag"].to_numpy(dtype=object)
    out["overdispersion"] = np.full(n, phi * funnel.phi)
    out["between_variance"] = np.full(n, funnel.tau2)
    return out, funnel, reference


def enforcement(
    declarations: pd.DataFrame,
    outcomes: pd.DataFrame,
    record: DecisionRecord,
    districts: pd.DataFrame | None,
    level: str = "office",
    settings: EnforcementSettings | None = None,
) -> EnforcementResult:
    """The evaluation of every unit of ``level`` with items among ``declarations`` (``record``
    aligned with their rows; ``districts`` the office -> district mapping, or None)."""
    s = settings or EnforcementSettings()
    column = level_column(level)
    r, names, levels = _items(declarations, outcomes, record, districts, column)
    n = len(names)
    chapter = declarations["hs_code"].astype("str").str.slice(0, 2)
    flags, funnel, reference = _flags(r, record, chapter, n, s, level != "office")
    table = pd.DataFrame(
        {
            "level": level,
            "unit": pd.array(names, dtype="str"),
            **_activity(r, n),
            **_control(r, record, n, s),
            **_overrides(r, n),
            **flags,
        }
    )
    table["office_id"] = table["unit"] if level == "office" else pd.array([None] * n, dtype="str")
    table["district_id"] = pd.array([None] * n, dtype="str")
    if level != "headquarters":
        first = levels.drop_duplicates(column)
        district = dict(zip(first[column].astype("str"), first["district_id"], strict=True))
        table["district_id"] = table["unit"].map(district).astype("str")
    for c in ("level", "top_override_reason", "flag"):
        table[c] = table[c].astype("str")
    unplaced = int(len(outcomes.drop_duplicates(KEY)) - r.inspected.sum())
    curve = funnel.curve.assign(inspections=funnel.curve["expected"] / reference)
    funnel = FunnelResult(
        funnel.table, curve, funnel.phi, funnel.phi_estimate, funnel.tau2, funnel.z_limit
    )
    return EnforcementResult(table[list(COLUMNS)], funnel, reference, unplaced)
