"""Officer-readable texts for every feature the model can use (selection.reasons).

The rules (docs/selection.md, "Reasons"): no feature names and no log values (unit values in money
per kg or per unit against their reference); counts as "X in Y" with X <= Y, a smoothed rate only
as an estimate with the prior; no history is not evidence (a rate, offence or revenue figure over
no inspections is left out); a grade factor that raised the risk score is said with the grade,
the factor and why (``grade_reasons``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from customs_risk.features.config import GradeRule
from customs_risk.features.grades import GRADE_LABELS, GRADES, grade_codes, grade_conditions
from customs_risk.selection.reasons import Over, ReasonTemplate

# columns the texts name goods by (the declared hs_code where the model does not know the HS6)
_GOODS = ("hs6", "hs_code", "origin_country")


# formatting ----------------------------------------------------------------------------------
def _float(value: Any) -> float:
    """A row value as a float (None and non-numbers: NaN)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _money(amount: float) -> str:
    """12,345 / 12.7 / 4.84 / 0.0123: an amount with the digits that matter."""
    size = abs(amount)
    if size >= 100:
        return f"{amount:,.0f}"
    if size >= 10:
        return f"{amount:.1f}"
    return f"{amount:.2f}" if size >= 1 else f"{amount:.3g}"


def _pct(share: float) -> str:
    """0.083 -> '8.3%', 0.25 -> '25%'."""
    percent = share * 100
    return f"{percent:.1f}%" if abs(percent) < 10 else f"{percent:.0f}%"


def _count(n: float, noun: str) -> str:
    """'no offence', '1 offence', '12 offences'."""
    k = int(round(n))
    if k == 0:
        return f"no {noun}"
    return f"{k:,} {noun}" if k == 1 else f"{k:,} {noun}s"


def _days(days: float) -> str:
    whole = int(days)
    if whole < 1:
        return "today"
    return "1 day ago" if whole == 1 else f"{whole:,} days ago"


def _factor(factor: float) -> str:
    return f"{factor:.1f}" if round(factor, 1) == factor else f"{factor:g}"


def _code(code: Any, hs_code: Any, digits: int) -> str:
    """An HS code at ``digits`` from the feature, else from the declared code."""
    if _missing(code):
        code = str(hs_code or "")[:digits] or "unknown"
    return str(code)


def _goods(hs6: Any, hs_code: Any, origin: Any) -> str:
    """'HS 850440 from CN' (the origin left out when not known)."""
    where = "" if _missing(origin) else f" from {origin}"
    return f"HS {_code(hs6, hs_code, 6)}{where}"


# unit values and prices ----------------------------------------------------------------------
_PER = {"kg": "per kg", "unit": "per unit"}
_WITHOUT = {"kg": "no net mass declared", "unit": "no quantity declared"}


def _unit_value(base: str) -> Over:
    """'declared 4.84 per kg, 62% below the reference 12.7 for HS 850440 from CN', from the
    row's log unit value and log reference (the text of the value, its reference, its deviation
    and its z-score alike)."""
    per = _PER[base]

    def text(declared: Any, reference: Any, *goods: Any) -> str:
        logged, ref = _float(declared), _float(reference)
        if not math.isfinite(logged):
            return f"{_WITHOUT[base]}: value {per} unknown"
        shown = f"declared {_money(math.exp(logged))} {per}"
        if not math.isfinite(ref):
            return f"{shown}, no reference price yet for {_goods(*goods)}"
        ratio = math.exp(logged - ref)
        side = "below" if ratio < 1 else "above"
        return (
            f"{shown}, {abs(1.0 - ratio) * 100:.0f}% {side} the reference "
            f"{_money(math.exp(ref))} for {_goods(*goods)}"
        )

    return Over(text, f"log_uv_{base}", f"uv_{base}_ref", *_GOODS)


def _spread(base: str) -> Over:
    def text(value: Any, reference: Any, *goods: Any) -> str | None:
        spread, ref = _float(value), _float(reference)
        if not (math.isfinite(spread) and math.isfinite(ref)):
            return None
        return (
            f"prices {_PER[base]} of {_goods(*goods)} typically within "
            f"{(math.exp(spread) - 1.0) * 100:.0f}% of the reference {_money(math.exp(ref))}"
        )

    return Over(text, "value", f"uv_{base}_ref", *_GOODS)


