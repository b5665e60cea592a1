"""The time loop: offences, legacy channels, detection and their feedback, chunk by chunk.

Feedback is sequential (an importer caught offends less, and the legacy repeat-offender rule
targets it) but only from the moment the result is known, so the loop runs over time chunks
(``time.chunk_days``) and is vectorised inside each chunk.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from customs_risk.data.world.catalogue import Catalogue, Countries
from customs_risk.data.world.inspection import (
    GREEN,
    LegacyDraws,
    OfficeConduct,
    apply_overrides,
    decide_channels,
)
from customs_risk.data.world.offences import OffencePlan
from customs_risk.data.world.shipments import Shipments
from customs_risk.data.world.traders import Traders
from customs_risk.data.world_config import WorldConfig


@dataclass(frozen=True)
class Simulation:
    """What happened: item arrays (offence, inspection, detection) and declaration arrays."""

    offence: np.ndarray
    probability: np.ndarray  # offence probability used (after deterrence)
    deterred: np.ndarray
    inspected: np.ndarray
    detected: np.ndarray
    result_day: np.ndarray  # NaN where not inspected
    channel: np.ndarray  # per declaration, channel code
    selected: np.ndarray  # per declaration, selected_by code
    rule: np.ndarray  # per declaration, legacy rule code
    audited: np.ndarray  # per declaration, green post-release audit
    departure: np.ndarray  # per declaration, declared departure country
    overridden: np.ndarray  # per declaration, the rules' red downgraded to orange by the officer
    override_reason: np.ndarray  # per declaration, index into OVERRIDE_REASONS where overridden


class _Windows:
    """One time window [start, end) per importer; overlapping windows merge."""

    def __init__(self, n: int) -> None:
        self.start = np.full(n, np.inf)
        self.end = np.full(n, -np.inf)

    def contains(self, who: np.ndarray, t: np.ndarray) -> np.ndarray:
        return (self.start[who] <= t) & (t < self.end[who])

    def add(self, who: np.ndarray, r: np.ndarray, length: float) -> None:
        s, e = self.start[who], self.end[who]
        overlap = r <= e
        self.start[who] = np.where(overlap, np.minimum(s, r), r)
        self.end[who] = np.where(overlap, np.maximum(e, r + length), r + length)


def simulate(
    cfg: WorldConfig,
    catalogue: Catalogue,
    countries: Countries,
    traders: Traders,
    ship: Shipments,
    plan: OffencePlan,
    draws: LegacyDraws,
    conduct: OfficeConduct,
    rng: np.random.Generator,
    on_chunk: Callable[[float], None] | None = None,
) -> Simulation:
    """Run the world forward in time chunks; ``on_chunk`` gets the fraction done."""
    lc = cfg.legacy
    n, n_decl = len(ship.decl), ship.n_declarations
    u_off = rng.random(n)
    item_day = ship.day[ship.decl]
    item_imp = ship.importer[ship.decl]
    sensitive = np.isin(catalogue.chapter[ship.hs6], lc.sensitive_chapters).astype(np.int8)
    risky_country = np.isin(countries.iso, lc.risky_origins)
    new_importer = (ship.day - traders.arrival[ship.importer]) < lc.new_importer_days

    offence = np.zeros(n, dtype=bool)
    probability = np.zeros(n)
    deterred = np.zeros(n, dtype=bool)
    inspected = np.zeros(n, dtype=bool)
    detected = np.zeros(n, dtype=bool)
    result_day = np.full(n, np.nan)
    channel = np.zeros(n_decl, dtype=np.int8)
    selected = np.zeros(n_decl, dtype=np.int8)
    rule = np.zeros(n_decl, dtype=np.int8)
    audited = np.zeros(n_decl, dtype=bool)
    overridden = np.zeros(n_decl, dtype=bool)
    departure = ship.departure.copy()

    deterrence = _Windows(traders.n_importers)
    flagged = _Windows(traders.n_importers)
    chunk = (ship.day // cfg.time.chunk_days).astype(np.int64)
    bounds = np.unique(np.concatenate([np.searchsorted(chunk, np.unique(chunk)), [n_decl]]))
    item_bounds = np.append(ship.start, n)
    for j in range(len(bounds) - 1):
        a, b = int(bounds[j]), int(bounds[j + 1])
        ia, ib = int(item_bounds[a]), int(item_bounds[b])
        items, decls = slice(ia, ib), slice(a, b)
        imp, t = item_imp[items], item_day[items]

        det = deterrence.contains(imp, t)
        p = -np.expm1(-plan.hazard[items] * np.where(det, cfg.deterrence.factor, 1.0))
        off = u_off[items] < p
        declared_rate = np.where(off, plan.alt_rate[items], plan.rate[items])
        declared_origin = np.where(off, plan.alt_origin[items], ship.origin[items])
        item_flags = np.stack(
            [
                (declared_rate >= lc.high_tariff_threshold).astype(np.int8),
                sensitive[items],
                risky_country[declared_origin].astype(np.int8),
            ],
            axis=1,
        )
        per_decl = np.maximum.reduceat(item_flags, ship.start[decls] - ia, axis=0).astype(bool)
        repeat = flagged.contains(ship.importer[decls], ship.day[decls])
        flags = np.column_stack([per_decl, new_importer[decls], repeat])
        ch, sel, rl, aud = decide_channels(lc, draws, flags, decls, ship.office[decls])
        ch, down = apply_overrides(conduct, ch, sel, decls, ship.office[decls])

        local = ship.decl[items] - a
        launder = np.flatnonzero(off & plan.launder[items])
        departure[a + local[launder]] = plan.alt_origin[items][launder]
        ch_item = ch[local]
        insp = (ch_item != GREEN) | aud[local]
        p_detect = draws.detect[ch_item, plan.otype[items]]
        if conduct.lax:
            factor = conduct.detection_factor[ship.office[ship.decl[items]]]
            p_detect = p_detect * np.where(ch_item != GREEN, factor, 1.0)
        found = off & insp & (draws.u_detect[items] < p_detect)
        r = np.where(insp, t + draws.delay[ch_item, ship.decl[items]], np.nan)

        caught = np.flatnonzero(found)
        if len(caught):
            order = caught[np.argsort(r[caught], kind="stable")]
            who, first = np.unique(imp[order], return_index=True)
            when = r[order][first]
            deterrence.add(who, when, cfg.deterrence.days)
            flagged.add(who, when, lc.repeat_offender_days)

        offence[items], probability[items], deterred[items] = off, p, det
        inspected[items], detected[items], result_day[items] = insp, found, r
        channel[decls], selected[decls], rule[decls], audited[decls] = ch, sel, rl, aud
        overridden[decls] = down
        if on_chunk is not None:
            on_chunk(b / n_decl)
    return Simulation(
        offence=offence,
        probability=probability,
        deterred=deterred,
        inspected=inspected,
        detected=detected,
        result_day=result_day,
        channel=channel,
        selected=selected,
        rule=rule,
        audited=audited,
        departure=departure,
        overridden=overridden,
        override_reason=conduct.reason,
    )
