"""Start and stop a local ``bentoml serve`` of the service (tests, benchmarks, the CLI).

Loopback only; the server runs as a subprocess in its own process group so that stopping it ends
its workers too.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from customs_risk.serving.settings import tracing_environment

SERVICE = "customs_risk.serving.service:CustomsRiskService"


def free_port() -> int:
    """A free TCP port on localhost."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bentoml_bin() -> str:
    """The ``bentoml`` executable next to this Python."""
    candidate = Path(sys.executable).with_name("bentoml")
    return str(candidate) if candidate.exists() else "bentoml"


class LocalServer:
    """A ``bentoml serve`` subprocess on 127.0.0.1."""

    def __init__(
        self,
        env: Mapping[str, str],
        port: int | None = None,
        log_path: Path | None = None,
        cwd: Path | None = None,
        service: str = SERVICE,
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "CUSTOMS_RISK_SERVE_HOST": "127.0.0.1", **env}
        self.env.update(tracing_environment(self.env))
        self.log_path = log_path
        self.cwd = cwd
        self.service = service
        self.proc: subprocess.Popen | None = None

    def start(self) -> LocalServer:
        cmd = [
            bentoml_bin(),
            "serve",
            self.service,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(
            cmd,
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=self.cwd,
            start_new_session=True,
        )
        return self

    def wait(self, status: int = 200, timeout: float = 120.0) -> int:
        """Poll /readyz until it answers ``status`` (returns it) or raise TimeoutError."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.tail()}")
            try:
                last = httpx.get(f"{self.url}/readyz", timeout=2).status_code
                if last == status:
                    return last
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        raise TimeoutError(f"/readyz did not answer {status} (last {last}): {self.tail()}")

    def tail(self, n: int = 3000) -> str:
        if self.log_path and self.log_path.exists():
            return self.log_path.read_text(errors="replace")[-n:]
        return ""

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM the process group (graceful: the decision writer drains), then SIGKILL."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


DRAIN_SECONDS = 30.0  # after the schedule ends, requests still unsent count as errors


def open_loop_load(
    url: str, items: list[dict[str, Any]], rate: float, seconds: float, threads: int = 32
) -> dict[str, Any]:
    """``rate * seconds`` single-declaration ``POST /score`` requests on a fixed schedule
    (k / rate) from ``threads`` keep-alive clients: latency counts from each request's scheduled
    time. Returns sent, elapsed seconds, errors by status or exception, latencies in ms."""
    total = int(rate * seconds)
    lock = threading.Lock()
    state = {"next": 0}
    latencies: list[float] = []
    errors: dict[str, int] = {}
    start = time.perf_counter() + 0.5
    hard_stop = start + seconds + DRAIN_SECONDS

    def worker() -> None:
        with httpx.Client(base_url=url, timeout=30) as client:
            while True:
                with lock:
                    k = state["next"]
                    state["next"] += 1
                if k >= total:
                    return
                due = start + k / rate
                now = time.perf_counter()
                if now > hard_stop:
                    with lock:
                        errors["unsent"] = errors.get("unsent", 0) + 1
                    continue
                if due > now:
                    time.sleep(due - now)
                try:
                    r = client.post("/score", json={"declarations": [items[k % len(items)]]})
                    key = None if r.status_code == 200 else str(r.status_code)
                except httpx.HTTPError as exc:
                    key = type(exc).__name__
                done = time.perf_counter()
                with lock:
                    if key is None:
                        latencies.append((done - due) * 1000)
                    else:
                        errors[key] = errors.get(key, 0) + 1

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - start
    return {"sent": total, "elapsed": elapsed, "errors": errors, "lat": latencies}


def decided_rows(frame: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows of the decisions and declarations tables for the items of a declarations frame, as
    ``/score`` stores them (a green decision each, the item as received): the store's content
    without a model, for tests and benchmarks of what reads it."""
    import datetime as dt

    import pandas as pd

    from customs_risk.data.contracts import DECLARATION

    stored = [f.name for f in DECLARATION.fields_in("store") if f.name in frame.columns]
    items = frame[stored].astype(object)
    now = dt.datetime(2026, 1, 1)
    declarations, decisions = [], []
    for i, item in enumerate(items.where(items.notna(), None).to_dict(orient="records")):
        item["declared_at"] = pd.Timestamp(item["declared_at"]).to_pydatetime()
        declarations.append(
            {**item, "input_digest": f"digest-{i}", "extra": None, "received_at": now}
        )
        decisions.append(
            {
                "decided_at": now,
                "declaration_id": item["declaration_id"],
                "item_no": item["item_no"],
                "declared_at": item["declared_at"],
                "channel": "green",
            }
        )
    return decisions, declarations
