"""Mono 16-bit little-endian PCM: the one sample format every audio part of the assistant exchanges."""

from __future__ import annotations

import numpy as np
import soxr

SAMPLE_WIDTH = 2  # bytes per sample


def duration_seconds(pcm16: bytes, sample_rate: int) -> float:
    return len(pcm16) / (SAMPLE_WIDTH * sample_rate)


def to_float32(pcm16: bytes) -> np.ndarray:
    """Samples scaled to [-1, 1), the form speech recognisers take."""
    return np.frombuffer(pcm16, dtype="<i2").astype(np.float32) / 32768.0


def from_float32(samples: np.ndarray) -> bytes:
    clipped = np.clip(np.rint(samples * 32768.0), -32768, 32767)
    return clipped.astype("<i2").tobytes()


def resample(pcm16: bytes, from_rate: int, to_rate: int) -> bytes:
    """A whole clip to another rate through soxr's band-limited filter (no aliasing on the way down)."""
    if from_rate == to_rate or not pcm16:
        return pcm16
    samples = np.frombuffer(pcm16, dtype="<i2")
    return np.asarray(soxr.resample(samples, from_rate, to_rate, quality="HQ"), dtype="<i2").tobytes()


class StreamResampler:
    """Chunk-by-chunk resampling for streamed speech: the filter state carries across chunk boundaries."""

    def __init__(self, from_rate: int, to_rate: int) -> None:
        self.from_rate = from_rate
        self.to_rate = to_rate
        self._stream = (
            None if from_rate == to_rate else soxr.ResampleStream(from_rate, to_rate, 1, dtype="int16")
        )
        self._odd = b""  # a chunk may end in the middle of a sample

    def push(self, pcm16: bytes, *, last: bool = False) -> bytes:
        data = self._odd + pcm16
        cut = len(data) - len(data) % SAMPLE_WIDTH
        data, self._odd = data[:cut], data[cut:]
        if self._stream is None:
            return data
        samples = np.frombuffer(data, dtype="<i2")
        out = self._stream.resample_chunk(samples, last=last)
        return np.asarray(out, dtype="<i2").tobytes()
