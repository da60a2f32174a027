"""What the caller hears. ``AudioPlayback``: speech synthesized sentence by sentence, sent through the
transport as μ-law messages of whole 20 ms frames at real-time pace, a mark after each sentence, and ``clear``
when the caller interrupts. ``TextPlayback``: sentences sent as text, heard as soon as sent.

The marks the far end echoes tell which sentences were played to the end; the one playing when the caller
cut in is heard up to the share of its duration that had elapsed. That is what the transcript keeps, and
the rest is kept too, so a false interruption can resume the sentence where it stopped.
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
from .speech_cache import SpeechCache
from .transport import Transport

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

    def split_heard(self, at: float, seconds_per_character: float) -> tuple[str, str]:
        """The words of this sentence the caller had heard at ``at``, and the rest. While it is still being
        synthesized its length is estimated from the voice's pace so far."""
        words = self.text.split()
        if self.play_start is None or self.frames_sent == 0:
            return "", self.text
        total = self.seconds if self.complete else max(self.seconds, len(self.text) * seconds_per_character)
        share = min(1.0, max(0.0, (at - self.play_start) / total))
        cut = int(len(words) * share)
        return " ".join(words[:cut]), " ".join(words[cut:])


@dataclass(frozen=True, slots=True)
class CutOff:
    """What one reply became when playback stopped: the words heard, and the ones not heard yet (the rest
    of the sentence that was playing, then the sentences that had not started), in order."""

    reply: int | None
    heard_text: str
    unheard: tuple[str, ...]


