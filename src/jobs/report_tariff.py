"""``customs-risk report tariff``: duty declared and recovered per chapter, origin, office,
district (where the folder maps offices to districts) and month; the price tendency per HS6 x
origin; the reference-price table; the ranked suspected price-fraud enterprises with their
evidence rows (``evaluation.tariff``). From declarations and outcomes only: never the truth.

Writes into ``--out``: ``duty.parquet`` (one table, a ``dimension`` column naming what ``unit``
is), ``prices.parquet``, ``references.parquet``, ``suspects.parquet`` (every ranked importer)
and ``suspect_evidence.parquet`` (the items of the first ``--top``); prints the top suspects.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

    from customs_risk.evaluation.tariff import Suspects

# What the analysis reads: missing ones are refused with the file and column named.
DECLARATION_NEEDS: tuple[str, ...] = (
    "declaration_id",
    "item_no",
    "declared_at",
    "office_id",
    "importer_id",
    "hs_code",
    "origin_country",
    "quantity",
    "net_mass_kg",
    "customs_value",
    "tariff_rate",
)
OUTCOME_NEEDS: tuple[str, ...] = ("declaration_id", "item_no", "fraud_found", "recovered_revenue")


@dataclass(frozen=True)
class ReportTariffOptions:
    """Inputs of ``customs-risk report tariff``."""

    data: Path
    out: Path = Path("reports/tariff")
    top: int = 50
    min_items: int = 5
    min_months: int = 2
    min_price_items: int = 5  # items a price-tendency cell needs
    record: bool = True  # the inspection record informs the suspect score (else prices alone)


def check_columns(data: Path) -> dict[str, int]:
    """Rows of each file; raise FileNotFoundError / ValueError naming a missing file or
    column."""
    import pyarrow.parquet as pq

    from customs_risk.data.contracts import DECLARATIONS_FILE, OUTCOMES_FILE

    rows: dict[str, int] = {}
    for name, needs in ((DECLARATIONS_FILE, DECLARATION_NEEDS), (OUTCOMES_FILE, OUTCOME_NEEDS)):
        path = Path(data) / name
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such file")
        present = set(pq.read_schema(path).names)
        missing = [c for c in needs if c not in present]
        if missing:
            raise ValueError(f"{path}: no column {', '.join(missing)}")
        rows[name] = pq.read_metadata(path).num_rows
    return rows


def run(options: ReportTariffOptions) -> int:
    """Build and write; 2 on bad input (no dataset, a missing column, no valid row)."""
    from rich.console import Console

    from customs_risk.evaluation import tariff
    from customs_risk.evaluation.units import read_districts, with_levels
    from customs_risk.models.dataset import load_training_data

    console = Console()
    try:
        rows = check_columns(options.data)
        declarations, outcomes = load_training_data(options.data)
        if declarations.empty:
            raise ValueError(f"{options.data}: no valid declaration (customs-risk validate)")
        districts = read_districts(options.data)
    except (FileNotFoundError, ValueError) as exc:
        console.print(f"[red]report tariff failed:[/red] {exc}")
        return 2
    dimensions = [d for d in tariff.DIMENSIONS if d != "district_id" or districts is not None]
    if districts is not None:
        declarations = with_levels(declarations, districts)
    duty = tariff.duty_tables(declarations, outcomes, dimensions)
    prices = tariff.price_tendency(declarations, options.min_price_items)
    references = tariff.reference_table(declarations)
    suspects = tariff.rank_suspects(
        declarations,
        outcomes if options.record else None,
        options.min_items,
        options.min_months,
        options.top,
    )
    options.out.mkdir(parents=True, exist_ok=True)
    for name, table in (
        ("duty", duty),
        ("prices", prices),
        ("references", references),
        ("suspects", suspects.ranking),
        ("suspect_evidence", suspects.evidence),
    ):
        table.to_parquet(options.out / f"{name}.parquet", index=False)
    chapters = duty[duty["dimension"] == "chapter"]
    declared, recovered = chapters["duty_declared"].sum(), chapters["recovered_duty"].sum()
    console.print(
        f"{len(declarations):,} items: duty declared {declared:,.0f}, recovered by inspection "
        f"{recovered:,.0f} ({recovered / declared if declared else 0:.2%}); "
        f"{len(prices):,} price-tendency cells, {len(references):,} reference prices"
    )
    rejected = sum(rows.values()) - len(declarations) - len(outcomes)
    if rejected:
        console.print(f"{rejected:,} rows rejected by validation left out (customs-risk validate)")
    _print_suspects(console, options, suspects)
    return 0


def _print_suspects(console: Console, options: ReportTariffOptions, suspects: Suspects) -> None:
    from rich.table import Table

    prior = suspects.prior
    view = Table(
        title=f"suspected price-fraud enterprises, top {options.top} of "
        f"{len(suspects.ranking):,} ranked (score: dutiable items below the reference beyond "
        "the importer's own level, in spreads)"
    )
    for column in ("rank", "importer", "score", "items", "evidence"):
        view.add_column(column, overflow="fold")
    for _, row in suspects.ranking.head(min(options.top, 20)).iterrows():
        view.add_row(
            str(row["rank"]),
            str(row["importer_id"]),
            f"{row['score']:.2f}",
            f"{int(row['n_items']):,}",
            str(row["evidence"]),
        )
    console.print(view)
    console.print(
        f"prior: importer level sd {prior.tau_a2**0.5:.2f}, dutiable shift sd "
        f"{prior.tau_b2**0.5:.2f}, record effect {prior.beta1:+.2f}; tables written to "
        f"{options.out}"
    )
