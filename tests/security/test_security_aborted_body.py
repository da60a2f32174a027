"""A client that sends part of a body and hangs up costs one log line, not a traceback."""

from __future__ import annotations

import asyncio
import io
import logging

import uvicorn
from fastapi import FastAPI, Request

from kayako_call_assistant.cli.serve import server_config
from kayako_call_assistant.observability.logging import configure_logging
from kayako_call_assistant.settings import Settings
from kayako_call_assistant.web.security import SecurityMiddleware


async def test_an_aborted_body_logs_one_line() -> None:
    configure_logging(json=True, level="INFO")
    stream = io.StringIO()
    logging.getLogger().handlers[0].setStream(stream)  # type: ignore[attr-defined]
    app = FastAPI()
    app.add_middleware(SecurityMiddleware, max_body_bytes=1_000_000)
    reached: list[bool] = []

    @app.post("/upload")
    async def upload(request: Request) -> dict[str, int]:
        reached.append(True)
        return {"size": len(await request.body())}

    server = uvicorn.Server(server_config(Settings(host="127.0.0.1", port=0), app))
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(3000):
            if server.started:
                break
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        for _ in range(3):
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(
                b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
                b"Content-Length: 100000\r\n\r\n" + b"x" * 1000
            )
            await writer.drain()
            for _ in range(500):  # the handler is reading the body
                if reached:
                    break
                await asyncio.sleep(0.01)
            writer.close()
            await writer.wait_closed()
            reached.clear()
        for _ in range(500):
            if stream.getvalue().count("http.client_disconnected") >= 3:
                break
            await asyncio.sleep(0.01)
    finally:
        server.should_exit = True
        await task
    text = stream.getvalue()
    assert text.count("http.client_disconnected") == 3, text
    assert "Traceback" not in text and "Exception in ASGI application" not in text
