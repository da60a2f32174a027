"""Liveness (`/healthz`) and readiness (`/readyz`).

Readiness requires what a call cannot work without: the database, and Redis when configured. Kayako is
reported but does not decide readiness: during a Kayako outage calls still work (answers come from the
cached help center, cases wait in the outbox), and an unready pod would turn a Kayako outage into a phone
line outage. Its state comes from a check run at most every ``advisory_interval_seconds`` in the
background, so probes do not spend the shared Kayako rate budget. ``/readyz?strict=1`` is for operators:
it checks everything now and is unready when anything fails.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping

import structlog
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from ..observability.metrics import READY

log = structlog.get_logger(__name__)

ReadinessCheck = Callable[[], Awaitable[None]]


async def _run(name: str, check: ReadinessCheck, timeout_seconds: float) -> str:
    try:
        await asyncio.wait_for(check(), timeout_seconds)
    except Exception as error:
        log.warning("readiness.failed", check=name, error=type(error).__name__)
        return f"failed: {type(error).__name__}"
    return "ok"


class CachedCheck:
    """A check's last result, refreshed in a background task once it is older than ``interval``."""

    def __init__(
        self,
        name: str,
        check: ReadinessCheck,
        *,
        interval: float,
        timeout_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._name, self._check = name, check
        self._interval, self._timeout, self._clock = interval, timeout_seconds, clock
        self._result: str | None = None
        self._checked_at = 0.0
        self._refresh: asyncio.Task[str] | None = None

    async def fresh(self) -> str:
        """Run the check now and remember its result."""
        self._result = await _run(self._name, self._check, self._timeout)
        self._checked_at = self._clock()
        return self._result

    async def cached(self) -> str:
        """The last result (the first call waits for one); a stale result starts a background refresh."""
        if self._result is None:
            return await self.fresh()
        stale = self._clock() - self._checked_at >= self._interval
        if stale and (self._refresh is None or self._refresh.done()):
            self._refresh = asyncio.create_task(self.fresh(), name=f"readiness-{self._name}")
        return self._result


def create_health_router(
    checks: Mapping[str, ReadinessCheck],
    *,
    advisory: Mapping[str, ReadinessCheck] | None = None,
    timeout_seconds: float = 3.0,
    advisory_interval_seconds: float = 30.0,
) -> APIRouter:
    """``checks`` decide readiness; ``advisory`` ones (Kayako) are reported from a cache and decide only
    ``/readyz?strict=1``."""
    router = APIRouter(tags=["health"])
    cached = {
        name: CachedCheck(name, check, interval=advisory_interval_seconds, timeout_seconds=timeout_seconds)
        for name, check in (advisory or {}).items()
    }

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz(strict: bool = False) -> JSONResponse:
        results = {name: await _run(name, check, timeout_seconds) for name, check in checks.items()}
        required_ok = all(value == "ok" for value in results.values())
        for name, check in cached.items():
            results[name] = await (check.fresh() if strict else check.cached())
        ready = all(value == "ok" for value in results.values()) if strict else required_ok
        READY.set(1 if ready else 0)  # deploy: alert KcaNotReady
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": results}, 200 if ready else 503
        )

    return router
