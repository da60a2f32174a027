"""The browser softphone: a page at ``/`` that calls the assistant, and its WebSocket ``/softphone/media``.

The page speaks Twilio's media-stream protocol (μ-law at 8 kHz in ``media`` events, ``mark``, ``dtmf``,
``stop``; the server sends ``media``, ``mark`` and ``clear``), so a browser call runs through the same call
session as a phone call (``telephony.media_stream.run_media_stream``) and the browser hears what a phone caller
hears. This module is only a transport: it authenticates the socket, pins the call's id, and adds two
event kinds the page understands and Twilio never sees: ``transcript`` and ``state``.

Authentication: the page asks ``POST /softphone/token`` (same origin only) for a signed token valid for a
minute and used once; the WebSocket handshake must carry it and a same-origin ``Origin``. In production the
page and the token also need a dashboard login.
"""

# No `from __future__ import annotations`: FastAPI resolves the route signatures at run time.

import contextlib
import dataclasses
import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from fastapi import APIRouter, HTTPException, Request, WebSocket
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.websockets import WebSocketDisconnect, WebSocketState

from ..domain import CallChannel, CallRecord, CallStart, FlowAction, Say, utcnow
from ..ports import AuditEvent, AuditLog, CallHandler
from ..session.call_session import CallSession
from ..telephony import protocol
from ..telephony.media_stream import run_media_stream
from ..telephony.router import Telephony
from .dashboard import page
from .operator_session import COOKIE, Operator, Signer, same_origin

log = structlog.get_logger(__name__)

TOKEN_SECONDS = 60

Emit = Callable[[dict[str, Any]], Awaitable[None]]


class ObservedCall:
    """A ``CallHandler`` that tells the page what is said, as it is said, and how the call stands.

    A decorator over the port rather than a change to the session: the transport learns the caller's words
    and the assistant's sentences at the moment the flow sees them, with no second path for a browser call."""

    def __init__(self, inner: CallHandler, emit: Emit) -> None:
        self._inner = inner
        self._emit = emit

    @property
    def call(self) -> CallRecord:
        return self._inner.call

    @property
    def finished(self) -> bool:
        return self._inner.finished

    @property
    def expects(self) -> str | None:
        return self._inner.expects

    async def _relay(self, actions: AsyncIterator[FlowAction]) -> AsyncIterator[FlowAction]:
        async with contextlib.aclosing(actions) as stream:  # type: ignore[type-var]
            async for action in stream:
                if isinstance(action, Say):
                    await self._emit({"event": "transcript", "speaker": "assistant", "text": action.text})
                yield action
        await self._state()

    async def _state(self) -> None:
        call = self._inner.call
        await self._emit(
            {
                "event": "state",
                "outcome": call.outcome.value,
                "finished": self._inner.finished,
                "case_id": call.case_id,
            }
        )

    async def greet(self) -> AsyncIterator[FlowAction]:
        async for action in self._relay(self._inner.greet()):
            yield action

    async def caller_said(self, text: str) -> AsyncIterator[FlowAction]:
        await self._emit({"event": "transcript", "speaker": "caller", "text": text})
        async for action in self._relay(self._inner.caller_said(text)):
            yield action

    async def caller_silent(self) -> AsyncIterator[FlowAction]:
        async for action in self._relay(self._inner.caller_silent()):
            yield action

    async def caller_pressed(self, digit: str) -> AsyncIterator[FlowAction]:
        await self._emit({"event": "transcript", "speaker": "caller", "text": f"(pressed {digit})"})
        async for action in self._relay(self._inner.caller_pressed(digit)):
            yield action

    async def transfer_failed(self) -> AsyncIterator[FlowAction]:
        async for action in self._relay(self._inner.transfer_failed()):
            yield action

    def reply_started(self, latency_seconds: float) -> None:
        self._inner.reply_started(latency_seconds)

    async def assistant_cut_off(self, heard_text: str) -> None:
        await self._emit({"event": "cut", "heard": heard_text})
        await self._inner.assistant_cut_off(heard_text)

    async def hung_up(self, *, transport_failure: bool = False) -> None:
        await self._inner.hung_up(transport_failure=transport_failure)
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):  # the page may be gone already
            await self._state()


