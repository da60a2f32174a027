"""G.711 μ-law, the telephone codec of Twilio Media Streams (8 kHz, one byte per sample).

Written here because the standard library's ``audioop`` is deprecated and gone in Python 3.13; the two
tables below reproduce its ``lin2ulaw``/``ulaw2lin`` exactly (tests compare them) and turn each direction
into one vectorised lookup.
"""

from __future__ import annotations

import numpy as np

_BIAS = 0x84
_CLIP = 8159  # in the 14-bit domain the G.711 segments are defined on
_SEGMENT_ENDS = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF], dtype=np.int32)


def _decode_table() -> np.ndarray:
    code = ~np.arange(256, dtype=np.int32) & 0xFF
    magnitude = (((code & 0x0F) << 3) + _BIAS) << ((code & 0x70) >> 4)
    return np.where(code & 0x80, _BIAS - magnitude, magnitude - _BIAS).astype("<i2")


def _encode_table() -> np.ndarray:
    """The code of every 16-bit sample, indexed by the sample's unsigned bit pattern."""
    pcm = np.arange(65536, dtype=np.int32).astype(np.uint16).view(np.int16).astype(np.int32) >> 2
    mask = np.where(pcm < 0, 0x7F, 0xFF)
    value = np.minimum(np.abs(pcm), _CLIP) + (_BIAS >> 2)
    segment = np.searchsorted(_SEGMENT_ENDS, value, side="left")
    code = (segment << 4) | ((value >> (np.minimum(segment, 7) + 1)) & 0x0F)
    code = np.where(segment >= 8, 0x7F, code)
    return (code ^ mask).astype(np.uint8)


_DECODE = _decode_table()
_ENCODE = _encode_table()


def ulaw_to_pcm16(ulaw: bytes) -> bytes:
    pcm16: bytes = _DECODE[np.frombuffer(ulaw, dtype=np.uint8)].tobytes()
    return pcm16


def pcm16_to_ulaw(pcm16: bytes) -> bytes:
    ulaw: bytes = _ENCODE[np.frombuffer(pcm16, dtype="<u2")].tobytes()
    return ulaw
