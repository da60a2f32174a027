"""Fuzzed frames over a real media-stream WebSocket: the server logs and skips them, never crashes, never
writes a traceback, and keeps serving calls."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import random
from pathlib import Path

import httpx
from telephony_support import TOKEN, voice_rig
from websockets.asyncio.client import connect

from kayako_call_assistant.observability.logging import configure_logging
from kayako_call_assistant.telephony.simulator import signed_headers


def fuzzed_frames(seed: int, count: int) -> list[str | bytes]:
    """Twilio-shaped messages with random fields replaced, truncated, corrupted or made huge."""
    rng = random.Random(seed)
    payload = base64.b64encode(b"\xff" * 160).decode()
    shapes = [
        {"event": "media", "media": {"payload": payload, "timestamp": "20", "track": "inbound"}},
        {"event": "mark", "mark": {"name": "reply-1"}},
        {"event": "dtmf", "dtmf": {"digit": "5"}},
        {"event": "connected", "protocol": "Call"},
        {"event": "start", "start": {"streamSid": "MZ9", "callSid": "CA9"}},
    ]
    odd_values: list[object] = [
        None,
        -1,
        2**70,
        1e308,
        "",
        "x" * 5000,
        [],
        {},
        [[[[[]]]]],
        "AAAA====",
        "🙂" * 50,
        True,
    ]
    frames: list[str | bytes] = []
    for _ in range(count):
        message = json.loads(json.dumps(rng.choice(shapes)))
        section = message.get(message["event"])
        target = section if isinstance(section, dict) and rng.random() < 0.7 else message
        key = rng.choice([*target.keys(), "event", "payload", "timestamp", "name", "digit"])
        target[key] = rng.choice(odd_values)
        text = json.dumps(message)
        roll = rng.random()
        if roll < 0.1:
            text = text[: rng.randrange(len(text))]
        elif roll < 0.2:
            frames.append(text.encode()[:50] + bytes(rng.randrange(256) for _ in range(8)))
            continue
        elif roll < 0.25:
            text = "[" * rng.randrange(1, 20_000)
        frames.append(text)
    return frames


async def test_fuzzed_frames_before_and_after_start_leave_no_traceback(tmp_path: Path) -> None:
    configure_logging(json=True, level="INFO")
    logs = io.StringIO()
    logging.getLogger().handlers[0].setStream(logs)  # type: ignore[attr-defined]
    async with voice_rig(tmp_path) as rig:
        # Frames before any `start`, on a signed upgrade (the old code raised TypeError here).
        url = rig.base_url.replace("http://", "ws://") + "/twilio/media"
        async with connect(url, additional_headers=signed_headers(TOKEN, url, {}), max_size=2**20) as ws:
            for frame in fuzzed_frames(seed=1, count=150):
                if '"start"' not in str(frame):
                    await ws.send(frame)
            await ws.send(json.dumps({"event": "stop"}))
            await asyncio.wait_for(ws.wait_closed(), 30)
        # The same after a real start, mid-call.
        async with rig.call() as call:
            for frame in fuzzed_frames(seed=2, count=400):
                await call.send_raw(frame)
            # Hang up once the assistant is quiet: a hang-up mid-sentence is another test's subject.
            await call.wait_until_quiet(within=60)
            await call.hang_up()
        async with httpx.AsyncClient(base_url=rig.base_url) as web:
            assert (await web.get("/healthz")).status_code == 200
        # And the server still answers a normal call.
        async with rig.call() as again:
            assert await again.wait_for_speech(within=60)
            await again.wait_until_quiet(within=60)
            await again.hang_up()
    text = logs.getvalue()
    assert "telephony.malformed_frame" in text or "telephony.frame_before_start" in text
    at = text.find("Traceback")
    assert at < 0 and "Exception in ASGI" not in text, text[max(0, at - 1500) : at + 1500]
    # rate-limited: far fewer warnings than bad frames
    assert text.count("telephony.malformed_frame") + text.count("telephony.frame_before_start") < 60
