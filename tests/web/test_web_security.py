"""Security headers on every response and a request body limit, over real HTTP."""

from __future__ import annotations

import httpx
from fastapi import FastAPI, Request

from kayako_call_assistant.servers import serve_in_background
from kayako_call_assistant.web.security import SecurityMiddleware


def _app() -> FastAPI:
    app = FastAPI()

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    app.add_middleware(SecurityMiddleware, max_body_bytes=1000)
    return app


async def test_headers_and_size_limit() -> None:
    async with serve_in_background(_app()) as base, httpx.AsyncClient(base_url=base) as client:
        ok = await client.post("/echo", content=b"x" * 1000)
        assert ok.status_code == 200
        assert ok.json() == {"size": 1000}
        assert ok.headers["x-content-type-options"] == "nosniff"
        assert ok.headers["x-frame-options"] == "DENY"
        assert "max-age" in ok.headers["strict-transport-security"]

        too_big = await client.post("/echo", content=b"x" * 1001)
        assert too_big.status_code == 413

        async def chunks():  # no Content-Length: the limit must hold while streaming
            for _ in range(20):
                yield b"y" * 100

        streamed = await client.post("/echo", content=chunks())
        assert streamed.status_code == 413
