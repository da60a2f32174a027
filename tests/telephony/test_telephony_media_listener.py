"""The native media listener (``KCA_MEDIA_PORT``): Twilio is sent there by the voice webhook's TwiML, the
upgrade is checked like the main port's (signature, path), and a call over it is the same call as on the
main port — greeted, answered from the help center, barged in on, recorded — over a real WebSocket with real
μ-law audio. Malformed frames are skipped without ending the call."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from telephony_support import TOKEN, finished, free_port, voice, voice_rig
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from kayako_call_assistant.domain import Speaker
from kayako_call_assistant.fakes.speech import ScriptedSpeechToText, ToneTextToSpeech
from kayako_call_assistant.telephony.simulator import signed_headers


def engines(*lines: str, seconds_per_character: float = 0.01) -> dict[str, object]:
    return {
        "stt": ScriptedSpeechToText(lines),
        "tts": ToneTextToSpeech(seconds_per_character=seconds_per_character),
        "fallback_tts": None,
    }


async def test_the_voice_webhook_sends_twilio_to_the_media_port_and_the_call_is_served_there(
    tmp_path: Path,
) -> None:
    media_port = free_port()
    parts = engines("how do I reset my password")
    async with voice_rig(tmp_path, engines=parts, media_port=media_port) as rig:
        call = rig.call()
        async with call:
            assert await call.wait_until_quiet(quiet_for=0.6)
            greeting = call.received.media_frames
            assert greeting > 40 and call.received.marks
            # several 20 ms frames per message (100 ms by default), never a part frame
            assert call.received.media_messages * 2 < greeting
            await call.send_raw("this is not JSON")  # skipped, the call goes on
            await call.send_raw(b"\x00\x01 binary")
            await call.say_and_wait(voice(1.2))
            assert await call.wait_until_quiet(quiet_for=0.8)
            assert call.received.media_frames > greeting + 50
        record, turns = await finished(rig, call)
    assert call.stream_url.startswith(f"ws://127.0.0.1:{media_port}/twilio/media")
    assert [t.text for t in turns if t.speaker is Speaker.CALLER] == ["how do I reset my password"]
    assert "reset" in " ".join(t.text for t in turns if t.speaker is Speaker.ASSISTANT).lower()
    assert record.from_number == "+15005550006"  # from the signed webhook, through the stream token


async def test_barge_in_works_over_the_media_port(tmp_path: Path) -> None:
    parts = engines(
        "how do I reset my password", "sorry, how do I reset my password", seconds_per_character=0.03
    )
    async with voice_rig(tmp_path, engines=parts, media_port=free_port()) as rig:
        async with rig.call() as call:
            assert await call.wait_until_quiet(quiet_for=0.6)
            await call.say_and_wait(voice(1.0))
            assert await call.wait_for_speech(within=10)
            await asyncio.sleep(0.8)
            await call.say_and_wait(voice(0.8))  # the caller talks over the answer
            assert await call.wait_until_quiet(quiet_for=0.8)
            assert call.received.clears >= 1
        _record, turns = await finished(rig, call)
    answer = [t for t in turns if t.speaker is Speaker.ASSISTANT][1]
    assert answer.interrupted


@pytest.mark.parametrize(
    ("path", "signed", "status"),
    [
        ("/twilio/media", False, 403),  # no signature
        ("/twilio/media", "wrong-token", 403),  # signed with another account's token
        ("/somewhere/else", True, 404),
    ],
)
async def test_an_upgrade_that_is_not_twilios_is_refused_before_any_websocket(
    tmp_path: Path, path: str, signed: bool | str, status: int
) -> None:
    media_port = free_port()
    async with voice_rig(tmp_path, engines=engines(), media_port=media_port) as rig:
        url = f"ws://127.0.0.1:{media_port}{path}"
        token = signed if isinstance(signed, str) else TOKEN
        headers = signed_headers(token, url, {}) if signed else None
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url, additional_headers=headers):
                pass
        assert refused.value.response.status_code == status
        assert not rig.telephony.live


async def test_a_replayed_token_is_refused_on_the_media_port(tmp_path: Path) -> None:
    async with voice_rig(tmp_path, engines=engines(), media_port=free_port()) as rig:
        async with rig.call() as first:
            assert await first.wait_until_quiet(quiet_for=0.6)
        replay = rig.call(start_call_sid=first.call_sid, token=first.issued_token)
        async with replay:
            await asyncio.wait_for(replay.closed.wait(), 15)
        assert replay.received.media_frames == 0
        assert await rig.runtime.calls.get_call_by_external_id(replay.call_sid) is None
