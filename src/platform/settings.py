"""Settings of the platform (``CUSTOMS_RISK_PLATFORM_*``)."""

from __future__ import annotations

import secrets
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class PlatformSettings(BaseSettings):
    """Where the platform's data is and how its sessions behave."""

    model_config = SettingsConfigDict(env_prefix="CUSTOMS_RISK_PLATFORM_", extra="ignore")

    data: Path = Field(
        Path("data/raw/world"), description="dataset folder behind the dashboards and tests"
    )
    profiles: list[Path] = Field(
        default_factory=lambda: [Path("profiles"), Path("profiles/world")],
        description="profile folders the profile dashboard monitors beside the store's active ones",
    )
    session_minutes: int = Field(60, ge=1, description="a session expires this long after login")
    secret_key: str = Field(
        default_factory=lambda: secrets.token_urlsafe(32),
        description="signs the CSRF tokens; set it when several processes serve the platform",
    )
    login_attempts: int = Field(5, ge=1, description="failed logins per name and address ...")
    login_window_minutes: int = Field(15, ge=1, description="... within this many minutes")
    secure_cookies: bool = Field(False, description="cookies only over HTTPS (behind TLS)")
