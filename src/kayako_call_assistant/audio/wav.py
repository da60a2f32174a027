"""WAV files in and out, through the standard library's ``wave`` (the assistant only needs PCM16 WAVs)."""

from __future__ import annotations

import io
import wave
from pathlib import Path

import numpy as np

from .pcm import SAMPLE_WIDTH


def wav_bytes(pcm16: bytes, sample_rate: int) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(SAMPLE_WIDTH)
        out.setframerate(sample_rate)
        out.writeframes(pcm16)
    return buffer.getvalue()


def write_wav(path: Path, pcm16: bytes, sample_rate: int) -> None:
    path.write_bytes(wav_bytes(pcm16, sample_rate))


def read_wav(source: Path | bytes) -> tuple[bytes, int]:
    """Mono PCM16 and its rate; stereo is mixed down. Other sample widths are refused with a clear error."""
    handle = io.BytesIO(source) if isinstance(source, bytes) else source.open("rb")
    try:
        with handle, wave.open(handle, "rb") as wav:
            if wav.getsampwidth() != SAMPLE_WIDTH:
                raise ValueError(f"only 16-bit PCM WAV is supported, got {8 * wav.getsampwidth()}-bit")
            channels, rate = wav.getnchannels(), wav.getframerate()
            frames = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError) as error:
        raise ValueError(f"not a readable WAV file: {error}") from None
    if channels > 1:
        samples = np.frombuffer(frames, dtype="<i2").reshape(-1, channels).astype(np.int32)
        frames = (samples.sum(axis=1) // channels).astype("<i2").tobytes()
    return frames, rate