@dataclass(slots=True)
class SoftphoneDeps:
    telephony: Telephony
    signer: Signer
    audit: AuditLog
    public_url: str
    login_required: bool  # production: only a logged-in operator may use it
    session_minutes: int
    used_tokens: set[str]  # call ids whose token has opened a socket (this process)


def create_softphone_router(deps: SoftphoneDeps) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    t = deps.telephony

    def operator(request: Request) -> Operator | None:
        return deps.signer.operator(request.cookies.get(COOKIE), deps.session_minutes * 60)

    @router.get("/")
    async def softphone_page(request: Request) -> Response:
        who = operator(request)
        if deps.login_required and who is None:
            return RedirectResponse("/admin/login?next=/", status_code=303)
        return page(request, "softphone.html", {"who": who})

    @router.post("/softphone/token")
    async def token(request: Request) -> JSONResponse:
        if not same_origin(request, deps.public_url):
            log.warning("softphone.token_refused", reason="origin", origin=request.headers.get("origin"))
            raise HTTPException(status_code=403, detail="the softphone token is for this site's own page")
        who = operator(request)
        if deps.login_required and who is None:
            raise HTTPException(status_code=401, detail="log in to the dashboard first")
        if t.draining():  # this replica is shutting down: live calls finish, new ones go to another replica
            log.info("softphone.refused", reason="draining")
            raise HTTPException(status_code=503, detail="this server is restarting; call again in a moment")
        call_sid = "BR" + secrets.token_hex(16)  # a browser call's id, shaped like a Twilio CallSid
        if who is not None:
            await deps.audit.write(
                AuditEvent(actor=who.name, action="softphone_call", target=call_sid, at=utcnow())
            )
        return JSONResponse({"token": deps.signer.call_token(call_sid), "expires_in": TOKEN_SECONDS})

    @router.websocket("/softphone/media")
    async def media(websocket: WebSocket) -> None:
        call_sid = deps.signer.call_sid(websocket.query_params.get("token"), TOKEN_SECONDS)
        reason = None
        if not same_origin(websocket, deps.public_url):
            reason = "origin"
        elif call_sid is None:
            reason = "token"
        elif call_sid in deps.used_tokens:
            reason = "token_reused"
        if reason is not None or call_sid is None:
            log.warning("softphone.refused", reason=reason, origin=websocket.headers.get("origin"))
            await websocket.close(code=1008)  # before accept: the upgrade is answered with HTTP 403
            return
        deps.used_tokens.add(call_sid)
        await websocket.accept()

        async def send(text: str) -> None:
            # The caller may hang up mid-sentence: a send into the closing socket is not an error of ours.
            if websocket.application_state is WebSocketState.CONNECTED:
                with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                    await websocket.send_text(text)

        async def emit(event: dict[str, Any]) -> None:
            # Best effort: the page may have hung up mid-sentence, and the call must still be finished.
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                await send(json.dumps(event))

        async def close() -> None:
            if websocket.application_state is WebSocketState.CONNECTED:
                with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                    await websocket.close()

        async def receive() -> str | bytes | None:
            with contextlib.suppress(WebSocketDisconnect, RuntimeError):
                message = await websocket.receive()
                if message["type"] != "websocket.disconnect":
                    # bytes are not this protocol's: handed on to be skipped and logged as malformed
                    return message.get("text") or message.get("bytes") or b""
            return None

        async def authenticate(start: protocol.Started) -> CallStart | None:
            # The call's id comes from the page's token, whatever ``start`` says: the browser can neither
            # choose nor reuse a call's id, and a browser caller has no phone number.
            return CallStart(channel=CallChannel.MEDIA_STREAM, external_id=call_sid)

        async def start_call(start: CallStart) -> CallHandler:
            return ObservedCall(await t.service.start(start), emit)

        # The same entry point as Twilio's media route; no Twilio REST control (no CallSid to control).
        parts = dataclasses.replace(t.stream_parts(), start_call=start_call, call_control=None)

        def on_session(_sid: str, session: CallSession | None) -> None:
            if session is None:
                t.live.pop(call_sid, None)
            else:
                t.live[call_sid] = session

        log.info("softphone.connected", call_sid=call_sid)
        await run_media_stream(
            receive, send, close, authenticate=authenticate, parts=parts, on_session=on_session
        )
        await close()

    return router