def _reference_count(level: str) -> Over:
    def text(value: Any, hs4: Any, *goods: Any) -> str:
        if level == "hs4":
            what = f"HS heading {_code(hs4, goods[1], 4)}"
        elif level == "hs6":
            what = f"HS {_code(goods[0], goods[1], 6)} (any origin)"
        else:
            what = _goods(*goods)
        n = _float(value)
        if not n > 0:
            return f"no earlier declarations of {what} to price against"
        return f"reference price of {what} from {_count(n, 'earlier declaration')}"

    return Over(text, "value", "hs4", *_GOODS)


# declaration amounts, duty and calendar -------------------------------------------------------
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


def _of_value(show: Callable[[float], str], missing: str | None = None) -> Over:
    """A text of the feature's own number; ``missing`` (None: left out) when it is not known."""

    def text(value: Any) -> str | None:
        number = _float(value)
        return show(number) if math.isfinite(number) else missing

    return Over(text, "value")


def _whole(show: Callable[[int], str]) -> Over:
    return _of_value(lambda v: show(int(v)))


def _flag(yes: str, no: str, missing: str | None = None) -> Over:
    return _of_value(lambda v: yes if v > 0.5 else no, missing)


def _duty_gap(gap: float) -> str:
    if abs(gap) < 0.5:
        return "declared duty equals value x rate"
    side = "less" if gap > 0 else "more"
    return f"declared duty is {_money(abs(gap))} {side} than value x rate"


def _duty_ratio(value: Any, rate: Any) -> str:
    ratio = _float(value)
    if math.isfinite(ratio):
        return f"declared duty is {ratio * 100:.0f}% of value x rate"
    return "duty-free rate declared" if _float(rate) == 0 else "no duty declared"


def _departure(value: Any, departure: Any, origin: Any) -> str:
    differs = _float(value)
    if not math.isfinite(differs):
        return "no departure country declared"
    if differs > 0.5:
        return f"shipped from {departure}, origin {origin}"
    return "shipped from the country of origin"


def _of_rate(show: Callable[[float, str], str], digits: int, missing: str | None = None) -> Over:
    """A duty-rate feature (percent points) with the HS code it is about (``digits`` long);
    ``missing`` (None: left out) when not known."""

    def text(value: Any, code: Any, hs_code: Any) -> str | None:
        rate = _float(value)
        return show(rate, _code(code, hs_code, digits)) if math.isfinite(rate) else missing

    return Over(text, "value", f"hs{digits}", "hs_code")


def _tariff_gap(gap: float, hs4: str) -> str:
    if gap > 0.05:
        return f"declared rate {gap:.1f} points below the highest rate in HS heading {hs4}"
    return f"declared rate is the highest in HS heading {hs4}"


def _pref_margin(value: Any, rate: Any, typical: Any, hs6: Any, hs_code: Any) -> str | None:
    margin, declared, usual = _float(value), _float(rate), _float(typical)
    if not math.isfinite(margin):
        return None
    goods = f"HS {_code(hs6, hs_code, 6)}"
    if abs(margin) < 0.05:
        return f"duty rate {declared:.1f}% equals the typical rate for {goods}"
    side = "below" if margin > 0 else "above"
    return (
        f"duty rate {declared:.1f}% is {abs(margin):.1f} points {side} the typical "
        f"{usual:.1f}% for {goods}"
    )


def _preferential(value: Any, rate: Any, typical: Any, hs6: Any, hs_code: Any) -> str | None:
    flag = _float(value)
    if not math.isfinite(flag):
        return None
    if flag < 0.5:
        return "no preferential rate claimed"
    return (
        f"preferential rate claimed: {_float(rate):.1f}% against the typical "
        f"{_float(typical):.1f}% for HS {_code(hs6, hs_code, 6)}"
    )


_RATES = ("value", "tariff_rate", "hs6_typical_rate", "hs6", "hs_code")


