"""The load benchmark's callers (bench/calls.py): the messages they send are Twilio media frames the server
reads, the audio they count is what the server's messages carry (whatever their length), and a caller's
script speaks, listens and counts turns as docs/performance.md says. No clock: each test hands the script
the times its frames were sent."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import random
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from kayako_call_assistant.telephony import protocol

SID = "MZ" + "0" * 32


def _load_bench() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "bench" / "calls.py"
    spec = importlib.util.spec_from_file_location("bench_calls", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their annotations through sys.modules
    spec.loader.exec_module(module)
    return module


calls = _load_bench()


class RecordingTransport:
    """Stands in for picows's WSTransport: records what the caller sends."""

    is_disconnected = False

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def send(self, kind: Any, message: bytes) -> None:
        self.sent.append(bytes(message))


def _call(transport: RecordingTransport | None = None) -> Any:
    call = calls.Call(0, SID)
    call.transport = transport
    call.media_tail = f'"}},"streamSid":"{SID}"}}'.encode()
    return call


async def test_the_ticker_sends_media_messages_the_server_reads_in_order() -> None:
    transport = RecordingTransport()
    call = _call(transport)
    load = calls.Load("ws://x", [b"QUJD" * 54], [b"QUJD" * 54], wait_greeting=False)
    call.script = calls.caller_script(call, load, random.Random(1))
    call.payload = next(call.script)
    call.ticker = ticker = load.ticker
    ticker.add(call)
    ticker.origin -= 1.0  # the schedule started a second ago: every tick is overdue
    call.first_due -= 1.0
    try:
        for _ in range(3):
            ticker._run()  # a late round sends at most one frame per call
    finally:
        assert ticker.timer is not None
        ticker.timer.cancel()
    events = [protocol.parse(message) for message in transport.sent]
    assert all(isinstance(e, protocol.Media) for e in events)
    assert [e.timestamp_ms for e in events] == [0, 20, 40]
    assert [e.payload for e in events] == [b"\xff" * 160] * 3  # the second of silence before speaking
    assert [json.loads(m)["sequenceNumber"] for m in transport.sent] == ["2", "3", "4"]
    assert all(json.loads(m)["streamSid"] == SID for m in transport.sent)
    assert len(ticker.late) == 3 and min(ticker.late) >= 0.9  # each frame's lateness against its schedule


@pytest.mark.parametrize("frames", [1, 3, 25])
def test_received_audio_is_counted_by_length_whatever_the_message_size(frames: int) -> None:
    """The server may send 20 ms per message or several frames at once: the seconds come from the payload."""
    call = _call()
    call.current = turn = calls.Turn(last_speech=9.0)
    message = protocol.media_message(SID, b"\x7f" * (160 * frames)).encode()
    calls._received(call, RecordingTransport(), message, 10.0)
    calls._received(call, RecordingTransport(), message, 10.0 + 0.02 * frames)
    assert turn.first == 10.0
    assert turn.audio_seconds == pytest.approx(2 * 0.02 * frames)
    assert call.play_end == pytest.approx(10.0 + 2 * 0.02 * frames)
    assert turn.worst_behind == pytest.approx(0.0)


def test_a_reply_frame_behind_playout_is_measured() -> None:
    call = _call()
    call.current = turn = calls.Turn(last_speech=9.0)
    message = protocol.media_message(SID, b"\x7f" * 160).encode()
    calls._received(call, RecordingTransport(), message, 10.0)
    calls._received(call, RecordingTransport(), message, 10.1)  # due at 10.02: 80 ms behind
    assert turn.worst_behind == pytest.approx(0.08)


def test_spaced_json_media_is_recognised() -> None:
    call = _call()
    call.current = turn = calls.Turn(last_speech=0.0)
    message = json.dumps({"event": "media", "streamSid": SID, "media": {"payload": "f39/" * 80}}).encode()
    calls._received(call, RecordingTransport(), message, 1.0)
    assert turn.audio_seconds == pytest.approx(240 / 8000)


async def test_clear_echoes_pending_marks_at_once() -> None:
    transport = RecordingTransport()
    call = _call(transport)
    call.play_end = 0.0
    audio = protocol.media_message(SID, b"\x7f" * 16000).encode()  # two seconds still to play
    loop_now = asyncio.get_running_loop().time()
    calls._received(call, transport, audio, loop_now)
    calls._received(call, transport, protocol.mark_message(SID, "m1").encode(), loop_now)
    assert transport.sent == [] and set(call.pending_marks) == {"m1"}
    calls._received(call, transport, protocol.clear_message(SID).encode(), loop_now)
    assert [protocol.parse(m) for m in transport.sent] == [protocol.MarkReached("m1")]
    assert call.pending_marks == {}


def test_script_waits_for_the_greeting_then_speaks_and_counts_one_turn() -> None:
    question, repeat = [b"cQ==" * 54] * 4, [b"cg==" * 54] * 2
    load = calls.Load("ws://x", question, repeat)
    call = _call()
    script = calls.caller_script(call, load, random.Random(3))
    said = [next(script)]
    t = 0.0

    def send() -> bytes:
        nonlocal t
        t += calls.FRAME_SECONDS
        payload: bytes = script.send(t)
        said.append(payload)
        return payload

    for _ in range(60):  # a second of silence, then silence while nothing was heard
        send()
    assert set(said) == {calls.SILENCE} and call.greeted_at is None
    call.last_media, call.play_end = t, t + 1.0  # the greeting arrives and plays for a second
    while call.greeted_at is None:
        send()
    assert call.greeted_at >= call.play_end
    while send() == calls.SILENCE:  # the pause before the question
        pass
    for _ in range(len(question) - 1):
        send()
    assert said[-len(question) :] == question and call.turns == []
    send()  # the question's last frame went at t: the turn starts and the caller listens
    assert len(call.turns) == 1 and call.turns[0].last_speech == t and said[-1] == calls.SILENCE
    assert call.current is call.turns[0]
