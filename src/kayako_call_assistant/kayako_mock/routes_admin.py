"""Endpoints outside ``/api/v1``: the OAuth token endpoint and the mock's own admin API (``/_mock``).

The admin API needs no Kayako credentials: it is how tests and benchmarks break, inspect and reset the mock.
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from .auth import OAuthError
from .automation import AutomationTarget
from .context import mock_of
from .params import body_of

log = structlog.get_logger(__name__)

oauth = APIRouter()
admin = APIRouter(prefix="/_mock")


@oauth.post("/oauth/token")
async def token(request: Request) -> JSONResponse:
    mock = mock_of(request)
    try:
        grant = mock.auth.grant(await body_of(request))
    except OAuthError as error:
        log.info("kayako_mock.token_refused", error=error.error)
        return JSONResponse(
            {"error": error.error, "error_description": error.description},
            status_code=error.status,
            headers={"Cache-Control": "no-store"},
        )
    return JSONResponse(grant, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


def _invalid(error: ValidationError) -> JSONResponse:
    problems = [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in error.errors()]
    return JSONResponse({"error": "invalid", "problems": problems}, status_code=400)


@admin.get("/faults")
async def get_faults(request: Request) -> dict[str, Any]:
    return mock_of(request).faults.current.model_dump()


@admin.put("/faults")
async def put_faults(request: Request) -> Any:
    mock = mock_of(request)
    try:
        changes = await request.json()
        if not isinstance(changes, dict):
            raise ValueError("a JSON object is expected")
        current = mock.faults.update(changes)
    except ValidationError as error:
        return _invalid(error)
    except ValueError as error:
        return JSONResponse({"error": "invalid", "problems": [{"message": str(error)}]}, status_code=400)
    log.info("kayako_mock.faults_set", **current.model_dump())
    return current.model_dump()


@admin.post("/reset-faults")
async def reset_faults(request: Request) -> dict[str, Any]:
    mock = mock_of(request)
    mock.faults.reset()
    log.info("kayako_mock.faults_reset")
    return mock.faults.current.model_dump()


@admin.get("/stats")
async def stats(request: Request) -> dict[str, Any]:
    mock = mock_of(request)
    return {
        "requests": dict(sorted(mock.stats.items())),
        "total": sum(mock.stats.values()),
        "tokens_issued": mock.auth.token_issued,
        "sessions": len(mock.auth.sessions),
        "automation": {"sent": mock.automation.sent, "failed": mock.automation.failed},
    }


@admin.post("/expire-sessions")
async def expire_sessions(request: Request) -> dict[str, int]:
    expired = mock_of(request).auth.expire_sessions()
    log.info("kayako_mock.sessions_expired", count=expired)
    return {"expired": expired}


@admin.post("/expire-tokens")
async def expire_tokens(request: Request) -> dict[str, int]:
    expired = mock_of(request).auth.expire_tokens()
    log.info("kayako_mock.tokens_expired", count=expired)
    return {"expired": expired}


@admin.get("/automation")
async def get_automation(request: Request) -> dict[str, Any]:
    target = mock_of(request).automation.target
    return {"url": target.url if target else None, "auth": bool(target and target.auth_username)}


@admin.put("/automation")
async def put_automation(request: Request) -> Any:
    try:
        target = AutomationTarget.model_validate(await body_of(request))
    except ValidationError as error:
        return _invalid(error)
    mock_of(request).automation.target = target
    log.info("kayako_mock.automation_set", url=target.url, auth=target.auth_username is not None)
    return {"url": target.url, "auth": target.auth_username is not None}


@admin.delete("/automation")
async def delete_automation(request: Request) -> dict[str, Any]:
    mock_of(request).automation.target = None
    return {"url": None, "auth": False}
