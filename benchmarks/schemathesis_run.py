"""Schemathesis against the served OpenAPI document: no 5xx over at least --cases generated cases.

Usage: python benchmarks/schemathesis_run.py [--work DIR] [--url URL] [--cases 5000]
[--max-examples 1250]
Without --url it prepares a model under --work and starts a server. Each schemathesis run covers
``/score``, ``/outcomes`` (with an admin key) and ``/model`` with --max-examples cases per
operation and generation mode (valid and invalid data); how many cases a run generates varies
(Hypothesis stops early on inputs the API mostly rejects), so runs with further seeds follow until
--cases have been tried. Prints the cases of each run and the total; exits non-zero on a failure
(a 5xx or a schema violation of an answer).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

from serving_common import TOKEN, machine_probe, prepare, server_env

from customs_risk.serving.harness import LocalServer


def run_once(url: str, max_examples: int, seed: int, report: Path) -> tuple[int, int, str]:
    """One schemathesis run: (exit code, cases generated, the tail of its output)."""
    exe = str(Path(sys.executable).with_name("schemathesis"))
    cmd = [exe, "run", f"{url}/docs.json", "--url", url, "--checks", "not_a_server_error"]
    cmd += ["--max-examples", str(max_examples), "--seed", str(seed)]
    cmd += ["--header", f"Authorization: Bearer {TOKEN}"]
    cmd += ["--include-path-regex", "^/(score|outcomes|model)$"]
    cmd += ["--report", "junit", "--report-junit-path", str(report)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    generated = re.search(r"(\d+) generated", done.stdout)
    return done.returncode, int(generated.group(1)) if generated else 0, done.stdout[-3000:]


def run(url: str, cases: int, max_examples: int, work: Path) -> int:
    """Runs with seeds 1, 2, ... until ``cases`` were generated; 0 when all passed."""
    total = 0
    seed = 0
    start = time.perf_counter()
    while total < cases:
        seed += 1
        code, generated, tail = run_once(url, max_examples, seed, work / f"schemathesis-{seed}.xml")
        total += generated
        print(f"seed {seed}: {generated} cases, exit {code} (total {total})", flush=True)
        if code != 0:
            print(tail)
            return code
        if generated == 0:
            print(tail)
            return 1
    print(
        f"schemathesis: {total} cases in {seed} runs, 0 failures (no 5xx), "
        f"{time.perf_counter() - start:.0f} s"
    )
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--work", type=Path, default=Path("data/bench/serving"))
    parser.add_argument("--url", default=None)
    parser.add_argument("--cases", type=int, default=5000)
    parser.add_argument("--max-examples", type=int, default=1250)
    args = parser.parse_args()
    print(machine_probe(), flush=True)
    setup = prepare(args.work)
    if args.url:
        code = run(args.url, args.cases, args.max_examples, setup["work"])
    else:
        with LocalServer(server_env(setup), log_path=setup["work"] / "server.log") as server:
            server.wait(200)
            code = run(server.url, args.cases, args.max_examples, setup["work"])
    raise SystemExit(code)


if __name__ == "__main__":
    main()
