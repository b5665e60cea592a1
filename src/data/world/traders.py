"""The people side of the world: importers, declarants (brokers), sellers and offices."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from customs_risk.data.world.catalogue import Catalogue, Countries
from customs_risk.data.world_config import OFFENCE_TYPES, TraderConfig

IMPORTER_CLASSES: tuple[str, ...] = ("compliant", "opportunistic", "systematic")
OFFICE_TYPES: tuple[str, ...] = ("sea", "air", "land", "post")
TRANSPORT_MODES: tuple[str, ...] = ("sea", "air", "road", "rail", "post")
# transport mode probabilities per office type (rows: OFFICE_TYPES, columns: TRANSPORT_MODES)
MODE_BY_OFFICE = np.array(
    [
        [0.9, 0.0, 0.1, 0.0, 0.0],
        [0.0, 0.95, 0.05, 0.0, 0.0],
        [0.0, 0.0, 0.85, 0.15, 0.0],
        [0.0, 0.3, 0.1, 0.0, 0.6],
    ]
)


@dataclass(frozen=True)
class Traders:
    """Trader tables; importer arrays are indexed by importer number (= id order)."""

    arrival: np.ndarray  # float64 day the importer starts (negative: before the world)
    exit: np.ndarray  # float64 day it stops declaring
    activity: np.ndarray  # Pareto activity weight
    price_level: np.ndarray  # importer price level multiplier (premium or cheap goods)
    klass: np.ndarray  # int8 index into IMPORTER_CLASSES
    propensity: np.ndarray  # latent log-hazard shift
    affinity: np.ndarray  # (n_importers, n_types) type affinity, mean 1
    chapters: np.ndarray  # (n_importers, max_chapters) chapter indices into CHAPTERS
    chapter_cum: np.ndarray  # (n_importers, max_chapters) cumulative choice probabilities
    sellers: np.ndarray  # (n_importers, max_sellers) seller indices
    n_sellers: np.ndarray  # int64 sellers per importer
    main_declarant: np.ndarray
    home_office: np.ndarray
    incoterm: np.ndarray  # habitual incoterm index
    payment: np.ndarray  # habitual payment type index
    declarant_weight: np.ndarray  # choice weights, sums to 1
    declarant_propensity: np.ndarray
    seller_country: np.ndarray  # country index per seller
    seller_complicit: np.ndarray  # bool
    office_type: np.ndarray  # index into OFFICE_TYPES per office
    office_weight: np.ndarray  # sums to 1

    @property
    def n_importers(self) -> int:
        """Number of importers (initial and arriving)."""
        return len(self.arrival)


def _normalise(weights: dict[str, float]) -> np.ndarray:
    values = np.array(list(weights.values()), dtype=float)
    return values / values.sum()


def _pareto(rng: np.random.Generator, alpha: float, cap: float, n: int) -> np.ndarray:
    return np.minimum(rng.pareto(alpha, n) + 1.0, cap)


def build_traders(
    cfg: TraderConfig,
    catalogue: Catalogue,
    countries: Countries,
    n_rows: int,
    n_days: int,
    rng: np.random.Generator,
) -> Traders:
    """Draw importers, declarants, sellers and offices, sized to the number of rows."""
    scale = n_rows / 1e6
    imp_scale = scale**cfg.importer_scale_exponent
    n_init = max(cfg.min_importers, round(cfg.importers_per_million * imp_scale))
    n_new = rng.poisson(cfg.new_importers_per_day_per_million * imp_scale * n_days)
    n_imp = n_init + n_new
    arrival = np.concatenate(
        [-rng.uniform(0, 5 * 365, n_init), np.sort(rng.uniform(0, n_days, n_new))]
    )
    life = rng.exponential(365.0 / max(cfg.exit_rate_per_year, 1e-9), n_imp)
    exit_day = np.maximum(arrival, 0.0) + life
    activity = _pareto(rng, cfg.activity_pareto_alpha, cfg.activity_cap, n_imp)

    class_p = np.array([cfg.class_shares.get(c, 0.0) for c in IMPORTER_CLASSES])
    klass = rng.choice(len(IMPORTER_CLASSES), n_imp, p=class_p / class_p.sum()).astype(np.int8)
    class_mean = np.array([cfg.class_propensity.get(c, 0.0) for c in IMPORTER_CLASSES])
    propensity = class_mean[klass] + rng.normal(0, cfg.propensity_sd, n_imp)
    n_types = len(OFFENCE_TYPES)
    affinity = rng.dirichlet(np.full(n_types, cfg.type_affinity_alpha), n_imp) * n_types

    # chapters: Gumbel top-k on chapter volume, Dirichlet weights among the chosen
    n_ch = 1 + rng.binomial(cfg.max_chapters - 1, cfg.extra_chapter_p, n_imp)
    keys = np.log(catalogue.chapter_weight)[None, :] + rng.gumbel(
        size=(n_imp, len(catalogue.chapter_weight))
    )
    chapters = np.argsort(-keys, axis=1)[:, : cfg.max_chapters]
    ch_w = rng.dirichlet(np.ones(cfg.max_chapters), n_imp)
    ch_w[np.arange(cfg.max_chapters)[None, :] >= n_ch[:, None]] = 0.0
    chapter_cum = np.cumsum(ch_w / ch_w.sum(axis=1, keepdims=True), axis=1)
    chapter_cum[:, -1] = 1.0

    # sellers: a pool with a country each; importers keep a small set
    n_sel = max(cfg.min_sellers, round(cfg.sellers_per_million * scale))
    seller_country = rng.choice(len(countries.iso), n_sel, p=countries.origin_weight)
    seller_complicit = rng.random(n_sel) < cfg.complicit_seller_share
    seller_w = _pareto(rng, 1.5, 500.0, n_sel)
    n_sellers = np.minimum(
        1 + rng.poisson(cfg.sellers_per_importer_mean - 1, n_imp), cfg.max_sellers
    )
    sellers = rng.choice(n_sel, (n_imp, cfg.max_sellers), p=seller_w / seller_w.sum())

    # declarants: Pareto sizes, a few complicit; systematic importers seek those out
    n_dec = max(cfg.min_declarants, round(cfg.declarants_per_million * scale))
    dec_w = _pareto(rng, 1.3, 1000.0, n_dec)
    dec_w /= dec_w.sum()
    bad = rng.random(n_dec) < cfg.bad_declarant_share
    if not bad.any():
        bad[rng.integers(n_dec)] = True
    dec_prop = rng.normal(0, cfg.declarant_propensity_sd, n_dec) + bad * cfg.bad_declarant_effect
    main = rng.choice(n_dec, n_imp, p=dec_w)
    bad_ids = np.flatnonzero(bad)
    seek = (klass == IMPORTER_CLASSES.index("systematic")) & (
        rng.random(n_imp) < cfg.systematic_bad_declarant_p
    )
    main = np.where(seek, bad_ids[rng.integers(0, len(bad_ids), n_imp)], main)

    # offices
    office_type = rng.choice(len(OFFICE_TYPES), cfg.n_offices, p=_office_p(cfg))
    office_w = 1.0 / np.arange(1, cfg.n_offices + 1) ** 0.9
    office_w = rng.permutation(office_w / office_w.sum())
    home_office = rng.choice(cfg.n_offices, n_imp, p=office_w)
    return Traders(
        arrival=arrival,
        exit=exit_day,
        activity=activity,
        price_level=rng.lognormal(0, cfg.importer_price_sigma, n_imp),
        klass=klass,
        propensity=propensity,
        affinity=affinity,
        chapters=chapters,
        chapter_cum=chapter_cum,
        sellers=sellers,
        n_sellers=n_sellers,
        main_declarant=main,
        home_office=home_office,
        incoterm=rng.choice(len(cfg.incoterms), n_imp, p=_normalise(cfg.incoterms)),
        payment=rng.choice(len(cfg.payment_types), n_imp, p=_normalise(cfg.payment_types)),
        declarant_weight=dec_w,
        declarant_propensity=dec_prop,
        seller_country=seller_country,
        seller_complicit=seller_complicit,
        office_type=office_type,
        office_weight=office_w,
    )


def _office_p(cfg: TraderConfig) -> np.ndarray:
    return np.array([cfg.office_type_shares.get(t, 0.0) for t in OFFICE_TYPES]) / sum(
        cfg.office_type_shares.get(t, 0.0) for t in OFFICE_TYPES
    )
