"""Client-side request budget for the Kayako account (Kayako counts per minute and answers 429 beyond it).

In one process a token bucket is enough. Several workers share one account budget, so with Redis the count
lives in a per-window key, incremented atomically by a Lua script; a worker over budget sleeps until the
window turns. Both record the total time spent waiting (``waited_seconds``).
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

import structlog
from redis.asyncio import Redis

log = structlog.get_logger(__name__)


class RateLimiter(Protocol):
    waited_seconds: float

    async def acquire(self) -> float:
        """Wait until one more request fits in the budget; returns the seconds waited."""
        ...

    async def aclose(self) -> None: ...


class LocalRateLimiter:
    """A token bucket holding ``limit`` tokens, refilled at ``limit`` per ``window_seconds``."""

    def __init__(self, limit: int, window_seconds: float = 60.0) -> None:
        if limit < 1:
            raise ValueError("the Kayako request limit must be at least 1 per window")
        self._capacity = float(limit)
        self._rate = limit / window_seconds
        self._tokens = float(limit)
        self._updated = time.monotonic()
        self._lock = asyncio.Lock()
        self.waited_seconds = 0.0

    async def acquire(self) -> float:
        async with self._lock:
            now = time.monotonic()
            self._tokens = min(self._capacity, self._tokens + (now - self._updated) * self._rate)
            self._updated = now
            self._tokens -= 1.0
            wait = 0.0 if self._tokens >= 0 else -self._tokens / self._rate
        if wait > 0:
            log.debug("kayako.rate_limit_wait", seconds=round(wait, 3), shared=False)
            await asyncio.sleep(wait)
            self.waited_seconds += wait
        return wait

    async def aclose(self) -> None:
        """Nothing to release."""


# KEYS[1] = the window's counter; ARGV[1] = window length in ms. Returns the count including this request.
_INCREMENT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return count
"""


class RedisRateLimiter:
    """A fixed window per ``window_seconds`` in Redis, shared by every worker using the same ``key``."""

    def __init__(
        self, redis_url: str, limit: int, window_seconds: float = 60.0, key: str = "kca:kayako:rpm"
    ) -> None:
        if limit < 1:
            raise ValueError("the Kayako request limit must be at least 1 per window")
        self._redis: Redis = Redis.from_url(redis_url)
        self._limit = limit
        self._window = window_seconds
        self._key = key
        self._script = self._redis.register_script(_INCREMENT)
        self.waited_seconds = 0.0

    async def acquire(self) -> float:
        waited = 0.0
        while True:
            now = time.time()
            window = int(now // self._window)
            key = f"{self._key}:{window}"
            count = int(await self._script(keys=[key], args=[int(self._window * 2000)]))
            if count <= self._limit:
                self.waited_seconds += waited
                return waited
            wait = (window + 1) * self._window - now
            log.debug("kayako.rate_limit_wait", seconds=round(wait, 3), shared=True)
            await asyncio.sleep(wait)
            waited += wait

    async def aclose(self) -> None:
        await self._redis.aclose()
