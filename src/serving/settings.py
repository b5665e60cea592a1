"""Settings of the scoring service: environment variables ``CUSTOMS_RISK_SERVE_*``.

API keys come from ``customs-risk keys`` (``customs_risk.serving.keys``; ``CUSTOMS_RISK_API_TOKEN``
is one more, with the admin scope); the outcome store is
``CUSTOMS_RISK_STORE_URL`` (see :mod:`customs_risk.serving.store`); the BentoML model store is
``BENTOML_HOME`` (BentoML's own variable, default ``~/bentoml``). ``CUSTOMS_RISK_SERVE_TRACING``
(default false) keeps BentoML's OpenTelemetry spans (:func:`tracing_environment`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import AliasChoices, Field, TypeAdapter
from pydantic_settings import BaseSettings, SettingsConfigDict

MODEL_NAME = "customs-risk"
DEFAULT_TAG = f"{MODEL_NAME}:latest"
TRACING_VARIABLE = "CUSTOMS_RISK_SERVE_TRACING"  # true: BentoML's OpenTelemetry spans stay on
_OTEL_OFF = "OTEL_SDK_DISABLED"
BUNDLE_DIR = "bundle"
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


class ServeSettings(BaseSettings):
    """What the service loads and the limits it enforces."""

    model_config = SettingsConfigDict(env_prefix="CUSTOMS_RISK_SERVE_", populate_by_name=True)

    model_tag: str = Field(DEFAULT_TAG, description="BentoML model tag to load")
    profiles: Path | None = Field(
        Path("profiles"), description="risk profile folder (YAML); missing folder: no profiles"
    )
    lists: Path | None = Field(
        Path("lists"),
        description="managed-list folder (YAML), applied with the store's entries; missing "
        "folder: the store's only",
    )
    lists_check_seconds: float = Field(
        30.0,
        ge=0,
        description="how often the store's managed lists are checked for a change (an entry "
        "added or retired applies within this time, without a restart)",
    )
    seed: int = Field(0, ge=0, description="seed of the random control draw")
    max_items: int = Field(10_000, ge=1, description="declarations per /score request")
    max_outcomes: int = Field(50_000, ge=1, description="outcome rows per /outcomes request")
    max_request_bytes: int = Field(
        32 * 1024 * 1024,
        ge=1024,
        description="request body limit: 413 over it, declared or chunked",
    )
    workers: int = Field(1, ge=1, description="server worker processes (each loads the model)")
    xgb_nthread: int = Field(1, ge=1, description="XGBoost threads per prediction")
    inline_max: int = Field(8, ge=0, description="requests up to this size skip the thread pool")
    access_log: bool = Field(False, description="BentoML access log (one line per request)")
    thresholds: Path | None = Field(
        None,
        description="refreshed thresholds JSON (`customs-risk thresholds refresh`), reloaded "
        "when it changes; absent file: the thresholds stored with the model",
    )
    thresholds_check_seconds: float = Field(
        60.0, ge=0, description="how often the thresholds file is checked for a change"
    )
    alias_check_seconds: float = Field(
        60.0, ge=0, description="how often GET /model reads the served alias in the registry"
    )
    profiles_check_seconds: float = Field(
        30.0,
        ge=0,
        description="how often the store's active profiles (the platform's) are checked for a "
        "change; one applies within this time, without a restart",
    )
    follow_alias: bool = Field(
        True,
        description="switch to the version the served alias moves to (promotion, rollback), "
        "checked every alias_check_seconds, without a restart",
    )
    live_history: bool = Field(
        True,
        description="results and decisions in the store update the served history (no restart)",
    )
    live_poll_seconds: float = Field(
        1.0, gt=0, description="how often each worker reads the store's new history events"
    )
    live_compact_declarations: int = Field(
        200_000,
        ge=1,
        description="pending live declarations above which the days before today are folded in",
    )
    host: str | None = Field(
        None,
        description="interface the server listens on (set by `customs-risk serve` and the "
        "harness); decides whether /score is open by default",
    )
    score_open: bool | None = Field(
        None,
        description="POST /score without an API key; default: only when the server listens on "
        "the loopback interface (the demo); any other interface needs keys",
    )
    key_rate_per_second: float = Field(
        100.0, gt=0, description="requests per second a key may send (per worker) unless its own"
    )
    key_refresh_seconds: float = Field(
        5.0, ge=0, description="how often the API keys are read again (a revocation's delay)"
    )
    api_token: str | None = Field(
        None,
        validation_alias=AliasChoices("CUSTOMS_RISK_API_TOKEN", "api_token"),
        description="one more API key, named env, with the admin scope (scripts, the demo); "
        "keys proper come from `customs-risk keys add`",
    )
    bentoml_home: Path | None = Field(
        None,
        validation_alias=AliasChoices("BENTOML_HOME", "bentoml_home"),
        description="BentoML home (model store); None: BentoML's default",
    )

    def score_is_open(self) -> bool:
        """Whether /score answers without a key (see ``score_open``)."""
        if self.score_open is not None:
            return self.score_open
        return self.host in LOOPBACK

    def apply_bentoml_home(self) -> None:
        """Export BENTOML_HOME before bentoml is imported (it reads it once)."""
        if self.bentoml_home is not None:
            os.environ["BENTOML_HOME"] = str(self.bentoml_home)


def tracing_environment(env: Mapping[str, str]) -> dict[str, str]:
    """What a server process's environment needs before BentoML starts: the OpenTelemetry SDK
    off (spans cost 0.2-0.4 ms per single-declaration request) unless ``TRACING_VARIABLE`` asks
    for them; an explicit ``OTEL_SDK_DISABLED`` wins."""
    wanted = TypeAdapter(bool).validate_python(env.get(TRACING_VARIABLE) or False)
    return {} if wanted or _OTEL_OFF in env else {_OTEL_OFF: "true"}
