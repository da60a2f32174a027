"""The dashboard's guards over real HTTP on SQLite: no session means the login form, a forged or stale session
or a cross-site POST is refused, the pages carry the page CSP; and the per-day numbers behind the charts."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from kayako_call_assistant.domain import CallChannel, CallOutcome, CallRecord, Speaker, Turn, utcnow
from kayako_call_assistant.ports import OutboxEntry
from kayako_call_assistant.servers import serve_in_background
from kayako_call_assistant.storage import SqlStores, create_engine, upgrade
from kayako_call_assistant.web.admin import create_admin_router
from kayako_call_assistant.web.dashboard import (
    DashboardDeps,
    LoginRequired,
    create_dashboard_router,
    login_redirect,
)
from kayako_call_assistant.web.dashboard_queries import DashboardQueries, mask_number, percentile
from kayako_call_assistant.web.operator_session import COOKIE, Signer
from kayako_call_assistant.web.security import PAGE_CSP, SecurityMiddleware


@pytest.fixture
async def stores(tmp_path: Path) -> AsyncIterator[SqlStores]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'dashboard.db'}")
    await upgrade(engine)
    stores = SqlStores(engine)
    yield stores
    await stores.close()


def _app(stores: SqlStores, signer: Signer) -> FastAPI:
    app = FastAPI()
    app.add_middleware(SecurityMiddleware, max_body_bytes=10_000)
    app.add_exception_handler(LoginRequired, login_redirect)
    app.include_router(
        create_dashboard_router(
            DashboardDeps(
                tokens=stores.tokens,
                audit=stores.audit,
                calls=stores.calls,
                outbox=stores.outbox,
                queries=DashboardQueries(stores.engine),
                signer=signer,
                session_minutes=60,
                public_url="",
                case_key_for_call=lambda call_id: f"call-{call_id}",
                case_url=lambda case_id: f"https://kayako.example/agent/conversations/{case_id}",
                live_here=set,
            )
        )
    )
    return app


async def test_pages_need_a_valid_session_and_posts_need_csrf_and_origin(stores: SqlStores) -> None:
    signer = Signer("test-secret")
    await stores.outbox.enqueue(OutboxEntry(idempotency_key="call-c1", call_id="c1", payload={}))
    await stores.outbox.mark_failed("call-c1", "down", None)
    async with serve_in_background(_app(stores, signer)) as url:
        host = url.removeprefix("http://")
        async with httpx.AsyncClient(base_url=url) as client:
            response = await client.get("/admin/case-queue")
            assert response.status_code == 303
            assert response.headers["location"] == "/admin/login?next=/admin/case-queue"

            forged = Signer("another-secret").session_cookie("mallory")
            response = await client.get("/admin/case-queue", headers={"cookie": f"{COOKIE}={forged}"})
            assert response.status_code == 303

            response = await client.post(
                "/admin/login", data={"token": "guess"}, headers={"origin": f"http://{host}"}
            )
            assert response.status_code == 401 and "not valid" in response.text
            token = await stores.tokens.create("ops")
            response = await client.post(
                "/admin/login", data={"token": token}, headers={"origin": "https://evil.example"}
            )
            assert response.status_code == 403  # login CSRF: only from our own page
            response = await client.post(
                "/admin/login",
                data={"token": token, "next": "//evil.example"},
                headers={"origin": f"http://{host}"},
            )
            assert response.status_code == 303 and response.headers["location"] == "/admin"
            set_cookie = response.headers["set-cookie"].lower()
            assert all(
                part in set_cookie for part in ("httponly", "secure", "samesite=strict", "max-age=3600")
            )
            session = response.cookies[COOKIE]
            operator = signer.operator(session, 3600)
            assert operator is not None and operator.name == "ops"
            cookie = {"cookie": f"{COOKIE}={session}"}

            page = await client.get("/admin/case-queue", headers=cookie)
            assert page.status_code == 200 and "call-c1" in page.text
            assert page.headers["content-security-policy"] == PAGE_CSP
            assert "<script>" not in page.text and " style=" not in page.text

            form = {"key": "call-c1", "csrf": operator.csrf}
            same_site = {**cookie, "origin": f"http://{host}"}
            refused = [
                await client.post(
                    "/admin/case-queue/requeue", data={**form, "csrf": "wrong"}, headers=same_site
                ),
                await client.post(
                    "/admin/case-queue/requeue",
                    data=form,
                    headers={**cookie, "origin": "https://evil.example"},
                ),
                await client.post("/admin/case-queue/requeue", data=form, headers=cookie),  # no Origin at all
            ]
            assert [r.status_code for r in refused] == [403, 403, 403]
            entry = await stores.outbox.get("call-c1")
            assert entry is not None and entry.status == "dead"

            done = await client.post("/admin/case-queue/requeue", data=form, headers=same_site)
            assert done.status_code == 303
            entry = await stores.outbox.get("call-c1")
            assert entry is not None and entry.status == "pending"
    assert Signer("test-secret").operator(session, 3600) is not None  # the same key in another process


async def test_daily_numbers_behind_the_charts(stores: SqlStores) -> None:
    now = utcnow().replace(microsecond=0)
    for index, (outcome, latency) in enumerate([(CallOutcome.RESOLVED, 0.5), (CallOutcome.ESCALATED, 1.5)]):
        started = now - dt.timedelta(minutes=5 + index)
        await stores.calls.create_call(
            CallRecord(f"c{index}", CallChannel.MEDIA_STREAM, started, outcome=outcome, cost_usd=0.25)
        )
        said = started + dt.timedelta(seconds=3)
        await stores.calls.add_turn(f"c{index}", Turn(Speaker.CALLER, "hi", started, said, seq=0))
        answer = said + dt.timedelta(seconds=latency)
        await stores.calls.add_turn(f"c{index}", Turn(Speaker.ASSISTANT, "hello", answer, answer, seq=1))
    days = await DashboardQueries(stores.engine).daily(3)
    assert [d.calls for d in days] == [0, 0, 2]
    today = days[-1]
    assert today.resolution_rate == 0.5 and today.cost_usd == 0.5
    assert (today.p50, today.p95) == (0.5, 1.5)
    found = await DashboardQueries(stores.engine).search_calls(outcome="escalated")
    assert [c.call_id for c in found] == ["c1"] and found[0].turn_latency_seconds == 1.5
    assert await DashboardQueries(stores.engine).search_calls(query="%") == []  # a literal %, not a wildcard
    assert [c.call_id for c in await DashboardQueries(stores.engine).search_calls(query="c0")] == ["c0"]


def test_masking_and_percentiles() -> None:
    assert mask_number("+14155550142") == "+•••••••0142"
    assert mask_number(None) == "unknown"
    assert percentile([3.0, 1.0, 2.0, 10.0], 0.5) == 2.0
    assert percentile([3.0, 1.0, 2.0, 10.0], 0.95) == 10.0
    assert percentile([], 0.5) is None


def test_dashboard_pages_and_the_admin_api_never_share_a_route(stores: SqlStores) -> None:
    """Both live under /admin; the router mounted first would silently take a shared path."""
    api = create_admin_router(
        tokens=stores.tokens,
        audit=stores.audit,
        calls=stores.calls,
        outbox=stores.outbox,
        case_key_for_call=lambda call_id: call_id,
    )
    pages = _app(stores, Signer("x")).router

    def routes(router: Any) -> set[tuple[str, str]]:
        return {(method, route.path) for route in router.routes for method in getattr(route, "methods", ())}

    assert routes(api) and routes(pages)
    assert routes(api) & routes(pages) == set()
