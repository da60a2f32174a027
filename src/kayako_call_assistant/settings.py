"""All configuration, from environment variables prefixed ``KCA_`` and an optional ``.env`` file.

This class is the one place where settings are declared: every field carries its default and a
description, and ``docs/configuration.md`` is generated from it (``kca config --markdown``); a test keeps
the two in step.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="KCA_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # --- Service -------------------------------------------------------------------------------------
    environment: Literal["development", "production"] = Field(
        "development", description="`production` switches logs to JSON and hides debug detail."
    )
    host: str = Field("127.0.0.1", description="Address the HTTP server binds to.")
    port: int = Field(8080, description="Port the HTTP server listens on.")
    public_url: str = Field(
        "http://127.0.0.1:8080",
        description="Base URL Twilio and browsers reach this service at (used in TwiML and signatures).",
    )
    data_dir: Path = Field(Path("var"), description="Directory for the SQLite file, indexes and recordings.")
    helpdesk_name: str = Field("Acme Support", description="The help desk's name, spoken in the greeting.")
    locale: str = Field("en-us", description="Help-center locale code used to resolve article fields.")
    log_level: str = Field("INFO", description="Minimum log level.")

    # --- Kayako --------------------------------------------------------------------------------------
    kayako_base_url: str = Field(
        "",
        description="Kayako API base, e.g. `https://acme.kayako.com/api/v1`. Empty: the embedded mock is started "
        "and used.",
    )
    kayako_auth: Literal["basic", "oauth"] = Field("basic", description="Authentication mode.")
    kayako_email: str = Field("", description="Agent email for Basic → session authentication.")
    kayako_password: SecretStr = Field(SecretStr(""), description="Agent password (Basic) or OAuth password grant.")
    kayako_oauth_client_id: str = Field("", description="OAuth consumer key.")
    kayako_oauth_client_secret: SecretStr = Field(SecretStr(""), description="OAuth consumer secret.")
    kayako_oauth_refresh_token: SecretStr = Field(
        SecretStr(""), description="OAuth refresh token; used instead of the password grant when set."
    )
    kayako_timeout_seconds: float = Field(10.0, description="Timeout of one Kayako request.")
    kayako_max_retries: int = Field(4, description="Retries after connection errors, 5xx and 429.")
    kayako_requests_per_minute: int = Field(
        300, description="Client-side rate limit for the account (shared through Redis when configured)."
    )
    kayako_cache_ttl_seconds: float = Field(
        300.0, description="TTL of cached read-mostly data (articles, statuses, priorities, …)."
    )
    kayako_webhook_token: SecretStr = Field(
        SecretStr(""), description="Path token of `POST /webhooks/kayako/{token}`; empty disables the endpoint."
    )
    kayako_webhook_secret: SecretStr = Field(
        SecretStr(""), description="Optional shared secret: Basic-auth password or HMAC-SHA256 key for webhooks."
    )
    kayako_mock_port: int = Field(8100, description="Port of the embedded Kayako mock started by `kca serve`.")

    # --- Storage and shared state ----------------------------------------------------------------------
    database_url: str = Field(
        "", description="SQLAlchemy async URL; empty: a SQLite file in `data_dir`. PostgreSQL: `postgresql+asyncpg://…`."
    )
    redis_url: str = Field("", description="Redis URL for the shared rate limiter and cache; empty: in-process.")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (tests construct ``Settings(...)`` directly instead)."""
    return Settings()