# categories ----------------------------------------------------------------------------------
def _category(show: Callable[[str], str], missing: str) -> Over:
    return Over(lambda v: missing if _missing(v) else show(str(v)), "value")


def _labelled(label: str) -> Over:
    """'customs procedure 4000' for an optional field in words."""
    return _category(lambda v: f"{label} {v}", f"no {label} on the declaration")


def _hs_category(digits: int, what: str) -> Over:
    return Over(lambda c, h: f"goods of {what} {_code(c, h, digits)}", "value", "hs_code")


def grade_feature_text(grade: Any) -> str:
    """The text of the importer-grade feature: 'importer compliance grade C (watch)'."""
    if _missing(grade):
        return "importer not graded: no importer on the declaration"
    return f"importer compliance grade {grade} ({GRADE_LABELS.get(str(grade), 'unknown')})"


# optional fields of the world and of KCS, in words
EXTRA_LABELS: dict[str, str] = {
    "procedure_code": "customs procedure",
    "payment_type": "payment type",
    "incoterm": "delivery terms (Incoterm)",
    "process_type": "process type",
    "import_type": "import type",
    "import_use": "import use",
    "tax_type": "tax type",
    "origin_indicator": "origin indicator",
    "courier_id": "courier",
}


# trader history ------------------------------------------------------------------------------
ENTITIES = ("importer", "declarant", "seller", "importer_hs4", "declarant_office", "hs6_origin")
_ABSENT = {
    "importer": "no importer on the declaration",
    "importer_hs4": "no importer on the declaration",
    "declarant": "no declarant on the declaration",
    "declarant_office": "no declarant on the declaration",
    "seller": "no seller on the declaration",
    "hs6_origin": "no origin country on the declaration",
}
# how a text names an entity: the columns it reads and the name from their values
_NAMES: dict[str, tuple[tuple[str, ...], Callable[..., str]]] = {
    "importer_hs4": (("hs4", "hs_code"), lambda c, h: f"importer in HS heading {_code(c, h, 4)}"),
    "declarant_office": (("office_id",), lambda office: f"declarant at office {office}"),
    "hs6_origin": (_GOODS, _goods),
}


class _History(NamedTuple):
    """One entity's history figures of a row: the counts every history text quotes."""

    who: str
    value: float
    n_decl: float
    n_insp: float
    n_fraud: float

    @property
    def inspections(self) -> str:
        return _count(self.n_insp, "inspection")

    @property
    def new(self) -> str:
        return f"{self.who}: no declarations before"


HistoryText = Callable[[_History], str | None]


def _fraud_rate(h: _History) -> str | None:
    if not h.n_insp > 0:  # the prior alone: no evidence about this trader
        return None
    return (
        f"{h.who}: {_count(h.n_fraud, 'offence')} found in {h.inspections} "
        f"(estimated rate {_pct(h.value)} with the national prior)"
    )


def _offences(noun: str) -> HistoryText:
    def text(h: _History) -> str | None:
        if not h.n_insp > 0:
            return None
        return f"{h.who}: {_count(h.value, noun)} found in {h.inspections}"

    return text


def _n_insp(h: _History) -> str:
    if not h.n_decl > 0:
        return h.new
    return f"{h.who}: {_count(h.value, 'inspection')} in {_count(h.n_decl, 'declaration')}"


def _insp_rate(h: _History) -> str:
    if not (h.n_decl > 0 and math.isfinite(h.value)):
        return h.new
    declarations = _count(h.n_decl, "declaration")
    return f"{h.who}: {h.inspections} in {declarations} ({_pct(h.value)} inspected)"


def _n_decl(h: _History) -> str:
    return f"{h.who}: {_count(h.value, 'declaration')} before" if h.value > 0 else h.new


def _revenue(h: _History) -> str | None:
    if not h.n_insp > 0:
        return None
    if not h.value > 0:
        return f"{h.who}: no duty recovered from {h.inspections}"
    return f"{h.who}: duty of {_money(h.value)} recovered from {h.inspections}"


