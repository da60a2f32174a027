"""Speech-to-text through OpenAI's transcription API (``whisper-1``, ``gpt-4o-mini-transcribe``), one finished
utterance at a time, with the ``openai`` SDK."""

from __future__ import annotations

import openai

from ..audio.pcm import duration_seconds
from ..audio.wav import wav_bytes
from ..domain import Transcript, Usage
from .errors import SpeechError


class OpenAISpeechToText:
    def __init__(self, client: openai.AsyncOpenAI, *, model: str = "whisper-1", language: str = "en") -> None:
        self._client = client
        self._model = model
        self._language = language
        self.name = f"openai:{model}"

    async def transcribe(self, pcm16: bytes, sample_rate: int, usage: Usage) -> Transcript:
        if not pcm16:
            return Transcript("")
        usage.audio_seconds_transcribed += duration_seconds(pcm16, sample_rate)
        try:
            result = await self._client.audio.transcriptions.create(
                model=self._model,
                file=("utterance.wav", wav_bytes(pcm16, sample_rate), "audio/wav"),
                language=self._language,
                response_format="json",
            )
        except openai.OpenAIError as error:
            raise SpeechError(
                f"transcription with {self._model} failed: {type(error).__name__}: {error}"
            ) from None
        return Transcript(result.text.strip())
