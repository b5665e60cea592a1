"""Turn the simulated arrays into the three contract frames: declarations, outcomes, truth."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa

from customs_risk.data.contracts import (
    CATEGORICAL_DECLARATION_COLUMNS,
    DECLARATION_COLUMNS,
    FRAUD_TYPES,
    OUTCOME_COLUMNS,
)
from customs_risk.data.world.catalogue import Catalogue, Countries
from customs_risk.data.world.inspection import (
    CHANNEL_NAMES,
    LEGACY_RULES,
    OVERRIDE_REASONS,
    RED,
    SELECTED_BY,
)
from customs_risk.data.world.offences import OffencePlan
from customs_risk.data.world.shipments import ROUTES, Shipments
from customs_risk.data.world.simulate import Simulation
from customs_risk.data.world.traders import IMPORTER_CLASSES, TRANSPORT_MODES, Traders
from customs_risk.data.world_config import WorldConfig

EXTRA_DECLARATION_COLUMNS: tuple[str, ...] = CATEGORICAL_DECLARATION_COLUMNS
TRUTH_COLUMNS: tuple[str, ...] = (
    "declaration_id",
    "item_no",
    "declared_at",
    "importer_id",
    "declarant_id",
    "seller_id",
    "office_id",
    "is_offence",
    "fraud_type",
    "critical",
    "true_revenue",
    "offence_probability",
    "deterred",
    "true_hs_code",
    "true_origin_country",
    "true_customs_value",
    "true_quantity",
    "true_net_mass_kg",
    "true_tariff_rate",
    "true_duty",
    "importer_class",
    "importer_propensity",
    "importer_age_days",
    "declarant_propensity",
    "seller_complicit",
    "route",
    "regime",
    "legacy_channel",
    "legacy_rule",
    "selected_by_legacy",
    "inspected",
    "detected",
    "result_at",
)


def id_vocab(prefix: str, n: int, width: int) -> pa.Array:
    """Ids ``prefix`` + zero-padded 0..n-1, built without a Python loop."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    digits = (np.arange(n, dtype=np.int64)[:, None] // powers) % 10 + ord("0")
    head = np.frombuffer(prefix.encode(), dtype=np.uint8)
    raw = np.concatenate([np.broadcast_to(head, (n, len(head))), digits.astype(np.uint8)], axis=1)
    fixed = np.ascontiguousarray(raw).view(f"S{len(head) + width}").ravel()
    return pa.array(fixed, type=pa.binary()).cast(pa.string())


def strings(
    vocab: pa.Array | np.ndarray | list[str], codes: np.ndarray
) -> pd.api.extensions.ExtensionArray:
    """A pandas ``str`` array taking ``vocab[codes]``."""
    if not isinstance(vocab, pa.Array):
        vocab = pa.array(list(vocab), type=pa.string())
    return pd.array(vocab.take(pa.array(np.asarray(codes, dtype=np.int64))), dtype="str")


def optional_strings(
    vocab: list[str] | tuple[str, ...], codes: np.ndarray, present: np.ndarray
) -> pd.api.extensions.ExtensionArray:
    """A pandas ``str`` array taking ``vocab[codes]`` where ``present``, null elsewhere."""
    indices = pa.array(np.asarray(codes, dtype=np.int64), mask=~np.asarray(present, dtype=bool))
    return pd.array(pa.array(list(vocab), type=pa.string()).take(indices), dtype="str")


def timestamps(start: dt.date, days: np.ndarray) -> np.ndarray:
    """datetime64[ns] from fractional days since ``start`` (second resolution, NaN -> NaT)."""
    base = np.datetime64(start, "ns")
    secs = np.round(np.nan_to_num(days, nan=0.0) * 86400.0).astype(np.int64)
    out = base + secs.astype("timedelta64[s]").astype("timedelta64[ns]")
    out[np.isnan(days)] = np.datetime64("NaT")
    return out


def district_frame(n_offices: int, n_districts: int) -> pd.DataFrame:
    """The two levels: office k (``OFC`` + k) belongs to district ``k mod n_districts``."""
    office = np.arange(n_offices)
    return pd.DataFrame(
        {
            "office_id": strings(id_vocab("OFC", n_offices, 3), office),
            "district_id": strings(id_vocab("DST", n_districts, 2), office % n_districts),
        }
    )


def ring_frame(ring: np.ndarray, n_importers: int) -> pd.DataFrame:
    """Importers that belong to a ring (``ring`` >= 0 per importer): importer_id, ring_id."""
    members = np.flatnonzero(ring >= 0)
    return pd.DataFrame(
        {
            "importer_id": strings(id_vocab("IMP", n_importers, 6), members),
            "ring_id": strings(id_vocab("RNG", max(int(ring.max()) + 1, 1), 5), ring[members]),
        }
    )


