"""Whole phone calls: a simulated Twilio speaks Media Streams over a real WebSocket with real μ-law audio to
the assistant on a port, which uses the mock Kayako over HTTP and the fake Twilio REST API for transfers.

Speech engines here are the instant in-process ones (scripted transcripts, tones for speech): these tests are
about the transport. tests/telephony/test_telephony_local_speech.py runs a call on the real local engines.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from telephony_support import TOKEN, finished, voice, voice_rig
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from kayako_call_assistant.domain import CallOutcome, Speaker
from kayako_call_assistant.fakes.speech import ScriptedSpeechToText, ToneTextToSpeech
from kayako_call_assistant.observability.report import turn_latencies
from kayako_call_assistant.telephony.simulator import post_webhook


def engines(*lines: str, delay: float = 0.0, seconds_per_character: float = 0.01) -> dict[str, object]:
    return {
        "stt": ScriptedSpeechToText(lines, delay_seconds=delay),
        "tts": ToneTextToSpeech(seconds_per_character=seconds_per_character),
        "fallback_tts": None,
    }


async def test_greeting_arrives_as_audio_and_a_spoken_question_is_answered_from_the_help_center(
    tmp_path: Path,
) -> None:
    parts = engines("how do I reset my password")
    async with voice_rig(tmp_path, engines=parts) as rig:
        async with rig.call() as call:
            assert await call.wait_until_quiet(quiet_for=0.6)
            greeting_frames = call.received.media_frames
            assert greeting_frames > 40  # 20 ms μ-law frames: the greeting is ~90 characters at 10 ms each
            assert call.received.marks  # a mark per sentence, echoed as it was played
            await call.say_and_wait(voice(1.2))
            assert await call.wait_until_quiet(quiet_for=0.8)
            assert call.received.media_frames > greeting_frames + 50
            assert call.answer_started_at is not None and call.last_speech_frame_at is not None
        record, turns = await finished(rig, call)
    stt = parts["stt"]
    assert isinstance(stt, ScriptedSpeechToText)
    assert len(stt.utterances) == 1
    # the utterance holds the caller's 1.2 s of speech (plus lead-in and the end-of-turn silence), at 8 kHz
    assert 1.2 <= len(stt.utterances[0]) / 16000 <= 2.1
    caller = [t.text for t in turns if t.speaker is Speaker.CALLER]
    assistant = " ".join(t.text for t in turns if t.speaker is Speaker.ASSISTANT)
    assert caller == ["how do I reset my password"]
    assert "Forgot your password" in assistant or "reset" in assistant.lower()
    assert record.channel.value == "twilio-media-stream" and record.from_number == "+15005550006"
    assert record.usage.audio_seconds_transcribed > 1.2 and record.usage.characters_synthesized > 100
    # The answer's wait is stored as the metric measures it (last voiced frame to first answer frame): at
    # least the end-of-turn silence; the greeting answered no speech. The report reads the stored figure.
    greeting, *replies = [t for t in turns if t.speaker is Speaker.ASSISTANT]
    assert greeting.latency_seconds is None
    waits = [t.latency_seconds for t in replies]
    assert len(waits) == 1 and waits[0] is not None and 0.3 <= waits[0] <= 10.0
    assert turn_latencies(turns) == waits


async def test_barge_in_clears_playback_and_the_transcript_keeps_only_what_was_heard(tmp_path: Path) -> None:
    parts = engines(
        "how do I reset my password", "sorry, how do I reset my password", seconds_per_character=0.03
    )
    tts = parts["tts"]
    assert isinstance(tts, ToneTextToSpeech)
    async with voice_rig(tmp_path, engines=parts) as rig:
        async with rig.call() as call:
            assert await call.wait_until_quiet(quiet_for=0.6)
            spoken_before = len(tts.texts)
            await call.say_and_wait(voice(1.0))
            assert await call.wait_for_speech(within=10)
            await asyncio.sleep(0.8)
            await call.say_and_wait(voice(0.8))  # the caller talks over the answer
            assert await call.wait_until_quiet(quiet_for=0.8)
            assert call.received.clears >= 1
        record, turns = await finished(rig, call)
    answer = [t for t in turns if t.speaker is Speaker.ASSISTANT][1]  # after the greeting
    full = " ".join(tts.texts[spoken_before:])
    assert answer.interrupted
    assert answer.text and full.startswith(answer.text) and len(answer.text) < len(full) / 2
    assert record.ended_at is not None


async def test_dtmf_zero_transfers_the_call_with_its_case(tmp_path: Path) -> None:
    async with voice_rig(tmp_path, engines=engines()) as rig:
        async with rig.call() as call:
            assert await call.wait_until_quiet(quiet_for=0.6)
            await call.press("0")
            await asyncio.wait_for(call.closed.wait(), 20)  # Twilio takes the call over: the stream ends
        record, turns = await finished(rig, call)
        twilio = await rig.twilio_call(call.call_sid)
        case = await rig.kayako(f"/cases/{record.case_id}")
    assert record.outcome is CallOutcome.TRANSFERRED and record.case_id is not None
    assert "<Enqueue" in twilio["twiml"] and "support" in twilio["twiml"]
    assert case["data"]["id"] == record.case_id
    assert any("case number is" in t.text for t in turns if t.speaker is Speaker.ASSISTANT)


async def test_a_failed_transfer_falls_back_to_a_call_back_and_keeps_the_case(tmp_path: Path) -> None:
    async with voice_rig(tmp_path, engines=engines()) as rig:
        async with httpx.AsyncClient() as client:
            await client.post(f"{rig.twilio_url}/_fake/fail", json={"status": 500, "times": 1})
        async with rig.call() as call:
            assert await call.wait_until_quiet(quiet_for=0.6)
            await call.press("0")
            await asyncio.wait_for(call.closed.wait(), 30)
        record, turns = await finished(rig, call)
        twilio = await rig.twilio_call(call.call_sid)
    assert record.outcome is CallOutcome.ESCALATED and record.case_id is not None
    last = [t.text for t in turns if t.speaker is Speaker.ASSISTANT][-1]
    assert "call you back" in last
    assert twilio.get("status") == "completed"  # the assistant hung up by REST after saying so


async def test_hanging_up_mid_answer_finalizes_the_call_and_delivers_the_case(tmp_path: Path) -> None:
    parts = engines("my invoice shows the wrong company address", seconds_per_character=0.05)
    async with voice_rig(tmp_path, engines=parts) as rig:
        async with rig.call() as call:
            assert await call.wait_until_quiet(quiet_for=0.6)
            await call.say_and_wait(voice(1.0))
            assert await call.wait_for_speech(within=10)
            await asyncio.sleep(0.5)
        record, turns = await finished(rig, call)
        case = await rig.kayako(f"/cases/{record.case_id}") if record.case_id else None
    assert record.outcome is not CallOutcome.IN_PROGRESS and record.ended_at is not None
    assert case is not None, turns
    assert any(t.interrupted for t in turns if t.speaker is Speaker.ASSISTANT)


async def test_bad_signatures_get_403_and_nothing_happens(tmp_path: Path) -> None:
    async with voice_rig(tmp_path, engines=engines()) as rig, httpx.AsyncClient() as client:
        params = {"CallSid": "CA" + "1" * 32, "From": "+15005550006", "To": "+15005550001"}
        url = f"{rig.base_url}/twilio/voice"
        assert (await client.post(url, data=params)).status_code == 403
        forged = await post_webhook(client, url, params, "not-the-token")
        assert forged.status_code == 403
        tampered = await client.post(
            url,
            data={**params, "From": "+19999999999"},
            headers={"X-Twilio-Signature": (await _signature(url, params))},
        )
        assert tampered.status_code == 403
        assert (await client.post(f"{rig.base_url}/twilio/status", data=params)).status_code == 403
        ws_url = rig.base_url.replace("http", "ws") + "/twilio/media"
        with pytest.raises(InvalidStatus) as refused:
            await connect(ws_url, additional_headers={"X-Twilio-Signature": "bad"})
        assert refused.value.response.status_code == 403
        assert (await post_webhook(client, url, params, TOKEN)).status_code == 200
        assert await rig.runtime.calls.get_call_by_external_id(params["CallSid"]) is None  # stream not opened


async def _signature(url: str, params: dict[str, str]) -> str:
    from twilio.request_validator import RequestValidator

    return str(RequestValidator(TOKEN).compute_signature(url, params))


async def test_malformed_frames_are_skipped_and_the_call_goes_on(tmp_path: Path) -> None:
    async with voice_rig(tmp_path, engines=engines("how do I reset my password")) as rig:
        async with rig.call() as call:
            for junk in [
                "not json",
                b"\x00\x01binary",
                '{"event": "media", "media": {"payload": "!!!"}}',
                '{"event": "dtmf", "dtmf": {"digit": "banana"}}',
                '{"event": "what"}',
                "[]",
            ]:
                await call.send_raw(junk)
            assert await call.wait_until_quiet(quiet_for=0.6)
            await call.say_and_wait(voice(1.0))
            assert await call.wait_until_quiet(quiet_for=0.8)
        _record, turns = await finished(rig, call)
    assert [t.text for t in turns if t.speaker is Speaker.CALLER] == ["how do I reset my password"]


async def test_a_slow_answer_is_covered_by_a_filler(tmp_path: Path) -> None:
    parts = engines("how do I reset my password", delay=1.6)
    tts = parts["tts"]
    assert isinstance(tts, ToneTextToSpeech)
    async with voice_rig(tmp_path, engines=parts, filler_after_seconds=0.5) as rig, rig.call() as call:
        assert await call.wait_until_quiet(quiet_for=0.6)
        await call.say_and_wait(voice(1.0))
        assert await call.wait_until_quiet(quiet_for=2.5, within=20)
    assert tts.texts[2] == "One moment, let me check that."  # after the greeting's two sentences
    assert "password" in tts.texts[3]


async def test_an_idle_caller_is_reprompted_then_the_call_ends(tmp_path: Path) -> None:
    async with voice_rig(tmp_path, engines=engines(), idle_timeout_seconds=0.8) as rig:
        async with rig.call() as call:
            await asyncio.wait_for(call.closed.wait(), 30)
        record, turns = await finished(rig, call)
    prompts = [t.text for t in turns if t.speaker is Speaker.ASSISTANT]
    assert sum("Are you still there?" in p for p in prompts) == 2
    assert record.outcome is CallOutcome.ABANDONED and record.escalation_reason is None


async def test_a_signed_voice_webhook_without_a_usable_call_sid_is_refused_with_400(tmp_path: Path) -> None:
    async with voice_rig(tmp_path, engines=engines()) as rig, httpx.AsyncClient() as client:
        url = f"{rig.base_url}/twilio/voice"
        for call_sid in ("", "CA" + "x" * 100, "CA-1"):
            params = {"CallSid": call_sid, "From": "+15005550006", "To": "+15005550001"}
            assert (await post_webhook(client, url, params, TOKEN)).status_code == 400
