"""The Kayako mock on a real port, with an httpx client and a logged-in agent session."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from kayako_mock_support import Served

from kayako_call_assistant.kayako_mock.app import create_app
from kayako_call_assistant.kayako_mock.config import MockConfig
from kayako_call_assistant.servers import serve_in_background


@pytest.fixture
def mock_config() -> MockConfig:
    # The large help center (demo plus StackFAQ): pagination, sections and search need many articles.
    return MockConfig(help_center="stackfaq")


@pytest.fixture
async def served(mock_config: MockConfig) -> AsyncIterator[Served]:
    async with serve_in_background(create_app(mock_config)) as url, httpx.AsyncClient(timeout=10) as http:
        yield Served(url, http)


@pytest.fixture
async def agent(served: Served) -> dict[str, str]:
    return await served.session()
