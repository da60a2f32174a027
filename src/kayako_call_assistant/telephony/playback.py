"""What the caller hears: speech synthesized sentence by sentence, sent to Twilio as 20 ms μ-law frames at
real-time pace, a ``mark`` after each sentence, and ``clear`` when the caller barges in.

The marks Twilio echoes tell which sentences were played to the end; the one playing when the caller cut in
is heard up to the share of its duration that had elapsed. That is what the transcript keeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog

from ..audio.mulaw import pcm16_to_ulaw
from ..audio.pcm import StreamResampler
from ..domain import Usage
from ..observability.metrics import PLAYBACK_LATE, PLAYBACK_SECONDS, TTS_LATENCY
from ..ports import TextToSpeech
from ..speech.errors import SpeechError
from . import protocol

log = structlog.get_logger(__name__)

FRAME_BYTES = 160  # 20 ms of 8 kHz μ-law
FRAME_SECONDS = 0.02
_ULAW_SILENCE = b"\xff"
_TYPICAL_SECONDS_PER_CHARACTER = 0.07  # about 150 words a minute, until the voice's own pace is known


@dataclass(slots=True)
class Segment:
    """One sentence on its way to the caller."""

    text: str
    reply: int | None  # the flow reply it belongs to; None for the filler and the transport's own sentences
    mark: str = ""
    frames_sent: int = 0
    complete: bool = False  # all its audio has been sent
    play_start: float | None = None  # when the caller started hearing it (estimated from the send pace)
    on_first_frame: Callable[[float], None] | None = field(default=None, repr=False)

    @property
    def seconds(self) -> float:
        return self.frames_sent * FRAME_SECONDS

    def heard_part(self, at: float, seconds_per_character: float) -> str:
        """The words of this sentence the caller had heard at ``at``. While it is still being synthesized
        its length is estimated from the voice's pace so far."""
        if self.play_start is None or self.frames_sent == 0:
            return ""
        total = self.seconds if self.complete else max(self.seconds, len(self.text) * seconds_per_character)
        share = min(1.0, max(0.0, (at - self.play_start) / total))
        words = self.text.split()
        return " ".join(words[: int(len(words) * share)])


@dataclass(frozen=True, slots=True)
class CutOff:
    reply: int
    heard_text: str


