"""Synthetic customs world: declarations, inspection outcomes and the ground truth behind them.

``generate_world`` runs the stages in ``customs_risk.data.world`` (catalogue, traders, shipments,
offence plan, legacy policy draws, the time loop, frames); every stage has its own random stream
spawned from the seed, so the same seed always gives identical frames. docs/world.md describes
the world, its parameters and the files.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from customs_risk.data.contracts import (
    DECLARATIONS_FILE,
    DISTRICTS_FILE,
    OUTCOMES_FILE,
    TRUTH_FILE,
)
from customs_risk.data.world.catalogue import (
    build_catalogue,
    build_countries,
    build_price_matrix,
)
from customs_risk.data.world.frames import build_frames, district_frame, ring_frame
from customs_risk.data.world.inspection import draw_conduct, draw_legacy
from customs_risk.data.world.offences import plan_offences
from customs_risk.data.world.rings import form_rings
from customs_risk.data.world.shipments import build_shipments
from customs_risk.data.world.simulate import simulate
from customs_risk.data.world.traders import build_traders
from customs_risk.data.world_config import WorldConfig

# new streams go last: SeedSequence.spawn children are by index, so the others stay the same
_STREAMS = (
    "catalogue",
    "countries",
    "traders",
    "shipments",
    "offences",
    "legacy",
    "simulate",
    "conduct",
    "rings",
)
RINGS_FILE = "rings.parquet"  # importer_id -> ring_id, evaluation only; written for ring worlds
# share of the progress bar per stage
_STAGES = {
    "catalogue": 2,
    "traders": 3,
    "shipments": 15,
    "offences": 15,
    "legacy": 5,
    "simulate": 30,
    "frames": 30,
}


@dataclass(frozen=True)
class World:
    """The frames of a synthetic world (truth is for evaluation only)."""

    declarations: pd.DataFrame
    outcomes: pd.DataFrame
    truth: pd.DataFrame
    districts: pd.DataFrame  # office_id -> district_id
    rings: pd.DataFrame | None = None  # importer_id -> ring_id (evaluation only), None: no rings


class _Stages:
    """A rich progress bar over the generator's stages (or nothing)."""

    def __init__(self, enabled: bool) -> None:
        self._progress = None
        self._done = 0.0
        if enabled:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                TextColumn("[bold]{task.description:<22}"),
                BarColumn(),
                TextColumn("{task.percentage:>3.0f}%"),
                TimeElapsedColumn(),
                transient=False,
            )
            self._task = self._progress.add_task("world", total=sum(_STAGES.values()))

    def __enter__(self) -> _Stages:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        if self._progress is not None:
            self._progress.update(self._task, description=name, completed=self._done)
        yield
        self._done += _STAGES[name]
        if self._progress is not None:
            self._progress.update(self._task, completed=self._done)

    def partial(self, name: str, fraction: float) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=self._done + fraction * _STAGES[name])


def generate_world(
    config: WorldConfig, n_declarations: int, seed: int, progress: bool = False
) -> World:
    """Generate a world of ``n_declarations`` declaration items (rows) from ``seed``."""
    if n_declarations < 1:
        raise ValueError(f"n_declarations must be >= 1, got {n_declarations}")
    streams = dict(zip(_STREAMS, np.random.SeedSequence(seed).spawn(len(_STREAMS)), strict=True))
    rng = {name: np.random.default_rng(s) for name, s in streams.items()}
    with _Stages(progress) as stages:
        with stages.stage("catalogue"):
            catalogue = build_catalogue(config.catalogue, rng["catalogue"])
            countries = build_countries(
                config.countries,
                config.regime,
                config.catalogue.origin_price_sigma,
                rng["countries"],
            )
            prices = build_price_matrix(
                catalogue, countries, config.catalogue.pair_price_sigma, rng["countries"]
            )
        with stages.stage("traders"):
            traders = build_traders(
                config.traders,
                catalogue,
                countries,
                n_declarations,
                config.time.n_days,
                rng["traders"],
            )
            traders, ring = form_rings(config.rings, traders, rng["rings"])
        with stages.stage("shipments"):
            ship = build_shipments(
                config, catalogue, countries, traders, prices, n_declarations, rng["shipments"]
            )
        with stages.stage("offences"):
            plan = plan_offences(config, catalogue, countries, traders, ship, rng["offences"])
        with stages.stage("legacy"):
            draws = draw_legacy(
                config.legacy,
                ship.n_declarations,
                len(ship.decl),
                len(traders.office_weight),
                rng["legacy"],
            )
            conduct = draw_conduct(
                config.legacy, ship.n_declarations, len(traders.office_weight), rng["conduct"]
            )
        with stages.stage("simulate"):
            sim = simulate(
                config,
                catalogue,
                countries,
                traders,
                ship,
                plan,
                draws,
                conduct,
                rng["simulate"],
                on_chunk=lambda f: stages.partial("simulate", f),
            )
        with stages.stage("frames"):
            declarations, outcomes, truth = build_frames(
                config, catalogue, countries, traders, ship, plan, sim
            )
            districts = district_frame(len(traders.office_weight), config.traders.n_districts)
            rings = ring_frame(ring, traders.n_importers) if (ring >= 0).any() else None
    return World(
        declarations=declarations,
        outcomes=outcomes,
        truth=truth,
        districts=districts,
        rings=rings,
    )


def write_world(world: World, out_dir: Path) -> None:
    """Write declarations.parquet, outcomes.parquet, truth.parquet, districts.parquet and, in a
    world with rings, rings.parquet into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    frames = [
        (world.declarations, DECLARATIONS_FILE),
        (world.outcomes, OUTCOMES_FILE),
        (world.truth, TRUTH_FILE),
        (world.districts, DISTRICTS_FILE),
    ]
    if world.rings is not None:
        frames.append((world.rings, RINGS_FILE))
    for frame, name in frames:
        frame.to_parquet(out_dir / name, index=False, compression="zstd")


def summarize_world(world: World) -> dict[str, float]:
    """Headline figures: rows, offence and inspection rates, hit rates by legacy channel."""
    truth = world.truth
    inspected = truth["inspected"].to_numpy()
    detected = truth["detected"].to_numpy()
    summary: dict[str, float] = {
        "rows": float(len(truth)),
        "declarations": float(truth["declaration_id"].nunique()),
        "importers": float(truth["importer_id"].nunique()),
        "offence_rate": float(truth["is_offence"].mean()),
        "inspection_rate": float(inspected.mean()),
        "hit_rate": float(detected[inspected].mean()) if inspected.any() else float("nan"),
        "revenue_share_recovered": float(
            truth["true_revenue"].to_numpy()[detected].sum()
            / max(truth["true_revenue"].sum(), 1e-9)
        ),
    }
    channel = truth["legacy_channel"].to_numpy()
    for name in ("red", "orange", "green"):
        mask = inspected & (channel == name)
        summary[f"inspected_{name}"] = float(mask.mean())
        summary[f"hit_rate_{name}"] = float(detected[mask].mean()) if mask.any() else float("nan")
    return summary
