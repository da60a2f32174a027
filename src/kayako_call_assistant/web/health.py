"""Liveness (`/healthz`) and readiness (`/readyz`: database, Redis when configured, Kayako reachable)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

import structlog
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from ..observability.metrics import READY

log = structlog.get_logger(__name__)

ReadinessCheck = Callable[[], Awaitable[None]]


def create_health_router(checks: Mapping[str, ReadinessCheck], *, timeout_seconds: float = 3.0) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz() -> JSONResponse:
        results: dict[str, str] = {}
        for name, check in checks.items():
            try:
                await asyncio.wait_for(check(), timeout_seconds)
                results[name] = "ok"
            except Exception as error:
                results[name] = f"failed: {type(error).__name__}"
                log.warning("readiness.failed", check=name, error=type(error).__name__)
        ready = all(value == "ok" for value in results.values())
        READY.set(1 if ready else 0)  # deploy: alert KcaNotReady
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": results}, 200 if ready else 503
        )

    return router
