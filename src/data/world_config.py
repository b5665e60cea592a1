"""Parameters of the synthetic customs world (``world:`` section of params.yaml).

Every number the generator uses lives here with its default; docs/world.md explains each one.
Chapters are integers 1-97, countries ISO 3166 alpha-2 codes, offence types those of
``contracts.FRAUD_TYPES`` (without ``none``), rates are in percent, times in days.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from customs_risk.data.contracts import CHANNELS, FRAUD_TYPES

WORLD_SECTION = "world"
OFFENCE_TYPES: tuple[str, ...] = tuple(t for t in FRAUD_TYPES if t != "none")

# fmt: off
_CHAPTER_WEIGHTS: dict[int, float] = {
    84: 9.0, 85: 10.0, 87: 4.0, 39: 4.0, 61: 4.0, 62: 4.0, 64: 3.0, 94: 3.0,
    73: 3.0, 90: 3.0, 40: 2.0, 48: 2.0, 95: 2.5, 42: 2.0, 30: 2.0, 33: 1.5,
    72: 2.0, 76: 1.5, 83: 1.5, 22: 1.5, 8: 1.5, 3: 1.2, 29: 1.5, 69: 1.2, 70: 1.2,
    63: 1.5, 96: 1.2, 82: 1.2, 44: 1.2, 24: 0.6, 93: 0.2, 97: 0.2,
}
_CHAPTER_TARIFF_LEVELS: dict[int, float] = {
    **{c: 12.0 for c in range(1, 22)},
    22: 25.0, 24: 32.0, 42: 10.0, 50: 9.0, 51: 9.0, 52: 9.0, 53: 8.0, 54: 8.0,
    55: 9.0, 56: 8.0, 57: 10.0, 58: 10.0, 59: 8.0, 60: 10.0, 61: 15.0,
    62: 15.0, 63: 12.0, 64: 16.0, 65: 10.0, 87: 10.0, 93: 15.0, 95: 6.0,
}
_SENSITIVE_CHAPTERS: dict[int, float] = {
    93: 12.0, 30: 4.0, 29: 3.0, 24: 5.0, 97: 5.0, 1: 3.0, 3: 2.0, 6: 1.5, 44: 2.0,
    71: 3.0, 85: 1.0, 61: 1.0, 62: 1.0, 64: 1.5, 42: 2.0, 33: 2.0, 95: 1.5,
}
_ORIGIN_WEIGHTS: dict[str, float] = {
    "CN": 30.0, "US": 8.0, "DE": 8.0, "JP": 4.0, "KR": 4.0, "IN": 5.0, "VN": 5.0,
    "TH": 3.0, "MY": 2.5, "ID": 2.5, "TR": 4.0, "IT": 4.0, "FR": 4.0, "GB": 3.0,
    "NL": 2.0, "BE": 1.5, "ES": 2.0, "PL": 2.0, "BR": 2.0, "MX": 2.0, "CA": 1.5,
    "AU": 1.0, "SG": 1.0, "HK": 1.5, "TW": 2.5, "AE": 1.0, "SA": 0.5, "ZA": 0.8,
    "EG": 0.6, "MA": 0.8, "NG": 0.3, "KE": 0.3, "PK": 1.5, "BD": 2.5, "LK": 0.8,
    "PH": 1.0, "CH": 2.0, "SE": 1.0, "AT": 1.0, "CZ": 1.2, "UA": 0.5, "AR": 0.5,
    "CL": 0.5, "PE": 0.4, "CO": 0.4, "NZ": 0.4, "IL": 0.6, "KH": 1.0, "MM": 0.5,
}
_PREFERENTIAL: dict[str, float] = {
    "VN": 0.0, "MY": 0.0, "TH": 0.5, "KR": 0.0, "MX": 0.0, "CL": 0.0, "MA": 0.0,
    "CH": 0.0, "SG": 0.0, "KH": 0.0, "BD": 0.0, "LK": 0.5, "EG": 0.0, "OM": 0.0,
}
_ROUTE_RISK: dict[str, float] = {
    "CN": 1.6, "HK": 1.5, "TR": 1.3, "AE": 1.4, "NG": 2.0, "PK": 1.5, "IN": 1.2,
    "MM": 1.8, "KH": 1.3, "UA": 1.3, "CO": 1.5, "PE": 1.3,
}
# fmt: on


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TimeConfig(_Section):
    """Calendar of the world: its span, volume profile and the weekly simulation step."""

    start_date: dt.date = dt.date(2023, 1, 1)
    n_days: int = Field(730, ge=14)
    chunk_days: int = Field(7, ge=1, description="simulation step for deterrence and history")
    annual_growth: float = Field(0.08, ge=-0.5, le=2.0)
    seasonality_amplitude: float = Field(0.10, ge=0, lt=1)
    weekday_weights: list[float] = Field(
        default_factory=lambda: [1.0, 1.0, 1.0, 1.0, 0.95, 0.35, 0.12], min_length=7, max_length=7
    )
    hour_mean: float = Field(11.5, ge=0, le=24)
    hour_sd: float = Field(3.0, gt=0)


class ShapeConfig(_Section):
    """How many items a declaration carries."""

    single_item_share: float = Field(0.6, ge=0, le=1)
    extra_items_p: float = Field(0.35, gt=0, le=1, description="geometric p of multi-item size")
    max_items: int = Field(40, ge=1)


class CatalogueConfig(_Section):
    """HS nomenclature, tariff, reference prices, quantities and masses."""

    hs4_per_chapter_mean: float = Field(12.0, ge=1)
    hs6_per_hs4_mean: float = Field(4.0, ge=1)
    popularity_sigma: float = Field(1.3, ge=0, description="log-sd of HS6 popularity")
    chapter_weights: dict[int, float] = Field(
        default_factory=lambda: dict(_CHAPTER_WEIGHTS),
        description="relative import volume by chapter (others 1.0)",
    )
    default_tariff_level: float = Field(4.0, ge=0, description="mean MFN rate of a chapter")
    chapter_tariff_levels: dict[int, float] = Field(
        default_factory=lambda: dict(_CHAPTER_TARIFF_LEVELS),
    )
    hs4_tariff_sigma: float = Field(0.4, ge=0)
    hs6_tariff_sigma: float = Field(0.55, ge=0, description="spread of rates within an HS4")
    zero_rate_share: float = Field(0.25, ge=0, le=1, description="at chapter level 5% or less")
    max_tariff: float = Field(40.0, gt=0)
    unit_price_median: float = Field(18.0, gt=0)
    unit_price_sigma: float = Field(1.6, ge=0, description="log-sd of unit prices across HS6")
    origin_price_sigma: float = Field(0.3, ge=0, description="log-sd of country price levels")
    pair_price_sigma: float = Field(0.2, ge=0, description="log-sd per HS6 x origin")
    item_price_sigma: float = Field(0.55, ge=0, description="log-sd of an item around reference")
    quantity_median: float = Field(120.0, gt=0)
    quantity_sigma_hs6: float = Field(1.2, ge=0)
    quantity_sigma_item: float = Field(1.0, ge=0)
    kg_per_unit_median: float = Field(0.8, gt=0)
    kg_per_unit_sigma: float = Field(1.5, ge=0)
    mass_sigma_item: float = Field(0.45, ge=0)
    sensitive_chapters: dict[int, float] = Field(
        default_factory=lambda: dict(_SENSITIVE_CHAPTERS),
        description="prohibited/restricted-goods sensitivity by chapter (others base)",
    )
    sensitive_hs6_share: float = Field(0.5, ge=0, le=1)
    base_sensitivity: float = Field(0.03, ge=0)


class CountryConfig(_Section):
    """Origins, preferential agreements, route risk and transit hubs."""

    origin_weights: dict[str, float] = Field(
        default_factory=lambda: dict(_ORIGIN_WEIGHTS),
    )
    preferential: dict[str, float] = Field(
        default_factory=lambda: dict(_PREFERENTIAL),
        description="country -> share of the MFN rate that applies (0 = duty free)",
    )
    route_risk: dict[str, float] = Field(
        default_factory=lambda: dict(_ROUTE_RISK),
        description="origin -> offence hazard multiplier (others 1)",
    )
    transit_hubs: dict[str, float] = Field(
        default_factory=lambda: {"NL": 3.0, "BE": 2.0, "SG": 2.0, "HK": 2.0, "AE": 1.0, "DE": 1.0}
    )
    transit_share: float = Field(0.2, ge=0, le=1, description="shipments departing a hub")
    seller_origin_share: float = Field(0.85, ge=0, le=1, description="items of seller's country")


class TraderConfig(_Section):
    """Importers, declarants (brokers), sellers and offices."""

    importers_per_million: float = Field(9000.0, gt=0, description="initial importers at 1M rows")
    importer_scale_exponent: float = Field(
        0.75, gt=0, le=1, description="importers ~ rows^exponent (small worlds less concentrated)"
    )
    min_importers: int = Field(150, ge=1)
    new_importers_per_day_per_million: float = Field(10.0, ge=0)
    exit_rate_per_year: float = Field(0.08, ge=0)
    activity_pareto_alpha: float = Field(1.2, gt=0)
    activity_cap: float = Field(150.0, gt=1)
    max_chapters: int = Field(3, ge=1)
    extra_chapter_p: float = Field(0.45, ge=0, le=1)
    sellers_per_importer_mean: float = Field(3.0, ge=1)
    max_sellers: int = Field(8, ge=1)
    sellers_per_million: float = Field(30000.0, gt=0)
    min_sellers: int = Field(100, ge=1)
    declarants_per_million: float = Field(400.0, gt=0)
    min_declarants: int = Field(20, ge=1)
    main_declarant_share: float = Field(0.85, ge=0, le=1)
    home_office_share: float = Field(0.8, ge=0, le=1)
    class_shares: dict[str, float] = Field(
        default_factory=lambda: {"compliant": 0.82, "opportunistic": 0.15, "systematic": 0.03}
    )
    class_propensity: dict[str, float] = Field(
        default_factory=lambda: {"compliant": -3.0, "opportunistic": 0.0, "systematic": 2.0},
        description="mean log-hazard shift per importer class",
    )
    propensity_sd: float = Field(0.5, ge=0)
    importer_price_sigma: float = Field(0.3, ge=0, description="log-sd of importer price level")
    size_propensity_slope: float = Field(
        -0.25, description="log-hazard shift per log activity (large traders comply more)"
    )
    type_affinity_alpha: float = Field(1.0, gt=0, description="Dirichlet alpha of type affinity")
    declarant_propensity_sd: float = Field(0.3, ge=0)
    bad_declarant_share: float = Field(0.05, ge=0, le=1)
    bad_declarant_effect: float = Field(0.9, description="log-hazard shift of complicit brokers")
    systematic_bad_declarant_p: float = Field(0.4, ge=0, le=1)
    complicit_seller_share: float = Field(0.05, ge=0, le=1)
    complicit_seller_effect: float = Field(1.2, description="log-hazard shift (value offences)")
    new_importer_days: float = Field(120.0, ge=0)
    new_importer_effect: float = Field(1.3, description="log-hazard shift while new")
    n_offices: int = Field(24, ge=1)
    n_districts: int = Field(
        4, ge=1, description="districts above the offices (office k in district k mod n)"
    )
    office_type_shares: dict[str, float] = Field(
        default_factory=lambda: {"sea": 0.35, "air": 0.25, "land": 0.3, "post": 0.1}
    )
    procedure_codes: dict[str, float] = Field(
        default_factory=lambda: {"4000": 0.8, "4071": 0.08, "4200": 0.07, "5100": 0.05}
    )
    payment_types: dict[str, float] = Field(
        default_factory=lambda: {"deferred": 0.55, "cash": 0.25, "guarantee": 0.2}
    )
    incoterms: dict[str, float] = Field(
        default_factory=lambda: {"FOB": 0.35, "CIF": 0.3, "EXW": 0.15, "DAP": 0.12, "DDP": 0.08}
    )


class OffenceConfig(_Section):
    """Who offends, how, and what it is worth."""

    base_offence_rate: float = Field(
        0.055, gt=0, lt=1, description="mean offence probability before deterrence (calibrated)"
    )
    type_weights: dict[str, float] = Field(
        default_factory=lambda: {
            "undervaluation": 1.0,
            "misclassification": 0.5,
            "origin": 0.35,
            "quantity": 0.35,
            "prohibited": 1.0,
        }
    )
    stake_elasticity: float = Field(0.5, ge=0, description="hazard ~ (duty at stake)^elasticity")
    stake_reference: float = Field(300.0, gt=0)
    tariff_elasticity: float = Field(
        0.8, ge=0, description="revenue offences ~ (applicable rate / 5%)^elasticity"
    )
    undervaluation_factor: tuple[float, float] = (0.3, 0.85)
    quantity_factor: tuple[float, float] = (0.4, 0.85)
    quantity_mass_exponent: float = Field(0.3, ge=0, le=1, description="mass under-declared less")
    prohibited_revenue_share: float = Field(0.1, ge=0, description="share of duty recovered")
    critical_revenue: float = Field(4000.0, ge=0, description="revenue making an offence critical")
    origin_decoy_departure_share: float = Field(
        0.5, ge=0, le=1, description="origin offences shipped via the claimed origin"
    )
    type_trend: dict[str, float] = Field(
        default_factory=dict,
        description="offence type -> change of its log-hazard per year since the start (drift)",
    )

    @model_validator(mode="after")
    def _check(self) -> OffenceConfig:
        if set(self.type_weights) != set(OFFENCE_TYPES):
            raise ValueError(f"type_weights must name exactly {list(OFFENCE_TYPES)}")
        unknown = sorted(set(self.type_trend) - set(OFFENCE_TYPES))
        if unknown:
            raise ValueError(f"type_trend: {unknown[0]!r} is not one of {list(OFFENCE_TYPES)}")
        for name in ("undervaluation_factor", "quantity_factor"):
            low, high = getattr(self, name)
            if not 0 < low <= high < 1:
                raise ValueError(f"{name} must satisfy 0 < low <= high < 1")
        return self


class RingConfig(_Section):
    """Groups of related importers that offend together: they share sellers, a declarant, their
    goods and one offence propensity (0 importers in rings by default)."""

    importer_share: float = Field(0.0, ge=0, lt=1, description="importers that belong to a ring")
    size_mean: float = Field(6.0, ge=2, description="mean members per ring (2 + Poisson)")
    propensity: float = Field(1.5, description="mean log-hazard shift of a ring's members")
    propensity_sd: float = Field(0.6, ge=0, description="spread of the rings' shift")
    member_sd: float = Field(0.2, ge=0, description="spread of members around their ring's shift")
    sellers: int = Field(4, ge=1, description="sellers a ring shares")
    seller_share: float = Field(0.8, ge=0, le=1, description="members' seller slots taken by them")
    complicit_seller_p: float = Field(
        0.5, ge=0, le=1, description="ring sellers with false invoices"
    )
    declarant_share: float = Field(0.9, ge=0, le=1, description="members using the ring's broker")
    shared_goods: bool = Field(True, description="members trade the chapters of the ring's first")
    shared_affinity: bool = Field(True, description="members share the first's type affinity")


class RegimeConfig(_Section):
    """Drift: from ``date`` a new transshipment hub carries undervalued goods in some chapters."""

    date: dt.date = dt.date(2024, 3, 1)
    hub_country: str = Field("OM", pattern=r"^[A-Z]{2}$")
    hub_chapters: list[int] = Field(default_factory=lambda: [61, 62, 64, 85, 95, 42])
    hub_share: float = Field(0.3, ge=0, le=1, description="eligible shipments routed via the hub")
    hub_origin_claim_share: float = Field(0.6, ge=0, le=1, description="of hub origin offences")
    hub_offence_multiplier: float = Field(10.0, ge=0, description="undervaluation/origin hazard")


class DeterrenceConfig(_Section):
    """An importer caught offends less for a while."""

    factor: float = Field(0.3, ge=0, le=1, description="hazard multiplier while deterred")
    days: float = Field(180.0, ge=0)


class RuleProbs(_Section):
    """Probability that a firing rule sends the declaration to red or orange."""

    p_red: float = Field(ge=0, le=1)
    p_orange: float = Field(ge=0, le=1)

    @model_validator(mode="after")
    def _check(self) -> RuleProbs:
        if self.p_red + self.p_orange > 1:
            raise ValueError("p_red + p_orange exceeds 1")
        return self


class DelayConfig(_Section):
    """Days from declaration to inspection result: log-normal median, log-sd, clip range."""

    median: float = Field(gt=0)
    sigma: float = Field(ge=0)
    low: float = Field(gt=0)
    high: float = Field(gt=0)


class LaxOffice(_Section):
    """An office that releases high-risk items: its officers clear red and orange items without
    finding the offence, and downgrade more of the rules' reds to orange."""

    detection_factor: float = Field(
        0.25, ge=0, le=1, description="multiplies the detection probability of its red and orange"
    )
    override_share: float = Field(
        0.5, ge=0, le=1, description="its share of rule-red declarations downgraded to orange"
    )


