"""The Twilio Media Streams transport: Twilio's JSON messages in and out, nothing else. Turn-taking and
what to say live in ``session.CallSession``.

``run_media_stream`` is the one entry point: any carrier of this protocol (Twilio's WebSocket route here,
a browser softphone on its own endpoint) runs a call through it.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

from ..domain import CallStart
from ..ports import CallControl, CallHandlerFactory
from ..session.call_session import CallSession, SessionConfig, Speech
from ..session.transport import AudioSink, CallerAudio, CallerKey, Inbound, MarkPlayed
from . import protocol

log = structlog.get_logger(__name__)

Receive = Callable[[], Awaitable[str | bytes | None]]
Send = Callable[[str], Awaitable[None]]
Close = Callable[[], Awaitable[None]]
Authenticate = Callable[[protocol.Started], Awaitable[CallStart | None]]
# A carrier that can hand each message to a function synchronously as it arrives (the native listener):
# ``divert(handler)`` installs it (None removes it). The carrier keeps the order of messages: a message the
# handler declines (returns False), and every one after it until ``receive`` has caught up, is queued.
Handler = Callable[[str | bytes], bool]
Divert = Callable[[Handler | None], None]


@dataclass(frozen=True, slots=True)
class StreamParts:
    """What every media-stream call is served with (assembled once by ``wiring``)."""

    start_call: CallHandlerFactory
    speech: Callable[[], Speech]  # a fresh set per call (the voice activity detector keeps state)
    config: SessionConfig
    call_control: CallControl | None = None  # None: a transfer reports failure, a hang-up only closes


class MediaStreamTransport:
    """``session.Transport`` over the Media Streams protocol, after the ``start`` message."""

    audio = True

    def __init__(
        self,
        *,
        receive: Receive,
        send: Send,
        close: Close,
        stream_sid: str,
        call_sid: str,
        call_control: CallControl | None,
        divert: Divert | None = None,
    ) -> None:
        self._receive = receive
        self._divert = divert
        self._sink: AudioSink | None = None
        self._sink_context: contextvars.Context | None = None
        self._sink_failure: Exception | None = None
        self._send = send
        self._close = close
        self._sid = stream_sid
        self.call_sid = call_sid
        self._call_control = call_control
        self._closed = False
        self.malformed = 0

    def push_audio_to(self, sink: AudioSink | None) -> None:
        """``session.PushesAudio``: media frames go to ``sink`` from the carrier's callback, when the carrier
        can divert messages; otherwise nothing changes (audio keeps coming through ``receive``)."""
        if self._divert is None:
            return
        self._sink = sink
        # The callback runs outside the call's task: run the sink in the task's context, so that what it
        # logs and the tasks it starts (transcription, filler) carry the call's id like everything else.
        self._sink_context = contextvars.copy_context() if sink is not None else None
        self._divert(self._take if sink is not None else None)

    def _take(self, raw: str | bytes) -> bool:
        """The carrier's synchronous path: True when ``raw`` was a media frame and its audio was handed to the
        sink; False leaves the message (anything else, a malformed one, or any after a failure or close) to
        ``receive``, which parses and logs it as usual."""
        sink, context = self._sink, self._sink_context
        if sink is None or context is None or self._closed:
            return False
        audio = protocol.media_audio(raw)
        if audio is None:
            return False
        try:
            context.run(sink, audio)
        except Exception as error:  # a defect in the session: raised in its own task by ``receive``
            self._sink_failure, self._sink, self._sink_context = error, None, None
            if self._divert is not None:
                self._divert(None)
        return True

    async def receive(self) -> Inbound | None:
        while not self._closed:
            if self._sink_failure is not None:
                failure, self._sink_failure = self._sink_failure, None
                raise failure
            raw = await self._receive()
            if raw is None:
                return None
            try:
                event = protocol.parse(raw)
            except protocol.MalformedMessage as error:
                self.malformed += 1
                if self.malformed <= 10 or self.malformed % 1000 == 0:  # a flood is one line per thousand
                    log.warning("telephony.malformed_frame", reason=str(error), count=self.malformed)
                continue
            if isinstance(event, protocol.Media):
                return CallerAudio(event.payload)
            if isinstance(event, protocol.Dtmf):
                return CallerKey(event.digit)
            if isinstance(event, protocol.MarkReached):
                return MarkPlayed(event.name)
            if isinstance(event, protocol.Stopped):
                return None
            # connected, or a repeated start: nothing for the session
        return None

    async def send_audio(self, ulaw: bytes) -> None:
        await self._send(protocol.media_message(self._sid, ulaw))

    async def send_text(self, text: str) -> None:
        raise TypeError("a media stream carries audio only; the session speaks through send_audio")

    async def send_mark(self, name: str) -> None:
        await self._send(protocol.mark_message(self._sid, name))

    async def clear(self) -> None:
        await self._send(protocol.clear_message(self._sid))

    async def transfer(self, *, case_id: int | None, reason: str, announcement: str) -> bool:
        if self._call_control is None:
            return False
        done = await self._call_control.transfer(self.call_sid, case_id=case_id, announcement=announcement)
        if done:
            await self.close()  # Twilio runs the transfer TwiML and stops the stream
        return done

    async def hang_up(self, *, reason: str) -> None:
        if self._call_control is not None:
            await self._call_control.hang_up(self.call_sid)
        await self.close()

    async def close(self) -> None:
        self._closed = True
        if self._divert is not None:
            self._divert(None)
        with contextlib.suppress(Exception):  # the peer may have gone first
            await self._close()


async def run_media_stream(
    receive: Receive,
    send: Send,
    close: Close,
    *,
    authenticate: Authenticate,
    parts: StreamParts,
    on_session: Callable[[str, CallSession | None], None] = lambda _sid, _session: None,
    divert: Divert | None = None,
) -> None:
    """Serve one call over the Twilio Media Streams protocol (JSON text messages, 8 kHz μ-law audio).

    - ``receive()`` returns the next message (text or bytes), or None once the connection is closed;
      ``send(text)`` sends one message; ``close()`` closes the connection (safe to call twice).
    - ``authenticate(start)`` turns the ``start`` message into the call's ``CallStart`` — the caller's
      number and attestation from a source the carrier trusts (Twilio: the stream token issued by the
      signed voice webhook; a softphone: its own login) — or returns None to refuse the stream, which is
      then closed without a call being created.
    - ``on_session(call_sid, session)`` is told when the call starts and (with None) when it ends.
    - ``divert``: the carrier can hand messages over synchronously as they arrive (see ``Divert``); the
      call's media frames then reach the session without a task wake-up each.

    Messages before ``start`` other than ``connected`` are logged and skipped. The call is finished
    (its record closed, its case stored) however the connection ends.
    """
    started: protocol.Started | None = None
    skipped = 0
    while started is None:
        raw = await receive()
        if raw is None:
            return
        try:
            event = protocol.parse(raw)
        except protocol.MalformedMessage as error:
            skipped += 1
            if skipped <= 10:
                log.warning("telephony.malformed_frame", reason=str(error), before_start=True)
            continue
        if isinstance(event, protocol.Started):
            started = event
        elif isinstance(event, protocol.Stopped):
            return
        elif not isinstance(event, protocol.Connected):
            skipped += 1
            if skipped <= 10:
                log.warning("telephony.frame_before_start", frame=type(event).__name__)
    start = await authenticate(started)
    if start is None:
        log.warning("telephony.stream_refused", call_sid=started.call_sid[:64])
        with contextlib.suppress(Exception):
            await close()
        return
    handler = await parts.start_call(start)
    transport = MediaStreamTransport(
        receive=receive,
        send=send,
        close=close,
        stream_sid=started.stream_sid,
        call_sid=started.call_sid,
        call_control=parts.call_control,
        divert=divert,
    )
    session = CallSession(transport=transport, handler=handler, config=parts.config, speech=parts.speech())
    # This task serves this one call to its end: every line it and the tasks it starts log carries the id.
    structlog.contextvars.bind_contextvars(call_id=handler.call.call_id)
    log.info(
        "telephony.stream_started",
        call_sid=started.call_sid,
        stream_sid=started.stream_sid,
        attestation=start.caller_attestation,
    )
    on_session(started.call_sid, session)
    try:
        await session.run()
    finally:
        on_session(started.call_sid, None)
        await transport.close()
        log.info("telephony.stream_ended", call_sid=started.call_sid, malformed_frames=transport.malformed)
