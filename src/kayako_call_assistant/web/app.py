"""The assistant's HTTP application: Twilio and Kayako webhooks, admin API, health and metrics, the operator
dashboard and the browser softphone.

Background work runs inside the application's lifespan: the case outbox worker, the knowledge refresher,
retries of webhook deliveries whose processing failed, and the retention purge.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hmac
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import redis.asyncio as redis
import structlog
from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from starlette.responses import Response

from ..coordination import lease_for, run_while_leader
from ..domain import utcnow
from ..observability.metrics import refresh_outbox_gauges
from ..storage import run_purge_schedule
from ..telephony.router import Telephony, create_twilio_router
from ..tickets.case_builder import idempotency_key_for
from ..wiring import Runtime
from .admin import create_admin_router
from .dashboard import (
    DashboardDeps,
    LoginRequired,
    create_dashboard_router,
    login_redirect,
    page,
)
from .dashboard_queries import DashboardQueries
from .drain import Drain
from .health import ReadinessCheck, create_health_router
from .kayako_webhooks import CallStatusUpdater, create_kayako_webhook_router, process_pending
from .operator_session import Signer
from .security import SecurityMiddleware
from .softphone import SoftphoneDeps, create_softphone_router

STATIC = Path(__file__).parent / "static"

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


class Draining(RuntimeError):
    """Readiness fails on purpose: this replica drains after SIGTERM."""


def readiness_checks(runtime: Runtime, drain: Drain | None = None) -> dict[str, ReadinessCheck]:
    async def accepting_calls() -> None:
        if drain is not None and drain.draining:
            raise Draining

    async def database() -> None:
        async with runtime.stores.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def kayako() -> None:
        await runtime.kayako.request("GET", "/me")

    checks: dict[str, ReadinessCheck] = {"database": database, "kayako": kayako}
    if drain is not None:  # the server's: readiness fails on purpose while it drains
        checks = {"accepting_calls": accepting_calls, **checks}
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


def create_app(runtime: Runtime, telephony: Telephony | None = None, drain: Drain | None = None) -> FastAPI:
    """``telephony`` mounts the Twilio webhooks and media streams (the server has it; some tests do not);
    ``drain`` (the server's) makes readiness fail while the replica drains."""
    settings = runtime.settings
    handlers = AssistantWebhookHandlers(runtime)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()

        async def outbox_depth() -> None:
            await refresh_outbox_gauges(runtime.stores.outbox)  # h/cases: pending and dead gauges

        async def sweep_calls() -> None:  # h/cases: calls whose stream or process died are finished
            idle = dt.timedelta(minutes=settings.call_sweep_idle_minutes)
            await runtime.call_service.finalize_stale(utcnow() - idle)

        # deploy: jobs that must run once across replicas run under a lease (coordination.py); the knowledge
        # refresher keeps this replica's own in-memory index and runs everywhere.
        lease_redis = redis.from_url(settings.redis_url) if settings.redis_url else None

        def leased(
            name: str, job: Callable[[asyncio.Event], Coroutine[Any, Any, None]]
        ) -> asyncio.Task[None]:
            lease = lease_for(name, redis_client=lease_redis, engine=runtime.stores.engine)
            return asyncio.create_task(run_while_leader(lease, job, stop), name=name)

        tasks = [
            leased("outbox", runtime.outbox_worker.run),
            leased(
                "call-sweep",
                lambda job_stop: _every(
                    settings.call_sweep_interval_seconds, job_stop, sweep_calls, "call-sweep"
                ),
            ),
            asyncio.create_task(runtime.knowledge.run_refresher(stop), name="knowledge"),
            leased(
                "webhooks",
                lambda job_stop: _every(
                    _WEBHOOK_RETRY_SECONDS,
                    job_stop,
                    lambda: process_pending(runtime.stores.webhooks, handlers),
                    "webhooks",
                ),
            ),
            asyncio.create_task(_every(15.0, stop, outbox_depth, "outbox-depth"), name="outbox-depth"),
            leased(
                "purge",
                lambda job_stop: run_purge_schedule(
                    runtime.stores.engine,
                    days=settings.retention_days,
                    interval_hours=settings.purge_interval_hours,
                    stop=job_stop,
                ),
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
            if lease_redis is not None:
                await lease_redis.aclose()

    production = settings.environment == "production"
    # Production serves no API docs; development serves Swagger UI from vendored files (see ``api_docs``).
    app = FastAPI(
        title="Kayako call assistant",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None if production else "/openapi.json",
    )
    app.add_middleware(SecurityMiddleware, max_body_bytes=settings.max_body_bytes)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_exception_handler(LoginRequired, login_redirect)
    if not production:

        @app.get("/docs", include_in_schema=False)
        async def api_docs(request: Request) -> Response:
            return page(request, "api_docs.html", {})

    app.include_router(create_health_router(readiness_checks(runtime, drain)))

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
        # h/cases: the outbox gauges are read from the database at scrape time (dead cases are loud).
        with contextlib.suppress(Exception):
            await refresh_outbox_gauges(runtime.stores.outbox)
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
    signer = Signer(settings.web_session_secret.get_secret_value())
    kayako_site = runtime.kayako.config.base_url.removesuffix("/").removesuffix("/api/v1")
    app.include_router(
        create_dashboard_router(
            DashboardDeps(
                tokens=runtime.stores.tokens,
                audit=runtime.stores.audit,
                calls=runtime.calls,
                outbox=runtime.stores.outbox,
                queries=DashboardQueries(runtime.stores.engine),
                signer=signer,
                session_minutes=settings.web_session_minutes,
                public_url=settings.public_url,
                case_key_for_call=idempotency_key_for,
                case_url=lambda case_id: f"{kayako_site}/agent/conversations/{case_id}",
                live_here=lambda: set(telephony.live) if telephony is not None else set(),
                on_requeue=wake_outbox,
            )
        )
    )
    if telephony is not None:
        app.include_router(create_twilio_router(telephony))
        softphone = settings.softphone_enabled if settings.softphone_enabled is not None else not production
        if softphone:
            app.include_router(
                create_softphone_router(
                    SoftphoneDeps(
                        telephony=telephony,
                        signer=signer,
                        audit=runtime.stores.audit,
                        public_url=settings.public_url,
                        login_required=production,
                        session_minutes=settings.web_session_minutes,
                        used_tokens=set(),
                    )
                )
            )
    token = settings.kayako_webhook_token.get_secret_value()
    if token:
        secret = settings.kayako_webhook_secret.get_secret_value() or None
        app.include_router(
            create_kayako_webhook_router(
                token=token, secret=secret, store=runtime.stores.webhooks, handlers=handlers
            )
        )
    return app
