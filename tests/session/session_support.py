"""A call session on a scripted clock: ``looptime`` runs the event loop on virtual time, so every rule is
driven frame by frame and every timing is exact and repeatable however loaded the machine is.

The far end (``FarEnd``) plays Twilio's part as the simulator does — caller audio one 20 ms frame every
20 ms, the assistant's audio "played" in real (virtual) time, marks echoed when reached, ``clear`` dropping
what was not played — and records a timeline. The flow is ``ScriptedFlow``, a ``ports.CallHandler`` whose
replies are given by the test (the real flow is exercised by the end-to-end tests over a WebSocket).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import numpy as np

from kayako_call_assistant.audio.endpointer import EndpointerConfig
from kayako_call_assistant.audio.mulaw import pcm16_to_ulaw
from kayako_call_assistant.audio.vad import WebRtcVad
from kayako_call_assistant.domain import CallChannel, CallRecord, EndCall, FlowAction, Say, Transfer, utcnow
from kayako_call_assistant.fakes.speech import ScriptedSpeechToText, ToneTextToSpeech
from kayako_call_assistant.session.call_session import CallSession, SessionConfig, Speech
from kayako_call_assistant.session.transport import CallerAudio, CallerKey, Inbound, MarkPlayed
from kayako_call_assistant.session.turn_taking import TurnTakingConfig

FRAME = 0.02
SILENCE = b"\xff" * 160


def voice(seconds: float, f0: float = 140.0) -> bytes:
    """Voiced, speech-like 8 kHz μ-law that any VAD calls speech."""
    t = np.arange(int(seconds * 8000)) / 8000
    signal = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 14))
    envelope = 0.55 + 0.45 * np.abs(np.sin(2 * np.pi * 3 * t))
    return pcm16_to_ulaw((signal * envelope * 5000).astype("<i2").tobytes())


def noise_burst(seconds: float) -> bytes:
    """A cough: broadband noise, loud and short."""
    rng = np.random.default_rng(7)
    return pcm16_to_ulaw(
        (rng.normal(0, 6000, int(seconds * 8000))).clip(-32000, 32000).astype("<i2").tobytes()
    )


@dataclass(slots=True)
class Timeline:
    caller: list[tuple[float, float]] = field(default_factory=list)  # caller speech, start and end
    assistant: list[tuple[float, float]] = field(default_factory=list)  # assistant audio as played
    clears: list[float] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    transfers: list[int | None] = field(default_factory=list)
    hang_ups: list[str] = field(default_factory=list)

    def assistant_seconds(self, start: float, end: float) -> float:
        return sum(max(0.0, min(b, end) - max(a, start)) for a, b in self.assistant)

    def assistant_during_caller_speech(self) -> float:
        return sum(self.assistant_seconds(a, b) for a, b in self.caller)


class FarEnd:
    """``session.Transport`` whose far end is simulated in-process on the event loop's (virtual) clock."""

    audio = True

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.timeline = Timeline()
        self._inbox: asyncio.Queue[Inbound | None] = asyncio.Queue()
        self._uplink: deque[bytes] = deque()
        self._play_end = 0.0
        self._marks: list[asyncio.TimerHandle] = []
        self._pending_marks: deque[str] = deque()
        self.transfer_result = True
        self._closed = False
        self._sender = asyncio.create_task(self._send_uplink())

    def now(self) -> float:
        return self.loop.time()

    # --- the caller --------------------------------------------------------------------------------

    def say(self, ulaw: bytes) -> None:
        ulaw += b"\xff" * (-len(ulaw) % 160)
        self._uplink.extend(ulaw[i : i + 160] for i in range(0, len(ulaw), 160))

    async def speak(self, ulaw: bytes) -> float:
        """Say it and return when it has been sent; returns when the caller started."""
        started = self.now()
        self.say(ulaw)
        while self._uplink:  # noqa: ASYNC110 - paced by the 20 ms sender
            await asyncio.sleep(FRAME)
        self.timeline.caller.append((started, self.now()))
        return started

    def take_marks(self) -> list[str]:
        """The marks echoed so far, taken out of the inbox (for tests that drive playback without a
        session; the caller's audio frames waiting there are dropped)."""
        marks: list[str] = []
        while not self._inbox.empty():
            event = self._inbox.get_nowait()
            if isinstance(event, MarkPlayed):
                marks.append(event.name)
        return marks

    async def press(self, digit: str) -> None:
        await self._inbox.put(CallerKey(digit))

    async def wait(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def _send_uplink(self) -> None:
        tick = self.now()
        while not self._closed:
            frame = self._uplink.popleft() if self._uplink else SILENCE
            await self._inbox.put(CallerAudio(frame))
            tick += FRAME
            await asyncio.sleep(max(0.0, tick - self.now()))

    def stop(self) -> None:
        """The caller hangs up."""
        self._closed = True
        self._sender.cancel()
        self._inbox.put_nowait(None)

    # --- the transport -----------------------------------------------------------------------------

    async def receive(self) -> Inbound | None:
        if self._closed and self._inbox.empty():
            return None
        return await self._inbox.get()

    async def send_audio(self, ulaw: bytes) -> None:
        start = max(self.now(), self._play_end)
        self._play_end = start + len(ulaw) / 8000
        self.timeline.assistant.append((start, self._play_end))

    async def send_text(self, text: str) -> None:
        self.timeline.texts.append(text)

    async def send_mark(self, name: str) -> None:
        self._pending_marks.append(name)
        self._marks.append(self.loop.call_at(self._play_end, self._echo, name))

    def _echo(self, name: str) -> None:
        if name in self._pending_marks:
            self._pending_marks.remove(name)
            self._inbox.put_nowait(MarkPlayed(name))

    async def clear(self) -> None:
        now = self.now()
        self.timeline.clears.append(now)
        self.timeline.assistant = [(a, min(b, now)) for a, b in self.timeline.assistant if a < now]
        self._play_end = now
        for handle in self._marks:
            handle.cancel()
        while self._pending_marks:
            self._inbox.put_nowait(MarkPlayed(self._pending_marks.popleft()))

    async def transfer(self, *, case_id: int | None, reason: str, announcement: str) -> bool:
        self.timeline.transfers.append(case_id)
        if self.transfer_result:
            self.stop()
        return self.transfer_result

    async def hang_up(self, *, reason: str) -> None:
        self.timeline.hang_ups.append(reason)
        self.stop()


Reply = Callable[[str], list[FlowAction]]


class ScriptedFlow:
    """``ports.CallHandler`` with test-given replies; records everything the session told it, in order."""

    def __init__(
        self,
        *,
        answer: Reply = lambda text: [Say("Here is the answer to that.")],
        greeting: tuple[str, ...] = ("Hello.",),
        think_seconds: float = 0.0,
        expects: str | None = None,
    ) -> None:
        self._call = CallRecord(call_id="c1", channel=CallChannel.MEDIA_STREAM, started_at=utcnow())
        self.answer = answer
        self.greeting = greeting
        self.think_seconds = think_seconds
        self.expects: str | None = expects
        self.events: list[tuple[str, str]] = []
        self.finished = False
        self.hung_up_calls = 0
        self.latencies: list[float] = []  # what reply_started reported

    @property
    def call(self) -> CallRecord:
        return self._call

    @property
    def said(self) -> list[str]:
        return [text for kind, text in self.events if kind == "said"]

    @property
    def cut_offs(self) -> list[str]:
        return [text for kind, text in self.events if kind == "cut_off"]

    async def _actions(self, actions: list[FlowAction]) -> AsyncIterator[FlowAction]:
        if self.think_seconds:
            await asyncio.sleep(self.think_seconds)
        for action in actions:
            if isinstance(action, EndCall | Transfer):
                self.finished = True
            yield action

    def greet(self) -> AsyncIterator[FlowAction]:
        return self._plain([Say(text) for text in self.greeting])

    async def _plain(self, actions: list[FlowAction]) -> AsyncIterator[FlowAction]:
        for action in actions:
            yield action

    def caller_said(self, text: str) -> AsyncIterator[FlowAction]:
        self.events.append(("said", text))
        return self._actions(self.answer(text))

    def caller_silent(self) -> AsyncIterator[FlowAction]:
        self.events.append(("silent", ""))
        return self._plain([Say("Are you still there?")])

    def caller_pressed(self, digit: str) -> AsyncIterator[FlowAction]:
        self.events.append(("pressed", digit))
        return self._plain([Say(f"You pressed {digit}.")])

    def transfer_failed(self) -> AsyncIterator[FlowAction]:
        self.events.append(("transfer_failed", ""))
        return self._plain([Say("We will call you back."), EndCall("transfer_failed")])

    def reply_started(self, latency_seconds: float) -> None:
        self.latencies.append(latency_seconds)  # kept apart from ``events``, which tests compare whole

    async def assistant_cut_off(self, heard_text: str) -> None:
        self.events.append(("cut_off", heard_text))

    async def hung_up(self, *, transport_failure: bool = False) -> None:
        self.events.append(("hung_up", ""))
        self.hung_up_calls += 1


@dataclass(slots=True)
class Rig:
    far: FarEnd
    flow: ScriptedFlow
    stt: ScriptedSpeechToText
    tts: ToneTextToSpeech
    session: CallSession
    task: asyncio.Task[None]

    async def end(self) -> None:
        if not self.task.done():
            self.far.stop()
        await asyncio.wait_for(self.task, 60)

    async def greeted(self) -> None:
        """Until the greeting has been played."""
        while not self.far.timeline.assistant or self.far.now() < self.far.timeline.assistant[-1][1] + 0.1:  # noqa: ASYNC110
            await asyncio.sleep(FRAME)


def start(
    flow: ScriptedFlow,
    transcripts: list[str],
    *,
    stt_delay: float = 0.0,
    seconds_per_character: float = 0.06,
    **config: object,
) -> Rig:
    """A session on the running (looptime) loop; ``config``: SessionConfig fields, or TurnTakingConfig ones."""
    rules = {k: v for k, v in config.items() if k in TurnTakingConfig.__dataclass_fields__}
    others = {k: v for k, v in config.items() if k not in rules}
    far = FarEnd()
    stt = ScriptedSpeechToText(transcripts, delay_seconds=stt_delay)
    tts = ToneTextToSpeech(seconds_per_character=seconds_per_character)
    session_config = SessionConfig(
        endpointer=EndpointerConfig(end_of_turn_silence_ms=500, min_speech_ms=200),
        turn_taking=TurnTakingConfig(**rules),  # type: ignore[arg-type]
        **{"idle_timeout_seconds": 30.0, **others},  # type: ignore[arg-type]
    )
    session = CallSession(
        transport=far,
        handler=flow,
        config=session_config,
        speech=Speech(stt=stt, tts=tts, fallback_tts=None, vad=WebRtcVad(2)),
        clock=far.loop.time,
    )
    return Rig(far, flow, stt, tts, session, asyncio.create_task(session.run()))
