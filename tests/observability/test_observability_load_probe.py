"""The load probe (`/debug/load`): media-stream seconds counted at the ASGI level over a real WebSocket, and
garbage-collection pauses from ``gc.callbacks``."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.asyncio.client import connect

from kayako_call_assistant.observability.gc_pauses import THRESHOLDS, GcPauses, tune_gc
from kayako_call_assistant.observability.load_probe import LoadProbe
from kayako_call_assistant.servers import serve_in_background


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            await websocket.send_text(await websocket.receive_text())
    except WebSocketDisconnect:
        pass


@pytest.fixture
def pauses() -> Iterator[GcPauses]:
    pauses = GcPauses()
    pauses.install()
    yield pauses
    pauses.uninstall()


async def test_stream_seconds_cover_each_websocket_and_reset(pauses: GcPauses) -> None:
    probe = LoadProbe(Starlette(routes=[WebSocketRoute("/media", echo)]), pauses)
    async with serve_in_background(probe) as url, httpx.AsyncClient() as client:
        ws_url = url.replace("http", "ws", 1) + "/media"
        async with connect(ws_url) as first, connect(ws_url) as second:
            await first.send("a")
            assert await first.recv() == "a"
            open_now = (await client.get(f"{url}/debug/load")).json()
            assert open_now["streams_open"] == 2
            await asyncio.sleep(0.3)
            await second.send("b")
            assert await second.recv() == "b"
        await asyncio.sleep(0.05)
        figures = (await client.get(f"{url}/debug/load?reset=1")).json()
        assert figures["streams_open"] == 0
        assert figures["streams_opened"] == 2
        assert figures["stream_seconds"] >= 0.6  # both were open for at least the 0.3 s the client waited
        after = (await client.get(f"{url}/debug/load?collect=1")).json()
        assert after["streams_opened"] == 0 and after["stream_seconds"] == 0.0
        assert after["full_collection_ms"] > 0 and pauses.collections[2] >= 1


async def test_other_requests_pass_through(pauses: GcPauses) -> None:
    async def ok(request: Request) -> PlainTextResponse:
        return PlainTextResponse("app")

    app = Starlette(routes=[Route("/healthz", ok)])
    async with serve_in_background(LoadProbe(app, pauses)) as url, httpx.AsyncClient() as client:
        assert (await client.get(f"{url}/healthz")).text == "app"


def test_collections_are_timed(pauses: GcPauses) -> None:
    gc.collect()
    gc.collect(0)
    figures = pauses.snapshot()
    assert figures["collections"][2] >= 1 and figures["collections"][0] >= 1
    assert figures["max_pause_ms"][2] > 0
    pauses.reset()
    assert pauses.snapshot()["collections"] == [0, 0, 0]


def test_tune_gc_freezes_the_start_up_heap_and_raises_thresholds() -> None:
    before = gc.get_threshold()
    try:
        tune_gc()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == THRESHOLDS
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