def _revenue_mean(h: _History) -> str | None:
    if not (h.n_insp > 0 and math.isfinite(h.value)):
        return None
    return f"{h.who}: on average {_money(h.value)} of duty recovered per inspection result"


def _since(event: str) -> HistoryText:
    def text(h: _History) -> str:
        if not math.isfinite(h.value):
            return h.new
        return f"{h.who}: {event} {_days(h.value)}"

    return text


def _since_offence(h: _History) -> str | None:
    if math.isfinite(h.value):
        return f"{h.who}: last offence found {_days(h.value)}"
    if not h.n_insp > 0:
        return None
    return f"{h.who}: no offence found in {h.inspections}"


_HISTORY_TEXTS: dict[str, HistoryText] = {
    "n_decl": _n_decl,
    "n_insp": _n_insp,
    "insp_rate": _insp_rate,
    "n_fraud": _offences("offence"),
    "n_critical": _offences("serious offence"),
    "fraud_rate": _fraud_rate,
    "rev_sum": _revenue,
    "rev_mean": _revenue_mean,
    "days_since_first": _since("first declaration"),
    "days_since_last": _since("previous declaration"),
    "days_since_fraud": _since_offence,
}


def _history(entity: str, stat: str) -> Over:
    render = _HISTORY_TEXTS[stat]
    columns, name = _NAMES.get(entity, ((), lambda: entity))

    def text(value: Any, n_decl: Any, n_insp: Any, n_fraud: Any, *names: Any) -> str | None:
        declarations = _float(n_decl)
        if not math.isfinite(declarations):  # the declaration names no such trader
            return _ABSENT[entity]
        figures = (_float(value), declarations, _float(n_insp), _float(n_fraud))
        return render(_History(name(*names), *figures))

    counts = (f"{entity}_n_decl", f"{entity}_n_insp", f"{entity}_n_fraud")
    return Over(text, "value", *counts, *columns)


# duty at stake (features.duty): what each mechanism would recover at the reference
_STAKES: dict[str, tuple[str, str]] = {
    "duty_gap_kg": ("the reference value per kg", "no reference value per kg known yet"),
    "duty_gap_unit": ("the reference value per unit", "no reference value per unit known yet"),
    "duty_gap_kg_sure": (
        "the low end of the reference values per kg",
        "no reference value per kg known yet",
    ),
    "duty_gap_unit_sure": (
        "the low end of the reference values per unit",
        "no reference value per unit known yet",
    ),
    "duty_gap_class": ("the highest duty rate of its HS heading", "no rates of its heading known"),
    "duty_gap_origin": ("the typical rate without the preference claimed", "no typical rate known"),
    "duty_at_stake": ("its reference value, rate and origin", "no reference known yet"),
}


def _stake_text(amount: float, against: str) -> str:
    if amount < 0.5:
        return f"declared duty in line with {against}"
    return f"duty {_money(amount)} more at {against}"


def _stake(against: str, missing: str) -> Over:
    return _of_value(lambda amount: _stake_text(amount, against), missing)


# network features (features.network): feature prefix -> whose inspections it counts
_NEIGHBOURS: dict[str, str] = {
    "importer_sellers": "the sellers this importer buys from",
    "seller_importers": "the importers this seller sells to",
    "declarant_importers": "the importers this declarant declares for",
}


def _neighbour_insp(group: str) -> Over:
    return _of_value(lambda n: f"{_count(n, 'inspection')} of {group} on record")


def _neighbour_rate(prefix: str, group: str) -> Over:
    def text(rate: Any, n_insp: Any) -> str | None:
        inspections, share = _float(n_insp), _float(rate)
        if not (inspections > 0 and math.isfinite(share)):
            return None  # no inspections: no evidence
        offences = _count(share * inspections, "offence")
        return f"{offences} found in {_count(inspections, 'inspection')} of {group}"

    return Over(text, "value", f"{prefix}_n_insp")


