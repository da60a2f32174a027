"""Text-to-speech through OpenAI's speech API, streamed as raw PCM so the first audio reaches the caller
while the rest is still being synthesized."""

from __future__ import annotations

from collections.abc import AsyncIterator

import openai

from ..domain import Usage
from .errors import SpeechError

_PCM_RATE = 24000  # the API's `pcm` format: 24 kHz, 16-bit little-endian, mono
_CHUNK_BYTES = 4800  # 100 ms


class OpenAITextToSpeech:
    sample_rate = _PCM_RATE

    def __init__(self, client: openai.AsyncOpenAI, *, model: str = "tts-1", voice: str = "alloy") -> None:
        self._client = client
        self._model = model
        self._voice = voice
        self.name = f"openai:{model}"

    async def synthesize(self, text: str, usage: Usage) -> AsyncIterator[bytes]:
        if not text.strip():
            return
        usage.characters_synthesized += len(text)
        odd = b""
        try:
            async with self._client.audio.speech.with_streaming_response.create(
                model=self._model, voice=self._voice, input=text, response_format="pcm"
            ) as response:
                async for chunk in response.iter_bytes(_CHUNK_BYTES):
                    data = odd + chunk
                    cut = len(data) - len(data) % 2
                    odd = data[cut:]
                    if cut:
                        yield data[:cut]
        except openai.OpenAIError as error:
            raise SpeechError(
                f"speech synthesis with {self._model} failed: {type(error).__name__}: {error}"
            ) from None
