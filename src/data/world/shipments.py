"""What is shipped, when and by whom: declarations and their items, as the truth has them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from customs_risk.data.world.catalogue import CHAPTERS, Catalogue, Countries
from customs_risk.data.world.traders import MODE_BY_OFFICE, Traders
from customs_risk.data.world_config import WorldConfig

ROUTES: tuple[str, ...] = ("direct", "transit", "hub")


@dataclass(frozen=True)
class Shipments:
    """Declaration-level arrays (length n_decl) and item-level arrays (length n_rows)."""

    # declarations, sorted by time
    day: np.ndarray  # float64 days since the start, second resolution
    start: np.ndarray  # first item index
    n_items: np.ndarray
    importer: np.ndarray
    declarant: np.ndarray
    office: np.ndarray
    seller: np.ndarray
    departure: np.ndarray  # country index
    route: np.ndarray  # int8 index into ROUTES
    mode: np.ndarray  # index into TRANSPORT_MODES
    procedure: np.ndarray
    payment: np.ndarray
    incoterm: np.ndarray
    # items
    decl: np.ndarray  # declaration index of each item
    item_no: np.ndarray
    hs6: np.ndarray  # catalogue index
    origin: np.ndarray  # country index
    quantity: np.ndarray
    mass: np.ndarray
    value: np.ndarray  # true customs value

    @property
    def n_declarations(self) -> int:
        """Number of declarations."""
        return len(self.day)


def _items_per_declaration(cfg: WorldConfig, n_rows: int, rng: np.random.Generator) -> np.ndarray:
    s = cfg.shape
    mean = s.single_item_share + (1 - s.single_item_share) * (1 + 1 / s.extra_items_p)
    parts: list[np.ndarray] = []
    total = 0
    while total < n_rows:
        n = int(np.ceil((n_rows - total) / mean * 1.05)) + 16
        k = np.where(rng.random(n) < s.single_item_share, 1, 1 + rng.geometric(s.extra_items_p, n))
        k = np.minimum(k, s.max_items)
        parts.append(k)
        total += int(k.sum())
    k = np.concatenate(parts)
    cum = np.cumsum(k)
    n_decl = int(np.searchsorted(cum, n_rows)) + 1
    k = k[:n_decl].copy()
    k[-1] -= int(cum[n_decl - 1] - n_rows)
    return k.astype(np.int64)


def _declaration_days(cfg: WorldConfig, n_decl: int, rng: np.random.Generator) -> np.ndarray:
    t = cfg.time
    d = np.arange(t.n_days)
    weekday0 = t.start_date.weekday()
    w = (1 + t.annual_growth) ** (d / 365.0)
    w = w * (1 + t.seasonality_amplitude * np.sin(2 * np.pi * d / 365.25))
    w = w * np.asarray(t.weekday_weights)[(weekday0 + d) % 7]
    day = rng.choice(t.n_days, n_decl, p=w / w.sum()).astype(np.float64)
    hour = np.clip(rng.normal(t.hour_mean, t.hour_sd, n_decl), 0.0, 23.999)
    return np.sort(np.round((day + hour / 24.0) * 86400.0) / 86400.0)


def _choose_importers(
    traders: Traders, day: np.ndarray, chunk_days: int, rng: np.random.Generator
) -> np.ndarray:
    """Importer per declaration, weighted by activity among those active in its time chunk."""
    chunk = (day // chunk_days).astype(np.int64)
    bounds = np.searchsorted(chunk, np.arange(chunk[-1] + 2)) if len(chunk) else np.zeros(1, int)
    out = np.empty(len(day), dtype=np.int64)
    u = rng.random(len(day))
    for c in range(len(bounds) - 1):
        a, b = bounds[c], bounds[c + 1]
        if a == b:
            continue
        t0 = c * chunk_days
        active = np.flatnonzero((traders.arrival <= t0) & (traders.exit > t0))
        if len(active) == 0:
            active = np.flatnonzero(traders.arrival <= t0)
        if len(active) == 0:
            active = np.arange(traders.n_importers)
        cum = np.cumsum(traders.activity[active])
        pos = np.searchsorted(cum, u[a:b] * cum[-1], side="right")
        out[a:b] = active[np.minimum(pos, len(active) - 1)]
    return out


def _pick_rows(cum: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Column index per row from row-wise cumulative probabilities."""
    return np.minimum((u[:, None] > cum).sum(axis=1), cum.shape[1] - 1)