REASON_TEMPLATES: dict[str, ReasonTemplate] = {
    "item_number": _whole(lambda n: f"item {n} of its declaration"),
    "log_value": _of_value(lambda v: f"declared value {_money(math.exp(v))}", "no value declared"),
    "log_mass": _of_value(lambda v: f"net mass {_money(math.expm1(v))} kg", _WITHOUT["kg"]),
    "log_quantity": _of_value(lambda v: f"quantity {_money(math.expm1(v))}", _WITHOUT["unit"]),
    "log_uv_kg": _unit_value("kg"),
    "log_uv_unit": _unit_value("unit"),
    "log_kg_per_unit": _of_value(
        lambda v: f"net mass {_money(math.exp(v))} kg per unit",
        "net mass per unit unknown: no net mass or quantity declared",
    ),
    "tariff_rate": _of_rate(lambda v, hs6: f"duty rate {v:.1f}% on HS {hs6}", 6),
    "duty_expected": _of_value(
        lambda v: f"duty due at the declared value and rate {_money(v)}", "no duty due known"
    ),
    "duty_gap": _of_value(_duty_gap, "no duty declared"),
    "duty_ratio": Over(_duty_ratio, "value", "tariff_rate"),
    "value_is_round": _flag(
        "declared value is a round amount (a multiple of 100)",
        "declared value is not a round amount",
    ),
    "departure_differs": Over(_departure, "value", "departure_country", "origin_country"),
    "hour": _whole(lambda h: f"lodged between {h:02d}:00 and {h + 1:02d}:00"),
    "day_of_week": _whole(lambda d: f"lodged on a {_WEEKDAYS[d % 7]}"),
    "day_of_month": _whole(lambda d: f"lodged on day {d} of the month"),
    "month": _whole(lambda m: f"lodged in {_MONTHS[(m - 1) % 12]}"),
    "is_weekend": _flag("lodged at the weekend", "lodged on a weekday"),
    "ref_n_hs6_origin": _reference_count("hs6_origin"),
    "ref_n_hs6": _reference_count("hs6"),
    "ref_n_hs4": _reference_count("hs4"),
    "hs4_max_rate": _of_rate(lambda v, hs4: f"HS heading {hs4} has duty rates up to {v:.1f}%", 4),
    "tariff_gap_hs4": _of_rate(_tariff_gap, 4),
    "hs6_typical_rate": _of_rate(
        lambda v, hs6: f"typical duty rate for HS {hs6}: {v:.1f}%",
        6,
        "no typical duty rate known yet for these goods",
    ),
    "pref_margin": Over(_pref_margin, *_RATES),
    "is_preferential": Over(_preferential, *_RATES),
    "hs2": _hs_category(2, "HS chapter"),
    "hs4": _hs_category(4, "HS heading"),
    "hs6": _hs_category(6, "HS"),
    "origin_country": _category(lambda v: f"origin {v}", "no origin country declared"),
    "departure_country": _category(lambda v: f"shipped from {v}", "no departure country declared"),
    "transport_mode": _category(lambda v: f"transport by {v}", "no transport mode declared"),
    "office_id": _category(lambda v: f"lodged at office {v}", "no office on the declaration"),
    "importer_grade": Over(grade_feature_text, "value"),
    "hist_prior_rate": _of_value(
        lambda v: f"national offence rate at inspection {_pct(v)} (estimate)"
    ),
}
for _base in _PER:
    for _column in (f"uv_{_base}_ref", f"uv_{_base}_dev", f"uv_{_base}_z"):
        REASON_TEMPLATES[_column] = _unit_value(_base)
    REASON_TEMPLATES[f"uv_{_base}_spread"] = _spread(_base)
for _entity in ENTITIES:
    for _stat in _HISTORY_TEXTS:
        REASON_TEMPLATES[f"{_entity}_{_stat}"] = _history(_entity, _stat)
for _name, _label in EXTRA_LABELS.items():
    REASON_TEMPLATES[_name] = _labelled(_label)
for _name, (_against, _unknown) in _STAKES.items():
    REASON_TEMPLATES[_name] = _stake(_against, _unknown)
