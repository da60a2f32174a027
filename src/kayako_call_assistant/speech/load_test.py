"""Speech engines for load tests of the real server process (``KCA_STT_ENGINE=instant``,
``KCA_TTS_ENGINE=tone``): they cost next to nothing, so a load test measures the call pipeline, the transport
and the event loop rather than a speech model. ``Settings`` refuses them outside development.

- The recogniser answers at once with one of a few configured texts, chosen by the utterance's length, so a
  load client can "say" different things by sending speech of different lengths.
- The synthesizer answers at once with a tone as long as the text would take to say, at the sample rate and
  in the chunk size of the local engine, so the server sends as much audio as it would with real speech.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import numpy as np

from ..domain import Transcript, Usage

# eSpeak NG at its default 165 words a minute says about 14 characters a second.
SECONDS_PER_CHARACTER = 0.07


class InstantSpeechToText:
    """An utterance of ``n`` seconds (rounded down) is transcribed as ``texts[n]``, or as the last text when
    it is longer; e.g. with two texts, under one second is the first, from one second on the second."""

    name = "instant"

    def __init__(self, texts: Sequence[str]) -> None:
        if not texts:
            raise ValueError("the instant recogniser needs at least one text")
        self.texts = tuple(texts)

    async def transcribe(self, pcm16: bytes, sample_rate: int, usage: Usage) -> Transcript:
        seconds = len(pcm16) / (2 * sample_rate)
        usage.audio_seconds_transcribed += seconds
        return Transcript(self.texts[min(int(seconds), len(self.texts) - 1)])


class ToneTextToSpeech:
    """A quiet 440 Hz tone as long as the text would take to say, in 100 ms chunks, at once."""

    name = "tone"

    def __init__(
        self, sample_rate: int = 22050, seconds_per_character: float = SECONDS_PER_CHARACTER
    ) -> None:
        self.sample_rate = sample_rate
        self.seconds_per_character = seconds_per_character
        self._chunk = self._make_chunk()

    def _make_chunk(self) -> bytes:
        # 100 ms holds a whole number of 440 Hz periods at the usual rates, so chunks join without a click.
        samples = self.sample_rate // 10
        t = np.arange(samples) / self.sample_rate
        return bytes((np.sin(2 * np.pi * 440 * t) * 4000).astype("<i2").tobytes())

    async def synthesize(self, text: str, usage: Usage) -> AsyncIterator[bytes]:
        usage.characters_synthesized += len(text)
        total = int(len(text) * self.seconds_per_character * self.sample_rate) * 2
        chunk = self._chunk
        for offset in range(0, total, len(chunk)):
            yield chunk[: total - offset] if total - offset < len(chunk) else chunk
