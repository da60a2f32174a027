"""Leases that make background jobs run once across replicas, on the real Redis and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from kayako_call_assistant.coordination import (
    InProcessLease,
    Lease,
    PostgresLease,
    RedisLease,
    advisory_key,
    lease_for,
    run_while_leader,
)
from kayako_call_assistant.storage import create_engine


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[redis.Redis]:
    client = redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def pg_engine(postgres_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(postgres_url)
    yield engine
    await engine.dispose()


def _name() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


async def test_redis_lease_is_held_by_one_replica_at_a_time(redis_client: redis.Redis) -> None:
    name = _name()
    first, second = RedisLease(redis_client, name), RedisLease(redis_client, name)
    assert await first.acquire()
    assert not await second.acquire()
    assert await first.acquire()  # renewing keeps it
    await second.release()  # not the holder: nothing happens
    assert not await second.acquire()
    await first.release()
    assert await second.acquire()
    await second.release()
    assert await redis_client.exists(second.key) == 0


async def test_redis_lease_of_a_dead_replica_expires(redis_client: redis.Redis) -> None:
    name = _name()
    dead = RedisLease(redis_client, name, seconds=0.3)
    assert await dead.acquire()  # and then it never renews
    successor = RedisLease(redis_client, name)
    while await redis_client.exists(dead.key):  # the TTL is Redis's to enforce
        assert not await successor.acquire()
        await asyncio.sleep(0.05)
    assert await successor.acquire()
    assert not await dead.acquire()
    await successor.release()


async def test_postgres_lease_is_held_by_one_session_and_lost_with_it(pg_engine: AsyncEngine) -> None:
    name = _name()
    other_engine = create_engine(pg_engine.url.render_as_string(hide_password=False))
    try:
        first, second = PostgresLease(pg_engine, name), PostgresLease(other_engine, name)
        assert await first.acquire()
        assert not await second.acquire()
        assert await first.acquire()
        await first.release()
        assert await second.acquire()
        # The holder's session dies (a replica killed): the lock goes with it.
        async with pg_engine.connect() as admin:
            await admin.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
                    "AND classid::text::bigint = :high AND objid::text::bigint = :low AND objsubid = 1"
                ),
                {"high": (advisory_key(name) >> 32) & 0xFFFFFFFF, "low": advisory_key(name) & 0xFFFFFFFF},
            )
        # Freed with the dead session; pg_terminate_backend only signals the backend, so allow it to exit.
        for _ in range(200):
            if await first.acquire():
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the advisory lock outlived the terminated session")
        assert not await second.acquire()  # it notices its session died and cannot win the lease back
        await first.release()
    finally:
        await other_engine.dispose()


async def test_backend_follows_the_configuration(redis_client: redis.Redis, pg_engine: AsyncEngine) -> None:
    sqlite = create_engine("sqlite+aiosqlite:///:memory:")
    try:
        assert isinstance(lease_for("x", redis_client=redis_client, engine=pg_engine), RedisLease)
        assert isinstance(lease_for("x", redis_client=None, engine=pg_engine), PostgresLease)
        assert isinstance(lease_for("x", redis_client=None, engine=sqlite), InProcessLease)
    finally:
        await sqlite.dispose()


async def _job_runs_once_across_replicas(first: Lease, second: Lease) -> None:
    running: set[str] = set()
    overlaps: list[set[str]] = []
    started: dict[str, asyncio.Event] = {"a": asyncio.Event(), "b": asyncio.Event()}

    def job(replica: str):  # type: ignore[no-untyped-def]
        async def run(job_stop: asyncio.Event) -> None:
            running.add(replica)
            if len(running) > 1:
                overlaps.append(set(running))
            started[replica].set()
            try:
                await job_stop.wait()
            finally:
                running.discard(replica)

        return run

    stop_a, stop_b = asyncio.Event(), asyncio.Event()
    replica_a = asyncio.create_task(run_while_leader(first, job("a"), stop_a, renew_seconds=0.05))
    await asyncio.wait_for(started["a"].wait(), 30)
    replica_b = asyncio.create_task(run_while_leader(second, job("b"), stop_b, renew_seconds=0.05))
    for _ in range(20):  # b keeps trying while a holds the lease
        await asyncio.sleep(0.05)
        assert running == {"a"}
    stop_a.set()  # replica a shuts down: it releases, b takes over
    await replica_a
    await asyncio.wait_for(started["b"].wait(), 30)
    stop_b.set()
    await replica_b
    assert not overlaps
    assert running == set()


async def test_a_leased_job_runs_in_one_replica_and_moves_on_shutdown_redis(
    redis_client: redis.Redis,
) -> None:
    name = _name()
    await _job_runs_once_across_replicas(RedisLease(redis_client, name), RedisLease(redis_client, name))


async def test_a_leased_job_runs_in_one_replica_and_moves_on_shutdown_postgres(
    pg_engine: AsyncEngine,
) -> None:
    name = _name()
    other = create_engine(pg_engine.url.render_as_string(hide_password=False))
    try:
        await _job_runs_once_across_replicas(PostgresLease(pg_engine, name), PostgresLease(other, name))
    finally:
        await other.dispose()


async def test_a_job_that_fails_is_retried_not_fatal() -> None:
    attempts = 0
    stop = asyncio.Event()

    async def flaky(job_stop: asyncio.Event) -> None:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise RuntimeError("boom")
        stop.set()
        await job_stop.wait()

    await asyncio.wait_for(run_while_leader(InProcessLease("x"), flaky, stop, renew_seconds=0.01), 30)
    assert attempts == 3
