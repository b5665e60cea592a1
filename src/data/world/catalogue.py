"""The goods side of the world: HS nomenclature, tariff, reference prices, countries."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from customs_risk.data.world_config import CatalogueConfig, CountryConfig, RegimeConfig

CHAPTERS = np.array([c for c in range(1, 98) if c != 77], dtype=np.int64)


@dataclass(frozen=True)
class Catalogue:
    """One entry per HS6 line, sorted by code (so chapters and HS4 are contiguous)."""

    code: np.ndarray  # int64 HS6 code, e.g. 610910
    chapter: np.ndarray  # int64 1-97
    hs4: np.ndarray  # int64 e.g. 6109
    mfn_rate: np.ndarray  # float64 percent
    unit_price: np.ndarray  # float64 reference price per unit (before origin level)
    kg_per_unit: np.ndarray
    quantity_median: np.ndarray
    sensitivity: np.ndarray  # prohibited / restricted goods hazard multiplier
    decoy: np.ndarray  # int64 index of the lowest-rate sibling in the HS4, -1 if none lower
    weight: np.ndarray  # popularity within its chapter (sums to 1 per chapter)
    chapter_start: np.ndarray  # per chapter in CHAPTERS: first HS6 index
    chapter_stop: np.ndarray
    chapter_weight: np.ndarray  # import volume weight per chapter in CHAPTERS

    @property
    def size(self) -> int:
        """Number of HS6 lines."""
        return len(self.code)

    def code_strings(self) -> np.ndarray:
        """Six-digit HS6 codes as strings."""
        return np.array([f"{c:06d}" for c in self.code])


@dataclass(frozen=True)
class Countries:
    """Country table: origins, preferential factors, risk, price level, transit hubs."""

    iso: np.ndarray  # str
    origin_weight: np.ndarray  # float64, sums to 1
    pref_factor: np.ndarray  # share of MFN rate applied (1 where no agreement)
    route_risk: np.ndarray
    price_level: np.ndarray
    hub_weight: np.ndarray  # transit hub weights, sums to 1
    regime_hub: int  # index of the regime's new hub

    def index(self, iso: str) -> int:
        """Position of a country code in the table."""
        return int(np.flatnonzero(self.iso == iso)[0])


def build_catalogue(cfg: CatalogueConfig, rng: np.random.Generator) -> Catalogue:
    """Draw the HS6 catalogue: chapter -> HS4 -> HS6, rates, prices, masses, sensitivity."""
    n_hs4 = np.minimum(1 + rng.poisson(cfg.hs4_per_chapter_mean - 1, len(CHAPTERS)), 99)
    hs4_codes = np.concatenate(
        [c * 100 + np.sort(rng.choice(np.arange(1, 100), k, replace=False)) for c, k in
         zip(CHAPTERS, n_hs4, strict=True)]
    )  # fmt: skip
    n_hs6 = np.minimum(1 + rng.poisson(cfg.hs6_per_hs4_mean - 1, len(hs4_codes)), 9)
    suffix_pool = np.arange(10, 100, 10)
    parts = []
    for h, k in zip(hs4_codes, n_hs6, strict=True):
        suffix = np.array([0]) if k == 1 else np.sort(rng.choice(suffix_pool, k, replace=False))
        parts.append(h * 100 + suffix)
    code = np.concatenate(parts).astype(np.int64)
    hs4 = code // 100
    chapter = code // 10000
    n = len(code)
    hs4_index = np.searchsorted(hs4_codes, hs4)
    ch_index = np.searchsorted(CHAPTERS, chapter)

    # tariff: chapter level -> HS4 level -> HS6 rate, zeros mostly where the level is low
    level = np.array(
        [cfg.chapter_tariff_levels.get(int(c), cfg.default_tariff_level) for c in CHAPTERS]
    )
    hs4_level = level[np.searchsorted(CHAPTERS, hs4_codes // 100)] * rng.lognormal(
        -0.5 * cfg.hs4_tariff_sigma**2, cfg.hs4_tariff_sigma, len(hs4_codes)
    )
    rate = hs4_level[hs4_index] * rng.lognormal(
        -0.5 * cfg.hs6_tariff_sigma**2, cfg.hs6_tariff_sigma, n
    )
    zero_p = cfg.zero_rate_share * np.minimum(1.0, 5.0 / np.maximum(level[ch_index], 1e-9))
    rate = np.where(rng.random(n) < zero_p, 0.0, np.minimum(np.round(rate * 2) / 2, cfg.max_tariff))

    unit_price = cfg.unit_price_median * rng.lognormal(0, cfg.unit_price_sigma, n)
    kg_per_unit = cfg.kg_per_unit_median * rng.lognormal(0, cfg.kg_per_unit_sigma, n)
    quantity_median = cfg.quantity_median * rng.lognormal(0, cfg.quantity_sigma_hs6, n)

    ch_sens = np.array([cfg.sensitive_chapters.get(int(c), 0.0) for c in CHAPTERS])[ch_index]
    flagged = rng.random(n) < cfg.sensitive_hs6_share
    sensitivity = np.where(flagged, ch_sens, 0.0) + cfg.base_sensitivity

    # decoy: the lowest-rate HS6 of the same HS4, when its rate is lower
    order = np.lexsort((rate, hs4_index))
    first = np.ones(n, dtype=bool)
    first[1:] = hs4_index[order][1:] != hs4_index[order][:-1]
    group_min_pos = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    min_idx = np.empty(n, dtype=np.int64)
    min_idx[order] = order[group_min_pos]
    decoy = np.where(rate[min_idx] < rate, min_idx, -1)

    popularity = rng.lognormal(0, cfg.popularity_sigma, n)
    ch_total = np.bincount(ch_index, weights=popularity, minlength=len(CHAPTERS))
    weight = popularity / ch_total[ch_index]
    chapter_start = np.searchsorted(chapter, CHAPTERS, side="left")
    chapter_stop = np.searchsorted(chapter, CHAPTERS, side="right")
    chapter_weight = np.array([cfg.chapter_weights.get(int(c), 1.0) for c in CHAPTERS])
    return Catalogue(
        code=code,
        chapter=chapter,
        hs4=hs4,
        mfn_rate=rate,
        unit_price=unit_price,
        kg_per_unit=kg_per_unit,
        quantity_median=quantity_median,
        sensitivity=sensitivity,
        decoy=decoy,
        weight=weight,
        chapter_start=chapter_start,
        chapter_stop=chapter_stop,
        chapter_weight=chapter_weight / chapter_weight.sum(),
    )


def build_countries(
    cfg: CountryConfig, regime: RegimeConfig, price_sigma: float, rng: np.random.Generator
) -> Countries:
    """Country table from the config (union of all countries it names), sorted by code."""
    names = set(cfg.origin_weights) | set(cfg.preferential) | set(cfg.route_risk)
    names |= set(cfg.transit_hubs) | {regime.hub_country}
    iso = np.array(sorted(names))
    origin_weight = np.array([cfg.origin_weights.get(c, 0.0) for c in iso])
    hub_weight = np.array([cfg.transit_hubs.get(c, 0.0) for c in iso])
    if origin_weight.sum() <= 0:
        raise ValueError("countries.origin_weights must have a positive weight")
    hub_weight = hub_weight / hub_weight.sum() if hub_weight.sum() > 0 else hub_weight
    return Countries(
        iso=iso,
        origin_weight=origin_weight / origin_weight.sum(),
        pref_factor=np.array([cfg.preferential.get(c, 1.0) for c in iso]),
        route_risk=np.array([cfg.route_risk.get(c, 1.0) for c in iso]),
        price_level=rng.lognormal(0, price_sigma, len(iso)),
        hub_weight=hub_weight,
        regime_hub=int(np.flatnonzero(iso == regime.hub_country)[0]),
    )


def build_price_matrix(
    catalogue: Catalogue,
    countries: Countries,
    pair_sigma: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Reference unit price per HS6 x origin (log-normal around HS6 price x country level)."""
    noise = rng.lognormal(0, pair_sigma, (catalogue.size, len(countries.iso)))
    return catalogue.unit_price[:, None] * countries.price_level[None, :] * noise
