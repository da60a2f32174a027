"""Hostile Kayako webhook bodies are refused with a 4xx, and impossible case ids are set aside, not retried."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from kayako_call_assistant.servers import serve_in_background
from kayako_call_assistant.storage import SqlStores, create_engine, upgrade
from kayako_call_assistant.web.kayako_webhooks import create_kayako_webhook_router

TOKEN = "path-token-77ab"


class Handlers:
    def __init__(self) -> None:
        self.statuses: list[tuple[int, str]] = []

    async def on_article_changed(self, article_id: int | None) -> None:
        return None

    async def on_case_status(self, case_id: int, status: str) -> None:
        self.statuses.append((case_id, status))


@pytest.fixture
async def stores(tmp_path: Path) -> AsyncIterator[SqlStores]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'kca.db'}")
    await upgrade(engine)
    stores = SqlStores(engine)
    yield stores
    await stores.close()


def _app(stores: SqlStores, handlers: Handlers) -> FastAPI:
    app = FastAPI()
    app.include_router(
        create_kayako_webhook_router(token=TOKEN, secret=None, store=stores.webhooks, handlers=handlers)
    )
    return app


async def test_deeply_nested_bodies_are_refused_with_400(stores: SqlStores) -> None:
    handlers = Handlers()
    async with (
        serve_in_background(_app(stores, handlers)) as base,
        httpx.AsyncClient(base_url=base) as client,
    ):
        for depth in (100_000, 2_000, 40):
            body = '{"a":' * depth + "1" + "}" * depth
            response = await client.post(
                f"/webhooks/kayako/{TOKEN}", content=body, headers={"Content-Type": "application/json"}
            )
            assert response.status_code == 400, depth
            assert "nested" in response.json()["detail"]
        shallow = await client.post(
            f"/webhooks/kayako/{TOKEN}", json={"data": {"case": {"id": 8, "status": {"label": "Open"}}}}
        )
        assert shallow.status_code == 202
        for _ in range(500):
            if handlers.statuses:
                break
            await asyncio.sleep(0.01)
    assert handlers.statuses == [(8, "Open")]  # a normal body still goes through


@pytest.mark.parametrize("case_id", [2**63, 10**30, -5, 0, "9" * 5000])
async def test_impossible_case_ids_are_set_aside_not_retried(stores: SqlStores, case_id: object) -> None:
    handlers = Handlers()
    async with (
        serve_in_background(_app(stores, handlers)) as base,
        httpx.AsyncClient(base_url=base) as client,
    ):
        response = await client.post(
            f"/webhooks/kayako/{TOKEN}",
            json={"event": "case.status_changed", "case_id": case_id, "status": "Open", "id": "evt-x"},
        )
        assert response.status_code == 202
        for _ in range(500):
            if not await stores.webhooks.unprocessed():
                break
            await asyncio.sleep(0.01)
    assert await stores.webhooks.unprocessed() == []  # done with: nothing left to retry every minute
    assert handlers.statuses == []
