"""A fake Sentry ingest endpoint that receives the SDK's real envelopes over HTTP, for tests."""

from __future__ import annotations

import gzip
import json
from typing import Any

from fastapi import FastAPI, Request, Response


def parse_envelope(body: bytes) -> list[dict[str, Any]]:
    """The items of a Sentry envelope: a header line, then per item a header line and a payload that is
    either ``length`` bytes long or runs to the end of its line."""
    items: list[dict[str, Any]] = []
    cursor = body.find(b"\n") + 1  # skip the envelope header
    while 0 < cursor < len(body):
        line_end = body.find(b"\n", cursor)
        if line_end == -1:
            break
        header = json.loads(body[cursor:line_end])
        start = line_end + 1
        if header.get("length") is not None:
            stop = start + int(header["length"])
        else:
            stop = body.find(b"\n", start)
            stop = len(body) if stop == -1 else stop
        payload = body[start:stop]
        try:
            items.append({"type": header.get("type"), "payload": json.loads(payload)})
        except ValueError:
            items.append({"type": header.get("type"), "payload": payload.decode("utf-8", "replace")})
        cursor = stop + 1
    return items


def create_app() -> FastAPI:
    app = FastAPI()
    received: list[dict[str, Any]] = []
    app.state.received = received

    @app.post("/api/{project_id}/envelope/")
    async def envelope(project_id: str, request: Request) -> Response:
        body = await request.body()
        if request.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        for item in parse_envelope(body):
            received.append({"project": project_id, "raw": body.decode("utf-8", "replace"), **item})
        return Response(status_code=200, content=b"{}", media_type="application/json")

    @app.get("/_fake/events")
    async def events() -> list[dict[str, Any]]:
        return received

    return app
