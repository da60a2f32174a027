"""Turn-taking on whole calls: a simulated Twilio speaks Media Streams over a real WebSocket with real μ-law
audio in real time to the assistant on a port (real flow, mock Kayako over HTTP); every assertion is read
from the call's recorded timeline. The margins are the rules' own settings plus room for a loaded machine.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
from telephony_support import VoiceRig, voice, voice_rig

from kayako_call_assistant.audio.mulaw import ulaw_to_pcm16
from kayako_call_assistant.domain import Speaker, Turn
from kayako_call_assistant.fakes.speech import ScriptedSpeechToText, ToneTextToSpeech
from kayako_call_assistant.telephony.simulator import SimulatedCall

QUESTION = "how do I reset my password"


def engines(*lines: str, delay: float = 0.0) -> dict[str, object]:
    return {
        "stt": ScriptedSpeechToText(lines, delay_seconds=delay),
        "tts": ToneTextToSpeech(seconds_per_character=0.03),
        "fallback_tts": None,
    }


def cough(seconds: float = 0.2) -> bytes:
    """A short broadband noise burst."""
    rng = np.random.default_rng(3)
    return rng.normal(0, 6000, int(seconds * 8000)).clip(-32000, 32000).astype("<i2").tobytes()


async def turns_of(rig: VoiceRig, call: SimulatedCall) -> list[Turn]:
    for _ in range(300):
        record = await rig.runtime.calls.get_call_by_external_id(call.call_sid)
        if record is not None and record.ended_at is not None:
            return await rig.runtime.calls.list_turns(record.call_id)
        await asyncio.sleep(0.05)
    raise AssertionError("the call was not finalized")


async def answer_playing(call: SimulatedCall) -> float:
    """Wait until the answer has been playing a moment; returns when."""
    assert await call.wait_for_speech(within=15)
    await asyncio.sleep(0.8)
    assert call.assistant_speaking
    return asyncio.get_running_loop().time()


async def test_a_caller_who_pauses_mid_sentence_gets_one_answer(tmp_path: Path) -> None:
    parts = engines(QUESTION, delay=1.2)
    async with voice_rig(tmp_path, engines=parts, filler_after_seconds=5.0) as rig:
        async with rig.call() as call:
            assert await call.wait_until_quiet(quiet_for=0.6)
            await call.say_and_wait(voice(0.8))
            await asyncio.sleep(0.6)  # longer than the 500 ms end of turn: a first utterance ends
            await call.say_and_wait(voice(0.8))
            assert await call.wait_until_quiet(quiet_for=1.5, within=20)
        turns = await turns_of(rig, call)
    stt = parts["stt"]
    assert isinstance(stt, ScriptedSpeechToText)
    assert [t.text for t in turns if t.speaker is Speaker.CALLER] == [QUESTION]
    assert len([t for t in turns if t.speaker is Speaker.ASSISTANT]) == 2  # the greeting and one answer
    assert len(stt.utterances[-1]) / 16000 >= 1.6  # both halves, transcribed together
    assert call.received.assistant_during_caller_speech() <= 0.3


async def test_a_caller_who_speaks_during_the_thinking_gap_is_never_talked_over(tmp_path: Path) -> None:
    parts = engines(QUESTION, delay=1.0)
    async with voice_rig(tmp_path, engines=parts, filler_after_seconds=0.8) as rig:
        async with rig.call() as call:
            assert await call.wait_until_quiet(quiet_for=0.6)
            await call.say_and_wait(voice(0.8))
            await asyncio.sleep(0.6)  # the turn has ended, the recogniser is busy, the filler nearly due
            await call.say_and_wait(voice(1.6))  # the caller goes on through both
            assert await call.wait_until_quiet(quiet_for=1.5, within=20)
        turns = await turns_of(rig, call)
    assert call.received.assistant_during_caller_speech() <= 0.3
    assert [t.text for t in turns if t.speaker is Speaker.CALLER] == [QUESTION]


async def test_a_backchannel_does_not_stop_the_answer(tmp_path: Path) -> None:
    parts = engines(QUESTION, "uh-huh")
    async with voice_rig(tmp_path, engines=parts) as rig:
        async with rig.call() as call:
            assert await call.wait_until_quiet(quiet_for=0.6)
            await call.say_and_wait(voice(1.0))
            await answer_playing(call)
            await call.say_and_wait(voice(0.25))
            assert await call.wait_until_quiet(quiet_for=1.0, within=30)
        turns = await turns_of(rig, call)
    assert call.received.clears == 0
    answer = [t for t in turns if t.speaker is Speaker.ASSISTANT][1]
    assert not answer.interrupted and "password" in answer.text.lower()
    assert [t.text for t in turns if t.speaker is Speaker.CALLER] == [QUESTION]


async def test_a_cough_does_not_interrupt(tmp_path: Path) -> None:
    async with voice_rig(tmp_path, engines=engines(QUESTION)) as rig:
        async with rig.call() as call:
            assert await call.wait_until_quiet(quiet_for=0.6)
            await call.say_and_wait(voice(1.0))
            await answer_playing(call)
            await call.say_and_wait(cough())
            assert await call.wait_until_quiet(quiet_for=1.0, within=30)
        turns = await turns_of(rig, call)
    assert call.received.clears == 0
    assert not any(t.interrupted for t in turns)


async def test_a_real_interruption_stops_the_assistant_within_700_ms(tmp_path: Path) -> None:
    parts = engines(QUESTION, "sorry, how do I reset my password")
    async with voice_rig(tmp_path, engines=parts) as rig:
        async with rig.call() as call:
            assert await call.wait_until_quiet(quiet_for=0.6)
            await call.say_and_wait(voice(1.0))
            await answer_playing(call)
            await call.say_and_wait(voice(1.2))
            assert await call.wait_until_quiet(quiet_for=1.0, within=30)
        turns = await turns_of(rig, call)
    received = call.received
    spoke_at = received.caller_speech[-1][0]
    stopped = received.assistant_stopped_after(spoke_at)
    assert stopped is not None and stopped - spoke_at <= 0.7
    assert received.clears == 1
    answer = [t for t in turns if t.speaker is Speaker.ASSISTANT][1]
    assert answer.interrupted and answer.text
    heard = ulaw_to_pcm16(bytes(received.heard))
    assert heard  # what the caller heard was recorded, cut where the clear came
