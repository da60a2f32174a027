"""Per-call media-stream tokens: issued by the signed voice webhook, redeemed once by the stream's ``start``
for the same CallSid; the caller's number and attestation come from the token, never from the stream's
other parameters. End to end over a real WebSocket, and the token rules on their own (in-process and Redis).
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from structlog.testing import capture_logs
from telephony_support import voice, voice_rig

from kayako_call_assistant.fakes.speech import ScriptedSpeechToText, ToneTextToSpeech
from kayako_call_assistant.telephony.simulator import SimulatedCall
from kayako_call_assistant.telephony.stream_auth import (
    InProcessUsedTokens,
    RedisUsedTokens,
    StreamTokens,
    attestation_from_verstat,
)

SECRET = b"0123456789abcdef0123456789abcdef"


def engines() -> dict[str, object]:
    return {
        "stt": ScriptedSpeechToText(["how do I reset my password"]),
        "tts": ToneTextToSpeech(seconds_per_character=0.01),
        "fallback_tts": None,
    }


async def refused(call: SimulatedCall) -> bool:
    """The server closed the stream without a word (no greeting frame)."""
    await asyncio.wait_for(call.closed.wait(), 15)
    return call.received.media_frames == 0


async def test_a_genuine_stream_gets_the_callers_number_and_attestation_from_the_webhook(
    tmp_path: Path,
) -> None:
    async with voice_rig(tmp_path, engines=engines()) as rig:
        call = rig.call(stir_verstat="TN-Validation-Passed-A", extra_parameters={"caller": "+19998887777"})
        with capture_logs() as logs:
            async with call:
                assert await call.wait_until_quiet(quiet_for=0.6)  # greeted
                await call.say_and_wait(voice(0.8))
                assert await call.wait_until_quiet(quiet_for=0.8)
        record = await rig.runtime.calls.get_call_by_external_id(call.call_sid)
    assert record is not None
    assert record.from_number == "+15005550006"  # the webhook's From; the spoofed `caller` is ignored
    (started,) = [entry for entry in logs if entry["event"] == "telephony.stream_started"]
    assert started["attestation"] == "A"  # from the signed webhook's StirVerstat, through the token


async def test_a_replayed_token_is_refused(tmp_path: Path) -> None:
    async with voice_rig(tmp_path, engines=engines()) as rig:
        async with rig.call() as first:
            assert await first.wait_until_quiet(quiet_for=0.6)
        replay = rig.call(call_sid=first.call_sid, token=first.issued_token)
        async with replay:
            assert await refused(replay)


async def test_a_token_for_another_call_is_refused(tmp_path: Path) -> None:
    async with voice_rig(tmp_path, engines=engines()) as rig:
        other = "CA" + uuid.uuid4().hex
        call = rig.call(start_call_sid=other)
        async with call:
            assert await refused(call)
        assert await rig.runtime.calls.get_call_by_external_id(other) is None
        assert await rig.runtime.calls.get_call_by_external_id(call.call_sid) is None


async def test_a_start_without_a_token_is_refused(tmp_path: Path) -> None:
    async with voice_rig(tmp_path, engines=engines()) as rig:
        call = rig.call(token="")
        async with call:
            assert await refused(call)
        assert await rig.runtime.calls.get_call_by_external_id(call.call_sid) is None


def test_attestation_is_read_from_stir_verstat() -> None:
    assert attestation_from_verstat("TN-Validation-Passed-A") == "A"
    assert attestation_from_verstat("TN-Validation-Passed-C") == "C"
    assert attestation_from_verstat("TN-Validation-Failed-A") is None
    assert attestation_from_verstat("No-TN-Validation") is None
    assert attestation_from_verstat(None) is None
    assert attestation_from_verstat("TN-Validation-Passed-A" * 10_000) is None


async def test_a_token_is_good_once_for_its_call_until_it_expires() -> None:
    now = [1000.0]
    tokens = StreamTokens(SECRET, used=InProcessUsedTokens(), ttl_seconds=60, clock=lambda: now[0])
    token = tokens.issue(call_sid="CA1", caller="+15550001111", called="+15550002222", attestation="B")
    claims = await tokens.redeem(token, "CA1")
    assert claims is not None and (claims.caller, claims.called, claims.attestation) == (
        "+15550001111",
        "+15550002222",
        "B",
    )
    assert await tokens.redeem(token, "CA1") is None  # once
    fresh = tokens.issue(call_sid="CA2", caller=None, called=None, attestation=None)
    assert await tokens.redeem(fresh, "CA3") is None  # another call's
    payload, signature = fresh.split(".")
    assert await tokens.redeem(f"{payload}.{signature[:-2]}AA", "CA2") is None  # tampered
    other_key = StreamTokens(b"another secret of 32 bytes......", used=InProcessUsedTokens())
    assert await other_key.redeem(fresh, "CA2") is None  # signed under another key
    now[0] += 61
    assert await tokens.redeem(fresh, "CA2") is None  # expired
    assert await tokens.redeem("x" * 100_000, "CA2") is None


@pytest.mark.redis
async def test_with_redis_a_token_used_by_one_worker_is_refused_by_another(redis_url: str) -> None:
    first, second = RedisUsedTokens(redis_url), RedisUsedTokens(redis_url)
    try:
        one = StreamTokens(SECRET, used=first)
        two = StreamTokens(SECRET, used=second)
        sid = "CA" + uuid.uuid4().hex
        token = one.issue(call_sid=sid, caller=None, called=None, attestation=None)
        assert await two.redeem(token, sid) is not None
        assert await one.redeem(token, sid) is None
    finally:
        await first.aclose()
        await second.aclose()
