"""Instant in-process speech engines for the call benchmark and for tests that are about the transport,
not about speech: transcripts come from a script, and "speech" is a tone as long as the text would take."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Iterable

import numpy as np

from ..domain import Transcript, Usage


class ScriptedSpeechToText:
    """Each utterance is transcribed as the next scripted line (then as ``default``)."""

    name = "scripted"

    def __init__(self, lines: Iterable[str] = (), default: str = "", delay_seconds: float = 0.0) -> None:
        self.lines: deque[str] = deque(lines)
        self.default = default
        self.delay_seconds = delay_seconds  # a slow recogniser, for the latency-masking filler
        self.utterances: list[bytes] = []

    async def transcribe(self, pcm16: bytes, sample_rate: int, usage: Usage) -> Transcript:
        self.utterances.append(pcm16)
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        usage.audio_seconds_transcribed += len(pcm16) / (2 * sample_rate)
        return Transcript(self.lines.popleft() if self.lines else self.default)


class ToneTextToSpeech:
    """A 440 Hz tone as long as the text would take to say (60 ms a character), in 100 ms chunks, at once."""

    name = "tone"

    def __init__(
        self, sample_rate: int = 8000, seconds_per_character: float = 0.06, chunk_delay_seconds: float = 0.0
    ) -> None:
        self.sample_rate = sample_rate
        self.seconds_per_character = seconds_per_character
        # A streaming engine (a cloud voice) delivers chunk by chunk: this long before each, none by default.
        self.chunk_delay_seconds = chunk_delay_seconds
        self.texts: list[str] = []  # everything asked for, in order
        self._cache: dict[int, bytes] = {}

    def _tone(self, samples: int) -> bytes:
        if samples not in self._cache:
            t = np.arange(samples) / self.sample_rate
            self._cache[samples] = (np.sin(2 * np.pi * 440 * t) * 8000).astype("<i2").tobytes()
        return self._cache[samples]

    async def synthesize(self, text: str, usage: Usage) -> AsyncIterator[bytes]:
        self.texts.append(text)
        usage.characters_synthesized += len(text)
        audio = self._tone(int(len(text) * self.seconds_per_character * self.sample_rate))
        step = self.sample_rate // 10 * 2
        for offset in range(0, len(audio), step):
            if self.chunk_delay_seconds:
                await asyncio.sleep(self.chunk_delay_seconds)
            yield audio[offset : offset + step]
