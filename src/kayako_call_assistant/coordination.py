"""Jobs that must run once across replicas (the outbox worker, webhook retries, the retention purge) run only
in the replica that holds their lease.

Backends, chosen from the settings (``lease_for``):
- Redis (``KCA_REDIS_URL`` set): a key set with NX and a time to live, renewed while held; a replica that
  dies loses it when the TTL runs out.
- PostgreSQL (``KCA_DATABASE_URL`` is PostgreSQL, no Redis): a session advisory lock held on a dedicated
  connection; a replica that dies loses it when its connection closes.
- In-process (SQLite, one replica): always granted.

The knowledge-base refresh is not leased: each replica keeps its own index in memory and refreshes it itself.
Hand-written rather than a library: the lock libraries on PyPI (python-redis-lock, pottery, sherlock) cover
Redis only, and the leader loop below is the part that matters here.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import secrets
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

import redis.asyncio as redis
import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = structlog.get_logger(__name__)

LEASE_SECONDS = 30.0  # how long a Redis lease outlives a replica that stopped renewing it
RENEW_SECONDS = 10.0  # how often a holder renews (and a waiting replica tries)


class Lease(Protocol):
    name: str

    async def acquire(self) -> bool:
        """Take the lease, or keep it if already held; True while this replica holds it."""
        ...

    async def release(self) -> None: ...


class InProcessLease:
    """One replica (SQLite): nobody to share with."""

    def __init__(self, name: str) -> None:
        self.name = name

    async def acquire(self) -> bool:
        return True

    async def release(self) -> None:
        return None


# Compare-and-renew / compare-and-delete: only the holder (its random token) may extend or drop the key.
_RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


class RedisLease:
    def __init__(
        self, client: redis.Redis, name: str, *, seconds: float = LEASE_SECONDS, prefix: str = "kca:lease:"
    ):
        self.name = name
        self.key = prefix + name
        self._client = client
        self._milliseconds = int(seconds * 1000)
        self._token = secrets.token_hex(16)

    async def acquire(self) -> bool:
        if await self._client.set(self.key, self._token, nx=True, px=self._milliseconds):
            return True
        return bool(await self._client.eval(_RENEW, 1, self.key, self._token, self._milliseconds))

    async def release(self) -> None:
        await self._client.eval(_RELEASE, 1, self.key, self._token)


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for ``pg_try_advisory_lock`` (the same name gives the same key everywhere)."""
    return int.from_bytes(hashlib.blake2b(f"kca:{name}".encode(), digest_size=8).digest(), "big", signed=True)


class PostgresLease:
    """A session advisory lock on a connection of its own, kept open while held."""

    def __init__(self, engine: AsyncEngine, name: str) -> None:
        self.name = name
        self.key = advisory_key(name)
        self._engine = engine
        self._connection: AsyncConnection | None = None

    async def acquire(self) -> bool:
        if self._connection is not None:
            try:  # still held as long as the session is alive
                await self._connection.execute(text("SELECT 1"))
                return True
            except Exception as error:
                log.warning("lease.connection_lost", lease=self.name, error=type(error).__name__)
                await self._close()
        connection = await self._engine.connect()
        try:
            held = (
                await connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key})
            ).scalar()
            await connection.commit()  # the lock is the session's, not the transaction's
        except BaseException:
            await connection.close()
            raise
        if held:
            self._connection = connection
            return True
        await connection.close()
        return False

    async def release(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):  # a dead session has released it already
                await self._connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
                await self._connection.commit()
            await self._close()

    async def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close()


def lease_for(name: str, *, redis_client: redis.Redis | None, engine: AsyncEngine) -> Lease:
    """Redis when configured, else PostgreSQL's advisory locks, else (SQLite: one replica) in-process."""
    if redis_client is not None:
        return RedisLease(redis_client, name)
    if engine.dialect.name == "postgresql":
        return PostgresLease(engine, name)
    return InProcessLease(name)


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def run_while_leader(
    lease: Lease,
    job: Callable[[asyncio.Event], Coroutine[Any, Any, None]],
    stop: asyncio.Event,
    *,
    renew_seconds: float = RENEW_SECONDS,
) -> None:
    """Run ``job`` (which returns when its event is set) only while this replica holds ``lease``; renew it every
    ``renew_seconds``; when it is lost, stop the job and wait to win it again. Ends when ``stop`` is set."""
    while not stop.is_set():
        try:
            held = await lease.acquire()
        except Exception as error:  # the lease store is down: nobody runs the job until it is back
            log.warning("lease.unavailable", lease=lease.name, error=type(error).__name__)
            held = False
        if not held:
            await _wait(stop, renew_seconds)
            continue
        log.info("lease.acquired", lease=lease.name)
        job_stop = asyncio.Event()
        task = asyncio.create_task(job(job_stop), name=f"leased-{lease.name}")
        try:
            while not stop.is_set() and not task.done():
                await _wait(stop, renew_seconds)
                if stop.is_set() or task.done():
                    break
                try:
                    still = await lease.acquire()
                except Exception as error:
                    log.warning("lease.unavailable", lease=lease.name, error=type(error).__name__)
                    still = False
                if not still:
                    log.warning("lease.lost", lease=lease.name)
                    break
        finally:
            ended_on_its_own = task.done()
            job_stop.set()
            with contextlib.suppress(Exception):
                await task
            with contextlib.suppress(Exception):
                await lease.release()
            log.info("lease.released", lease=lease.name)
        if ended_on_its_own and not stop.is_set():
            # A leased job runs until told to stop; one that ended (an error) is retried a little later.
            log.error("lease.job_ended", lease=lease.name)
            await _wait(stop, renew_seconds)
