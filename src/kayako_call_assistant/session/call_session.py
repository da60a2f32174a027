"""One call, whatever carries it: the session owns the turn-taking, the reply in flight, what the caller
heard of it, the filler, idle reprompts, and the execution of what the flow asks for (say, transfer, end
the call). Transports (``transport.Transport``) only move audio, text and control messages.

The flow (``ports.CallHandler``) always finishes the turn it is in (a half-run turn could lose a case); the
session decides what of its reply is played, and tells it afterwards what the caller actually heard
(``assistant_cut_off``), before it is given anything else.

The rules (``turn_taking``) on an audio transport:
- a caller turn ends after the end-of-turn silence, which adapts to what the flow expects next;
- a caller who speaks again before their turn was handed to the flow extends it: the audio is joined and
  transcribed once, and the turn is answered once;
- a reply is held while the caller talks (and so is the filler); if what they said then takes the turn,
  the held reply is dropped (the flow is told nothing of it was heard) and the new words are answered;
- speech over the assistant pauses it after ``interrupt_min_speech_ms`` (or sooner, once recognised words
  that are not a backchannel arrive); when it turns out to be no words or only a backchannel, the
  interrupted sentence resumes from the word where it stopped;
- replies never overlap: a new turn is handed to the flow only once the previous reply was played or cut.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import itertools
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import structlog

from ..audio.endpointer import Endpointer, EndpointerConfig, SpeechStarted, UtteranceEnded
from ..audio.mulaw import ulaw_to_pcm16
from ..audio.vad import FRAME_BYTES as PCM_FRAME_BYTES
from ..audio.vad import VoiceActivityDetector
from ..domain import EndCall, FlowAction, Say, Transfer
from ..observability.metrics import STT_LATENCY, TURN_LATENCY
from ..ports import CallHandler, SpeechToText, TextToSpeech
from ..speech.errors import SpeechError
from . import turn_taking
from .playback import AudioPlayback, CutOff, Playback, TextPlayback
from .speech_cache import SpeechCache
from .transport import (
    CallerAudio,
    CallerKey,
    CallerSilent,
    CallerText,
    Inbound,
    MarkPlayed,
    PushesAudio,
    Transport,
)
from .turn_taking import TurnTakingConfig

log = structlog.get_logger(__name__)

_ULAW_FRAME_BYTES = PCM_FRAME_BYTES // 2  # one 20 ms frame of 8 kHz μ-law

# The session's own sentences (the flow's live in calls/phrases.py): what a transport failure sounds like.
DIDNT_CATCH = "Sorry, I didn't catch that. Could you say it again?"
CANT_HEAR = "I'm sorry, I'm having trouble hearing you."
INTERNAL_ERROR = "I'm sorry, something went wrong on our side."
CONNECTING = "Connecting you now."


@dataclass(frozen=True, slots=True)
class SessionConfig:
    endpointer: EndpointerConfig = field(default_factory=EndpointerConfig)
    turn_taking: TurnTakingConfig = field(default_factory=TurnTakingConfig)
    idle_timeout_seconds: float = 8.0
    filler_after_seconds: float = 1.0
    filler_text: str = "One moment, let me check that."
    max_speech_failures: int = 2  # consecutive transcription failures before the call is closed
    playback_lead_seconds: float = 0.06  # how far ahead of real time audio is handed over, at least
    playback_message_seconds: float = 0.1  # audio per outbound message, and at most this much more ahead
    finish_timeout_seconds: float = 30.0  # the most the end of a call waits for the turn in progress
    ending_wait_seconds: float = 5.0  # a transfer or hang-up waits this long at most for the caller to stop


@dataclass(frozen=True, slots=True)
class Speech:
    """What an audio transport's session listens and speaks with."""

    stt: SpeechToText
    tts: TextToSpeech
    fallback_tts: TextToSpeech | None
    vad: VoiceActivityDetector
    cache: SpeechCache | None = None  # sentences said before, shared by the calls of the process


class _State(enum.Enum):
    LIVE = "live"  # its sentences go to playback as they come
    HELD = "held"  # kept back while the caller talks (not started yet, or paused mid-sentence)
    CUT = "cut"  # the caller took the turn: nothing more of it is played


