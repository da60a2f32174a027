"""Migrations: from empty to head, idempotent, safe when several workers start at once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from kayako_call_assistant.settings import Settings
from kayako_call_assistant.storage import create_engine, database_url, upgrade
from kayako_call_assistant.storage.models import metadata

EngineFactory = Callable[[], Awaitable[AsyncEngine]]

EXPECTED_TABLES = {"calls", "turns", "case_outbox", "webhook_deliveries", "audit_events", "admin_tokens"}


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))


async def _version(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        return list((await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars())


async def test_upgrade_creates_every_table_and_a_second_run_changes_nothing(engine: AsyncEngine) -> None:
    assert await _tables(engine) == EXPECTED_TABLES | {"alembic_version"}
    assert set(metadata.tables) == EXPECTED_TABLES
    assert await _version(engine) == ["0003"]

    await upgrade(engine)

    assert await _version(engine) == ["0003"]
    assert await _tables(engine) == EXPECTED_TABLES | {"alembic_version"}


async def test_workers_starting_together_migrate_once(engine_factory: EngineFactory) -> None:
    engines = [await engine_factory() for _ in range(3)]
    await asyncio.gather(*(upgrade(engine) for engine in engines))
    assert await _version(engines[0]) == ["0003"]


async def test_upgrade_from_an_empty_url_target(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    await upgrade(url)
    await upgrade(url)
    assert (tmp_path / "fresh.db").exists()


def test_default_url_is_a_sqlite_file_in_the_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "nested" / "var"
    url = database_url(Settings(data_dir=data_dir, database_url=""))
    assert url == f"sqlite+aiosqlite:///{(data_dir / 'kca.db').resolve()}"
    assert data_dir.is_dir()
    assert database_url(Settings(database_url="postgresql+asyncpg://db/x")) == "postgresql+asyncpg://db/x"


async def test_plain_urls_get_the_async_drivers(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'plain.db'}")
    assert engine.url.drivername == "sqlite+aiosqlite"
    await upgrade(engine)
    assert await _version(engine) == ["0003"]
    await engine.dispose()
    assert create_engine("postgresql://user@db.example/kca").url.drivername == "postgresql+asyncpg"


async def test_migrated_columns_match_the_models(engine: AsyncEngine) -> None:
    def columns(sync_conn: Any) -> dict[str, set[str]]:
        inspector = inspect(sync_conn)
        return {name: {c["name"] for c in inspector.get_columns(name)} for name in metadata.tables}

    async with engine.connect() as conn:
        migrated = await conn.run_sync(columns)
    assert migrated == {name: {c.name for c in table.c} for name, table in metadata.tables.items()}
    assert {"repairs"} <= migrated["case_outbox"] and {"caller_attestation"} <= migrated["calls"]
