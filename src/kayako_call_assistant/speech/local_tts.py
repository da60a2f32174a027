"""Local text-to-speech: eSpeak NG, from the shared library and voice data inside the ``espeakng-loader``
wheel (no system package, no download).

The binding is a few ctypes declarations written here: no maintained Python binding ships the library in a
wheel. eSpeak NG is one process-wide synthesizer, so syntheses are serialized by a lock; each runs in a
worker thread and hands its audio to the event loop chunk by chunk as eSpeak produces it.
"""

from __future__ import annotations

import asyncio
import ctypes
import threading
from collections.abc import AsyncIterator

import espeakng_loader

from ..domain import Usage
from .errors import SpeechError

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_ESPEAK_RATE = 1
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_CHUNK_MS = 100
_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class _ESpeak:
    """The process's one eSpeak NG instance."""

    _instance: _ESpeak | None = None
    _create_lock = threading.Lock()

    def __init__(self) -> None:
        try:
            self._lib = ctypes.CDLL(espeakng_loader.get_library_path())
            data = espeakng_loader.get_data_path()
        except (OSError, RuntimeError) as error:
            raise SpeechError(f"eSpeak NG could not be loaded: {error}") from None
        self._lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        self._lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self._lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self._lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
        self._lib.espeak_Synth.argtypes = [
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        rate = self._lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, _CHUNK_MS, data.encode(), 0)
        if rate <= 0:
            raise SpeechError("eSpeak NG failed to initialise")
        self.sample_rate = int(rate)
        self._sink: list[bytes] | None = None
        self._on_chunk: object = None
        self._callback = _CALLBACK(self._collect)  # kept referenced: eSpeak holds the pointer
        self._lib.espeak_SetSynthCallback(self._callback)
        self.lock = threading.Lock()

    @classmethod
    def get(cls) -> _ESpeak:
        with cls._create_lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def _collect(self, wav: ctypes._Pointer[ctypes.c_short], samples: int, _events: int | None) -> int:
        if wav and samples > 0 and callable(self._on_chunk):
            self._on_chunk(ctypes.string_at(wav, samples * 2))
        return 0

    def synthesize(self, text: str, voice: str, words_per_minute: int, on_chunk: object) -> None:
        """Runs in a worker thread; ``on_chunk`` gets PCM16 as it is produced. Call with ``lock`` held."""
        if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise SpeechError(f"eSpeak NG has no voice {voice!r}")
        self._lib.espeak_SetParameter(_ESPEAK_RATE, words_per_minute, 0)
        self._on_chunk = on_chunk
        try:
            data = text.encode("utf-8") + b"\0"
            status = self._lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        finally:
            self._on_chunk = None
        if status != 0:
            raise SpeechError(f"eSpeak NG synthesis failed (status {status})")


class LocalTextToSpeech:
    name = "espeak-ng"

    def __init__(self, voice: str = "en-us", words_per_minute: int = 165) -> None:
        self.voice = voice
        self.words_per_minute = words_per_minute
        self._engine = _ESpeak.get()
        self.sample_rate = self._engine.sample_rate

    async def synthesize(self, text: str, usage: Usage) -> AsyncIterator[bytes]:
        usage.characters_synthesized += len(text)
        if not text.strip():
            return
        loop = asyncio.get_running_loop()
        chunks: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue()

        def run() -> None:
            with self._engine.lock:
                try:
                    self._engine.synthesize(
                        text,
                        self.voice,
                        self.words_per_minute,
                        lambda pcm: loop.call_soon_threadsafe(chunks.put_nowait, pcm),
                    )
                except BaseException as error:  # handed to the event loop and raised there
                    loop.call_soon_threadsafe(chunks.put_nowait, error)
                    return
            loop.call_soon_threadsafe(chunks.put_nowait, None)

        worker = loop.run_in_executor(None, run)
        try:
            while (chunk := await chunks.get()) is not None:
                if isinstance(chunk, BaseException):
                    raise chunk if isinstance(chunk, SpeechError) else SpeechError(str(chunk))
                yield chunk
        finally:
            await worker
