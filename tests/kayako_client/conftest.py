"""The Kayako mock on a real port, and clients pointed at it with test-sized backoffs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from kayako_client_support import AGENT_EMAIL, AGENT_PASSWORD, MockKayako, RequestLog

from kayako_call_assistant.kayako import KayakoApi, KayakoClient, KayakoConfig
from kayako_call_assistant.kayako_mock.app import create_app
from kayako_call_assistant.kayako_mock.config import MockConfig
from kayako_call_assistant.servers import serve_in_background


@pytest.fixture
def mock_config() -> MockConfig:
    # The large help center (demo plus StackFAQ): pagination, sections and search need many articles.
    return MockConfig(strict=True, help_center="stackfaq")


@pytest.fixture
async def kayako(mock_config: MockConfig) -> AsyncIterator[MockKayako]:
    async with serve_in_background(create_app(mock_config)) as url:
        yield MockKayako(url)


@pytest.fixture
async def make_client(kayako: MockKayako) -> AsyncIterator[Callable[..., tuple[KayakoClient, RequestLog]]]:
    clients: list[KayakoClient] = []

    def make(**overrides: Any) -> tuple[KayakoClient, RequestLog]:
        options: dict[str, Any] = {
            "base_url": kayako.api,
            "email": AGENT_EMAIL,
            "password": AGENT_PASSWORD,
            "timeout_seconds": 2.0,
            "max_retries": 3,
            "backoff_base_seconds": 0.01,
            "backoff_max_seconds": 0.05,
            "retry_after_max_seconds": 2.0,
            "requests_per_minute": 10_000,
        }
        options.update(overrides)
        log = RequestLog()
        client = KayakoClient(KayakoConfig(**options), on_request=log)
        clients.append(client)
        return client, log

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
def api(make_client: Callable[..., tuple[KayakoClient, RequestLog]]) -> KayakoApi:
    client, _ = make_client()
    return KayakoApi(client, "en-us")
