"""``customs-risk serve``: the server command line and environment (nothing is started)."""

from __future__ import annotations

from customs_risk.jobs.serve import ServeOptions, command


def test_serve_command_line_and_environment() -> None:
    environ: dict[str, str] = {}
    cmd = command(ServeOptions(port=3210, host="127.0.0.1", tag="customs-risk:abc"), environ)
    assert cmd[1:] == [
        "serve",
        "customs_risk.serving.service:CustomsRiskService",
        "--host",
        "127.0.0.1",
        "--port",
        "3210",
    ]
    assert environ["CUSTOMS_RISK_SERVE_MODEL_TAG"] == "customs-risk:abc"
    assert environ["OTEL_SDK_DISABLED"] == "true"  # tracing off unless asked for
    untagged: dict[str, str] = {}
    command(ServeOptions(), untagged)
    assert "CUSTOMS_RISK_SERVE_MODEL_TAG" not in untagged