@dataclass(slots=True)
class _Reply:
    """One flow reply on its way to the caller."""

    id: int
    speech_ended_at: float | None  # when the caller stopped, for the turn latency
    state: _State = _State.LIVE
    held: list[str] = field(default_factory=list)  # sentences not played yet (a paused one's rest first)
    heard: list[str] = field(default_factory=list)  # what the caller heard of it before a pause
    started: bool = False  # some of it was handed to playback
    cut_reported: bool = False
    performing: bool = True  # the flow call that makes it is still running


@dataclass(frozen=True, slots=True)
class _Greet:
    pass


@dataclass(frozen=True, slots=True)
class _Turn:
    text: str
    speech_ended_at: float


@dataclass(frozen=True, slots=True)
class _Key:
    digit: str


@dataclass(frozen=True, slots=True)
class _Silence:
    pass


@dataclass(frozen=True, slots=True)
class _CutOff:
    reply: _Reply


@dataclass(frozen=True, slots=True)
class _Stop:
    pass


_Work = _Greet | _Turn | _Key | _Silence | _CutOff | _Stop


class CallSession:
    """Owns one call from its greeting to ``handler.hung_up()``. ``speech`` is required when the transport
    carries audio. ``run()`` serves a connection that lasts the whole call; ``run_turn()`` one request of
    a call kept between requests (Twilio Gather)."""

    def __init__(
        self,
        *,
        transport: Transport,
        handler: CallHandler,
        config: SessionConfig,
        speech: Speech | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._transport = transport
        self._handler = handler
        self._config = config
        self._rules = config.turn_taking
        self._clock = clock
        self._audio = transport.audio
        self._output: Playback
        if self._audio:
            if speech is None:
                raise ValueError("an audio transport needs speech engines")
            self._speech: Speech | None = speech
            self._output = AudioPlayback(
                transport=transport,
                tts=speech.tts,
                fallback_tts=speech.fallback_tts,
                usage=handler.call.usage,
                lead_seconds=config.playback_lead_seconds,
                message_seconds=config.playback_message_seconds,
                cache=speech.cache,
                clock=clock,
            )
            self._endpointer: Endpointer | None = Endpointer(speech.vad, config.endpointer)
        else:
            self._speech = None
            self._output = TextPlayback(transport, clock)
            self._endpointer = None
        self._work: asyncio.Queue[_Work] = asyncio.Queue()
        self._replies = itertools.count(1)
        self._reply: _Reply | None = None  # the latest flow reply
        self._busy = False  # the worker is inside a flow call
        self._ending = False  # a transfer or hang-up is under way: caller input is no longer taken
        self._gone = False  # the connection has ended: what is still to be said is not heard
        self._transport_failed = False  # we ended the call for a failure (speech, internal), not the caller
        self._ended = False
        self._pcm = b""  # inbound audio not yet a whole 20 ms frame
        self._pending_audio: list[bytes] = []  # caller speech not yet handed to the flow (one turn)
        self._pending_ended_at = 0.0
        self._listen: asyncio.Task[None] | None = None  # transcription of the pending turn
        self._quiet = asyncio.Event()  # set whenever no caller voice is pending
        self._quiet.set()
        self._paused = False  # the caller's current speech has paused the assistant
        self._filler: asyncio.Task[None] | None = None
        self._filler_played = False
        self._speech_failures = 0
        self._caller_heard_at = clock()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def handler(self) -> CallHandler:
        return self._handler

    # --- lifecycle -----------------------------------------------------------------------------------

    async def run(self) -> None:
        """The whole call: the greeting, then the caller's input until the transport ends; then the call
        is finished (``handler.hung_up``) whatever happened."""
        try:
            self._output.start()
            self._adapt_endpointing()
            if self._audio:
                self._tasks = [
                    asyncio.create_task(self._worker(), name="session-turns"),
                    asyncio.create_task(self._idle_watch(), name="session-idle"),
                ]
                self._work.put_nowait(_Greet())
                if isinstance(self._transport, PushesAudio):
                    self._transport.push_audio_to(self._hear)
            else:
                await self._handle(_Greet())
            while not self._ended:
                event = await self._transport.receive()
                if event is None:
                    break
                if type(event) is CallerAudio and self._audio:
                    self._on_audio(event.ulaw)  # fifty times a second: no coroutine in between
                else:
                    await self._on_event(event)
        finally:
            await self._finish()

    async def run_turn(self, event: Inbound | None) -> None:
        """One turn of a text transport whose call outlives the connection (None: the greeting). When the
        turn ends the call (transfer, hang-up), the call is finished too."""
        if self._audio:
            raise ValueError("run_turn serves text transports only")
        try:
            await self._handle(_Greet() if event is None else self._text_work(event))
        except Exception:
            log.exception("session.turn_failed")
            await self._end_call(INTERNAL_ERROR)
        finally:
            await self._output.close()
            if self._ending:
                await self._finish()

    # --- input ---------------------------------------------------------------------------------------

    async def _on_event(self, event: Inbound) -> None:
        if isinstance(event, MarkPlayed):
            self._output.mark_reached(event.name)
        elif isinstance(event, CallerAudio):
            if self._audio:
                self._on_audio(event.ulaw)
        elif not self._audio:
            if not self._ending:
                await self._handle(self._text_work(event))
        elif isinstance(event, CallerKey):
            self._take_turn_now()
            self._work.put_nowait(_Key(event.digit))
        elif isinstance(event, CallerText) and event.text.strip():
            self._take_turn_now()
            self._work.put_nowait(_Turn(event.text.strip(), self._clock()))
        elif isinstance(event, CallerSilent):
            self._work.put_nowait(_Silence())

    def _text_work(self, event: Inbound) -> _Work:
        if isinstance(event, CallerKey):
            return _Key(event.digit)
        if isinstance(event, CallerText) and event.text.strip():
            return _Turn(event.text.strip(), self._clock())
        return _Silence()

    def _hear(self, ulaw: bytes) -> None:
        """Caller audio pushed by the transport as it arrives (``PushesAudio``), in the carrier's callback."""
        if not self._ended:
            self._on_audio(ulaw)

    def _on_audio(self, ulaw: bytes) -> None:
        endpointer = self._endpointer
        assert endpointer is not None
        if not self._pcm and len(ulaw) == _ULAW_FRAME_BYTES:
            frames: tuple[bytes, ...] | list[bytes] = (ulaw_to_pcm16(ulaw),)  # Twilio's: one frame a message
        else:
            pcm = self._pcm + ulaw_to_pcm16(ulaw)
            whole = len(pcm) - len(pcm) % PCM_FRAME_BYTES
            self._pcm = pcm[whole:]
            frames = [pcm[i : i + PCM_FRAME_BYTES] for i in range(0, whole, PCM_FRAME_BYTES)]
        for frame in frames:
            was_hearing = endpointer.hearing
            for endpoint in endpointer.push(frame):
                if isinstance(endpoint, SpeechStarted):
                    self._on_speech_started()
                elif isinstance(endpoint, UtteranceEnded):
                    self._on_utterance(endpoint)
            if endpointer.in_speech:
                self._caller_heard_at = self._clock()
                if (
                    not self._paused
                    and self._output.speaking
                    and turn_taking.pauses_assistant(endpointer.speech_ms, self._rules)
                ):
                    self._pause()
            # ``_quiet`` follows ``hearing``; touched only when that changes (this runs for every frame, and
            # a method call on the event each time was 2 % of the server's CPU at 500 calls).
            if endpointer.hearing is not was_hearing:
                if endpointer.hearing:
                    self._quiet.clear()
                else:
                    self._quiet.set()

    def _on_speech_started(self) -> None:
        """The caller is talking: a turn not yet handed to the flow is extended (its transcription is
        dropped; the audio is joined with what follows), and the filler waits."""
        if self._listen is not None:
            self._listen.cancel()
            self._listen = None
        if self._filler is not None:
            self._filler.cancel()
            self._filler = None
        if self._output.speaking and self._output.playing_replies() <= {None}:
            # Only the filler (or a session sentence) is playing: nothing is lost by stopping it at once.
            self._output.interrupt()

    def _on_utterance(self, ended: UtteranceEnded) -> None:
        self._paused = False
        if self._ending:
            return
        self._pending_audio.append(ended.pcm16)
        self._pending_ended_at = self._clock() - ended.trailing_silence_ms / 1000
        self._caller_heard_at = self._pending_ended_at
        if self._filler is None and not self._output.speaking and not self._held():
            self._filler_played = False
            self._filler = asyncio.create_task(self._filler_after(self._pending_ended_at), name="filler")
        self._listen = asyncio.create_task(self._transcribe_pending(), name="listen")

    def _held(self) -> bool:
        return self._reply is not None and self._reply.state is _State.HELD

    async def _transcribe_pending(self) -> None:
        speech = self._speech
        assert speech is not None
        audio, ended_at = b"".join(self._pending_audio), self._pending_ended_at
        started = self._clock()
        try:
            transcript = await speech.stt.transcribe(audio, 8000, self._handler.call.usage)
        except SpeechError as error:
            self._pending_audio.clear()
            self._listen = None
            await self._speech_failed(error)
            return
        STT_LATENCY.labels(engine=speech.stt.name).observe(self._clock() - started)
        self._speech_failures = 0
        # Voice heard since: wait to see whether it is speech (this task is then cancelled and the turn
        # extended) or noise (the turn stands).
        await self._quiet.wait()
        self._pending_audio.clear()
        self._listen = None
        self._resolve(transcript.text.strip(), ended_at)

    def _resolve(self, text: str, ended_at: float) -> None:
        """A caller turn is complete and transcribed: decide what it does (the turn-taking rules)."""
        reply = self._reply
        takes_turn = turn_taking.is_interruption(text, self._rules)
        if reply is not None and reply.state is _State.HELD:
            if takes_turn:
                log.info("session.reply_dropped", reply=reply.id, heard_chars=len(" ".join(reply.heard)))
                self._cut(reply)
            else:
                log.info("session.false_interruption", reply=reply.id, backchannel=bool(text))
                self._release(reply)
                self._cancel_filler()
                return
        elif self._output.speaking and self._output.playing_replies() - {None}:
            if not takes_turn:
                log.info("session.backchannel_ignored", words=len(text.split()))
                self._cancel_filler()
                return
            self._interrupt()
        if not text:
            log.info("session.empty_transcript", after_filler=self._filler_played)
            self._cancel_filler()
            if self._filler_played:
                self._output.say(DIDNT_CATCH, reply=None)
            return
        self._work.put_nowait(_Turn(text, ended_at))

    async def _speech_failed(self, error: SpeechError) -> None:
        speech = self._speech
        assert speech is not None
        self._speech_failures += 1
        log.error(
            "session.stt_failed", engine=speech.stt.name, error=str(error), failures=self._speech_failures
        )
        self._cancel_filler()
        if self._speech_failures >= self._config.max_speech_failures:
            await self._end_call(CANT_HEAR)
        else:
            self._output.say(DIDNT_CATCH, reply=None)

    # --- replies in flight ---------------------------------------------------------------------------

    def _pause(self) -> None:
        """The caller has talked over the assistant long enough: stop the audio now, keep the rest."""
        self._paused = True
        for cut in self._output.interrupt():
            reply = self._reply_for(cut)
            if reply is None:
                continue  # the filler or a session sentence: not resumed
            reply.heard.append(cut.heard_text)
            reply.held[:0] = list(cut.unheard)
            reply.state = _State.HELD
            log.info("session.paused", reply=reply.id, heard_chars=len(cut.heard_text))

    def _interrupt(self, *, send_clear: bool = True) -> None:
        """The caller takes the turn (words, a key): whatever is playing or held is cut where it is."""
        in_flight = self._reply_in_flight()
        for cut in self._output.interrupt(send_clear=send_clear):
            reply = self._reply_for(cut)
            if reply is not None:
                reply.heard.append(cut.heard_text)
        if self._reply is not None and self._reply.state is not _State.CUT and in_flight:
            self._cut(self._reply)

    def _take_turn_now(self) -> None:
        if self._output.speaking or self._held():
            self._interrupt()

    def _reply_in_flight(self) -> bool:
        reply = self._reply
        return reply is not None and (reply.state is _State.HELD or self._output.speaking or self._busy)

    def _reply_for(self, cut: CutOff) -> _Reply | None:
        if cut.reply is None or self._reply is None or cut.reply != self._reply.id:
            return None  # older replies were played or cut before this one started
        return self._reply

    def _cut(self, reply: _Reply) -> None:
        reply.state = _State.CUT
        reply.held.clear()
        if not reply.cut_reported:
            reply.cut_reported = True
            # Applied after the flow call that made the reply has finished, and before the flow is given
            # the turn that cut it: by that call's own end when it is still running, else through the queue.
            if not reply.performing:
                self._work.put_nowait(_CutOff(reply))

    def _release(self, reply: _Reply) -> None:
        reply.state = _State.LIVE
        held, reply.held = reply.held, []
        for text in held:
            self._say(reply, text)

    def _say(self, reply: _Reply, text: str) -> None:
        if reply.state is _State.CUT:
            return
        if reply.state is _State.HELD or (not reply.started and not self._may_speak()):
            reply.state = _State.HELD
            reply.held.append(text)
            return

        def on_first_frame(at: float) -> None:
            self._cancel_filler()
            if reply.speech_ended_at is not None:
                TURN_LATENCY.observe(at - reply.speech_ended_at)
                self._handler.reply_started(at - reply.speech_ended_at)  # the same figure, for the report

        self._output.say(text, reply=reply.id, on_first_frame=None if reply.started else on_first_frame)
        reply.started = True

    def _may_speak(self) -> bool:
        if self._endpointer is None:
            return True
        return turn_taking.may_speak(
            caller_voice_pending=self._endpointer.hearing,
            caller_turn_pending=bool(self._pending_audio),
        )

    # --- the flow ------------------------------------------------------------------------------------

    async def _worker(self) -> None:
        while True:
            item = await self._work.get()
            if isinstance(item, _Stop):
                return
            if (self._ending and not isinstance(item, _CutOff)) or (
                self._gone and isinstance(item, _Silence)
            ):
                continue
            try:
                await self._handle(item)
            except Exception:
                log.exception("session.turn_failed")
                await self._end_call(INTERNAL_ERROR)

    async def _handle(self, item: _Work) -> None:
        handler = self._handler
        if isinstance(item, _CutOff):
            heard = " ".join(part for part in item.reply.heard if part)
            await handler.assistant_cut_off(heard)
            return
        if isinstance(item, _Stop):
            return
        self._busy = True
        try:
            if isinstance(item, _Greet):
                await self._perform(handler.greet())
            elif isinstance(item, _Key):
                await self._perform(handler.caller_pressed(item.digit))
            elif isinstance(item, _Silence):
                await self._perform(handler.caller_silent())
            else:
                await self._perform(handler.caller_said(item.text), item.speech_ended_at)
            if not self._audio:
                await self._output.wait_played(within=0.0)  # a text transport shows each turn whole
        finally:
            self._busy = False

    async def _perform(
        self, actions: AsyncIterator[FlowAction], speech_ended_at: float | None = None
    ) -> None:
        """Play a reply as the flow produces it; then carry out its transfer or hang-up, if any."""
        reply = _Reply(next(self._replies), speech_ended_at)
        self._reply = reply
        if self._gone:
            self._cut(reply)  # the caller has gone: the flow records the turn, nobody hears the reply
        ending: Transfer | EndCall | None = None
        try:
            async for action in actions:
                if isinstance(action, Say):
                    self._say(reply, action.text)
                else:
                    ending = action
            self._adapt_endpointing()
            if ending is None and self._handler.finished:
                ending = EndCall("finished")
            if ending is not None and not self._gone:
                await self._execute(ending, reply)
        finally:
            reply.performing = False
            if reply.cut_reported:
                await self._handler.assistant_cut_off(" ".join(part for part in reply.heard if part))

    async def _execute(self, ending: Transfer | EndCall, reply: _Reply | None) -> None:
        """The one place a transfer or a hang-up is carried out, for every transport."""
        self._ending = True
        await self._play_out(reply)
        if isinstance(ending, Transfer):
            done = await self._transport.transfer(
                case_id=ending.case_id, reason=ending.reason, announcement=CONNECTING
            )
            if done:
                log.info("session.transferred", case_id=ending.case_id, reason=ending.reason)
                self._ended = True
                return
            log.warning("session.transfer_fallback", case_id=ending.case_id)
            self._ending = False
            await self._perform(self._handler.transfer_failed())
            if not self._ending:  # the flow said what happens instead but did not end the call: end it
                await self._execute(EndCall("transfer_failed"), None)
            return
        log.info("session.hanging_up", reason=ending.reason)
        await self._transport.hang_up(reason=ending.reason)
        self._ended = True

    async def _play_out(self, reply: _Reply | None) -> None:
        """Before the call ends: let the caller finish, say what was held, and wait until it was heard."""
        if reply is not None and reply.state is _State.HELD:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._quiet.wait(), self._config.ending_wait_seconds)
            self._release(reply)
        await self._output.wait_played(within=self._output.remaining_seconds() + 5.0)

    async def _end_call(self, sentence: str) -> None:
        """The transport cannot go on (speech or internal failure): say so and hang up."""
        self._output.say(sentence, reply=None)
        self._transport_failed = True  # an answer just before is then not counted as ``answered``
        await self._execute(EndCall("transport_failure"), None)

    # --- filler, idle, adaptation --------------------------------------------------------------------

    async def _filler_after(self, caller_stopped_at: float) -> None:
        delay = caller_stopped_at + self._config.filler_after_seconds - self._clock()
        if delay > 0:
            await asyncio.sleep(delay)
        await self._quiet.wait()
        if not self._output.speaking and not self._ending and not self._held():
            log.info("session.filler", after_seconds=self._config.filler_after_seconds)
            self._filler_played = True
            self._output.say(self._config.filler_text, reply=None)
        self._filler = None

    def _cancel_filler(self) -> None:
        if self._filler is not None:
            self._filler.cancel()
            self._filler = None

    def _adapt_endpointing(self) -> None:
        if self._endpointer is not None:
            expects = self._handler.expects
            self._endpointer.set_end_of_turn_ms(turn_taking.end_of_turn_ms(self._rules, expects))

    async def _idle_watch(self) -> None:
        """Say the idle prompt (``_Silence``) once the call has been quiet for the idle timeout.

        It sleeps until the earliest moment that could be (the last activity plus the timeout) rather than
        waking on a fixed tick: a tick of half a second per call was a thousand task wake-ups a second at
        500 calls. When that moment finds the call not quiet (a reply playing, the caller talking, a turn in
        hand), it looks again every ``step`` until it is.
        """
        timeout = self._config.idle_timeout_seconds
        step = min(0.5, timeout / 4)
        endpointer = self._endpointer
        assert endpointer is not None
        while True:
            wait = self._last_activity() + timeout - self._clock()
            await asyncio.sleep(wait if wait > 0 else step)
            quiet = not (
                self._busy
                or self._ending
                or self._output.speaking
                or endpointer.hearing
                or self._pending_audio
                or self._held()
            )
            if quiet and self._work.empty() and self._clock() - self._last_activity() >= timeout:
                self._work.put_nowait(_Silence())
                self._output.idle_since = self._clock()

    def _last_activity(self) -> float:
        return max(self._output.idle_since, self._caller_heard_at)

    # --- end -----------------------------------------------------------------------------------------

    async def _finish(self) -> None:
        """The connection ended (caller hung up, transfer, our hang-up, a dropped socket): finish the turn
        in progress, record what was heard, and finish the call — ``hung_up`` runs whatever happened."""
        self._gone = True
        if isinstance(self._transport, PushesAudio):
            self._transport.push_audio_to(None)
        try:
            if self._audio:
                for task in (self._filler, *self._tasks[1:]):
                    if task is not None:
                        task.cancel()
                if self._output.speaking or self._held():
                    self._interrupt(send_clear=False)  # the caller is gone: what was heard is final
                self._quiet.set()
                listen = self._listen
                if listen is not None and not self._ending:
                    # The caller's last words are being transcribed: they are still handed to the flow.
                    with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                        await asyncio.wait_for(asyncio.shield(listen), self._config.finish_timeout_seconds)
                self._work.put_nowait(_Stop())
                if self._tasks:
                    worker = self._tasks[0]
                    try:
                        await asyncio.wait_for(asyncio.shield(worker), self._config.finish_timeout_seconds)
                    except TimeoutError:
                        log.error("session.turn_unfinished_at_hangup")
                        worker.cancel()
        except Exception:
            log.exception("session.finish_failed")
        finally:
            with contextlib.suppress(Exception):
                await self._output.close()
            await self._handler.hung_up(transport_failure=self._transport_failed)
