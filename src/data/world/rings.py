"""Rings: groups of related importers that offend together (``rings:`` in the world config).

A ring's members share a few sellers (some issuing false invoices), one declarant (broker), the
goods they trade, their offence-type affinity and one offence propensity, so their offences are
correlated and they are linked in the importer - seller - declarant graph. New importers join
rings as well: a member with no history of its own trades with partners that have one.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from customs_risk.data.world.traders import IMPORTER_CLASSES, Traders
from customs_risk.data.world_config import RingConfig

NO_RING = -1
_SYSTEMATIC = IMPORTER_CLASSES.index("systematic")


def ring_sizes(n_members: int, size_mean: float, rng: np.random.Generator) -> np.ndarray:
    """Sizes (each at least 2) that sum to ``n_members`` (>= 2): 2 + Poisson(size_mean - 2)."""
    expected = int(np.ceil(n_members / size_mean)) + 8
    sizes = 2 + rng.poisson(size_mean - 2, expected)
    while sizes.sum() < n_members:
        sizes = np.concatenate([sizes, 2 + rng.poisson(size_mean - 2, expected)])
    cum = np.cumsum(sizes)
    n_rings = int(np.searchsorted(cum, n_members)) + 1
    sizes = sizes[:n_rings].copy()
    sizes[-1] -= int(cum[n_rings - 1] - n_members)
    if sizes[-1] < 2 and n_rings > 1:  # a lone last member joins the ring before it
        sizes[-2] += sizes[-1]
        sizes = sizes[:-1]
    return sizes.astype(np.int64)


def form_rings(
    cfg: RingConfig, traders: Traders, rng: np.random.Generator
) -> tuple[Traders, np.ndarray]:
    """Group ``cfg.importer_share`` of the importers into rings; the traders with the members'
    sellers, declarant, goods, affinity and propensity rewritten, and the ring of each importer
    (``NO_RING`` outside). Without rings nothing is drawn and the traders come back unchanged."""
    n_imp = traders.n_importers
    n_members = round(cfg.importer_share * n_imp)
    ring = np.full(n_imp, NO_RING, dtype=np.int64)
    if n_members < 2:
        return traders, ring
    members = rng.permutation(n_imp)[:n_members]
    sizes = ring_sizes(n_members, cfg.size_mean, rng)
    n_rings = len(sizes)
    of_member = np.repeat(np.arange(n_rings), sizes)
    ring[members] = of_member
    first = members[np.concatenate([[0], np.cumsum(sizes)[:-1]])][of_member]

    shift = rng.normal(cfg.propensity, cfg.propensity_sd, n_rings)
    propensity = traders.propensity.copy()
    propensity[members] = shift[of_member] + rng.normal(0.0, cfg.member_sd, n_members)
    klass = traders.klass.copy()
    klass[members] = _SYSTEMATIC

    affinity, chapters, chapter_cum = (
        traders.affinity.copy(),
        traders.chapters.copy(),
        traders.chapter_cum.copy(),
    )
    if cfg.shared_affinity:
        affinity[members] = traders.affinity[first]
    if cfg.shared_goods:
        chapters[members] = traders.chapters[first]
        chapter_cum[members] = traders.chapter_cum[first]

    n_sel = len(traders.seller_country)
    ring_sellers = rng.integers(0, n_sel, (n_rings, cfg.sellers))
    complicit = traders.seller_complicit.copy()
    complicit[ring_sellers[rng.random(ring_sellers.shape) < cfg.complicit_seller_p]] = True
    slots = traders.sellers.shape[1]
    take = rng.random((n_members, slots)) < cfg.seller_share
    pick = ring_sellers[of_member[:, None], rng.integers(0, cfg.sellers, (n_members, slots))]
    sellers = traders.sellers.copy()
    sellers[members] = np.where(take, pick, traders.sellers[members])

    # small brokers rather than the big ones: uniform over declarants, not by their volume
    ring_declarant = rng.integers(0, len(traders.declarant_weight), n_rings)
    use = rng.random(n_members) < cfg.declarant_share
    main = traders.main_declarant.copy()
    main[members] = np.where(use, ring_declarant[of_member], traders.main_declarant[members])

    changed = dataclasses.replace(
        traders,
        propensity=propensity,
        klass=klass,
        affinity=affinity,
        chapters=chapters,
        chapter_cum=chapter_cum,
        sellers=sellers,
        seller_complicit=complicit,
        main_declarant=main,
    )
    return changed, ring
