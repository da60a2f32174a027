"""Anonymous admin requests are limited per client: past the limit they get 429 and write no audit row."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from kayako_call_assistant.servers import serve_in_background
from kayako_call_assistant.storage import SqlStores, create_engine, upgrade
from kayako_call_assistant.web.admin import DenialLimiter, create_admin_router


@pytest.fixture
async def stores(tmp_path: Path) -> AsyncIterator[SqlStores]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'admin.db'}")
    await upgrade(engine)
    stores = SqlStores(engine)
    yield stores
    await stores.close()


async def test_refused_requests_beyond_the_limit_get_429_and_no_audit_row(stores: SqlStores) -> None:
    token = await stores.tokens.create("ops")
    app = FastAPI()
    app.include_router(
        create_admin_router(
            tokens=stores.tokens,
            audit=stores.audit,
            calls=stores.calls,
            outbox=stores.outbox,
            case_key_for_call=lambda call_id: f"case-{call_id}",
            denials=DenialLimiter(limit=5, window_seconds=3600),
        )
    )
    async with serve_in_background(app) as base, httpx.AsyncClient(base_url=base) as client:
        codes = [(await client.get("/admin/calls")).status_code for _ in range(12)]
        ok = await client.get("/admin/calls", headers={"Authorization": f"Bearer {token}"})
    assert codes == [401] * 5 + [429] * 7
    assert ok.status_code == 200  # a valid token is never limited
    denied = [e for e in await stores.audit.list(limit=100) if e.target == "denied"]
    assert len(denied) == 5


def test_the_window_rolls_over() -> None:
    now = [0.0]
    limiter = DenialLimiter(limit=2, window_seconds=60, clock=lambda: now[0])
    assert [limiter.allow("a") for _ in range(3)] == [True, True, False]
    assert limiter.allow("b")
    now[0] = 61
    assert limiter.allow("a")
