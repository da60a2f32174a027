"""Outgoing audio: a sentence whose synthesis stalls midway leaves the caller a gap, and the metric shows it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from prometheus_client import REGISTRY

from kayako_call_assistant.domain import Usage
from kayako_call_assistant.session.playback import AudioPlayback


class _StallingSpeech:
    """0.1 s of audio, then nothing for ``stall`` seconds, then 0.1 s more: at 8 kHz, no resampling."""

    name = "stalling"
    sample_rate = 8000

    def __init__(self, stall: float) -> None:
        self.stall = stall

    async def synthesize(self, text: str, usage: Usage) -> AsyncIterator[bytes]:
        yield b"\x10\x00" * 800
        await asyncio.sleep(self.stall)
        yield b"\x10\x00" * 800


def _sample(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


class _Recorder:
    """The far end of a transport: records what playback sends."""

    audio = True

    def __init__(self) -> None:
        self.sent: list[dict[str, object]] = []
        self.marked = asyncio.Event()

    async def send_audio(self, ulaw: bytes) -> None:
        self.sent.append({"event": "media", "bytes": len(ulaw)})

    async def send_mark(self, name: str) -> None:
        self.sent.append({"event": "mark", "name": name})
        self.marked.set()

    async def clear(self) -> None:
        self.sent.append({"event": "clear"})


async def _play(stall: float) -> tuple[float, float, list[dict[str, object]]]:
    recorder = _Recorder()
    sent, marked = recorder.sent, recorder.marked
    playback = AudioPlayback(
        transport=recorder,  # type: ignore[arg-type]  # only the sending half is used
        tts=_StallingSpeech(stall),
        fallback_tts=None,
        usage=Usage(),
    )
    late_before, sent_before = (
        _sample("kca_playback_late_seconds_total"),
        _sample("kca_playback_seconds_total"),
    )
    playback.start()
    try:
        playback.say("One sentence.", reply=1)
        await asyncio.wait_for(marked.wait(), 5)
    finally:
        await playback.close()
    return (
        _sample("kca_playback_late_seconds_total") - late_before,
        _sample("kca_playback_seconds_total") - sent_before,
        sent,
    )


async def test_a_stall_in_the_middle_of_a_sentence_is_counted_as_late_audio() -> None:
    late, seconds, sent = await _play(stall=0.5)
    media = [m for m in sent if m["event"] == "media"]
    assert len(media) == 10 and seconds == pytest.approx(0.2)  # 0.2 s of audio in 20 ms frames
    assert 0.3 <= late <= 0.6  # the caller heard 0.1 s, then about 0.4 s of nothing


async def test_audio_that_keeps_up_is_never_late() -> None:
    late, seconds, _sent = await _play(stall=0.0)
    assert seconds == pytest.approx(0.2) and late == 0.0
