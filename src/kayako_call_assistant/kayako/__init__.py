"""Kayako API v1 adapter: the HTTP client (auth, rate limit, retries, cache), resources and ``HelpDesk``."""

from __future__ import annotations

from collections.abc import Callable

from ..settings import Settings
from .client import KayakoClient, KayakoConfig, RequestObserver
from .errors import (
    KayakoAuthError,
    KayakoError,
    KayakoNotFound,
    KayakoRateLimited,
    KayakoServerError,
    KayakoTwoFactorRequired,
    KayakoUnavailable,
    KayakoValidationError,
)
from .helpdesk import KayakoHelpDesk
from .resources import KayakoApi

# The embedded mock's seeded agent (kayako_mock.config.MockConfig defaults), used when no base URL is set.
MOCK_AGENT_EMAIL = "agent@example.com"
MOCK_AGENT_PASSWORD = "mock-password"  # noqa: S105 - a public test account of the local mock, not a secret


def config_from_settings(settings: Settings, *, base_url: str | None = None) -> KayakoConfig:
    """The client configuration; with no base URL anywhere, the embedded mock and its agent account."""
    url = base_url or settings.kayako_base_url
    email = settings.kayako_email
    password = settings.kayako_password.get_secret_value()
    auth = settings.kayako_auth
    if not url:
        url = f"http://127.0.0.1:{settings.kayako_mock_port}/api/v1"
        if not email:
            email, password, auth = MOCK_AGENT_EMAIL, MOCK_AGENT_PASSWORD, "basic"
    return KayakoConfig(
        base_url=url,
        auth=auth,
        email=email,
        password=password,
        oauth_client_id=settings.kayako_oauth_client_id,
        oauth_client_secret=settings.kayako_oauth_client_secret.get_secret_value(),
        oauth_refresh_token=settings.kayako_oauth_refresh_token.get_secret_value(),
        oauth_token_url=settings.kayako_oauth_token_url,
        timeout_seconds=settings.kayako_timeout_seconds,
        max_retries=settings.kayako_max_retries,
        requests_per_minute=settings.kayako_requests_per_minute,
        cache_ttl_seconds=settings.kayako_cache_ttl_seconds,
        redis_url=settings.redis_url,
    )


def build_client(
    settings: Settings,
    *,
    base_url: str | None = None,
    on_request: RequestObserver | None = None,
    on_rate_limit_wait: Callable[[float], None] | None = None,
) -> KayakoClient:
    """The client wiring uses (``base_url`` overrides the setting, e.g. for the mock on a test port)."""
    return KayakoClient(
        config_from_settings(settings, base_url=base_url),
        on_request=on_request,
        on_rate_limit_wait=on_rate_limit_wait,
    )


def build_helpdesk(client: KayakoClient, settings: Settings) -> KayakoHelpDesk:
    return KayakoHelpDesk(
        KayakoApi(client, settings.locale),
        case_channel=settings.kayako_case_channel,
        channel_id=settings.kayako_channel_id,
    )


__all__ = [
    "KayakoApi",
    "KayakoAuthError",
    "KayakoClient",
    "KayakoConfig",
    "KayakoError",
    "KayakoHelpDesk",
    "KayakoNotFound",
    "KayakoRateLimited",
    "KayakoServerError",
    "KayakoTwoFactorRequired",
    "KayakoUnavailable",
    "KayakoValidationError",
    "build_client",
    "build_helpdesk",
    "config_from_settings",
]
