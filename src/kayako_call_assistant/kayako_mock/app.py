"""The Kayako-compatible FastAPI application: ``create_app(MockConfig(...))``.

One HTTP middleware carries everything that is the same for every API request: the optional ``.json``
suffix, ``X-API-Version: 1``, request counts, and the injected faults and rate limit. Routes only
implement resources; errors are raised as ``MockError`` and rendered in Kayako's error envelope.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import routes_admin, routes_cases, routes_helpcenter, routes_search, routes_users
from .auth import AuthState
from .config import MockConfig
from .context import Mock
from .errors import MockError, error_entry
from .faults import FaultState
from .seed import seed
from .store import Store

log = structlog.get_logger(__name__)

API_PREFIX = "/api/v1"
_ID_SEGMENT = re.compile(r"/\d+(?=/|$)")
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def path_template(path: str) -> str:
    """``/api/v1/cases/80000100000/posts`` → ``/api/v1/cases/{id}/posts`` (bounded stats keys)."""
    return _ID_SEGMENT.sub("/{id}", path)


def _error_response(request: Request, error: MockError) -> JSONResponse:
    body = error.body()
    session = getattr(request.state, "new_session", None)
    if session is not None:
        body["session_id"] = session
    return JSONResponse(body, status_code=error.status, headers=error.headers)


def create_app(config: MockConfig | None = None) -> FastAPI:
    config = config or MockConfig()
    store = Store(config.database)
    if config.seed and store.is_empty():
        seed(store, config)
    mock = Mock(
        config=config,
        store=store,
        auth=AuthState(config, store),
        faults=FaultState(config.fault_settings(), config.rate_limit_per_minute),
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await mock.automation.aclose()

    app = FastAPI(
        title="Kayako mock", docs_url="/_mock/docs", openapi_url="/_mock/openapi.json", lifespan=lifespan
    )
    app.state.mock = mock
    for router in (
        routes_users.router,
        routes_cases.router,
        routes_helpcenter.router,
        routes_search.router,
    ):
        app.include_router(router, prefix=API_PREFIX)
    app.include_router(routes_admin.oauth)
    app.include_router(routes_admin.admin)

    @app.exception_handler(MockError)
    async def mock_error(request: Request, error: MockError) -> JSONResponse:
        return _error_response(request, error)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        if error.status_code == 405:
            return _error_response(request, MockError(405, "METHOD_NOT_SUPPORTED"))
        if error.status_code == 404:
            return _error_response(request, MockError(404, "RESOURCE_NOT_FOUND", "No such resource or path"))
        return _error_response(request, MockError(error.status_code, "PARAMETER_INVALID", str(error.detail)))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
        entries = [
            error_entry("PARAMETER_INVALID", parameter=str(e["loc"][-1]) if e.get("loc") else None)
            for e in error.errors()
        ]
        return _error_response(request, MockError.many(400, entries))

    @app.middleware("http")
    async def kayako_conventions(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        path = request.scope["path"]
        is_api = path.startswith(API_PREFIX) or path == "/oauth/token"
        if path.startswith(API_PREFIX) and path.endswith(".json"):
            # Kayako accepts every path with and without ``.json``; route on the bare form.
            request.scope["path"] = path.removesuffix(".json")
            request.scope["raw_path"] = request.scope["path"].encode()
        if not is_api:
            return await call_next(request)
        mock.stats[f"{request.method} {path_template(request.scope['path'])}"] += 1
        try:
            response = await _with_faults(mock, request, call_next)
        except Exception:
            # A bug in the mock still answers in Kayako's envelope, so clients see a 500 they can handle.
            log.exception("kayako_mock.unhandled", path=request.url.path)
            response = _error_response(request, MockError(500, "EXCEPTION_CAUGHT"))
        response.headers["X-API-Version"] = "1"
        csrf = getattr(request.state, "csrf_token", None)
        if csrf:
            response.headers["X-CSRF-Token"] = csrf
        return response

    return app


async def _with_faults(
    mock: Mock, request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    faults = mock.faults
    if faults.current.latency_ms:
        await asyncio.sleep(faults.current.latency_ms / 1000)
    if faults.current.down:
        return _error_response(request, MockError(503, "EXCEPTION_CAUGHT", "The service is unavailable"))
    retry_after = faults.rate_limited()
    if retry_after is None and faults.take_burst_429():
        retry_after = faults.current.retry_after
    if retry_after is not None:
        log.info("kayako_mock.rate_limited", path=request.url.path, retry_after=retry_after)
        return _error_response(
            request, MockError(429, "RATE_LIMIT_REACHED", headers={"Retry-After": str(retry_after)})
        )
    if faults.inject_error():
        status = faults.current.error_status
        return _error_response(request, MockError(status, "EXCEPTION_CAUGHT", "Injected failure"))
    response = await call_next(request)
    committed = (
        request.method in WRITES and response.status_code < 400 and request.url.path.startswith(API_PREFIX)
    )
    if committed and faults.take_fail_after_commit():
        # The write is committed; only its answer is lost, as when a proxy fails after the backend.
        log.info("kayako_mock.failed_after_commit", path=request.url.path)
        return _error_response(request, MockError(500, "EXCEPTION_CAUGHT", "Injected failure after commit"))
    return response
