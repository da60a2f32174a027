"""The assistant's HTTP application: Twilio and Kayako webhooks, admin API, health and metrics.

Background work runs inside the application's lifespan: the case outbox worker, the knowledge refresher,
retries of webhook deliveries whose processing failed, and the retention purge.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
from collections.abc import AsyncIterator, Awaitable, Callable

import redis.asyncio as redis
import structlog
from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import Response

from ..observability.metrics import OUTBOX_DEPTH
from ..storage import run_purge_schedule
from ..telephony.router import Telephony, create_twilio_router
from ..tickets.case_builder import idempotency_key_for
from ..wiring import Runtime
from .admin import create_admin_router
from .health import ReadinessCheck, create_health_router
from .kayako_webhooks import CallStatusUpdater, create_kayako_webhook_router, process_pending
from .security import SecurityMiddleware

log = structlog.get_logger(__name__)

_WEBHOOK_RETRY_SECONDS = 60.0


class AssistantWebhookHandlers:
    """Kayako events: article changes refresh the knowledge base and the client's cache; case status changes
    update the call records."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._calls = CallStatusUpdater(runtime.calls)

    async def on_article_changed(self, article_id: int | None) -> None:
        for kind in ("articles", "sections", "categories"):
            self._runtime.kayako.cache.invalidate(kind)
        await self._runtime.knowledge.on_article_changed(article_id)

    async def on_case_status(self, case_id: int, status: str) -> None:
        await self._calls.on_case_status(case_id, status)


def readiness_checks(runtime: Runtime) -> dict[str, ReadinessCheck]:
    async def database() -> None:
        async with runtime.stores.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def kayako() -> None:
        await runtime.kayako.request("GET", "/me")

    checks: dict[str, ReadinessCheck] = {"database": database, "kayako": kayako}
    if runtime.settings.redis_url:

        async def redis_ping() -> None:
            client = redis.from_url(runtime.settings.redis_url)
            try:
                await client.ping()
            finally:
                await client.aclose()

        checks["redis"] = redis_ping
    return checks


async def _every(
    seconds: float, stop: asyncio.Event, job: Callable[[], Awaitable[object]], name: str
) -> None:
    while not stop.is_set():
        try:
            await job()
        except Exception:  # a failed round is logged and retried next round, never fatal
            log.exception("background.failed", job=name)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)


def create_app(runtime: Runtime, telephony: Telephony | None = None) -> FastAPI:
    """``telephony`` mounts the Twilio webhooks and media streams (the server has it; some tests do not)."""
    settings = runtime.settings
    handlers = AssistantWebhookHandlers(runtime)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()

        async def outbox_depth() -> None:
            OUTBOX_DEPTH.set(await runtime.stores.outbox.depth())

        tasks = [
            asyncio.create_task(runtime.outbox_worker.run(stop), name="outbox"),
            asyncio.create_task(runtime.knowledge.run_refresher(stop), name="knowledge"),
            asyncio.create_task(
                _every(
                    _WEBHOOK_RETRY_SECONDS,
                    stop,
                    lambda: process_pending(runtime.stores.webhooks, handlers),
                    "webhooks",
                ),
                name="webhooks",
            ),
            asyncio.create_task(_every(15.0, stop, outbox_depth, "outbox-depth"), name="outbox-depth"),
            asyncio.create_task(
                run_purge_schedule(
                    runtime.stores.engine,
                    days=settings.retention_days,
                    interval_hours=settings.purge_interval_hours,
                    stop=stop,
                ),
                name="purge",
            ),
        ]
        log.info("app.started", kayako=runtime.kayako.config.base_url, llm=runtime.engine.name)
        try:
            yield
        finally:
            stop.set()
            if telephony is not None:
                tasks += telephony.background  # status-callback finalizations still waiting out their grace
                for task in telephony.background:
                    task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    app = FastAPI(title="Kayako call assistant", lifespan=lifespan)
    app.add_middleware(SecurityMiddleware, max_body_bytes=settings.max_body_bytes)
    checks = readiness_checks(runtime)
    kayako_check = checks.pop("kayako")
    app.include_router(create_health_router(checks, advisory={"kayako": kayako_check}))

    metrics_token = settings.metrics_token.get_secret_value()

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics(request: Request) -> Response:
        # Behind a bearer token when one is set; with none, open only in development (metrics name
        # routes, volumes and engine failures, which a stranger should not read in production).
        if metrics_token or settings.production_rules:
            scheme, _, given = request.headers.get("authorization", "").partition(" ")
            if not (
                metrics_token
                and scheme.lower() == "bearer"
                and hmac.compare_digest(given.strip().encode(), metrics_token.encode())
            ):
                return Response(
                    "a valid bearer token (KCA_METRICS_TOKEN) is required\n",
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    async def wake_outbox() -> None:
        await runtime.outbox_worker.deliver_due()

    app.include_router(
        create_admin_router(
            tokens=runtime.stores.tokens,
            audit=runtime.stores.audit,
            calls=runtime.calls,
            outbox=runtime.stores.outbox,
            case_key_for_call=idempotency_key_for,
            on_resend=wake_outbox,
        )
    )
    if telephony is not None:
        app.include_router(create_twilio_router(telephony))
    token = settings.kayako_webhook_token.get_secret_value()
    if token:
        secret = settings.kayako_webhook_secret.get_secret_value() or None
        app.include_router(
            create_kayako_webhook_router(
                token=token, secret=secret, store=runtime.stores.webhooks, handlers=handlers
            )
        )
    return app
