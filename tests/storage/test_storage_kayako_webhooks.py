"""The Kayako webhook receiver over real HTTP, storing into a real SQLite database."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from kayako_call_assistant.domain import CallChannel, CallRecord, utcnow
from kayako_call_assistant.servers import serve_in_background
from kayako_call_assistant.storage import SqlCallStore, SqlStores, create_engine, upgrade
from kayako_call_assistant.web.kayako_webhooks import (
    CallStatusUpdater,
    create_kayako_webhook_router,
    process_pending,
)

TOKEN = "path-token-4f1c9b"
SECRET = "shared-secret-93ad"


@dataclass
class RecordingHandlers:
    """Handlers that remember what they were asked; ``failures`` makes the next calls raise."""

    articles: list[int | None] = field(default_factory=list)
    statuses: list[tuple[int, str]] = field(default_factory=list)
    failures: int = 0

    def _maybe_fail(self) -> None:
        if self.failures:
            self.failures -= 1
            raise RuntimeError("knowledge cache unavailable")

    async def on_article_changed(self, article_id: int | None) -> None:
        self._maybe_fail()
        self.articles.append(article_id)

    async def on_case_status(self, case_id: int, status: str) -> None:
        self._maybe_fail()
        self.statuses.append((case_id, status))


@pytest.fixture
async def stores(tmp_path: Path) -> AsyncIterator[SqlStores]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'kca.db'}")
    await upgrade(engine)
    stores = SqlStores(engine)
    yield stores
    await stores.close()


async def _settled(stores: SqlStores, handlers: RecordingHandlers, expected_events: int) -> None:
    """Wait for the background processing the 2xx was sent before."""
    for _ in range(500):
        if len(handlers.articles) + len(handlers.statuses) >= expected_events and not handlers.failures:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the delivery was not processed")


def _app(stores: SqlStores, handlers: RecordingHandlers, secret: str | None = SECRET) -> FastAPI:
    app = FastAPI()
    app.include_router(
        create_kayako_webhook_router(token=TOKEN, secret=secret, store=stores.webhooks, handlers=handlers)
    )
    return app


def _sign(body: bytes, secret: str = SECRET) -> dict[str, str]:
    return {"X-KCA-Signature": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}


BASIC = ("kayako", SECRET)


async def test_json_delivery_is_stored_acknowledged_and_processed(stores: SqlStores) -> None:
    handlers = RecordingHandlers()
    body = {
        "event": "case.status_changed",
        "case": {"id": 812, "status": {"label": "Pending"}},
        "id": "evt-1",
    }
    async with (
        serve_in_background(_app(stores, handlers)) as base,
        httpx.AsyncClient(base_url=base) as client,
    ):
        response = await client.post(f"/webhooks/kayako/{TOKEN}", json=body, auth=BASIC)
        assert response.status_code == 202
        assert response.json() == {"duplicate": False, "delivery_id": "evt-1"}
        await _settled(stores, handlers, 1)

        replay = await client.post(f"/webhooks/kayako/{TOKEN}", json=body, auth=BASIC)
        assert replay.status_code == 200
        assert replay.json()["duplicate"] is True

        article = await client.post(
            f"/webhooks/kayako/{TOKEN}", json={"event": "article.updated", "article_id": "31"}, auth=BASIC
        )
        assert article.status_code == 202
        await _settled(stores, handlers, 2)

    assert handlers.statuses == [(812, "Pending")]
    assert handlers.articles == [31]
    assert await stores.webhooks.unprocessed() == []


async def test_wrong_token_or_secret_is_refused_and_nothing_is_stored(stores: SqlStores) -> None:
    handlers = RecordingHandlers()
    body = json.dumps({"event": "article.deleted", "article_id": 4}).encode()
    headers = {"content-type": "application/json"}
    async with (
        serve_in_background(_app(stores, handlers)) as base,
        httpx.AsyncClient(base_url=base) as client,
    ):
        bad_token = await client.post(
            "/webhooks/kayako/not-the-token", content=body, headers=headers, auth=BASIC
        )
        assert bad_token.status_code == 403

        no_secret = await client.post(f"/webhooks/kayako/{TOKEN}", content=body, headers=headers)
        assert no_secret.status_code == 401
        assert no_secret.headers["www-authenticate"].startswith("Basic")

        bad_basic = await client.post(
            f"/webhooks/kayako/{TOKEN}", content=body, headers=headers, auth=("kayako", "wrong")
        )
        assert bad_basic.status_code == 401

        bad_hmac = await client.post(
            f"/webhooks/kayako/{TOKEN}", content=body, headers=headers | _sign(body, "wrong")
        )
        assert bad_hmac.status_code == 401

        tampered = await client.post(
            f"/webhooks/kayako/{TOKEN}", content=body + b" ", headers=headers | _sign(body)
        )
        assert tampered.status_code == 401

        assert await stores.webhooks.unprocessed() == []

        signed = await client.post(f"/webhooks/kayako/{TOKEN}", content=body, headers=headers | _sign(body))
        assert signed.status_code == 202
        assert signed.json()["delivery_id"] == hashlib.sha256(body).hexdigest()
        await _settled(stores, handlers, 1)
    assert handlers.articles == [4]


async def test_form_bodies_are_understood_and_xml_is_refused(stores: SqlStores) -> None:
    handlers = RecordingHandlers()
    async with (
        serve_in_background(_app(stores, handlers)) as base,
        httpx.AsyncClient(base_url=base) as client,
    ):
        form = await client.post(
            f"/webhooks/kayako/{TOKEN}",
            data={"event": "case.updated", "case_id": "77", "status": "Completed", "delivery_id": "f-1"},
            auth=BASIC,
        )
        assert form.status_code == 202
        assert form.json()["delivery_id"] == "f-1"
        await _settled(stores, handlers, 1)

        multipart = await client.post(
            f"/webhooks/kayako/{TOKEN}",
            data={"event": "article.updated", "article[id]": "12"},
            files={"attachment": ("note.txt", b"ignored")},
            auth=BASIC,
        )
        assert multipart.status_code == 202
        await _settled(stores, handlers, 2)

        xml = await client.post(
            f"/webhooks/kayako/{TOKEN}",
            content=b"<event><case_id>77</case_id></event>",
            headers={"content-type": "application/xml"},
            auth=BASIC,
        )
        assert xml.status_code == 415
        assert "JSON or FORM" in xml.json()["detail"]

        broken = await client.post(
            f"/webhooks/kayako/{TOKEN}",
            content=b"{not json",
            headers={"content-type": "application/json"},
            auth=BASIC,
        )
        assert broken.status_code == 400
    assert handlers.statuses == [(77, "Completed")]
    assert handlers.articles == [12]
    assert [delivery.delivery_id for delivery in await stores.webhooks.unprocessed()] == []


async def test_failed_processing_is_kept_and_retried_by_process_pending(stores: SqlStores) -> None:
    handlers = RecordingHandlers(failures=1)
    async with serve_in_background(_app(stores, handlers, secret=None)) as base:
        async with httpx.AsyncClient(base_url=base) as client:
            response = await client.post(
                f"/webhooks/kayako/{TOKEN}", json={"event": "article.published", "article": {"id": 9}}
            )
        assert response.status_code == 202
        for _ in range(500):
            pending = await stores.webhooks.unprocessed()
            if pending and pending[0].error:
                break
            await asyncio.sleep(0.01)
    [failed] = await stores.webhooks.unprocessed()
    assert failed.error is not None
    assert "knowledge cache unavailable" in failed.error
    assert handlers.articles == []

    assert await process_pending(stores.webhooks, handlers) == 1
    assert handlers.articles == [9]
    assert await stores.webhooks.unprocessed() == []
    assert await process_pending(stores.webhooks, handlers) == 0
    assert handlers.articles == [9]


async def test_events_are_recognised_by_fields_and_the_rest_set_aside(stores: SqlStores) -> None:
    handlers = RecordingHandlers()
    async with serve_in_background(_app(stores, handlers, secret=None)) as base:
        async with httpx.AsyncClient(base_url=base) as client:
            no_status = await client.post(
                f"/webhooks/kayako/{TOKEN}", json={"event": "case.updated", "case_id": 3}
            )
            unknown = await client.post(
                f"/webhooks/kayako/{TOKEN}", json={"event": "user.created", "user_id": 1}
            )
            unnamed = await client.post(
                f"/webhooks/kayako/{TOKEN}",
                json={"data": {"case": {"id": 8, "type": "Question", "status": {"id": 2, "label": "Open"}}}},
            )
        assert (no_status.status_code, unknown.status_code, unnamed.status_code) == (202, 202, 202)
        for _ in range(500):
            if not await stores.webhooks.unprocessed():
                break
            await asyncio.sleep(0.01)
    assert await stores.webhooks.unprocessed() == []
    assert (handlers.articles, handlers.statuses) == ([], [(8, "Open")])


async def test_call_status_updater_sets_the_status_on_every_call_of_the_case(stores: SqlStores) -> None:
    calls: SqlCallStore = stores.calls
    for call_id, case_id in [("a", 500), ("b", 500), ("c", 501)]:
        await calls.create_call(CallRecord(call_id, CallChannel.CHAT, utcnow(), case_id=case_id))
    await CallStatusUpdater(calls).on_case_status(500, "Completed")
    statuses = {}
    for call_id in "abc":
        call = await calls.get_call(call_id)
        assert call is not None
        statuses[call_id] = call.case_status
    assert statuses == {"a": "Completed", "b": "Completed", "c": None}


def test_a_router_without_token_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="token is required"):
        create_kayako_webhook_router(
            token="",
            secret=None,
            store=SqlStores(create_engine("sqlite+aiosqlite://")).webhooks,
            handlers=RecordingHandlers(),
        )
