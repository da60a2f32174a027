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


class _OneChunk:
    """A whole sentence synthesized at once (as a non-streaming engine gives it), at 8 kHz."""

    name = "one-chunk"
    sample_rate = 8000

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    async def synthesize(self, text: str, usage: Usage) -> AsyncIterator[bytes]:
        yield b"\x10\x00" * int(8000 * self.seconds)


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
    # 0.2 s of audio, sent as it came: two 100 ms messages of whole 20 ms frames
    assert [m["bytes"] for m in media] == [800, 800] and seconds == pytest.approx(0.2)
    assert 0.3 <= late <= 0.6  # the caller heard 0.1 s, then about 0.4 s of nothing


async def test_audio_that_keeps_up_is_never_late() -> None:
    late, seconds, _sent = await _play(stall=0.0)
    assert seconds == pytest.approx(0.2) and late == 0.0


async def test_a_long_sentence_leaves_in_messages_of_the_configured_length_at_real_time_pace() -> None:
    recorder = _Recorder()
    playback = AudioPlayback(
        transport=recorder,  # type: ignore[arg-type]
        tts=_OneChunk(seconds=1.0),
        fallback_tts=None,
        usage=Usage(),
        message_seconds=0.2,
    )
    loop = asyncio.get_running_loop()
    started = loop.time()
    playback.start()
    try:
        playback.say("A long sentence.", reply=1)
        await asyncio.wait_for(recorder.marked.wait(), 5)
    finally:
        await playback.close()
    elapsed = loop.time() - started
    sizes = [m["bytes"] for m in recorder.sent if m["event"] == "media"]
    assert sizes == [1600] * 5  # 1 s of audio in 200 ms messages, none split into 20 ms frames
    assert recorder.sent[-1]["event"] == "mark"
    # Paced, not sent at once: the last message leaves when the first 0.8 s are about to have played.
    assert 0.6 <= elapsed <= 1.5
