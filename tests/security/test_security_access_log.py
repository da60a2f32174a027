"""The Kayako webhook's path token never appears in uvicorn's access log."""

from __future__ import annotations

import asyncio
import io
import logging

import httpx
import uvicorn
from fastapi import FastAPI

from kayako_call_assistant.cli.serve import server_config
from kayako_call_assistant.observability.logging import configure_logging, mask_secret_path
from kayako_call_assistant.settings import Settings


def test_mask_secret_path() -> None:
    assert mask_secret_path("/webhooks/kayako/tok-123") == "/webhooks/kayako/[secret]"
    assert mask_secret_path("/webhooks/kayako/tok-123?x=1") == "/webhooks/kayako/[secret]?x=1"
    assert mask_secret_path("/twilio/voice") == "/twilio/voice"


async def test_uvicorn_access_log_masks_the_webhook_token() -> None:
    configure_logging(json=True, level="INFO")
    stream = io.StringIO()
    logging.getLogger().handlers[0].setStream(stream)  # type: ignore[attr-defined]
    logging.getLogger("uvicorn.access").setLevel(logging.INFO)
    app = FastAPI()

    @app.post("/webhooks/kayako/{token}")
    async def receive(token: str) -> dict[str, str]:
        return {"ok": "yes"}

    # The server as `kca serve` configures it (uvicorn's loggers propagate to the redacting pipeline).
    server = uvicorn.Server(server_config(Settings(host="127.0.0.1", port=0), app))
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(3000):  # up to 30 s on a loaded machine
            if server.started:
                break
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            assert (await client.post("/webhooks/kayako/very-secret-token-42")).status_code == 200
    finally:
        server.should_exit = True
        await task
    text = stream.getvalue()
    assert "very-secret-token-42" not in text
    assert "/webhooks/kayako/[secret]" in text
