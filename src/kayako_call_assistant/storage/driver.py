"""SQLAlchemy statements run directly on the driver's connection (aiosqlite, asyncpg): the call path's writes.

Every caller turn writes its turns and its call row, and with hundreds of calls on one core SQLAlchemy's
execution layer around those few statements (the transaction objects, the execution context, on SQLite a
cursor opened and closed in aiosqlite's thread for every statement, three thread hand-offs where one
would do) cost about five times the CPU of the statements themselves. So these statements are compiled by
SQLAlchemy once per engine — the same SQL, the same bind processing of each column type (datetimes to UTC,
JSON serialised, booleans) — and then run on a pooled connection's driver connection, in a transaction of
the driver's own or, for a single statement, in none. Errors are raised as SQLAlchemy's (``StatementError``,
``IntegrityError``, ``OperationalError``, ``DBAPIError``), as the SQLAlchemy path would raise them.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any, Protocol

import asyncpg  # type: ignore[import-untyped]  # no stubs; only its connection and errors are used
from sqlalchemy import exc
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler


class DriverStatement:
    """``statement`` compiled for ``dialect``, with the bind processor of each positional parameter."""

    def __init__(self, statement: ClauseElement, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        if not isinstance(compiled, SQLCompiler):
            raise TypeError(f"not a SQL statement: {statement!r}")
        if dialect.paramstyle not in ("qmark", "numeric_dollar") or compiled.positiontup is None:
            raise ValueError(f"no positional parameters for dialect {dialect.name!r} ({dialect.paramstyle})")
        self.sql = compiled.string
        self._binds: list[tuple[str, Callable[[Any], Any] | None]] = [
            (name, compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect))
            for name in compiled.positiontup
        ]

    def args(self, params: Mapping[str, Any]) -> tuple[Any, ...]:
        """The driver's positional arguments for ``params`` (by bind name, each one required); a value its
        column type refuses (a naive datetime) raises ``StatementError``, as SQLAlchemy's execution does."""
        try:
            return tuple(
                params[name] if process is None else process(params[name]) for name, process in self._binds
            )
        except (TypeError, ValueError) as error:
            message = f"({type(error).__module__}.{type(error).__name__}) {error}"
            raise exc.StatementError(message, self.sql, params, error) from error


class DriverSession(Protocol):
    """Statements on one driver connection: ``execute`` returns the row count."""

    async def execute(self, statement: DriverStatement, params: Mapping[str, Any]) -> int: ...

    async def executemany(self, statement: DriverStatement, rows: Sequence[Mapping[str, Any]]) -> None: ...


class _SqliteSession:
    def __init__(self, connection: Any) -> None:
        self._connection = connection  # aiosqlite.Connection

    async def execute(self, statement: DriverStatement, params: Mapping[str, Any]) -> int:
        args = statement.args(params)
        try:
            # One hand-off to aiosqlite's thread; the cursor of a finished DML statement holds nothing open.
            cursor = await self._connection.execute(statement.sql, args)
        except sqlite3.Error as error:
            raise _translated(error, statement.sql, args) from error
        return int(cursor.rowcount)

    async def executemany(self, statement: DriverStatement, rows: Sequence[Mapping[str, Any]]) -> None:
        args = [statement.args(row) for row in rows]
        try:
            await self._connection.executemany(statement.sql, args)
        except sqlite3.Error as error:
            raise _translated(error, statement.sql, args) from error


class _AsyncpgSession:
    def __init__(self, connection: asyncpg.Connection) -> None:
        self._connection = connection

    async def execute(self, statement: DriverStatement, params: Mapping[str, Any]) -> int:
        args = statement.args(params)
        try:
            status = await self._connection.execute(statement.sql, *args)  # prepared once per connection
        except asyncpg.PostgresError as error:
            raise _translated(error, statement.sql, args) from error
        # The command tag: "UPDATE 1", "INSERT 0 1".
        return int(status.rpartition(" ")[2])

    async def executemany(self, statement: DriverStatement, rows: Sequence[Mapping[str, Any]]) -> None:
        args = [statement.args(row) for row in rows]
        try:
            await self._connection.executemany(statement.sql, args)
        except asyncpg.PostgresError as error:
            raise _translated(error, statement.sql, args) from error


def _translated(error: Exception, sql: str, args: Any) -> exc.DBAPIError:
    if isinstance(error, sqlite3.IntegrityError | asyncpg.IntegrityConstraintViolationError):
        return exc.IntegrityError(sql, args, error)
    if isinstance(error, sqlite3.OperationalError):
        return exc.OperationalError(sql, args, error)
    return exc.DBAPIError(sql, args, error)


def is_foreign_key_violation(error: exc.IntegrityError) -> bool:
    """Whether ``error`` (raised by a ``DriverSession``) is a foreign key's, on PostgreSQL (where each
    constraint has its own error)."""
    return isinstance(error.orig, asyncpg.ForeignKeyViolationError)


@contextlib.asynccontextmanager
async def driver_session(engine: AsyncEngine, *, transaction: bool) -> AsyncIterator[DriverSession]:
    """One of ``engine``'s pooled connections, for statements on its driver connection.

    With ``transaction``, the block is one transaction, committed when the block ends normally and rolled
    back when it raises: on SQLite ``BEGIN IMMEDIATE``, as on the engine's own transactions (the write lock
    up front, so a busy database is waited for, not failed on half-way); on PostgreSQL asyncpg's
    transaction (READ COMMITTED, the server's default, as SQLAlchemy's). Without, each statement commits by
    itself (for a block of one statement, which is atomic anyway; on SQLite it waits for the write lock as
    ``BEGIN IMMEDIATE`` does). The connection goes back to the pool as usual (on PostgreSQL the pool pings
    it before its next use, so one broken here is replaced there).
    """
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        if driver is None:
            raise exc.InvalidRequestError("the pooled connection has no driver connection")
        if conn.dialect.name == "postgresql":
            if not transaction:
                yield _AsyncpgSession(driver)
                return
            async with driver.transaction():
                yield _AsyncpgSession(driver)
            return
        if conn.dialect.name != "sqlite":
            raise ValueError(f"unsupported database backend {conn.dialect.name!r}: use SQLite or PostgreSQL")
        if not transaction:
            yield _SqliteSession(driver)
            return
        try:
            await driver.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as error:
            raise _translated(error, "BEGIN IMMEDIATE", ()) from error
        try:
            yield _SqliteSession(driver)
        except BaseException:
            await driver.rollback()  # queued behind a statement still running in aiosqlite's thread
            raise
        try:
            await driver.commit()
        except sqlite3.Error as error:
            await driver.rollback()  # a no-op if the failed COMMIT ended the transaction
            raise _translated(error, "COMMIT", ()) from error