OFFICE_ID_PATTERN = r"^OFC[0-9]{3}$"  # office k is OFC + k in 3 digits


class LegacyConfig(_Section):
    """The legacy channel policy that produced the historical inspections (selection bias)."""

    high_tariff_threshold: float = 15.0
    high_tariff: RuleProbs = RuleProbs(p_red=0.07, p_orange=0.15)
    sensitive_chapters: list[int] = Field(default_factory=lambda: [93, 97, 24, 22, 1, 3])
    sensitive: RuleProbs = RuleProbs(p_red=0.15, p_orange=0.15)
    risky_origins: list[str] = Field(default_factory=lambda: ["CN", "HK", "NG", "PK", "TR"])
    risky_origin: RuleProbs = RuleProbs(p_red=0.01, p_orange=0.04)
    new_importer_days: float = 90.0
    new_importer: RuleProbs = RuleProbs(p_red=0.05, p_orange=0.15)
    repeat_offender_days: float = 180.0
    repeat_offender: RuleProbs = RuleProbs(p_red=0.06, p_orange=0.1)
    office_intensity_sigma: float = Field(0.25, ge=0)
    random_rate: float = Field(0.025, ge=0, le=1)
    random_red_share: float = Field(0.35, ge=0, le=1)
    audit_rate: float = Field(0.01, ge=0, le=1, description="green post-release audits")
    detection: dict[str, dict[str, float]] = Field(
        default_factory=lambda: {
            "red": {
                "undervaluation": 0.6,
                "misclassification": 0.75,
                "origin": 0.5,
                "quantity": 0.8,
                "prohibited": 0.9,
            },
            "orange": {
                "undervaluation": 0.4,
                "misclassification": 0.45,
                "origin": 0.4,
                "quantity": 0.1,
                "prohibited": 0.25,
            },
            "green": {
                "undervaluation": 0.5,
                "misclassification": 0.5,
                "origin": 0.6,
                "quantity": 0.05,
                "prohibited": 0.05,
            },
        }
    )
    delay_red: DelayConfig = DelayConfig(median=3.0, sigma=0.6, low=1.0, high=10.0)
    delay_orange: DelayConfig = DelayConfig(median=1.5, sigma=0.6, low=0.25, high=5.0)
    delay_green: DelayConfig = DelayConfig(median=60.0, sigma=0.6, low=21.0, high=180.0)
    override_share: float = Field(
        0.0,
        ge=0,
        le=1,
        description="rule-red declarations the officer downgrades to orange (with a reason)",
    )
    lax_offices: dict[str, LaxOffice] = Field(
        default_factory=dict, description="office id (OFC + 3 digits) -> a lax office"
    )

    @model_validator(mode="after")
    def _check(self) -> LegacyConfig:
        bad = [o for o in self.lax_offices if not re.fullmatch(OFFICE_ID_PATTERN, o)]
        if bad:
            raise ValueError(f"lax_offices: {bad[0]!r} is not an office id (OFC + 3 digits)")
        if set(self.detection) != set(CHANNELS):
            raise ValueError(f"detection must name exactly {list(CHANNELS)}")
        for channel, table in self.detection.items():
            if set(table) != set(OFFENCE_TYPES):
                raise ValueError(f"detection.{channel} must name exactly {list(OFFENCE_TYPES)}")
        return self


