"""Twilio's side of the service: voice and status webhooks, Gather turns and the media-stream WebSocket.

Every request is checked against ``X-Twilio-Signature`` before anything else happens; a missing or wrong
signature gets 403 (on the WebSocket: the upgrade is refused) and one log line.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import structlog
from fastapi import APIRouter, HTTPException, Request, WebSocket
from starlette.responses import Response
from starlette.websockets import WebSocketDisconnect, WebSocketState

from ..audio.vad import VoiceActivityDetector
from ..calls.service import CallService
from ..domain import CallChannel, CallStart, EndCall, FlowAction, Say, Transfer
from ..observability.logging import bind_call
from ..ports import CallControl, CallHandler, CallHandlerFactory, CallStore, SpeechToText, TextToSpeech
from . import twiml
from .media_session import MediaStreamSession, VoiceConfig
from .resume import start_or_resume, unfinished_call
from .signature import TwilioSignatures
from .transfer import transfer_twiml, whisper_twiml

log = structlog.get_logger(__name__)

_ENDED = {"completed", "busy", "failed", "no-answer", "canceled"}
# deploy: a draining replica sends a new call back through the load balancer this many times at most, then
# serves it itself (better than never answering if every replica drains at once).
_DRAIN_RETRIES = 3


@dataclass(slots=True)
class Telephony:
    """What the Twilio routes need; assembled by ``wiring``."""

    service: CallService
    calls: CallStore
    signatures: TwilioSignatures
    stt: SpeechToText
    tts: TextToSpeech
    fallback_tts: TextToSpeech | None
    vad: Callable[[], VoiceActivityDetector]
    call_control: CallControl | None
    voice: VoiceConfig
    public_url: str
    mode: str = "stream"  # or "gather"
    gather_voice: str = "Polly.Joanna"
    transfer_target: str = ""
    transfer_caller_id: str | None = None
    transfer_workflow_sid: str | None = None
    helpdesk_name: str = ""
    finalize_grace_seconds: float = 10.0
    live: dict[str, MediaStreamSession] = field(default_factory=dict)  # by CallSid, this process only
    draining: Callable[[], bool] = lambda: False  # deploy: True once SIGTERM started a drain (web/drain.py)
    background: set[asyncio.Task[None]] = field(default_factory=set)


def media_session(
    t: Telephony,
    send: Callable[[str], Awaitable[None]],
    close: Callable[[], Awaitable[None]],
    *,
    start_call: CallHandlerFactory | None = None,
    phone: bool = True,
) -> MediaStreamSession:
    """The one construction of a media-stream call session, for every transport that speaks the media-stream
    protocol (Twilio's WebSocket, the browser softphone).

    ``start_call`` replaces the call service's factory (the softphone wraps it to show the live transcript);
    ``phone=False``: a call that has no Twilio CallSid, so no Twilio REST control (hang-up and transfer)."""
    return MediaStreamSession(
        send=send,
        close=close,
        start_call=start_call or start_or_resume(t.calls, t.service),  # deploy: a known CallSid resumes
        stt=t.stt,
        tts=t.tts,
        fallback_tts=t.fallback_tts,
        vad=t.vad(),
        call_control=t.call_control if phone else None,
        config=t.voice,
    )


def _attempt(request: Request) -> int:
    """How often a draining replica already sent this call elsewhere (deploy: ``?attempt=`` of the redirect)."""
    value = request.query_params.get("attempt", "0")
    return int(value) if value.isdigit() else 0


def _xml(body: str) -> Response:
    return Response(body, media_type="application/xml")


def create_twilio_router(telephony: Telephony) -> APIRouter:
    router = APIRouter(prefix="/twilio")
    t = telephony

    async def signed_form(request: Request) -> dict[str, str]:
        form = {key: str(value) for key, value in (await request.form()).items()}
        if not t.signatures.valid(
            request.headers.get("x-twilio-signature"), request.url, request.headers, form
        ):
            log.warning(
                "telephony.signature_rejected",
                path=request.url.path,
                has_signature="x-twilio-signature" in request.headers,
                call_sid=form.get("CallSid"),
            )
            raise HTTPException(status_code=403, detail="invalid Twilio signature")
        return form

    @router.post("/voice")
    async def voice(request: Request) -> Response:
        form = await signed_form(request)
        call_sid = form.get("CallSid", "")
        if t.mode == "stream":
            # deploy: a known CallSid is Twilio following the <Redirect> after <Connect>: the stream ended.
            if await t.calls.get_call_by_external_id(call_sid) is not None:
                if await unfinished_call(t.calls, t.service, call_sid) is None:
                    return _xml(twiml.hang_up())  # it ended on purpose: nothing to resume
                log.info("telephony.resuming_call", call_sid=call_sid)
            elif t.draining() and (attempt := _attempt(request)) < _DRAIN_RETRIES:
                log.info("telephony.call_sent_elsewhere", call_sid=call_sid, attempt=attempt + 1)
                return _xml(twiml.retry_elsewhere(public_url=t.public_url, attempt=attempt + 1))
            log.info("telephony.incoming_call", call_sid=call_sid, mode=t.mode)
            return _xml(
                twiml.connect_stream(public_url=t.public_url, caller=form.get("From"), called=form.get("To"))
            )
        log.info("telephony.incoming_call", call_sid=call_sid, mode=t.mode)
        flow = await t.service.start(
            CallStart(
                CallChannel.GATHER,
                external_id=call_sid,
                from_number=form.get("From"),
                to_number=form.get("To"),
            )
        )
        with bind_call(flow.call.call_id):
            return _xml(await gather_reply(flow, flow.greet()))

    @router.post("/gather")
    async def gather(request: Request, call: str) -> Response:
        form = await signed_form(request)
        flow = await t.service.resume(call)
        if flow is None or flow.finished:
            return _xml(twiml.say_and_hang_up([], voice=t.gather_voice))
        with bind_call(call):
            speech, digits = form.get("SpeechResult", "").strip(), form.get("Digits", "").strip()
            if digits:
                actions = flow.caller_pressed(digits[0])
            elif speech:
                actions = flow.caller_said(speech)
            else:
                actions = flow.caller_silent()
            return _xml(await gather_reply(flow, actions))

    async def gather_reply(flow: CallHandler, actions: AsyncIterator[FlowAction]) -> str:
        said: list[str] = []
        ending: Transfer | EndCall | None = None
        async for action in actions:
            if isinstance(action, Say):
                said.append(action.text)
            else:
                ending = action
        if isinstance(ending, Transfer):
            if t.transfer_target:
                await flow.hung_up()  # the assistant's part of the call ends here, as on a media stream
                return transfer_twiml(
                    t.transfer_target,
                    announcement=" ".join(said),
                    case_id=ending.case_id,
                    caller_id=t.transfer_caller_id or flow.call.from_number,
                    whisper_url=twiml.whisper_url(t.public_url, ending.case_id),
                    workflow_sid=t.transfer_workflow_sid,
                )
            said += [action.text async for action in flow.transfer_failed() if isinstance(action, Say)]
            ending = EndCall("transfer_failed")
        if isinstance(ending, EndCall) or flow.finished:
            await flow.hung_up()
            return twiml.say_and_hang_up(said, voice=t.gather_voice)
        action_url = twiml.http_url(t.public_url, "/twilio/gather", call=flow.call.call_id)
        return twiml.gather_turn(sentences=said, action_url=action_url, voice=t.gather_voice)

    @router.post("/whisper")
    async def whisper(request: Request, case: int | None = None) -> Response:
        await signed_form(request)
        return _xml(whisper_twiml(case, t.helpdesk_name))

    @router.post("/status")
    async def status(request: Request) -> Response:
        form = await signed_form(request)
        call_sid, call_status = form.get("CallSid", ""), form.get("CallStatus", "")
        log.info(
            "telephony.call_status", call_sid=call_sid, status=call_status, duration=form.get("CallDuration")
        )
        if call_status in _ENDED and call_sid not in t.live:
            task = asyncio.create_task(finalize(call_sid))
            t.background.add(task)
            task.add_done_callback(t.background.discard)
        return Response(status_code=204)

    async def finalize(call_sid: str) -> None:
        """Close a call whose stream or Gather turns ended without closing it (a lost socket, a worker that
        died, a caller who hung up between Gather turns); the case of an unresolved call is stored."""
        record = await t.calls.get_call_by_external_id(call_sid)
        if record is None or record.ended_at is not None:
            return
        if record.channel is CallChannel.MEDIA_STREAM:
            await asyncio.sleep(t.finalize_grace_seconds)  # another worker's stream may still be finishing
            record = await t.calls.get_call_by_external_id(call_sid)
            if record is None or record.ended_at is not None:
                return
        flow = await t.service.resume(record.call_id)
        if flow is not None:
            with bind_call(record.call_id):
                log.info("telephony.finalized_by_status_callback", call_sid=call_sid)
                await flow.hung_up()

    @router.post("/stream-status")
    async def stream_status(request: Request) -> Response:
        form = await signed_form(request)
        event = form.get("StreamEvent", "")
        log_method = log.error if event == "stream-error" else log.info
        log_method(
            "telephony.stream_status",
            call_sid=form.get("CallSid"),
            stream_sid=form.get("StreamSid"),
            stream_event=event,
            error=form.get("StreamError"),
        )
        return Response(status_code=204)

    @router.websocket("/media")
    async def media(websocket: WebSocket) -> None:
        signature = websocket.headers.get("x-twilio-signature")
        if not t.signatures.valid(signature, websocket.url, websocket.headers, {}, websocket=True):
            log.warning(
                "telephony.signature_rejected", path="/twilio/media", has_signature=signature is not None
            )
            await websocket.close(code=1008)  # before accept: the upgrade is answered with HTTP 403
            return
        await websocket.accept()

        async def send(text: str) -> None:
            if websocket.application_state is WebSocketState.CONNECTED:
                await websocket.send_text(text)

        async def close() -> None:
            if websocket.application_state is WebSocketState.CONNECTED:
                with contextlib.suppress(RuntimeError, WebSocketDisconnect):  # the peer left first
                    await websocket.close()

        session = media_session(t, send, close)

        async def messages() -> AsyncIterator[str | bytes]:
            registered = ""
            try:
                while True:
                    message = await websocket.receive()
                    if message["type"] == "websocket.disconnect":
                        return
                    if not registered and session.handler is not None:
                        registered = session.handler.call.external_id or ""
                        t.live[registered] = session
                    # A binary frame is not Twilio's, but it is handed on to be logged and skipped like any
                    # other malformed frame rather than ending the call.
                    yield message.get("text") or message.get("bytes") or b""
            finally:
                t.live.pop(registered, None)

        await session.run(messages())
        await close()

    return router
