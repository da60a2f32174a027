"""One phone call over a Twilio bidirectional Media Stream.

Three things run side by side: the receive loop (frames in: voice activity, end of turn, keys, marks), the
playback (frames out, paced), and the turn worker, which hands the caller's turns to the call flow one at a
time and performs what the flow asks. Barge-in touches only the playback; the flow always finishes the turn
it is in (a half-run turn could lose a case), and is told afterwards what the caller actually heard.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import structlog

from ..audio.endpointer import Endpointer, EndpointerConfig, SpeechStarted, UtteranceEnded
from ..audio.mulaw import ulaw_to_pcm16
from ..audio.vad import FRAME_BYTES as PCM_FRAME_BYTES
from ..audio.vad import VoiceActivityDetector
from ..domain import CallChannel, CallStart, EndCall, FlowAction, Say, Transfer
from ..observability.metrics import STT_LATENCY, TURN_LATENCY
from ..ports import CallControl, CallHandler, CallHandlerFactory, SpeechToText, TextToSpeech
from ..speech.errors import SpeechError
from . import protocol
from .playback import CutOff, Playback

log = structlog.get_logger(__name__)

DIDNT_CATCH = "Sorry, I didn't catch that. Could you say it again?"
CANT_HEAR = "I'm sorry, I'm having trouble hearing you."
INTERNAL_ERROR = "I'm sorry, something went wrong on our side."


@dataclass(frozen=True, slots=True)
class VoiceConfig:
    endpointer: EndpointerConfig = field(default_factory=EndpointerConfig)
    idle_timeout_seconds: float = 8.0
    filler_after_seconds: float = 1.0
    filler_text: str = "One moment, let me check that."
    max_speech_failures: int = 2  # consecutive transcription failures before the call is closed
    playback_lead_seconds: float = 0.06  # how far ahead of real time audio is handed to Twilio, at least
    playback_batch_seconds: float = 0.04  # and at most this much more (frames sent per wake-up)
    finish_timeout_seconds: float = 30.0  # the most the end of a call waits for the turn in progress


@dataclass(frozen=True, slots=True)
class _Utterance:
    pcm16: bytes
    speech_ended_at: float  # the last voiced frame, on the session clock


@dataclass(frozen=True, slots=True)
class _Key:
    digit: str


class _Silence:
    pass


class _HangUp:
    pass


_Input = _Utterance | _Key | _Silence | CutOff | _HangUp | None  # None: the greeting


class MediaStreamSession:
    def __init__(
        self,
        *,
        send: Callable[[str], Awaitable[None]],
        close: Callable[[], Awaitable[None]],
        start_call: CallHandlerFactory,
        stt: SpeechToText,
        tts: TextToSpeech,
        fallback_tts: TextToSpeech | None,
        vad: VoiceActivityDetector,
        call_control: CallControl | None,
        config: VoiceConfig,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._send = send
        self._close = close
        self._start_call = start_call
        self._stt = stt
        self._tts = tts
        self._fallback_tts = fallback_tts
        self._call_control = call_control
        self._config = config
        self._clock = clock
        self._endpointer = Endpointer(vad, config.endpointer)
        self._inbox: asyncio.Queue[_Input] = asyncio.Queue()
        self._handler: CallHandler | None = None
        self._playback: Playback | None = None
        self._call_sid = ""
        self._pcm = b""  # inbound audio not yet a whole 20 ms frame
        self._busy = False  # the turn worker is inside a turn
        self._ending = False  # the call is being ended: caller input is no longer taken
        self._speech_failures = 0
        self._transport_failed = False  # the call is ended by us for a failure, not by the caller
        self._malformed = 0
        self._replies = itertools.count(1)
        self._caller_heard_at = 0.0  # the last moment the caller was speaking
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def handler(self) -> CallHandler | None:
        return self._handler

    # --- receive loop --------------------------------------------------------------------------------

    async def run(self, messages: AsyncIterator[str | bytes]) -> None:
        try:
            async for text in messages:
                try:
                    event = protocol.parse(text)
                except protocol.MalformedMessage as error:
                    self._malformed += 1
                    # Rate-limited: the 1st, 2nd, 4th, 8th... so a flood of bad frames costs few log lines.
                    if self._malformed & (self._malformed - 1) == 0:
                        log.warning("telephony.malformed_frame", reason=str(error), count=self._malformed)
                    continue
                if isinstance(event, protocol.Stopped):
                    break
                await self._on_event(event)
        finally:
            await self._finish()

    async def _on_event(self, event: protocol.StreamEvent) -> None:
        if isinstance(event, protocol.Started):
            if self._handler is None:
                await self._begin(event)
            return
        if isinstance(event, protocol.Connected):
            return
        if self._handler is None:
            self._malformed += 1
            if self._malformed & (self._malformed - 1) == 0:  # rate-limited as malformed frames are
                log.warning("telephony.frame_before_start", kind=type(event).__name__, count=self._malformed)
            return
        if isinstance(event, protocol.Media):
            self._on_audio(event.payload)
        elif isinstance(event, protocol.Dtmf):
            self._barge_in()
            self._inbox.put_nowait(_Key(event.digit))
        elif isinstance(event, protocol.MarkReached):
            assert self._playback is not None
            self._playback.mark_reached(event.name)

    async def _begin(self, start: protocol.Started) -> None:
        self._call_sid = start.call_sid
        parameters = start.custom_parameters
        self._handler = await self._start_call(
            CallStart(
                channel=CallChannel.MEDIA_STREAM,
                external_id=start.call_sid,
                from_number=parameters.get("caller") or None,
                to_number=parameters.get("called") or None,
            )
        )
        self._playback = Playback(
            stream_sid=start.stream_sid,
            send=self._send,
            tts=self._tts,
            fallback_tts=self._fallback_tts,
            usage=self._handler.call.usage,
            lead_seconds=self._config.playback_lead_seconds,
            batch_seconds=self._config.playback_batch_seconds,
            clock=self._clock,
        )
        # This task serves this one call to its end: every line it and the tasks it starts log carries the id.
        structlog.contextvars.bind_contextvars(call_id=self._handler.call.call_id)
        log.info("telephony.stream_started", call_sid=start.call_sid, stream_sid=start.stream_sid)
        self._playback.start()
        self._tasks = [
            asyncio.create_task(self._turn_worker(), name=f"turns-{start.call_sid}"),
            asyncio.create_task(self._idle_watch(), name=f"idle-{start.call_sid}"),
        ]
        self._inbox.put_nowait(None)

    def _on_audio(self, ulaw: bytes) -> None:
        self._pcm += ulaw_to_pcm16(ulaw)
        while len(self._pcm) >= PCM_FRAME_BYTES:
            frame, self._pcm = self._pcm[:PCM_FRAME_BYTES], self._pcm[PCM_FRAME_BYTES:]
            for endpoint in self._endpointer.push(frame):
                if isinstance(endpoint, SpeechStarted):
                    self._barge_in()
                elif isinstance(endpoint, UtteranceEnded) and not self._ending:
                    ended = self._clock() - endpoint.trailing_silence_ms / 1000
                    self._caller_heard_at = ended
                    self._inbox.put_nowait(_Utterance(endpoint.pcm16, ended))
        if self._endpointer.in_speech:
            self._caller_heard_at = self._clock()

    def _barge_in(self) -> None:
        if self._playback is None or not self._playback.speaking:
            return
        cut = self._playback.interrupt()
        log.info("telephony.barge_in", heard=None if cut is None else len(cut.heard_text))
        if cut is not None:
            self._inbox.put_nowait(cut)

    # --- turns ---------------------------------------------------------------------------------------

    async def _turn_worker(self) -> None:
        handler = self._handler
        assert handler is not None
        while True:
            item = await self._inbox.get()
            if isinstance(item, _HangUp):
                return
            if self._ending and not isinstance(item, CutOff):
                continue
            self._busy = True
            try:
                if isinstance(item, CutOff):
                    await handler.assistant_cut_off(item.heard_text)
                    continue
                if item is None:
                    await self._perform(handler.greet())
                elif isinstance(item, _Key):
                    await self._perform(handler.caller_pressed(item.digit))
                elif isinstance(item, _Silence):
                    await self._perform(handler.caller_silent())
                else:
                    await self._answer(handler, item)
            except Exception:
                log.exception("telephony.turn_failed", call_sid=self._call_sid)
                await self._end_call(INTERNAL_ERROR)
            finally:
                self._busy = False

    async def _answer(self, handler: CallHandler, utterance: _Utterance) -> None:
        """Transcribe and answer; the filler clock starts when the caller stops, not when the text is ready."""
        first_audio = asyncio.Event()
        filler = asyncio.create_task(self._filler_after(first_audio))
        try:
            text = await self._transcribe(utterance)
            if text:
                await self._perform(handler.caller_said(text), utterance.speech_ended_at, first_audio)
        finally:
            filler.cancel()

    async def _transcribe(self, utterance: _Utterance) -> str | None:
        assert self._handler is not None and self._playback is not None
        started = self._clock()
        try:
            transcript = await self._stt.transcribe(utterance.pcm16, 8000, self._handler.call.usage)
        except SpeechError as error:
            self._speech_failures += 1
            log.error(
                "telephony.stt_failed",
                engine=self._stt.name,
                error=str(error),
                failures=self._speech_failures,
            )
            if self._speech_failures >= self._config.max_speech_failures:
                await self._end_call(CANT_HEAR)
            else:
                self._playback.say(DIDNT_CATCH, reply=None)
            return None
        STT_LATENCY.labels(engine=self._stt.name).observe(self._clock() - started)
        self._speech_failures = 0
        text = transcript.text.strip()
        if not text:
            log.info("telephony.empty_transcript")
        return text or None

    async def _perform(
        self,
        actions: AsyncIterator[FlowAction],
        speech_ended_at: float | None = None,
        first_audio: asyncio.Event | None = None,
    ) -> None:
        """Play a reply as the flow produces it, then transfer or hang up if it asks to.

        ``speech_ended_at``: when the caller stopped talking, for the turn latency; ``first_audio`` is set
        when the reply's first frame leaves (the filler waits on it)."""
        playback = self._playback
        assert playback is not None
        reply = next(self._replies)

        def on_first_frame(at: float) -> None:
            if first_audio is not None:
                first_audio.set()
            if speech_ended_at is not None:
                TURN_LATENCY.observe(at - speech_ended_at)

        ending: Transfer | EndCall | None = None
        started = False
        async for action in actions:
            if isinstance(action, Say):
                playback.say(action.text, reply=reply, on_first_frame=None if started else on_first_frame)
                started = True
            else:
                ending = action
        if isinstance(ending, Transfer):
            await self._transfer(ending)
        elif isinstance(ending, EndCall):
            await self._hang_up(ending.reason)

    async def _filler_after(self, first_audio: asyncio.Event) -> None:
        assert self._playback is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(first_audio.wait(), self._config.filler_after_seconds)
            return
        if not self._playback.speaking and not self._ending:
            log.info("telephony.filler", after_seconds=self._config.filler_after_seconds)
            self._playback.say(self._config.filler_text, reply=None)

    async def _transfer(self, transfer: Transfer) -> None:
        handler, playback = self._handler, self._playback
        assert handler is not None and playback is not None
        await playback.wait_played(within=playback.remaining_seconds() + 5.0)
        done = False
        if self._call_control is not None:
            done = await self._call_control.transfer(
                self._call_sid, case_id=transfer.case_id, announcement="Connecting you now."
            )
        if done:
            log.info("telephony.transferred", call_sid=self._call_sid, case_id=transfer.case_id)
            self._ending = True
            await self._close()  # Twilio runs the transfer TwiML and stops the stream
            return
        log.warning("telephony.transfer_fallback", call_sid=self._call_sid, case_id=transfer.case_id)
        await self._perform(handler.transfer_failed())

    async def _hang_up(self, reason: str) -> None:
        assert self._playback is not None
        self._ending = True
        await self._playback.wait_played(within=self._playback.remaining_seconds() + 5.0)
        log.info("telephony.hanging_up", call_sid=self._call_sid, reason=reason)
        if self._call_control is not None:
            await self._call_control.hang_up(self._call_sid)
        await self._close()

    async def _end_call(self, sentence: str) -> None:
        """The transport cannot go on (speech or internal failure): say so and close; ``hung_up`` files the case."""
        assert self._playback is not None
        self._playback.say(sentence, reply=None)
        self._transport_failed = True
        await self._hang_up("transport_failure")

    async def _idle_watch(self) -> None:
        assert self._playback is not None
        timeout = self._config.idle_timeout_seconds
        while True:
            await asyncio.sleep(min(0.5, timeout / 4))
            quiet = not (self._busy or self._ending or self._playback.speaking or self._endpointer.in_speech)
            if quiet and self._inbox.empty() and self._clock() - self._last_activity() >= timeout:
                self._inbox.put_nowait(_Silence())
                self._playback.idle_since = self._clock()

    def _last_activity(self) -> float:
        assert self._playback is not None
        return max(self._playback.idle_since, self._caller_heard_at)

    # --- end -----------------------------------------------------------------------------------------

    async def _finish(self) -> None:
        """The stream ended (caller hung up, transfer, our hang-up or a dropped socket): finish the turn in
        progress, record what was heard, finalize the call and make sure its case is stored."""
        handler, playback = self._handler, self._playback
        if handler is None or playback is None:
            return
        self._ending = True
        cut = playback.interrupt(send_clear=False) if playback.speaking else None
        if cut is not None:
            self._inbox.put_nowait(cut)
        self._inbox.put_nowait(_HangUp())
        worker, watcher = self._tasks
        watcher.cancel()
        try:
            await asyncio.wait_for(asyncio.shield(worker), self._config.finish_timeout_seconds)
        except TimeoutError:
            log.error("telephony.turn_unfinished_at_hangup", call_sid=self._call_sid)
            worker.cancel()
        await playback.close()
        await handler.hung_up(transport_failure=self._transport_failed)
        log.info("telephony.stream_ended", call_sid=self._call_sid, malformed_frames=self._malformed)