class AudioPlayback:
    def __init__(
        self,
        *,
        transport: Transport,
        tts: TextToSpeech,
        fallback_tts: TextToSpeech | None,
        usage: Usage,
        lead_seconds: float = 0.06,
        message_seconds: float = 0.1,
        cache: SpeechCache | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._transport = transport
        self._tts = tts
        self._fallback = fallback_tts
        self._usage = usage
        self._lead = lead_seconds
        # Whole frames per message, at least one: the far end plays any multiple of 20 ms in order.
        self._message_bytes = max(1, round(message_seconds / FRAME_SECONDS)) * FRAME_BYTES
        self._clock = clock
        self._cache = cache
        self._queue: deque[Segment] = deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._current: Segment | None = None  # being synthesized and sent
        self._unconfirmed: deque[Segment] = deque()  # sent, mark not echoed yet
        self._play_end = 0.0  # when the audio handed to Twilio so far will have finished playing
        self._generation = 0  # bumped by clear(): a sender from before it stops
        # Sentences played to the end (their mark echoed), by reply: part of what was heard if it is cut.
        self._played: dict[int | None, list[str]] = {}
        self._marks = itertools.count(1)
        self._seconds_per_character = _TYPICAL_SECONDS_PER_CHARACTER  # learnt from the sentences played
        self._task: asyncio.Task[None] | None = None
        self.idle_since = clock()

    # --- control -------------------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="playback")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def say(
        self, text: str, *, reply: int | None, on_first_frame: Callable[[float], None] | None = None
    ) -> None:
        if reply is not None and reply not in self._played:
            self._played = {reply: []}  # replies never overlap: the ones before are over
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

    def playing_replies(self) -> set[int | None]:
        """The replies with audio queued or playing."""
        current = [self._current] if self._current else []
        return {segment.reply for segment in (*self._unconfirmed, *current, *self._queue)}

    def interrupt(self, *, send_clear: bool = True) -> list[CutOff]:
        """The caller interrupted (or hung up): stop at once. One ``CutOff`` per reply that had audio queued
        or playing, in order (the filler's and the session's own sentences under ``reply=None``)."""
        now = self._clock()
        segments = [*self._unconfirmed, *([self._current] if self._current else []), *self._queue]
        in_flight = {segment.reply for segment in segments}
        cuts: dict[int | None, tuple[list[str], list[str]]] = {
            reply: (list(played), []) for reply, played in self._played.items() if reply in in_flight
        }
        self._played = {}
        for segment in segments:
            heard, unheard = cuts.setdefault(segment.reply, ([], []))
            before, after = segment.split_heard(now, self._seconds_per_character)
            if before:
                heard.append(before)
            if after:
                unheard.append(after)
        self._generation += 1
        self._queue.clear()
        self._unconfirmed.clear()
        self._current = None
        self._play_end = now
        self._set_idle()
        if send_clear:
            asyncio.get_running_loop().create_task(self._quietly(self._transport.clear()))
        return [CutOff(reply, " ".join(heard), tuple(unheard)) for reply, (heard, unheard) in cuts.items()]

    def mark_reached(self, name: str) -> None:
        while self._unconfirmed:
            segment = self._unconfirmed.popleft()
            self._played.setdefault(segment.reply, []).append(segment.text)
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

    async def _quietly(self, sending: Awaitable[None]) -> None:
        with contextlib.suppress(Exception):  # the socket closing under us is the hang-up path's business
            await sending

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
                await self._transport.send_mark(segment.mark)
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
        cache = self._cache
        if cache is not None:
            said_before = cache.get(engine.name, segment.text)
            if said_before is not None:  # no synthesis, no resampling: the audio it made last time
                await self._send_frames(segment, said_before, generation, flush=True)
                return
        # The sentence is synthesized ahead of its playout, as fast as the engine delivers, while this task
        # sends it at real-time pace: the cache then holds it as soon as it is whole, not seconds later when
        # its last frame has been sent — callers asking the same thing meanwhile (a busy hour's popular
        # answer, everyone's greeting) get it without another synthesis and resampling.
        chunks: asyncio.Queue[bytes | Exception | None] = asyncio.Queue()
        producer = asyncio.create_task(self._synthesize(engine, segment.text, chunks), name="synthesis")
        try:
            pending = b""
            while (chunk := await chunks.get()) is not None:
                if isinstance(chunk, Exception):
                    raise chunk  # the engine's SpeechError (``_play`` tries the fallback voice), or a defect
                if generation != self._generation:
                    return
                pending = await self._send_frames(segment, pending + chunk, generation, flush=False)
            if pending:
                await self._send_frames(segment, pending, generation, flush=True)
        finally:
            if not producer.done():  # the caller cut in: the rest of the sentence is not needed
                producer.cancel()

    async def _synthesize(
        self, engine: TextToSpeech, text: str, out: asyncio.Queue[bytes | Exception | None]
    ) -> None:
        """The sentence as 8 kHz μ-law into ``out``, the last piece padded to a whole frame, then None (or
        the exception that stopped it); once whole it is kept in the cache."""
        resampler = StreamResampler(engine.sample_rate, 8000)
        made: list[bytes] = []  # the sentence's telephone audio, for the cache once it is whole
        requested = self._clock()
        first_chunk = True
        length = 0
        try:
            async for chunk in engine.synthesize(text, self._usage):
                if first_chunk:
                    TTS_LATENCY.labels(engine=engine.name).observe(self._clock() - requested)
                    first_chunk = False
                ulaw = pcm16_to_ulaw(resampler.push(chunk))
                if ulaw:
                    made.append(ulaw)
                    length += len(ulaw)
                    out.put_nowait(ulaw)
        except Exception as error:  # handed to the sender, which raises it in its own task
            out.put_nowait(error)
            return
        tail = pcm16_to_ulaw(resampler.push(b"", last=True))
        tail += _ULAW_SILENCE * (-(length + len(tail)) % FRAME_BYTES)
        if tail:
            made.append(tail)
            out.put_nowait(tail)
        out.put_nowait(None)
        if self._cache is not None:
            self._cache.put(engine.name, text, b"".join(made))

    async def _send_frames(self, segment: Segment, ulaw: bytes, generation: int, *, flush: bool) -> bytes:
        """Send the whole frames of ``ulaw`` at real-time pace, in messages of up to ``message_seconds``;
        return what is kept for the next call: the part frame, and (unless ``flush``) a short tail while
        the caller's buffer still holds more than the lead, so that speech arriving in small chunks still
        leaves in full messages."""
        offset = 0
        while True:
            whole = (len(ulaw) - offset) // FRAME_BYTES * FRAME_BYTES
            buffered = self._play_end - self._clock()
            if whole == 0 or (not flush and whole < self._message_bytes and buffered > self._lead):
                return ulaw[offset:]
            # Twilio is kept between `lead` and `lead + message` seconds ahead of the caller's ear: enough to
            # ride out a late wake-up, little enough that `clear` drops almost nothing. A call costs per
            # WebSocket message and per wake-up, not per byte: one wake-up sends one message of several
            # frames (100 ms by default), five times fewer than a message per 20 ms frame.
            if buffered > self._lead:
                await asyncio.sleep(buffered - self._lead)
            if generation != self._generation:
                return b""
            now = self._clock()
            if segment.frames_sent == 0:
                segment.play_start = max(now, self._play_end)
                if segment.on_first_frame is not None:
                    segment.on_first_frame(now)
            elif now > self._play_end:
                # Mid-sentence, the caller's buffer ran dry before this message left: they heard a gap.
                PLAYBACK_LATE.inc(now - self._play_end)
            size = min(self._message_bytes, whole)
            await self._transport.send_audio(ulaw[offset : offset + size])
            frames = size // FRAME_BYTES
            segment.frames_sent += frames
            self._play_end = max(self._play_end, now) + frames * FRAME_SECONDS
            offset += size


class TextPlayback:
    """Playback for a text transport (Gather, chat): a sentence is heard once sent, nothing can cut it."""

    def __init__(self, transport: Transport, clock: Callable[[], float] = time.monotonic) -> None:
        self._transport = transport
        self._clock = clock
        self._pending: list[str] = []
        self.idle_since = clock()

    def start(self) -> None:
        pass

    async def close(self) -> None:
        await self.flush()

    async def flush(self) -> None:
        pending, self._pending = self._pending, []
        for text in pending:
            await self._transport.send_text(text)

    def say(
        self, text: str, *, reply: int | None, on_first_frame: Callable[[float], None] | None = None
    ) -> None:
        if on_first_frame is not None:
            on_first_frame(self._clock())
        self._pending.append(text)

    @property
    def speaking(self) -> bool:
        return False

    async def wait_played(self, within: float) -> bool:
        await self.flush()
        return True

    def remaining_seconds(self) -> float:
        return 0.0

    def playing_replies(self) -> set[int | None]:
        return set()

    def interrupt(self, *, send_clear: bool = True) -> list[CutOff]:
        return []

    def mark_reached(self, name: str) -> None:
        pass


Playback = AudioPlayback | TextPlayback
