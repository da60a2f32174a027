"""G.711 μ-law, the telephone codec of Twilio Media Streams (8 kHz, one byte per sample)."""

from __future__ import annotations

from .native import audioop


def ulaw_to_pcm16(ulaw: bytes) -> bytes:
    return audioop.ulaw2lin(ulaw, 2)


def pcm16_to_ulaw(pcm16: bytes) -> bytes:
    return audioop.lin2ulaw(pcm16, 2)
