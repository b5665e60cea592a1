"""The legacy channel policy (who was inspected), imperfect detection and result delays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from customs_risk.data.contracts import FRAUD_TYPES
from customs_risk.data.world_config import DelayConfig, LegacyConfig

# channel codes: index into CHANNEL_NAMES (severity order)
CHANNEL_NAMES: tuple[str, ...] = ("green", "orange", "red")
GREEN, ORANGE, RED = 0, 1, 2
RULES: tuple[str, ...] = (
    "high_tariff",
    "sensitive_chapter",
    "risky_origin",
    "new_importer",
    "repeat_offender",
)
LEGACY_RULES: tuple[str, ...] = (*RULES, "random", "audit", "none")
RANDOM_RULE, AUDIT_RULE, NO_RULE = len(RULES), len(RULES) + 1, len(RULES) + 2
SELECTED_BY: tuple[str, ...] = ("none", "rule", "random")
BY_RULE = 1  # selected_by code of a rule selection
# why an officer downgrades a red to orange, and how often each reason is given
OVERRIDE_REASONS: tuple[str, ...] = (
    "documents sufficient",
    "trusted trader",
    "inspection capacity",
    "perishable goods",
)
_REASON_WEIGHTS = (0.4, 0.3, 0.2, 0.1)


@dataclass(frozen=True)
class LegacyDraws:
    """All random numbers and tables the legacy policy needs, drawn once up front."""

    u_rule: np.ndarray  # (n_decl, n_rules)
    u_random: np.ndarray
    u_random_red: np.ndarray
    u_audit: np.ndarray
    u_detect: np.ndarray  # per item
    delay: np.ndarray  # (3, n_decl) days to result per channel code
    office_intensity: np.ndarray
    p_red: np.ndarray  # (n_rules,)
    p_orange: np.ndarray
    detect: np.ndarray  # (3 channels, len(FRAUD_TYPES)) detection probability


def _delays(d: DelayConfig, n: int, rng: np.random.Generator) -> np.ndarray:
    return np.clip(d.median * rng.lognormal(0, d.sigma, n), d.low, d.high)


def draw_legacy(
    cfg: LegacyConfig, n_decl: int, n_items: int, n_offices: int, rng: np.random.Generator
) -> LegacyDraws:
    """Draw the legacy policy's random numbers: rule firing, random picks, audits, delays."""
    probs = [cfg.high_tariff, cfg.sensitive, cfg.risky_origin, cfg.new_importer]
    probs.append(cfg.repeat_offender)
    detect = np.zeros((len(CHANNEL_NAMES), len(FRAUD_TYPES)))
    for c, name in enumerate(CHANNEL_NAMES):
        for t, fraud in enumerate(FRAUD_TYPES[1:], start=1):
            detect[c, t] = cfg.detection[name][fraud]
    delay = np.stack(
        [
            _delays(cfg.delay_green, n_decl, rng),
            _delays(cfg.delay_orange, n_decl, rng),
            _delays(cfg.delay_red, n_decl, rng),
        ]
    )
    return LegacyDraws(
        u_rule=rng.random((n_decl, len(RULES))),
        u_random=rng.random(n_decl),
        u_random_red=rng.random(n_decl),
        u_audit=rng.random(n_decl),
        u_detect=rng.random(n_items),
        delay=np.round(delay * 86400.0) / 86400.0,
        office_intensity=rng.lognormal(0, cfg.office_intensity_sigma, n_offices),
        p_red=np.array([p.p_red for p in probs]),
        p_orange=np.array([p.p_orange for p in probs]),
        detect=detect,
    )


def decide_channels(
    cfg: LegacyConfig,
    draws: LegacyDraws,
    flags: np.ndarray,
    decl: slice,
    office: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Legacy channel per declaration from its rule flags (m, n_rules).

    Returns channel code, selected_by code, legacy rule code and whether a green declaration
    was picked for a post-release audit.
    """
    intensity = draws.office_intensity[office][:, None]
    u = draws.u_rule[decl]
    p_red = np.minimum(draws.p_red[None, :] * intensity, 1.0)
    p_any = np.minimum((draws.p_red + draws.p_orange)[None, :] * intensity, 1.0)
    red = flags & (u < p_red)
    hit = flags & (u < p_any)
    channel = np.where(red.any(axis=1), RED, np.where(hit.any(axis=1), ORANGE, GREEN))
    by_rule = hit.any(axis=1)
    rule = np.where(by_rule, hit.argmax(axis=1), NO_RULE)
    random_pick = ~by_rule & (draws.u_random[decl] < cfg.random_rate)
    random_channel = np.where(draws.u_random_red[decl] < cfg.random_red_share, RED, ORANGE)
    channel = np.where(random_pick, random_channel, channel).astype(np.int8)
    audit = (channel == GREEN) & (draws.u_audit[decl] < cfg.audit_rate)
    rule = np.where(random_pick, RANDOM_RULE, np.where(audit, AUDIT_RULE, rule)).astype(np.int8)
    selected = np.where(by_rule, 1, np.where(random_pick | audit, 2, 0)).astype(np.int8)
    return channel, selected, rule, audit


@dataclass(frozen=True)
class OfficeConduct:
    """How officers apply the legacy channels: per office the share of rule-red declarations
    downgraded to orange and a factor on the detection of its red and orange inspections; per
    declaration the draw that decides a downgrade and the reason given."""

    override_share: np.ndarray  # (n_offices,)
    detection_factor: np.ndarray  # (n_offices,)
    u_override: np.ndarray  # (n_decl,)
    reason: np.ndarray  # (n_decl,) index into OVERRIDE_REASONS

    @property
    def lax(self) -> bool:
        """Whether some office detects less than the detection table says."""
        return bool((self.detection_factor != 1.0).any())


def draw_conduct(
    cfg: LegacyConfig, n_decl: int, n_offices: int, rng: np.random.Generator
) -> OfficeConduct:
    """The officers' conduct (``override_share``, ``lax_offices``) and its random numbers."""
    share = np.full(n_offices, cfg.override_share)
    factor = np.ones(n_offices)
    for office, lax in cfg.lax_offices.items():
        share[int(office[3:])] = lax.override_share
        factor[int(office[3:])] = lax.detection_factor
    return OfficeConduct(
        override_share=share,
        detection_factor=factor,
        u_override=rng.random(n_decl),
        reason=rng.choice(len(OVERRIDE_REASONS), size=n_decl, p=_REASON_WEIGHTS).astype(np.int8),
    )


def apply_overrides(
    conduct: OfficeConduct,
    channel: np.ndarray,
    selected: np.ndarray,
    decl: slice,
    office: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The channel applied per declaration and whether the officer downgraded the rules' red.

    Random-control picks are never downgraded: the control stays the design's random sample.
    """
    down = (
        (channel == RED)
        & (selected == BY_RULE)
        & (conduct.u_override[decl] < conduct.override_share[office])
    )
    return np.where(down, ORANGE, channel).astype(np.int8), down