class WorldConfig(_Section):
    """All parameters of the synthetic world; defaults give 3-8% offences, 10-15% inspections."""

    time: TimeConfig = TimeConfig()
    shape: ShapeConfig = ShapeConfig()
    catalogue: CatalogueConfig = CatalogueConfig()
    countries: CountryConfig = CountryConfig()
    traders: TraderConfig = TraderConfig()
    offences: OffenceConfig = OffenceConfig()
    rings: RingConfig = RingConfig()
    regime: RegimeConfig = RegimeConfig()
    deterrence: DeterrenceConfig = DeterrenceConfig()
    legacy: LegacyConfig = LegacyConfig()

    @model_validator(mode="after")
    def _check(self) -> WorldConfig:
        n = self.traders.n_offices
        beyond = [o for o in self.legacy.lax_offices if int(o[3:]) >= n]
        if beyond:
            raise ValueError(
                f"legacy.lax_offices: {beyond[0]} is not among the {n} offices (OFC000-"
                f"OFC{n - 1:03d})"
            )
        return self


def load_world_config(params_path: Path | None) -> WorldConfig:
    """Read the ``world:`` section of a params.yaml; defaults where absent or no path given."""
    if params_path is None:
        return WorldConfig()
    params = yaml.safe_load(Path(params_path).read_text()) or {}
    if not isinstance(params, dict):
        raise ValueError(f"{params_path}: expected a mapping at the top level")
    section: Any = params.get(WORLD_SECTION) or {}
    return WorldConfig.model_validate(section)


def world_config_as_params(config: WorldConfig) -> dict[str, Any]:
    """The config as plain YAML-ready data (dates stay dates, tuples become lists)."""

    def plain(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        return value

    return plain(config.model_dump(mode="python"))