def build_frames(
    cfg: WorldConfig,
    catalogue: Catalogue,
    countries: Countries,
    traders: Traders,
    ship: Shipments,
    plan: OffencePlan,
    sim: Simulation,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Declarations (what was declared), outcomes (inspected items), truth (every item)."""
    tc = cfg.traders
    n_decl = ship.n_declarations
    d = ship.decl
    off = sim.offence
    decl_vocab = id_vocab("DEC", n_decl, 9)
    decl_ids = strings(decl_vocab, d)
    importer_vocab = id_vocab("IMP", traders.n_importers, 6)
    declarant_vocab = id_vocab("DCL", len(traders.declarant_weight), 5)
    seller_vocab = id_vocab("SEL", len(traders.seller_country), 6)
    office_vocab = id_vocab("OFC", len(traders.office_weight), 3)
    hs_vocab = catalogue.code_strings()
    iso = countries.iso
    declared_at = timestamps(cfg.time.start_date, ship.day)[d]
    item_no = ship.item_no.astype(np.int64)
    importer_ids = strings(importer_vocab, ship.importer[d])
    declarant_ids = strings(declarant_vocab, ship.declarant[d])
    seller_ids = strings(seller_vocab, ship.seller[d])
    office_ids = strings(office_vocab, ship.office[d])

    value = np.where(off, plan.alt_value, ship.value)
    rate = np.where(off, plan.alt_rate, plan.rate)
    declarations = pd.DataFrame(
        {
            "declaration_id": decl_ids,
            "item_no": item_no,
            "declared_at": declared_at,
            "office_id": office_ids,
            "importer_id": importer_ids,
            "declarant_id": declarant_ids,
            "seller_id": seller_ids,
            "hs_code": strings(hs_vocab, np.where(off, plan.alt_hs6, ship.hs6)),
            "origin_country": strings(iso, np.where(off, plan.alt_origin, ship.origin)),
            "departure_country": strings(iso, sim.departure[d]),
            "transport_mode": strings(TRANSPORT_MODES, ship.mode[d]),
            "quantity": np.where(off, plan.alt_quantity, ship.quantity),
            "net_mass_kg": np.where(off, plan.alt_mass, ship.mass),
            "customs_value": value,
            "tariff_rate": rate,
            "duty_declared": np.round(value * rate / 100.0, 2),
            "licence_ref": pd.Series([None] * len(decl_ids), dtype="str"),  # no licences here
            "procedure_code": strings(list(tc.procedure_codes), ship.procedure[d]),
            "payment_type": strings(list(tc.payment_types), ship.payment[d]),
            "incoterm": strings(list(tc.incoterms), ship.incoterm[d]),
        }
    )
    assert list(declarations.columns[: len(DECLARATION_COLUMNS)]) == list(DECLARATION_COLUMNS)

    fraud = np.where(off, plan.otype, 0)
    channel = sim.channel[d]
    regime_day = (cfg.regime.date - cfg.time.start_date).days
    result_at = timestamps(cfg.time.start_date, sim.result_day)
    truth = pd.DataFrame(
        {
            "declaration_id": decl_ids,
            "item_no": item_no,
            "declared_at": declared_at,
            "importer_id": importer_ids,
            "declarant_id": declarant_ids,
            "seller_id": seller_ids,
            "office_id": office_ids,
            "is_offence": off,
            "fraud_type": strings(FRAUD_TYPES, fraud),
            "critical": off & plan.critical,
            "true_revenue": np.where(off, plan.revenue, 0.0),
            "offence_probability": sim.probability,
            "deterred": sim.deterred,
            "true_hs_code": strings(hs_vocab, ship.hs6),
            "true_origin_country": strings(iso, ship.origin),
            "true_customs_value": ship.value,
            "true_quantity": ship.quantity,
            "true_net_mass_kg": ship.mass,
            "true_tariff_rate": plan.rate,
            "true_duty": np.round(ship.value * plan.rate / 100.0, 2),
            "importer_class": strings(IMPORTER_CLASSES, traders.klass[ship.importer[d]]),
            "importer_propensity": traders.propensity[ship.importer[d]],
            "importer_age_days": plan.importer_age,
            "declarant_propensity": traders.declarant_propensity[ship.declarant[d]],
            "seller_complicit": traders.seller_complicit[ship.seller[d]],
            "route": strings(ROUTES, ship.route[d]),
            "regime": strings(["before", "after"], (ship.day[d] >= regime_day).astype(np.int8)),
            "legacy_channel": strings(CHANNEL_NAMES, channel),
            "legacy_rule": strings(LEGACY_RULES, sim.rule[d]),
            "selected_by_legacy": strings(SELECTED_BY, sim.selected[d]),
            "inspected": sim.inspected,
            "detected": sim.detected,
            "result_at": result_at,
        }
    )
    assert tuple(truth.columns) == TRUTH_COLUMNS

    found = sim.detected
    keep = np.flatnonzero(sim.inspected)
    over = sim.overridden[d][keep]
    outcomes = pd.DataFrame(
        {
            "declaration_id": strings(decl_vocab, d[keep]),
            "item_no": item_no[keep],
            "channel": strings(CHANNEL_NAMES, channel[keep]),
            "result_at": result_at[keep],
            "fraud_found": found[keep],
            "fraud_type": strings(FRAUD_TYPES, np.where(found, fraud, 0)[keep]),
            "critical": (found & plan.critical)[keep],
            "recovered_revenue": np.where(found, plan.revenue, 0.0)[keep],
            "source": pd.Series([None] * len(keep), dtype="str"),  # the world's own decisions
            "recommended_channel": optional_strings(CHANNEL_NAMES, np.full(len(keep), RED), over),
            "override_reason": optional_strings(
                OVERRIDE_REASONS, sim.override_reason[d][keep], over
            ),
        }
    )
    assert list(outcomes.columns) == list(OUTCOME_COLUMNS)
    return declarations, outcomes, truth
