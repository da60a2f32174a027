"""Gather mode, status callbacks, speech-service failures during a call, and the voice metrics."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
import openai
from telephony_support import TOKEN, VoiceRig, voice, voice_rig

from kayako_call_assistant.domain import CallChannel, CallOutcome, Speaker
from kayako_call_assistant.fakes.openai_server import FakeOpenAIScript, create_app
from kayako_call_assistant.fakes.speech import ToneTextToSpeech
from kayako_call_assistant.servers import serve_in_background
from kayako_call_assistant.speech.openai_stt import OpenAISpeechToText
from kayako_call_assistant.telephony.simulator import post_webhook

CALL_SID = "CA" + "7" * 32


def params(**extra: str) -> dict[str, str]:
    return {
        "CallSid": CALL_SID,
        "AccountSid": "AC" + "0" * 32,
        "From": "+15005550006",
        "To": "+15005550001",
        **extra,
    }


async def signed_post(client: httpx.AsyncClient, url: str, form: dict[str, str]) -> httpx.Response:
    response = await post_webhook(client, url, form, TOKEN)
    assert response.status_code in (200, 204), response.text
    return response


def gather_action(twiml: str) -> str:
    found = re.search(r'<Gather action="([^"]+)"', twiml)
    assert found, twiml
    return found.group(1).replace("&amp;", "&")


async def test_gather_mode_runs_turns_from_the_database_and_transfers(tmp_path: Path) -> None:
    async with voice_rig(tmp_path, twilio_mode="gather") as rig, httpx.AsyncClient() as client:
        greeting = (await signed_post(client, f"{rig.base_url}/twilio/voice", params())).text
        assert 'input="speech dtmf"' in greeting and "Thank you for calling Acme Support" in greeting
        answer = (
            await signed_post(
                client, gather_action(greeting), params(SpeechResult="how do I reset my password")
            )
        ).text
        assert "Forgot password" in answer and "<Gather" in answer
        silence = (await signed_post(client, gather_action(answer), params(SpeechResult=""))).text
        assert "Are you still there?" in silence
        transfer = (await signed_post(client, gather_action(silence), params(Digits="0"))).text
        assert "<Enqueue>support</Enqueue>" in transfer and "case number is" in transfer
        record = await rig.runtime.calls.get_call_by_external_id(CALL_SID)
    assert record is not None and record.channel is CallChannel.GATHER
    assert record.outcome is CallOutcome.TRANSFERRED and record.case_id is not None and record.ended_at


async def test_a_caller_hanging_up_between_gather_turns_is_finalized_by_the_status_callback(
    tmp_path: Path,
) -> None:
    async with voice_rig(tmp_path, twilio_mode="gather") as rig, httpx.AsyncClient() as client:
        greeting = (await signed_post(client, f"{rig.base_url}/twilio/voice", params())).text
        said = params(SpeechResult="my invoice shows the wrong company address")
        await signed_post(client, gather_action(greeting), said)
        await signed_post(
            client, f"{rig.base_url}/twilio/status", params(CallStatus="completed", CallDuration="31")
        )
        record = None
        for _ in range(100):
            record = await rig.runtime.calls.get_call_by_external_id(CALL_SID)
            if record is not None and record.ended_at is not None:
                break
            await asyncio.sleep(0.05)
    assert record is not None and record.ended_at is not None
    # The question was answered from the help center, then the caller hung up without a yes or a no:
    # outcome "answered", no case by default (docs/call-flow.md).
    assert record.outcome is CallOutcome.ANSWERED and record.case_id is None


async def test_stream_status_callbacks_are_signed_and_logged(tmp_path: Path) -> None:
    async with voice_rig(tmp_path) as rig, httpx.AsyncClient() as client:
        url = f"{rig.base_url}/twilio/stream-status"
        event = params(StreamSid="MZ1", StreamEvent="stream-error", StreamError="31920 handshake failed")
        assert (await post_webhook(client, url, event, TOKEN)).status_code == 204
        assert (await client.post(url, data=event)).status_code == 403


async def test_a_failing_speech_service_gets_a_graceful_sentence_then_a_polite_close(tmp_path: Path) -> None:
    script = FakeOpenAIScript()
    async with serve_in_background(create_app(script)) as fake:
        client = openai.AsyncOpenAI(api_key="test", base_url=f"{fake}/v1", max_retries=0)
        script.transcripts.append("my invoice shows the wrong company address")
        tts = ToneTextToSpeech(seconds_per_character=0.01)
        parts = {"stt": OpenAISpeechToText(client), "tts": tts, "fallback_tts": None}
        async with voice_rig(tmp_path, engines=parts) as rig:
            call = rig.call()
            async with call:
                assert await call.wait_until_quiet(quiet_for=0.6)
                await call.say_and_wait(voice(1.0))  # understood: the problem is on record
                assert await call.wait_for_speech(within=10)
                assert await call.wait_until_quiet(quiet_for=0.8)
                script.audio_failures.extend([500, 500])
                await call.say_and_wait(voice(1.0))
                assert await call.wait_until_quiet(quiet_for=0.8)
                assert "Sorry, I didn't catch that. Could you say it again?" in tts.texts
                await call.say_and_wait(voice(1.0))
                await asyncio.wait_for(call.closed.wait(), 20)  # second failure in a row: the call is closed
            record, turns = await _finished(rig, call.call_sid)
        await client.close()
    assert "I'm sorry, I'm having trouble hearing you." in tts.texts
    assert record.case_id is not None  # the problem described before the failures is filed
    assert [t.text for t in turns if t.speaker is Speaker.CALLER] == [
        "my invoice shows the wrong company address"
    ]


async def test_voice_calls_feed_the_speech_and_turn_latency_metrics(tmp_path: Path) -> None:
    from kayako_call_assistant.fakes.speech import ScriptedSpeechToText

    parts = {
        "stt": ScriptedSpeechToText(["how do I reset my password"]),
        "tts": ToneTextToSpeech(seconds_per_character=0.01),
        "fallback_tts": None,
    }
    async with voice_rig(tmp_path, engines=parts) as rig:
        async with rig.call() as call:
            assert await call.wait_until_quiet(quiet_for=0.6)
            await call.say_and_wait(voice(1.0))
            assert await call.wait_until_quiet(quiet_for=0.8)
        await _finished(rig, call.call_sid)
        async with httpx.AsyncClient() as client:
            metrics = (await client.get(f"{rig.base_url}/metrics")).text
    for series in (
        'kca_stt_seconds_count{engine="scripted"}',
        'kca_tts_first_audio_seconds_count{engine="tone"}',
        "kca_turn_latency_seconds_count",
        "kca_audio_transcribed_seconds_total",
        "kca_characters_synthesized_total",
        "kca_playback_seconds_total",
    ):
        value = re.search(re.escape(series) + r" ([0-9.e+]+)", metrics)
        assert value and float(value.group(1)) > 0, series


async def _finished(rig: VoiceRig, call_sid: str) -> tuple:  # type: ignore[type-arg]
    for _ in range(300):
        record = await rig.runtime.calls.get_call_by_external_id(call_sid)
        if record is not None and record.ended_at is not None:
            return record, await rig.runtime.calls.list_turns(record.call_id)
        await asyncio.sleep(0.05)
    raise AssertionError("the call was not finalized")
