"""Configuration of one mock instance: accounts, token lifetimes, rate limit, seed and start-up faults."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .faults import FaultSettings


class MockConfig(FaultSettings):
    """Every field has a default: ``MockConfig()`` is a seeded in-memory Kayako with one agent."""

    database: str = Field(":memory:", description="SQLite file path, or `:memory:`.")
    public_base_url: str = Field(
        "", description="Base URL used in `resource_url`/`next_url`; empty: derived from each request."
    )
    agent_email: str = "agent@example.com"
    agent_password: str = "mock-password"  # noqa: S105 - the public account of a local mock
    agent_name: str = "Alex Agent"
    twofactor_email: str = "otp@example.com"
    twofactor_otp: str = Field("123456", description="The one-time code the two-factor agent logs in with.")
    oauth_client_id: str = "mock-client"
    oauth_client_secret: str = "mock-secret"  # noqa: S105 - the public OAuth app of a local mock
    oauth_token_ttl_seconds: int = Field(3600, ge=1)
    session_ttl_seconds: int = Field(3600, ge=1)
    rate_limit_per_minute: int = Field(0, ge=0, description="0: off; else 429 past this many a minute.")
    seed: bool = Field(True, description="Seed an empty database with the sample help desk.")
    strict: bool = Field(
        False,
        description=(
            "The strictest reading of the API reference: `channel_id` required on new non-NOTE cases, "
            "identities validated (E.164 phones, well-formed emails), filters whose effect the client "
            "could not rely on (`tags` on case lists, `email`/`number` on identity lists) ignored."
        ),
    )
    help_center: Literal["demo", "stackfaq"] = Field(
        "demo",
        description="`demo`: the Acme Home help center written for the project (46 articles); `stackfaq`: "
        "those plus the 125 StackFAQ threads (the retrieval benchmark's articles).",
    )

    def fault_settings(self) -> FaultSettings:
        return FaultSettings.model_validate(self.model_dump(include=set(FaultSettings.model_fields)))