def build_shipments(
    cfg: WorldConfig,
    catalogue: Catalogue,
    countries: Countries,
    traders: Traders,
    prices: np.ndarray,
    n_rows: int,
    rng: np.random.Generator,
) -> Shipments:
    """Draw declarations (time, parties, route) and their items (goods, origin, quantities)."""
    k = _items_per_declaration(cfg, n_rows, rng)
    n_decl = len(k)
    start = np.concatenate([[0], np.cumsum(k)[:-1]]).astype(np.int64)
    day = _declaration_days(cfg, n_decl, rng)
    importer = _choose_importers(traders, day, cfg.time.chunk_days, rng)

    tc = cfg.traders
    declarant = np.where(
        rng.random(n_decl) < tc.main_declarant_share,
        traders.main_declarant[importer],
        rng.choice(len(traders.declarant_weight), n_decl, p=traders.declarant_weight),
    )
    office = np.where(
        rng.random(n_decl) < tc.home_office_share,
        traders.home_office[importer],
        rng.choice(len(traders.office_weight), n_decl, p=traders.office_weight),
    )
    mode_cum = np.cumsum(MODE_BY_OFFICE, axis=1)[traders.office_type[office]]
    mode = _pick_rows(mode_cum, rng.random(n_decl))
    seller_slot = (rng.random(n_decl) * traders.n_sellers[importer]).astype(np.int64)
    seller = traders.sellers[importer, seller_slot]
    proc_p = np.array(list(tc.procedure_codes.values()))
    procedure = rng.choice(len(proc_p), n_decl, p=proc_p / proc_p.sum())
    inc_p = np.array(list(tc.incoterms.values()))
    incoterm = np.where(
        rng.random(n_decl) < 0.85,
        traders.incoterm[importer],
        rng.choice(len(inc_p), n_decl, p=inc_p / inc_p.sum()),
    )
    payment = traders.payment[importer]

    # items: goods follow the importer's chapters, 60% share the declaration's main chapter
    decl = np.repeat(np.arange(n_decl), k)
    n = len(decl)
    item_no = np.arange(n) - start[decl] + 1
    imp_item = importer[decl]
    main_slot = _pick_rows(traders.chapter_cum[importer], rng.random(n_decl))
    own_slot = _pick_rows(traders.chapter_cum[imp_item], rng.random(n))
    slot = np.where(rng.random(n) < 0.6, main_slot[decl], own_slot)
    ch = traders.chapters[imp_item, slot]
    cumw = np.cumsum(catalogue.weight)
    lo = catalogue.chapter_start[ch]
    hi = catalogue.chapter_stop[ch]
    base = np.where(lo > 0, cumw[np.maximum(lo - 1, 0)], 0.0)
    target = base + rng.random(n) * (cumw[hi - 1] - base)
    hs6 = np.clip(np.searchsorted(cumw, target, side="right"), lo, hi - 1)

    seller_c = traders.seller_country[seller]
    origin = np.where(
        rng.random(n) < cfg.countries.seller_origin_share,
        seller_c[decl],
        rng.choice(len(countries.iso), n, p=countries.origin_weight),
    )
    c = cfg.catalogue
    quantity = np.maximum(
        1.0, np.round(catalogue.quantity_median[hs6] * rng.lognormal(0, c.quantity_sigma_item, n))
    )
    mass = np.maximum(
        0.01,
        np.round(quantity * catalogue.kg_per_unit[hs6] * rng.lognormal(0, c.mass_sigma_item, n), 2),
    )
    unit = prices[hs6, origin] * traders.price_level[imp_item]
    unit = unit * rng.lognormal(0, c.item_price_sigma, n)
    value = np.maximum(1.0, np.round(quantity * unit, 2))

    # route: new hub after the regime date for its chapters, else transit hubs, else direct
    regime_day = (cfg.regime.date - cfg.time.start_date).days
    hub_ch = np.isin(CHAPTERS, cfg.regime.hub_chapters)
    main_ch = traders.chapters[importer, main_slot]
    eligible = (day >= regime_day) & hub_ch[main_ch] & (seller_c != countries.regime_hub)
    to_hub = eligible & (rng.random(n_decl) < cfg.regime.hub_share)
    if countries.hub_weight.sum() > 0:
        hub = rng.choice(len(countries.iso), n_decl, p=countries.hub_weight)
    else:
        hub = seller_c
    transit = ~to_hub & (rng.random(n_decl) < cfg.countries.transit_share) & (hub != seller_c)
    departure = np.where(to_hub, countries.regime_hub, np.where(transit, hub, seller_c))
    route = np.where(to_hub, 2, np.where(transit, 1, 0)).astype(np.int8)
    return Shipments(
        day=day,
        start=start,
        n_items=k,
        importer=importer,
        declarant=declarant,
        office=office,
        seller=seller,
        departure=departure,
        route=route,
        mode=mode,
        procedure=procedure,
        payment=payment,
        incoterm=incoterm,
        decl=decl,
        item_no=item_no,
        hs6=hs6,
        origin=origin,
        quantity=quantity,
        mass=mass,
        value=value,
    )
