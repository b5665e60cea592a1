"""World generator speed and memory: ``customs-risk generate`` of 1,000,000 rows, seed 7.

Usage: python benchmarks/generate_benchmark.py [--rows 1000000] [--seed 7] [--out DIR]
Runs the command in a child process (so its peak RSS is its own), prints wall seconds, peak
memory and the world's headline rates, then runs ``customs_risk.data.validation.validate_dataset``
on the output when that exists. Exits 1 if over --budget-seconds (60) or --budget-gib (4).
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from customs_risk.data.contracts import DECLARATIONS_FILE, OUTCOMES_FILE, TRUTH_FILE
from customs_risk.data.generator import World, summarize_world

REPO = Path(__file__).resolve().parents[1]


def run(rows: int, seed: int, out: Path) -> tuple[float, float]:
    """Generate into ``out`` in a child process; wall seconds and peak RSS (GiB) of the child."""
    command = [sys.executable, "-m", "customs_risk.cli", "generate"]
    command += ["--declarations", str(rows), "--seed", str(seed), "--out", str(out)]
    command += ["--params", str(REPO / "params.yaml")]
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
    return wall, peak_kib / 2**20


def validate(out: Path) -> bool:
    """Run the dataset validator on ``out``; True when it exits clean."""
    from customs_risk.data.validation import validate_dataset

    started = time.perf_counter()
    report = validate_dataset(out)
    seconds = time.perf_counter() - started
    print(f"validate: {seconds:.1f} s, {len(report.violations):,} violations, ok={report.ok}")
    return report.ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=None, help="keep the world here")
    parser.add_argument("--budget-seconds", type=float, default=60.0)
    parser.add_argument("--budget-gib", type=float, default=4.0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="world-") as tmp:
        out = args.out or Path(tmp)
        wall, peak = run(args.rows, args.seed, out)
        print(
            f"generate {args.rows:,} rows seed {args.seed}: {wall:.1f} s wall, {peak:.2f} GiB peak"
        )
        world = World(
            declarations=pd.read_parquet(out / DECLARATIONS_FILE),
            outcomes=pd.read_parquet(out / OUTCOMES_FILE),
            truth=pd.read_parquet(out / TRUTH_FILE),
        )
        for name, value in summarize_world(world).items():
            print(f"  {name:<26} {value:,.4f}")
        valid = validate(out)
    ok = valid and wall <= args.budget_seconds and peak <= args.budget_gib
    print(
        "within budget" if ok else f"OVER BUDGET ({args.budget_seconds} s, {args.budget_gib} GiB)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
