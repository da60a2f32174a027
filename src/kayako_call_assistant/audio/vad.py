"""Voice activity detection on 20 ms frames of 8 kHz PCM16 (one Twilio media frame each)."""

from __future__ import annotations

from functools import partial
from typing import Any, Protocol

import _webrtcvad
import numpy as np

from .pcm import StreamResampler, to_float32

FRAME_MS = 20
SAMPLE_RATE = 8000
FRAME_BYTES = SAMPLE_RATE * FRAME_MS // 1000 * 2


class VoiceActivityDetector(Protocol):
    def is_speech(self, frame: bytes) -> bool:
        """Whether one 20 ms frame of 8 kHz PCM16 holds speech."""
        ...


class WebRtcVad:
    """Google's WebRTC VAD (the ``webrtcvad-wheels`` build): about a microsecond per frame, no model to load.

    Its C module is driven directly: the package's ``Vad.is_speech`` is a Python wrapper that only works out
    the frame length, and took a third of the detector's time per frame (fifty frames a second per call).
    """

    def __init__(self, aggressiveness: int = 2) -> None:
        handle = _webrtcvad.create()
        _webrtcvad.init(handle)
        _webrtcvad.set_mode(handle, aggressiveness)
        self._process = partial(_webrtcvad.process, handle, SAMPLE_RATE)

    def is_speech(self, frame: bytes) -> bool:
        """Raises ``webrtcvad.Error`` for a frame that is not 10, 20 or 30 ms of 8 kHz PCM16."""
        return bool(self._process(frame, len(frame) >> 1))


class SileroVad:
    """Silero VAD through the ONNX model that ships inside the ``faster-whisper`` wheel.

    The model takes 512-sample windows at 16 kHz with 64 samples of context and carries its recurrent state
    between calls; faster-whisper's own wrapper restarts that state on every call, so the session is driven
    directly here to keep it across a call's frames.
    """

    _WINDOW = 512
    _CONTEXT = 64

    def __init__(self, threshold: float = 0.5) -> None:
        from faster_whisper.vad import get_vad_model

        self._session: Any = get_vad_model().session
        self._threshold = threshold
        self._upsample = StreamResampler(SAMPLE_RATE, 16000)
        self._pending = np.zeros(0, dtype=np.float32)
        self._context = np.zeros(self._CONTEXT, dtype=np.float32)
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._probability = 0.0

    def is_speech(self, frame: bytes) -> bool:
        self._pending = np.concatenate([self._pending, to_float32(self._upsample.push(frame))])
        while self._pending.size >= self._WINDOW:
            window, self._pending = self._pending[: self._WINDOW], self._pending[self._WINDOW :]
            batch = np.concatenate([self._context, window])[np.newaxis, :]
            output, self._h, self._c = self._session.run(None, {"input": batch, "h": self._h, "c": self._c})
            self._context = window[-self._CONTEXT :]
            self._probability = float(np.asarray(output).reshape(-1)[0])
        return self._probability >= self._threshold


def vad_from_settings(engine: str, aggressiveness: int) -> VoiceActivityDetector:
    if engine == "silero":
        return SileroVad()
    return WebRtcVad(aggressiveness)
