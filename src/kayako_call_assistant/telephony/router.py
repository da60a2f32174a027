"""Twilio's side of the service under ``/twilio``: the routes of ``webhooks``, mounted on one router."""

from __future__ import annotations

from fastapi import APIRouter, Request, WebSocket
from starlette.responses import Response

from . import webhooks
from .webhooks import Telephony

__all__ = ["Telephony", "create_twilio_router"]


def create_twilio_router(telephony: Telephony) -> APIRouter:
    router = APIRouter(prefix="/twilio")
    t = telephony

    @router.post("/voice")
    async def voice(request: Request) -> Response:
        return await webhooks.voice(t, request)

    @router.post("/gather")
    async def gather(request: Request, call: str) -> Response:
        return await webhooks.gather(t, request, call)

    @router.post("/whisper")
    async def whisper(request: Request, case: int | None = None) -> Response:
        return await webhooks.whisper(t, request, case)

    @router.post("/status")
    async def status(request: Request) -> Response:
        return await webhooks.status(t, request)

    @router.post("/stream-status")
    async def stream_status(request: Request) -> Response:
        return await webhooks.stream_status(t, request)

    @router.websocket("/media")
    async def media(websocket: WebSocket) -> None:
        await webhooks.media(t, websocket)

    return router
