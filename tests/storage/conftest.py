"""Store tests run on a SQLite file and on the test PostgreSQL (each test in its own fresh schema)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from kayako_call_assistant.storage import create_engine, upgrade

EngineFactory = Callable[[], Awaitable[AsyncEngine]]


@pytest.fixture(params=["sqlite", "postgres"])
async def engine_factory(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[EngineFactory]:
    """Makes engines on one fresh, migrated database (several engines = several workers)."""
    engines: list[AsyncEngine] = []
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'kca.db'}"
        schema = None
    else:
        url = request.getfixturevalue("postgres_url")
        schema = f"kca_storage_{uuid.uuid4().hex[:12]}"

    async def make() -> AsyncEngine:
        engine = create_engine(url, schema=schema)
        engines.append(engine)
        return engine

    await upgrade(await make())
    yield make
    for engine in engines:
        await engine.dispose()
    if schema is not None:
        cleaner = create_engine(url)
        async with cleaner.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await cleaner.dispose()


@pytest.fixture
async def engine(engine_factory: EngineFactory) -> AsyncEngine:
    return await engine_factory()
