"""The read-only client checks, against a real Kayako instance (a sandbox).

Runs only with ``KCA_KAYAKO_CONTRACT_URL`` (…/api/v1), ``KCA_KAYAKO_CONTRACT_EMAIL`` and
``KCA_KAYAKO_CONTRACT_PASSWORD`` set; nothing here writes to the instance.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest

from kayako_call_assistant.kayako import KayakoApi, KayakoClient, KayakoConfig, KayakoHelpDesk
from kayako_call_assistant.kayako.pagination import paginate

URL = os.environ.get("KCA_KAYAKO_CONTRACT_URL", "")
EMAIL = os.environ.get("KCA_KAYAKO_CONTRACT_EMAIL", "")
PASSWORD = os.environ.get("KCA_KAYAKO_CONTRACT_PASSWORD", "")

pytestmark = [
    pytest.mark.contract,
    pytest.mark.skipif(not (URL and EMAIL and PASSWORD), reason="no Kayako sandbox configured"),
]


@pytest.fixture
async def sandbox() -> AsyncIterator[KayakoApi]:
    config = KayakoConfig(base_url=URL, email=EMAIL, password=PASSWORD, requests_per_minute=60)
    async with KayakoClient(config) as client:
        yield KayakoApi(client, os.environ.get("KCA_LOCALE", "en-us"))


async def test_kayako_contract_session_and_me(sandbox: KayakoApi) -> None:
    me = await sandbox.me()
    assert me.id
    again = await sandbox.me()
    assert again.id == me.id


async def test_kayako_contract_configuration_lookups(sandbox: KayakoApi) -> None:
    statuses = await sandbox.statuses()
    assert {"OPEN", "CLOSED"} <= {s.type.upper() for s in statuses}
    assert await sandbox.priorities()
    assert await sandbox.case_types()
    assert await sandbox.role_id("CUSTOMER")


async def test_kayako_contract_help_center(sandbox: KayakoApi) -> None:
    articles = [a async for a in sandbox.articles(max_items=5)]
    for article in articles:
        assert await sandbox.text(article.titles)
    helpdesk = KayakoHelpDesk(sandbox)
    async for help_article in helpdesk.help_articles():
        assert help_article.title
        assert help_article.locale == sandbox.locale
        break


async def test_kayako_contract_pagination_and_search(sandbox: KayakoApi) -> None:
    cases = [c async for c in paginate(sandbox.client, "cases", page_size=5, max_items=12)]
    assert len({c["id"] for c in cases}) == len(cases)
    results = await sandbox.search(EMAIL, resources="USERS")
    assert isinstance(results, list)
