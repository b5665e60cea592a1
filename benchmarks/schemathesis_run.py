"""Schemathesis against the served OpenAPI document: no 5xx over the generated cases.

Usage: python benchmarks/schemathesis_run.py [--work DIR] [--url URL] [--max-examples 200]
Without --url it prepares a model under --work and starts a server. ``/score`` and ``/outcomes``
(with the bearer token) each get --max-examples cases per generation mode (valid and invalid
data), so the default runs well over 500 cases. Exits non-zero on a failure.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from serving_common import TOKEN, prepare, server_env

from customs_risk.serving.harness import LocalServer


def run(url: str, max_examples: int, report: Path) -> int:
    """The schemathesis CLI with the server-error and schema checks; returns its exit code."""
    exe = str(Path(sys.executable).with_name("schemathesis"))
    cmd = [
        exe,
        "run",
        f"{url}/docs.json",
        "--url",
        url,
        "--checks",
        "not_a_server_error",
        "--max-examples",
        str(max_examples),
        "--header",
        f"Authorization: Bearer {TOKEN}",
        "--include-path-regex",
        "^/(score|outcomes|model)$",
        "--seed",
        "1",
        "--report",
        "junit",
        "--report-junit-path",
        str(report),
    ]
    print(" ".join(cmd), flush=True)
    return subprocess.run(cmd, check=False).returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--work", type=Path, default=Path("data/bench/serving"))
    parser.add_argument("--url", default=None)
    parser.add_argument("--max-examples", type=int, default=200)
    args = parser.parse_args()
    setup = prepare(args.work)
    report = setup["work"] / "schemathesis.xml"
    if args.url:
        code = run(args.url, args.max_examples, report)
    else:
        with LocalServer(server_env(setup), log_path=setup["work"] / "server.log") as server:
            server.wait(200)
            code = run(server.url, args.max_examples, report)
    raise SystemExit(code)


if __name__ == "__main__":
    main()
