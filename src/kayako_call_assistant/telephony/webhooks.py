"""Twilio's routes, one small function each: voice, Gather turns, whisper, status callbacks and the
media-stream WebSocket. Every request is checked against ``X-Twilio-Signature`` before anything else
happens; a missing or wrong signature gets 403 (on the WebSocket: the upgrade is refused) and one log line.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog
from fastapi import HTTPException, Request, WebSocket
from starlette.responses import Response
from starlette.websockets import WebSocketDisconnect, WebSocketState

from ..audio.vad import VoiceActivityDetector
from ..calls.service import CallService
from ..domain import CallChannel, CallStart
from ..observability.logging import bind_call
from ..ports import CallControl, CallHandler, CallStore, SpeechToText, TextToSpeech
from ..session.call_session import CallSession, SessionConfig, Speech
from ..session.speech_cache import SpeechCache
from ..session.transport import CallerKey, CallerSilent, CallerText, Inbound
from . import protocol, twiml
from .gather import GatherSettings, GatherTurn
from .media_stream import StreamParts, run_media_stream
from .resume import start_or_resume, unfinished_call
from .signature import TwilioSignatures
from .stream_auth import StreamTokens, attestation_from_verstat
from .transfer import whisper_twiml

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
    voice: SessionConfig
    public_url: str
    stream_tokens: StreamTokens
    media_url: str = ""  # where Twilio opens media streams (KCA_MEDIA_PORT's listener); "": the public URL
    media_signatures: TwilioSignatures | None = None  # checks upgrades on that listener (signed for its URL)
    speech_cache: SpeechCache | None = None  # sentences said before (KCA_SPEECH_CACHE_MB), every call's
    mode: str = "stream"  # or "gather"
    gather_voice: str = "Polly.Joanna"
    transfer_target: str = ""
    transfer_caller_id: str | None = None
    transfer_workflow_sid: str | None = None
    helpdesk_name: str = ""
    finalize_grace_seconds: float = 10.0
    live: dict[str, CallSession] = field(default_factory=dict)  # by CallSid, this process only
    draining: Callable[[], bool] = lambda: False  # deploy: True once SIGTERM started a drain (web/drain.py)
    background: set[asyncio.Task[None]] = field(default_factory=set)

    def gather_settings(self) -> GatherSettings:
        return GatherSettings(
            public_url=self.public_url,
            voice=self.gather_voice,
            transfer_target=self.transfer_target,
            transfer_caller_id=self.transfer_caller_id,
            transfer_workflow_sid=self.transfer_workflow_sid,
        )

    def stream_parts(self) -> StreamParts:
        return StreamParts(
            start_call=start_or_resume(self.calls, self.service),  # a known, unfinished CallSid resumes
            speech=lambda: Speech(self.stt, self.tts, self.fallback_tts, self.vad(), self.speech_cache),
            config=self.voice,
            call_control=self.call_control,
        )


def _attempt(request: Request) -> int:
    """How often a draining replica already sent this call elsewhere (deploy: ``?attempt=`` of the redirect)."""
    value = request.query_params.get("attempt", "0")
    return int(value) if value.isdigit() else 0


def xml(body: str) -> Response:
    return Response(body, media_type="application/xml")


async def signed_form(t: Telephony, request: Request) -> dict[str, str]:
    form = {key: str(value) for key, value in (await request.form()).items()}
    if not t.signatures.valid(request.headers.get("x-twilio-signature"), request.url, request.headers, form):
        log.warning(
            "telephony.signature_rejected",
            path=request.url.path,
            has_signature="x-twilio-signature" in request.headers,
            call_sid=form.get("CallSid", "")[:64],
        )
        raise HTTPException(status_code=403, detail="invalid Twilio signature")
    return form


async def voice(t: Telephony, request: Request) -> Response:
    form = await signed_form(t, request)
    call_sid = form.get("CallSid", "")
    if not (call_sid.isascii() and call_sid.isalnum() and 2 < len(call_sid) <= 64):
        log.warning("telephony.bad_call_sid", length=len(call_sid))  # signed, yet not a call: refuse it
        raise HTTPException(status_code=400, detail="CallSid must be 3 to 64 letters and digits")
    attestation = attestation_from_verstat(form.get("StirVerstat"))
    if t.mode == "stream":
        # deploy: a known CallSid is Twilio following the <Redirect> after <Connect>: the stream ended.
        if await t.calls.get_call_by_external_id(call_sid) is not None:
            if await unfinished_call(t.calls, t.service, call_sid) is None:
                return xml(twiml.hang_up())  # it ended on purpose: nothing to resume
            log.info("telephony.resuming_call", call_sid=call_sid)
        elif t.draining() and (attempt := _attempt(request)) < _DRAIN_RETRIES:
            log.info("telephony.call_sent_elsewhere", call_sid=call_sid, attempt=attempt + 1)
            return xml(twiml.retry_elsewhere(public_url=t.public_url, attempt=attempt + 1))
    log.info("telephony.incoming_call", call_sid=call_sid, mode=t.mode, attestation=attestation)
    if t.mode == "stream":
        token = t.stream_tokens.issue(
            call_sid=call_sid, caller=form.get("From"), called=form.get("To"), attestation=attestation
        )
        return xml(twiml.connect_stream(public_url=t.public_url, token=token, media_url=t.media_url))
    flow = await t.service.start(
        CallStart(
            CallChannel.GATHER,
            external_id=call_sid,
            from_number=form.get("From"),
            to_number=form.get("To"),
            caller_attestation=attestation,
        )
    )
    with bind_call(flow.call.call_id):
        return xml(await _gather_turn(t, flow, None))


async def gather(t: Telephony, request: Request, call: str) -> Response:
    form = await signed_form(t, request)
    flow = await t.service.resume(call)
    if flow is None or flow.finished:
        return xml(twiml.say_and_hang_up([], voice=t.gather_voice))
    speech, digits = form.get("SpeechResult", "").strip(), form.get("Digits", "").strip()
    event: Inbound = CallerKey(digits[0]) if digits else CallerText(speech) if speech else CallerSilent()
    with bind_call(call):
        return xml(await _gather_turn(t, flow, event))


async def _gather_turn(t: Telephony, flow: CallHandler, event: Inbound | None) -> str:
    turn = GatherTurn(t.gather_settings(), call_id=flow.call.call_id, caller=flow.call.from_number)
    await CallSession(transport=turn, handler=flow, config=t.voice).run_turn(event)
    return turn.response()


async def whisper(t: Telephony, request: Request, case: int | None) -> Response:
    await signed_form(t, request)
    return xml(whisper_twiml(case, t.helpdesk_name))


async def status(t: Telephony, request: Request) -> Response:
    form = await signed_form(t, request)
    call_sid, call_status = form.get("CallSid", ""), form.get("CallStatus", "")
    log.info(
        "telephony.call_status", call_sid=call_sid, status=call_status, duration=form.get("CallDuration")
    )
    if call_status in _ENDED and call_sid not in t.live:
        task = asyncio.create_task(finalize(t, call_sid))
        t.background.add(task)
        task.add_done_callback(t.background.discard)
    return Response(status_code=204)


async def finalize(t: Telephony, call_sid: str) -> None:
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


async def stream_status(t: Telephony, request: Request) -> Response:
    form = await signed_form(t, request)
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


async def media(t: Telephony, websocket: WebSocket) -> None:
    signature = websocket.headers.get("x-twilio-signature")
    if not t.signatures.valid(signature, websocket.url, websocket.headers, {}, websocket=True):
        log.warning("telephony.signature_rejected", path="/twilio/media", has_signature=signature is not None)
        await websocket.close(code=1008)  # before accept: the upgrade is answered with HTTP 403
        return
    await websocket.accept()

    async def receive() -> str | bytes | None:
        try:  # (try rather than contextlib.suppress: this runs fifty times a second per call)
            message = await websocket.receive()
        except (WebSocketDisconnect, RuntimeError):
            return None
        if message["type"] == "websocket.disconnect":
            return None
        # A binary frame is not Twilio's, but it is handed on to be logged and skipped like any other
        # malformed frame rather than ending the call.
        return message.get("text") or message.get("bytes") or b""

    async def send(text: str) -> None:
        # The caller may hang up mid-sentence: a send into the closing socket is not an error of ours.
        if websocket.application_state is WebSocketState.CONNECTED:
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                await websocket.send_text(text)

    async def close() -> None:
        if websocket.application_state is WebSocketState.CONNECTED:
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):  # the peer left first
                await websocket.close()

    await run_media_stream(
        receive,
        send,
        close,
        authenticate=stream_authenticator(t),
        parts=t.stream_parts(),
        on_session=session_registry(t),
    )
    await close()


def stream_authenticator(t: Telephony) -> Callable[[protocol.Started], Awaitable[CallStart | None]]:
    """How a media stream's ``start`` becomes its call, on either listener."""

    async def authenticate(start: protocol.Started) -> CallStart | None:
        """The call's facts come from the token the signed voice webhook issued, never from the other
        parameters of ``start``; the token is good for this CallSid, once."""
        claims = await t.stream_tokens.redeem(start.custom_parameters.get("token", ""), start.call_sid)
        if claims is None:
            return None
        return CallStart(
            channel=CallChannel.MEDIA_STREAM,
            external_id=claims.call_sid,
            from_number=claims.caller or None,
            to_number=claims.called or None,
            caller_attestation=claims.attestation,
        )

    return authenticate


def session_registry(t: Telephony) -> Callable[[str, CallSession | None], None]:
    """Keeps ``t.live`` (the calls this process serves, by CallSid) as streams start and end."""

    def on_session(call_sid: str, session: CallSession | None) -> None:
        if session is None:
            t.live.pop(call_sid, None)
        else:
            t.live[call_sid] = session

    return on_session