class Playback:
    def __init__(
        self,
        *,
        stream_sid: str,
        send: Callable[[str], Awaitable[None]],
        tts: TextToSpeech,
        fallback_tts: TextToSpeech | None,
        usage: Usage,
        lead_seconds: float = 0.06,
        batch_seconds: float = 0.04,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sid = stream_sid
        self._send = send
        self._tts = tts
        self._fallback = fallback_tts
        self._usage = usage
        self._lead = lead_seconds
        self._batch = batch_seconds
        self._clock = clock
        self._queue: deque[Segment] = deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._current: Segment | None = None  # being synthesized and sent
        self._unconfirmed: deque[Segment] = deque()  # sent, mark not echoed yet
        self._play_end = 0.0  # when the audio handed to Twilio so far will have finished playing
        self._generation = 0  # bumped by clear(): a sender from before it stops
        self._cancelled_replies: set[int] = set()
        self._marks = itertools.count(1)
        self._seconds_per_character = _TYPICAL_SECONDS_PER_CHARACTER  # learnt from the sentences played
        self._task: asyncio.Task[None] | None = None
        self.idle_since = clock()

    # --- control -------------------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"playback-{self._sid}")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def say(
        self, text: str, *, reply: int | None, on_first_frame: Callable[[float], None] | None = None
    ) -> None:
        if reply is not None and reply in self._cancelled_replies:
            return  # the caller already cut this reply off
        self._queue.append(Segment(text, reply, on_first_frame=on_first_frame))
        self._idle.clear()
        self._wake.set()

    @property
    def speaking(self) -> bool:
        return not self._idle.is_set()

    async def wait_played(self, within: float) -> bool:
        """Until everything queued has been heard (its marks echoed); False on timeout."""
        try:
            await asyncio.wait_for(self._idle.wait(), within)
        except TimeoutError:
            return False
        return True

    def remaining_seconds(self) -> float:
        return max(0.0, self._play_end - self._clock()) + sum(len(s.text) for s in self._queue) * 0.08

    def interrupt(self, *, send_clear: bool = True) -> CutOff | None:
        """Barge-in (or hang-up): stop at once and say what the caller heard of the reply being played."""
        now = self._clock()
        playing = [*self._unconfirmed, *([self._current] if self._current else [])]
        reply = next((s.reply for s in playing if s.reply is not None), None)
        if reply is None:
            reply = next((s.reply for s in self._queue if s.reply is not None), None)
        heard: list[str] = []
        for segment in playing:
            if segment.reply == reply:
                heard.append(segment.heard_part(now, self._seconds_per_character))
        self._generation += 1
        self._queue.clear()
        self._unconfirmed.clear()
        self._current = None
        self._play_end = now
        self._set_idle()
        if send_clear:
            asyncio.get_running_loop().create_task(self._send_quietly(protocol.clear_message(self._sid)))
        if reply is None:
            return None
        self._cancelled_replies.add(reply)
        return CutOff(reply, " ".join(part for part in heard if part))

    def mark_reached(self, name: str) -> None:
        while self._unconfirmed:
            segment = self._unconfirmed.popleft()
            if segment.mark == name:
                if self._unconfirmed and self._unconfirmed[0].play_start is not None:
                    self._unconfirmed[0].play_start = self._clock()
                break
        else:
            log.debug("telephony.mark_unknown", mark=name)  # echoed after a clear: already accounted for
        if not self._unconfirmed and self._current is None and not self._queue:
            self._set_idle()

    # --- sending -------------------------------------------------------------------------------------

    def _set_idle(self) -> None:
        if not self._idle.is_set():
            self._idle.set()
            self.idle_since = self._clock()

    async def _send_quietly(self, message: str) -> None:
        with contextlib.suppress(Exception):  # the socket closing under us is the hang-up path's business
            await self._send(message)

    async def _run(self) -> None:
        while True:
            while not self._queue:
                self._wake.clear()
                await self._wake.wait()
            segment = self._queue.popleft()
            generation = self._generation
            self._current = segment
            try:
                await self._play(segment, generation)
            except Exception:
                log.exception("telephony.playback_failed", text_chars=len(segment.text))
            finally:
                PLAYBACK_SECONDS.inc(segment.seconds)  # once per sentence, cut off or not: not per frame
            if generation != self._generation:
                continue
            self._current = None
            if segment.frames_sent:
                segment.complete = True
                pace = segment.seconds / max(1, len(segment.text))
                self._seconds_per_character = 0.7 * self._seconds_per_character + 0.3 * pace
                segment.mark = f"s{next(self._marks)}"
                self._unconfirmed.append(segment)
                await self._send(protocol.mark_message(self._sid, segment.mark))
            elif not self._unconfirmed and not self._queue:
                self._set_idle()

    async def _play(self, segment: Segment, generation: int) -> None:
        engines = [self._tts, *([self._fallback] if self._fallback is not None else [])]
        for index, engine in enumerate(engines):
            try:
                await self._stream(engine, segment, generation)
                return
            except SpeechError as error:
                if segment.frames_sent:  # half a sentence was heard: do not start it again in another voice
                    log.error("telephony.tts_failed_mid_sentence", engine=engine.name, error=str(error))
                    return
                last = index == len(engines) - 1
                log.error("telephony.tts_failed", engine=engine.name, error=str(error), fallback=not last)
                if last:
                    raise

    async def _stream(self, engine: TextToSpeech, segment: Segment, generation: int) -> None:
        resampler = StreamResampler(engine.sample_rate, 8000)
        pending = b""
        requested = self._clock()
        first_chunk = True
        async for chunk in engine.synthesize(segment.text, self._usage):
            if first_chunk:
                TTS_LATENCY.labels(engine=engine.name).observe(self._clock() - requested)
                first_chunk = False
            if generation != self._generation:
                return
            pending += pcm16_to_ulaw(resampler.push(chunk))
            pending = await self._send_frames(segment, pending, generation, flush=False)
        tail = pending + pcm16_to_ulaw(resampler.push(b"", last=True))
        if tail:
            tail += _ULAW_SILENCE * (-len(tail) % FRAME_BYTES)
            await self._send_frames(segment, tail, generation, flush=True)

    async def _send_frames(self, segment: Segment, ulaw: bytes, generation: int, *, flush: bool) -> bytes:
        """Send every whole frame of ``ulaw`` at real-time pace; return the part frame left over."""
        usable = len(ulaw) - (0 if flush else len(ulaw) % FRAME_BYTES)
        for offset in range(0, usable, FRAME_BYTES):
            # Twilio is kept between `lead` and `lead + batch` seconds ahead of the caller's ear: enough to
            # ride out a late wake-up, little enough that `clear` drops almost nothing, and one wake-up sends
            # a few frames (a timer per 20 ms frame per call is what limits calls per core).
            buffered = self._play_end - self._clock()
            if buffered >= self._lead + self._batch:
                await asyncio.sleep(buffered - self._lead)
            if generation != self._generation:
                return b""
            now = self._clock()
            if segment.frames_sent == 0:
                segment.play_start = max(now, self._play_end)
                if segment.on_first_frame is not None:
                    segment.on_first_frame(now)
            elif now > self._play_end:
                # Mid-sentence, the caller's buffer ran dry before this frame left: they heard a gap.
                PLAYBACK_LATE.inc(now - self._play_end)
            await self._send(protocol.media_message(self._sid, ulaw[offset : offset + FRAME_BYTES]))
            segment.frames_sent += 1
            self._play_end = max(self._play_end, now) + FRAME_SECONDS
        return ulaw[usable:]
