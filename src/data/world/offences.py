"""Who would offend, how, and what it is worth: hazards, offence types and declared values.

Everything here is computed once for all items, before the time loop: the hazard of each item
(calibrated so its mean offence probability is ``offences.base_offence_rate``), the offence type
an item would commit, and the fields it would then declare. The loop in ``simulate`` only decides,
chunk by chunk, whether the (possibly deterred) hazard fires.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from customs_risk.data.contracts import FRAUD_TYPES
from customs_risk.data.world.catalogue import Catalogue, Countries
from customs_risk.data.world.shipments import ROUTES, Shipments
from customs_risk.data.world.traders import Traders
from customs_risk.data.world_config import OFFENCE_TYPES, WorldConfig

UNDER, MISC, ORIGIN, QUANTITY, PROHIBITED = (FRAUD_TYPES.index(t) for t in OFFENCE_TYPES)


@dataclass(frozen=True)
class OffencePlan:
    """Per item: calibrated hazard, the offence it would commit and what it would declare."""

    hazard: np.ndarray  # offence probability is 1 - exp(-hazard * deterrence multiplier)
    otype: np.ndarray  # int8 index into FRAUD_TYPES (never 0)
    rate: np.ndarray  # true applicable tariff rate (percent)
    alt_hs6: np.ndarray
    alt_origin: np.ndarray
    alt_value: np.ndarray
    alt_quantity: np.ndarray
    alt_mass: np.ndarray
    alt_rate: np.ndarray
    revenue: np.ndarray  # true revenue if the offence is committed
    critical: np.ndarray  # bool, if committed
    importer_age: np.ndarray  # days since the importer started, at declaration
    launder: np.ndarray  # bool: an origin offence ships via the claimed origin (departure)


def _calibrate(total: np.ndarray, target: float, rng: np.random.Generator) -> float:
    """Scale c with mean(1 - exp(-c * total)) == target (bisection in log c on a sample)."""
    sample = total if len(total) <= 200_000 else rng.choice(total, 200_000, replace=False)
    lo, hi = -30.0, 30.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if np.mean(-np.expm1(-np.exp(mid) * sample)) < target:
            lo = mid
        else:
            hi = mid
    return float(np.exp(0.5 * (lo + hi)))


def plan_offences(
    cfg: WorldConfig,
    catalogue: Catalogue,
    countries: Countries,
    traders: Traders,
    ship: Shipments,
    rng: np.random.Generator,
) -> OffencePlan:
    """Hazard per item and type, type choice, and the declared fields of each potential offence."""
    oc = cfg.offences
    n = len(ship.decl)
    hs6, origin, value, qty, mass = ship.hs6, ship.origin, ship.value, ship.quantity, ship.mass
    imp = ship.importer[ship.decl]
    day = ship.day[ship.decl]
    rate = catalogue.mfn_rate[hs6] * countries.pref_factor[origin]
    duty = value * rate / 100.0

    # potential declared fields per offence type
    f_under = rng.uniform(*oc.undervaluation_factor, n)
    under_value = np.maximum(0.01, np.round(value * f_under, 2))
    decoy = catalogue.decoy[hs6]
    misc_hs6 = np.where(decoy >= 0, decoy, hs6)
    misc_rate = catalogue.mfn_rate[misc_hs6] * countries.pref_factor[origin]
    pref = np.flatnonzero(countries.pref_factor < 1)
    pref_w = countries.origin_weight[pref]
    pref_w = pref_w if pref_w.sum() > 0 else np.ones(len(pref))
    if len(pref):
        decoy_origin = pref[rng.choice(len(pref), n, p=pref_w / pref_w.sum())]
    else:  # no trade agreements: origin offences gain nothing
        decoy_origin = origin.copy()
    hub_item = (ship.route[ship.decl] == ROUTES.index("hub")) & np.isin(
        catalogue.chapter[hs6], cfg.regime.hub_chapters
    )
    claim_hub = hub_item & (rng.random(n) < cfg.regime.hub_origin_claim_share)
    decoy_origin = np.where(claim_hub, countries.regime_hub, decoy_origin)
    origin_rate = catalogue.mfn_rate[hs6] * countries.pref_factor[decoy_origin]
    f_qty = rng.uniform(*oc.quantity_factor, n)
    qty_decl = np.maximum(1.0, np.round(qty * f_qty))
    share = qty_decl / qty
    qty_value = np.maximum(0.01, np.round(value * share, 2))
    qty_mass = np.round(mass * share**oc.quantity_mass_exponent, 2)

    stakes = np.stack(
        [
            (value - under_value) * rate / 100.0,
            value * (rate - misc_rate) / 100.0,
            value * (rate - origin_rate) / 100.0,
            (value - qty_value) * rate / 100.0,
        ],
        axis=1,
    )
    feasible = np.concatenate([stakes > 0.005, np.ones((n, 1), dtype=bool)], axis=1)

    # log-hazard per type
    tc = cfg.traders
    age = day - traders.arrival[imp]
    seller_eff = traders.seller_complicit[ship.seller[ship.decl]] * tc.complicit_seller_effect
    common = (
        traders.propensity[imp]
        + tc.size_propensity_slope * np.log(traders.activity[imp])
        + traders.declarant_propensity[ship.declarant[ship.decl]]
        + np.log(countries.route_risk[origin])
        + np.where(age < tc.new_importer_days, tc.new_importer_effect, 0.0)
    )
    log_w = np.log(np.array([oc.type_weights[t] for t in OFFENCE_TYPES]) + 1e-300)
    stake_term = oc.stake_elasticity * np.log(np.maximum(stakes, 1e-3) / oc.stake_reference)
    log_lam = np.empty((n, len(OFFENCE_TYPES)))
    rate_term = oc.tariff_elasticity * np.log(np.maximum(rate, 0.5) / 5.0)
    log_lam[:, :4] = stake_term + rate_term[:, None]
    log_lam[:, 4] = np.log(catalogue.sensitivity[hs6])
    log_lam += common[:, None] + log_w[None, :] + np.log(traders.affinity[imp])
    log_lam[:, [0, 2, 3]] += seller_eff[:, None]
    if oc.type_trend:  # drift of the offence mix; skipped when empty so the default is unchanged
        trend = np.array([oc.type_trend.get(t, 0.0) for t in OFFENCE_TYPES])
        log_lam += (day / 365.25)[:, None] * trend[None, :]
    hub_boost = np.log(max(cfg.regime.hub_offence_multiplier, 1e-300))
    log_lam[:, [0, 2]] += np.where(hub_item, hub_boost, 0.0)[:, None]
    lam = np.where(feasible, np.exp(log_lam), 0.0)
    total = lam.sum(axis=1)
    scale = _calibrate(total, oc.base_offence_rate, rng)

    # offence type, if the item offends: proportional to its hazard
    cum = np.cumsum(lam, axis=1)
    pick = ((rng.random(n) * total)[:, None] >= cum).sum(axis=1)
    otype = (np.minimum(pick, len(OFFENCE_TYPES) - 1) + 1).astype(np.int8)
    revenue: np.ndarray = np.zeros(n)
    for t in (UNDER, MISC, ORIGIN, QUANTITY):
        sel = otype == t
        revenue[sel] = stakes[sel, t - 1]
    revenue[otype == PROHIBITED] = oc.prohibited_revenue_share * duty[otype == PROHIBITED]
    revenue = np.round(np.maximum(revenue, 0.0), 2)
    critical = (otype == PROHIBITED) | (revenue >= oc.critical_revenue)

    alt_hs6 = np.where(otype == MISC, misc_hs6, hs6)
    alt_origin = np.where(otype == ORIGIN, decoy_origin, origin)
    alt_value = np.select([otype == UNDER, otype == QUANTITY], [under_value, qty_value], value)
    alt_quantity = np.where(otype == QUANTITY, qty_decl, qty)
    alt_mass = np.where(otype == QUANTITY, qty_mass, mass)
    alt_rate = np.select([otype == MISC, otype == ORIGIN], [misc_rate, origin_rate], rate)
    return OffencePlan(
        hazard=scale * total,
        otype=otype,
        rate=rate,
        alt_hs6=alt_hs6,
        alt_origin=alt_origin,
        alt_value=alt_value,
        alt_quantity=alt_quantity,
        alt_mass=alt_mass,
        alt_rate=alt_rate,
        revenue=revenue,
        critical=critical,
        importer_age=age,
        launder=(otype == ORIGIN) & (rng.random(n) < oc.origin_decoy_departure_share),
    )