REASON_TEMPLATES["log_duty_at_stake"] = _of_value(
    lambda v: _stake_text(math.expm1(v), _STAKES["duty_at_stake"][0]), "no reference known yet"
)
for _prefix, _group in _NEIGHBOURS.items():
    REASON_TEMPLATES[f"{_prefix}_n_insp"] = _neighbour_insp(_group)
    REASON_TEMPLATES[f"{_prefix}_fraud_rate"] = _neighbour_rate(_prefix, _group)


# grade_conditions' importer figures and the prior rate: what a grade reason's why reads
GRADE_STATS: tuple[str, ...] = (
    "fraud_rate",
    "n_fraud",
    "n_critical",
    "n_insp",
    "n_decl",
    "days_since_first",
    "days_since_fraud",
)
GRADE_FACTS: tuple[str, ...] = (*(f"importer_{s}" for s in GRADE_STATS), "hist_prior_rate")
# the conditions of the grade rule that make each grade (features.grades)
_GRADE_WHY: dict[str, tuple[str, ...]] = {
    "D": ("repeat_offender", "recent_critical"),
    "C": ("rate_above_prior", "recent_offence", "low_volume", "never_inspected"),
}


def grade_reasons(
    grades: Sequence[Any], factors: np.ndarray, facts: Mapping[str, np.ndarray], rule: GradeRule
) -> list[str]:
    """Per row, why the trader grade multiplied the risk score: 'importer compliance grade D
    (high-risk): risk score x2.0: 3 offences found in 5 inspections (estimated rate 41%, national
    3.2%)'. The why lists the grade rule's conditions that hold, only where these ``facts``
    (GRADE_FACTS, arrays aligned with ``grades``) give the same grade again."""
    why = _grade_why(grades, facts, rule)
    heads: dict[tuple[Any, float], str] = {}  # a few grades and factors: each head made once
    out = []
    for grade, factor, reason in zip(grades, np.asarray(factors).tolist(), why, strict=True):
        head = heads.get((grade, factor))
        if head is None:
            head = heads[grade, factor] = _grade_head(grade, factor)
        out.append(f"{head}: {reason}" if reason else head)
    return out


def _grade_head(grade: Any, factor: float) -> str:
    if _missing(grade):
        return f"importer not graded: risk score x{_factor(factor)}"
    label = GRADE_LABELS.get(str(grade), "unknown")
    return f"importer compliance grade {grade} ({label}): risk score x{_factor(factor)}"


def _grade_why(
    grades: Sequence[Any], facts: Mapping[str, np.ndarray], rule: GradeRule
) -> list[str]:
    if any(f not in facts for f in GRADE_FACTS):
        return [""] * len(grades)
    stats = {s: np.asarray(facts[f"importer_{s}"], dtype=np.float64) for s in GRADE_STATS}
    prior = np.asarray(facts["hist_prior_rate"], dtype=np.float64)
    conditions = {c: v.tolist() for c, v in grade_conditions(stats, prior, rule).items()}
    codes = grade_codes(stats, prior, rule).tolist()
    figures = {s: stats[s].tolist() for s in GRADE_STATS}
    out = []
    for i, (grade, code, prior_rate) in enumerate(zip(grades, codes, prior.tolist(), strict=True)):
        if code < 0 or GRADES[code] != str(grade):
            out.append("")
            continue
        held = [c for c in _GRADE_WHY.get(GRADES[code], ()) if conditions[c][i]]
        out.append("; ".join(_condition_text(c, figures, i, prior_rate) for c in held))
    return out


def _condition_text(
    condition: str, figures: Mapping[str, list[float]], i: int, prior: float
) -> str:
    if condition == "never_inspected":
        return "not inspected before"
    if condition == "low_volume":
        return f"only {_count(figures['n_decl'][i], 'declaration')} before"
    since = f"last offence found {_days(figures['days_since_fraud'][i])}"
    if condition == "recent_offence":
        return since
    if condition == "recent_critical":
        return f"a serious offence on record, {since}"
    offences = _count(figures["n_fraud"][i], "offence")
    inspections = _count(figures["n_insp"][i], "inspection")
    rate = _pct(figures["fraud_rate"][i])
    return f"{offences} found in {inspections} (estimated rate {rate}, national {_pct(prior)})"
