"""Inspections of the simulated weeks: an offence is found with the world's detection rate of
the channel (red finds more than orange) and the office's conduct, its result known after the
world's delay. Every random number is drawn once per row up front (seeded), so two strategies
inspecting the same item meet the same luck."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from customs_risk.data.contracts import FRAUD_TYPES, KEY
from customs_risk.data.world_config import DelayConfig, WorldConfig

NS_PER_DAY = 86_400 * 1_000_000_000
CHANNELS = ("red", "orange")


def _delays(d: DelayConfig, n: int, rng: np.random.Generator) -> np.ndarray:
    return np.clip(d.median * rng.lognormal(0, d.sigma, n), d.low, d.high)


@dataclass(frozen=True)
class Inspector:
    """Detection probabilities per channel and offence type, per-row draws and delays."""

    detect: np.ndarray  # (2 channels, len(FRAUD_TYPES))
    office_factor: dict[str, float]
    u_detect: np.ndarray
    delay_days: np.ndarray  # (2 channels, rows)

    @classmethod
    def of(cls, config: WorldConfig, n_rows: int, seed: int) -> Inspector:
        legacy = config.legacy
        detect = np.zeros((len(CHANNELS), len(FRAUD_TYPES)))
        for c, channel in enumerate(CHANNELS):
            for t, fraud in enumerate(FRAUD_TYPES[1:], start=1):
                detect[c, t] = legacy.detection[channel][fraud]
        rng = np.random.default_rng([seed, 17])
        u = rng.random(n_rows)
        delays = np.stack(
            [_delays(legacy.delay_red, n_rows, rng), _delays(legacy.delay_orange, n_rows, rng)]
        )
        factor = {o: lax.detection_factor for o, lax in legacy.lax_offices.items()}
        return cls(detect, factor, u, delays)

    def probability(
        self, channel: np.ndarray, fraud_type: np.ndarray, office: np.ndarray
    ) -> np.ndarray:
        """Probability that inspecting each row in ``channel`` (0 red, 1 orange) finds its
        offence (0 where there is none)."""
        types = pd.Categorical(fraud_type, categories=FRAUD_TYPES).codes
        p = np.where(types > 0, self.detect[channel, np.maximum(types, 0)], 0.0)
        if self.office_factor:
            p = p * np.array([self.office_factor.get(str(o), 1.0) for o in office])
        return p

    def inspect(
        self,
        rows: np.ndarray,
        channel: np.ndarray,
        declarations: pd.DataFrame,
        times: np.ndarray,
        fraud_type: np.ndarray,
        revenue: np.ndarray,
        critical: np.ndarray,
    ) -> pd.DataFrame:
        """Outcome rows (the outcome contract) of inspecting ``rows`` in ``channel``; the
        truth arrays are those of the rows."""
        office = declarations["office_id"].to_numpy()[rows]
        p = self.probability(channel, fraud_type, office)
        found = self.u_detect[rows] < p
        delay = np.round(self.delay_days[channel, rows] * 86_400.0) * 1_000_000_000
        result_at = times[rows] + delay.astype(np.int64)
        keys = declarations[KEY].iloc[rows].reset_index(drop=True)
        return keys.assign(
            channel=np.array(CHANNELS, dtype=object)[channel],
            result_at=pd.to_datetime(result_at),
            fraud_found=found,
            fraud_type=np.where(found, fraud_type, "none"),
            critical=found & critical,
            recovered_revenue=np.where(found, revenue, 0.0),
        )
