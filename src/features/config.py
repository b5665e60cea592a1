"""Settings of the feature pipeline: entities, priors, price grids, grades (docs/features.md)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# Entity name -> the columns whose combination identifies it ("hs4"/"hs6" are derived codes).
DEFAULT_ENTITIES: dict[str, tuple[str, ...]] = {
    "importer": ("importer_id",),
    "declarant": ("declarant_id",),
    "seller": ("seller_id",),
    "importer_hs4": ("importer_id", "hs4"),
    "declarant_office": ("declarant_id", "office_id"),
    "hs6_origin": ("hs6", "origin_country"),
}

# Columns never used as features even when a dataset brings them (labels, decisions, truth).
EXCLUDED_COLUMNS: frozenset[str] = frozenset(
    {
        "channel",
        "selected",
        "selection_probability",
        "fraud_found",
        "fraud_type",
        "critical",
        "recovered_revenue",
        "result_at",
        "is_offence",
        "offence_type",
        "label",
    }
)


@dataclass(frozen=True)
class Grid:
    """A fixed two-level histogram grid: ``n_coarse`` bins of ``width`` from ``low``, each cut
    into ``n_fine`` sub-bins. Fixed (never fitted) so that the future cannot move the past.
    ``interpolate`` False reports the lower edge of the sub-bin (exact for values on the grid)."""

    low: float
    width: float
    n_coarse: int
    n_fine: int = 64
    interpolate: bool = True

    @property
    def high(self) -> float:
        """Upper edge; values outside [low, high) are clipped into the end bins."""
        return self.low + self.width * self.n_coarse


# log unit values, steps of 1/64 from -16 to 32
LOG_UNIT_VALUE_GRID = Grid(low=-16.0, width=0.25, n_coarse=192, n_fine=16)
# tariff rates in percent, steps of 1/32 point up to 256 %
RATE_GRID = Grid(low=0.0, width=0.5, n_coarse=512, n_fine=16, interpolate=False)


@dataclass(frozen=True)
class GradeRule:
    """Thresholds of the four compliance grades (docs/features.md, "Trader grades")."""

    high_risk_rate_multiple: float = 2.0
    high_risk_min_offences: int = 2
    high_risk_recent_days: float = 365.0
    watch_recent_days: float = 180.0
    watch_min_declarations: int = 10
    certified_min_declarations: int = 100
    certified_min_inspections: int = 10
    certified_rate_multiple: float = 0.5
    certified_min_days: float = 365.0
    certified_clean_days: float = 730.0


@dataclass(frozen=True)
class FeatureConfig:
    """Everything the pipeline needs to know besides the data; saved with the state."""

    entities: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_ENTITIES))
    prices: bool = True
    network: bool = True  # offence history over the trader graph (features.network)
    prior_offences: float = 1.0
    prior_inspections: float = 10.0
    prior_strength: float = 5.0
    price_shrinkage: float = 10.0
    min_spread: float = 0.05
    preferential_tolerance: float = 0.02
    max_extra_categories: int = 1000
    float_dtype: str = "float32"
    grade_rule: GradeRule = field(default_factory=GradeRule)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form."""
        data = asdict(self)
        data["entities"] = {k: list(v) for k, v in self.entities.items()}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureConfig:
        """Inverse of :meth:`to_dict`."""
        data = dict(data)
        data["entities"] = {k: tuple(v) for k, v in data["entities"].items()}
        data["grade_rule"] = GradeRule(**data["grade_rule"])
        data.setdefault("network", False)  # states saved before network features had none
        return cls(**data)
