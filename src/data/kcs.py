"""Adapter for the public KCS customs declaration data set (Jeong, Kim et al., arXiv:2208.02484).

Every KCS row was inspected, so every row becomes a declaration and an outcome. The source gives
neither the offence type nor the revenue recovered: fraud_type is null where fraud was found and
recovered_revenue is null (unknown). Extra KCS columns are kept as categorical fields.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from customs_risk.data.contracts import DECLARATION_COLUMNS, DECLARATIONS_FILE, OUTCOMES_FILE

RENAME = {
    "Declaration ID": "declaration_id",
    "Date": "declared_at",
    "Office ID": "office_id",
    "Importer ID": "importer_id",
    "Declarant ID": "declarant_id",
    "Seller ID": "seller_id",
    "HS6 Code": "hs_code",
    "Country of Origin": "origin_country",
    "Country of Departure": "departure_country",
    "Mode of Transport": "transport_mode",
    "Net Mass": "net_mass_kg",
    "Item Price": "customs_value",
    "Tax Rate": "tariff_rate",
}
EXTRA = {
    "Process Type": "process_type",
    "Import Type": "import_type",
    "Import Use": "import_use",
    "Payment Type": "payment_type",
    "Tax Type": "tax_type",
    "Country of Origin Indicator": "origin_indicator",
    "Courier ID": "courier_id",
}
LABELS = ["Fraud", "Critical Fraud"]


def read_kcs(files: Sequence[Path]) -> pd.DataFrame:
    """Read one or more KCS CSV files as text (IDs keep their leading zeros)."""
    frames = [pd.read_csv(f, dtype=str, keep_default_na=False, na_values=[""]) for f in files]
    return pd.concat(frames, ignore_index=True)


def kcs_declarations(raw: pd.DataFrame) -> pd.DataFrame:
    """Map KCS rows to the declarations contract (labels are not included)."""
    decl = raw[list(RENAME) + list(EXTRA)].rename(columns={**RENAME, **EXTRA})
    decl["item_no"] = decl.groupby("declaration_id").cumcount().astype("int64") + 1
    decl["declared_at"] = pd.to_datetime(decl["declared_at"])
    decl["hs_code"] = decl["hs_code"].str.zfill(6)
    for column in [c for c, kind in DECLARATION_COLUMNS.items() if kind == "float" and c in decl]:
        decl[column] = pd.to_numeric(decl[column]).astype("float64")
    decl["quantity"] = float("nan")
    decl["duty_declared"] = decl["customs_value"] * decl["tariff_rate"] / 100.0
    decl["licence_ref"] = pd.Series(None, index=decl.index, dtype="str")  # KCS does not say
    order = [*DECLARATION_COLUMNS, *EXTRA.values()]
    return decl[order].sort_values("declared_at", kind="stable").reset_index(drop=True)


def kcs_outcomes(raw: pd.DataFrame, declarations: pd.DataFrame, lag_days: int = 0) -> pd.DataFrame:
    """Outcomes of the KCS rows: every row inspected; critical = (Critical Fraud == 2)."""
    fraud = pd.to_numeric(raw["Fraud"]).astype(int).eq(1).to_numpy()
    critical = pd.to_numeric(raw["Critical Fraud"]).astype(int).eq(2).to_numpy()
    labels = pd.DataFrame(
        {
            "declaration_id": raw["Declaration ID"].to_numpy(),
            "item_no": raw.groupby("Declaration ID").cumcount().to_numpy() + 1,
            "fraud_found": fraud,
            "critical": critical,
        }
    )
    out = declarations[["declaration_id", "item_no", "declared_at"]].merge(
        labels, on=["declaration_id", "item_no"], validate="one_to_one"
    )
    out["channel"] = "red"
    out["result_at"] = out.pop("declared_at") + pd.Timedelta(days=lag_days)
    out["fraud_type"] = pd.Series(["none"] * len(out), dtype="str").where(~out["fraud_found"])
    out["recovered_revenue"] = float("nan")
    return out[
        [
            "declaration_id",
            "item_no",
            "channel",
            "result_at",
            "fraud_found",
            "fraud_type",
            "critical",
            "recovered_revenue",
        ]
    ]


def import_kcs(files: Sequence[Path], out_dir: Path, lag_days: int = 0) -> dict[str, int]:
    """Write the canonical dataset folder for the given KCS files; return row counts."""
    raw = read_kcs(files)
    decl = kcs_declarations(raw)
    outcomes = kcs_outcomes(raw, decl, lag_days)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    decl.to_parquet(out_dir / DECLARATIONS_FILE, index=False)
    outcomes.to_parquet(out_dir / OUTCOMES_FILE, index=False)
    return {
        "declarations": len(decl),
        "outcomes": len(outcomes),
        "fraud": int(outcomes["fraud_found"].sum()),
        "critical": int(outcomes["critical"].sum()),
    }
