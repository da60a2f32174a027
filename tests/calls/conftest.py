"""Fixtures of the call-flow tests: migrated stores on a SQLite file (and, where asked, on PostgreSQL)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from calls_support import StoresFactory
from sqlalchemy import text

from kayako_call_assistant.storage import SqlStores, create_engine, upgrade


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'calls.db'}"


@pytest.fixture
async def stores(database_url: str) -> AsyncIterator[SqlStores]:
    await upgrade(database_url)
    bundle = SqlStores(create_engine(database_url))
    yield bundle
    await bundle.close()


@pytest.fixture(params=["sqlite", "postgres"])
async def stores_factory(request: pytest.FixtureRequest, database_url: str) -> AsyncIterator[StoresFactory]:
    """Makes store bundles on one migrated database, as separate processes would (each its own engine)."""
    url, schema = database_url, None
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
        schema = f"kca_calls_{uuid.uuid4().hex[:12]}"
    made: list[SqlStores] = []

    def make() -> SqlStores:
        made.append(SqlStores(create_engine(url, schema=schema)))
        return made[-1]

    await upgrade(make().engine)
    yield make
    for bundle in made:
        await bundle.close()
    if schema is not None:
        cleaner = create_engine(url)
        async with cleaner.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await cleaner.dispose()
