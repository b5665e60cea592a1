"""``customs-risk generate``: generate a synthetic world, write it, print its headline figures."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class GenerateOptions:
    """Inputs of ``customs-risk generate``."""

    declarations: int = 200_000
    seed: int = 7
    out: Path = Path("data/raw/world")
    params: Path | None = None  # params.yaml with a world: section (default ./params.yaml)


def run(options: GenerateOptions) -> int:
    """Generate, write, print a summary; exit code."""
    import time

    from rich.console import Console
    from rich.table import Table

    from customs_risk.data.generator import generate_world, summarize_world, write_world
    from customs_risk.data.world_config import load_world_config

    console = Console()
    params_path, out_dir, seed = options.params, options.out, options.seed
    if params_path is None and Path("params.yaml").exists():
        params_path = Path("params.yaml")
    config = load_world_config(params_path)
    started = time.perf_counter()
    world = generate_world(config, options.declarations, seed, progress=True)
    with console.status("writing parquet files"):
        write_world(world, out_dir)
    elapsed = time.perf_counter() - started
    s = summarize_world(world)
    table = Table(title=f"synthetic world -> {out_dir}  (seed {seed}, {elapsed:.1f} s)")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_row("rows (declaration items)", f"{int(s['rows']):,}")
    table.add_row("declarations", f"{int(s['declarations']):,}")
    table.add_row("importers", f"{int(s['importers']):,}")
    table.add_row("offence rate", f"{s['offence_rate']:.2%}")
    table.add_row("inspection rate", f"{s['inspection_rate']:.2%}")
    table.add_row("hit rate of inspections", f"{s['hit_rate']:.2%}")
    for channel in ("red", "orange", "green"):
        table.add_row(
            f"  {channel}: inspected / hit rate",
            f"{s[f'inspected_{channel}']:.2%} / {s[f'hit_rate_{channel}']:.2%}",
        )
    table.add_row("revenue share recovered", f"{s['revenue_share_recovered']:.2%}")
    table.add_row("params", str(params_path) if params_path else "defaults")
    console.print(table)
    return 0
