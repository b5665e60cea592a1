"""``customs-risk serve``: replace this process by ``bentoml serve`` of the service."""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from dataclasses import dataclass


@dataclass(frozen=True)
class ServeOptions:
    """Inputs of ``customs-risk serve``."""

    port: int = 3000
    host: str = "127.0.0.1"
    tag: str | None = None  # BentoML model tag (default: latest)


def command(options: ServeOptions, environ: MutableMapping[str, str]) -> list[str]:
    """The ``bentoml serve`` command line; sets the server's variables in ``environ``."""
    from customs_risk.serving.harness import SERVICE, bentoml_bin
    from customs_risk.serving.settings import tracing_environment

    environ["CUSTOMS_RISK_SERVE_HOST"] = options.host  # /score open on loopback only
    if options.tag:
        environ["CUSTOMS_RISK_SERVE_MODEL_TAG"] = options.tag
    cmd = [bentoml_bin(), "serve", SERVICE, "--host", options.host, "--port", str(options.port)]
    environ.update(tracing_environment(environ))
    return cmd


def run(options: ServeOptions) -> int:
    """Exec the server (does not return while it runs)."""
    cmd = command(options, os.environ)
    os.execvp(cmd[0], cmd)
    return 0  # not reached: execvp replaces the process
