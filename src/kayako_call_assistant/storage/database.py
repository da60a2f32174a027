"""Engines and migrations: where the database is, how to connect, and bringing its schema to head."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import structlog
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Table, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from ..settings import Settings

log = structlog.get_logger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Any fixed 64-bit number works; every worker must use the same one so only one migrates at a time.
MIGRATION_LOCK_KEY = 0x4B43_415F_4442  # "KCA_DB"
SQLITE_BUSY_TIMEOUT_SECONDS = 30.0
SCHEMA_OPTION = "kca_schema"  # execution option carrying ``create_engine``'s schema to ``upgrade``


def database_url(settings: Settings) -> str:
    """The configured URL, or a SQLite file in ``data_dir`` (the directory is created)."""
    if settings.database_url:
        return settings.database_url
    data_dir = Path(settings.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite+aiosqlite:///{(data_dir / 'kca.db').resolve()}"


def create_engine(url: str, *, schema: str | None = None) -> AsyncEngine:
    """An async engine for ``url``.

    ``schema`` (PostgreSQL only) puts every table in that schema through the connection's ``search_path``,
    e.g. to share one database between deployments; ``upgrade`` creates it.
    """
    parsed = _async_driver(make_url(url))
    if parsed.get_backend_name() == "sqlite":
        if schema is not None:
            raise ValueError("a schema can only be chosen on PostgreSQL")
        # One connection: SQLite has one writer at a time anyway, and tasks queueing for the pool wait on
        # the event loop, where connections contending for the file lock would sleep in SQLite's busy
        # handler (tens of milliseconds a try) — the turn latency of every call when many speak at once.
        in_memory = parsed.database in (None, "", ":memory:")  # one shared connection already
        pool: dict[str, Any] = (
            {}
            if in_memory
            else {"pool_size": 1, "max_overflow": 0, "pool_timeout": SQLITE_BUSY_TIMEOUT_SECONDS}
        )
        engine = create_async_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS}, **pool)
        _take_over_sqlite_transactions(engine)
        return engine
    connect_args: dict[str, Any] = {}
    if schema is not None:
        connect_args["server_settings"] = {"search_path": schema}
    return create_async_engine(
        parsed,
        connect_args=connect_args,
        execution_options={SCHEMA_OPTION: schema},
        pool_size=10,
        max_overflow=10,
        pool_pre_ping=True,  # a connection dropped by a failover or idle timeout is replaced, not reported
        pool_recycle=1800,
    )


def _async_driver(url: URL) -> URL:
    """``postgresql://`` and ``sqlite://`` name synchronous drivers; use the async ones this service needs."""
    backend, _, driver = url.drivername.partition("+")
    if backend in ("postgresql", "postgres") and not driver:
        return url.set(drivername="postgresql+asyncpg")
    if backend == "sqlite" and not driver:
        return url.set(drivername="sqlite+aiosqlite")
    return url


def _take_over_sqlite_transactions(engine: AsyncEngine) -> None:
    """WAL, foreign keys, and real transactions on SQLite.

    The sqlite3 driver's legacy mode does not BEGIN before SELECT or DDL, which breaks transactional
    migrations and read-then-write atomicity. SQLAlchemy therefore emits the BEGIN itself (the recipe in its
    SQLite dialect docs), and IMMEDIATE takes the write lock up front: a transaction that read and then
    writes cannot fail half-way with "database is locked"; it waits its turn (busy timeout) instead.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def dialect_insert(dialect_name: str, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that supports ``ON CONFLICT`` on the running backend (both spell it the same way)."""
    if dialect_name == "postgresql":
        return postgresql.insert(table)
    if dialect_name == "sqlite":
        return sqlite.insert(table)
    raise ValueError(f"unsupported database backend {dialect_name!r}: use SQLite or PostgreSQL")


def _alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


def _upgrade_on(connection: Connection) -> None:
    command.upgrade(_alembic_config(connection), "head")


async def upgrade(target: str | AsyncEngine) -> None:
    """Bring the schema to the newest revision (a no-op when it is there already).

    Safe when several workers start at once: on PostgreSQL a transaction-scoped advisory lock lets one
    migrate while the others wait and then find nothing to do; on SQLite the IMMEDIATE transaction does
    the same. Everything runs in one transaction, so a failed migration leaves the previous schema intact.
    """
    engine = create_engine(target) if isinstance(target, str) else target
    try:
        async with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
                schema = engine.sync_engine.get_execution_options().get(SCHEMA_OPTION)
                if schema is not None:
                    # A dedicated schema must exist before tables can go in it.
                    quoted = conn.dialect.identifier_preparer.quote(schema)
                    await conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {quoted}"))
            await conn.run_sync(_upgrade_on)
        log.info("storage.migrated", backend=engine.dialect.name)
    finally:
        if isinstance(target, str):
            await engine.dispose()


def _revision_on(connection: Connection, message: str) -> None:
    command.revision(_alembic_config(connection), message=message, autogenerate=True)


async def revision(url: str, message: str) -> None:
    """Write a new migration comparing ``models`` with the database at ``url`` (a development tool)."""
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_revision_on, message)
    finally:
        await engine.dispose()
