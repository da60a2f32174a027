"""The load-test speech engines: chosen by settings, instant, of realistic length, refused outside
development."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from kayako_call_assistant.domain import Usage
from kayako_call_assistant.settings import Settings
from kayako_call_assistant.speech.engines import speech_to_text_from_settings, text_to_speech_from_settings
from kayako_call_assistant.speech.load_test import InstantSpeechToText, ToneTextToSpeech


def pcm(seconds: float, rate: int = 8000) -> bytes:
    return b"\x01\x00" * int(seconds * rate)


async def test_instant_recogniser_hears_the_text_for_the_utterance_length() -> None:
    stt = InstantSpeechToText(["short", "middle", "long"])
    usage = Usage()
    heard = [(await stt.transcribe(pcm(s), 8000, usage)).text for s in (0.4, 0.99, 1.0, 1.7, 2.0, 9.0)]
    assert heard == ["short", "short", "middle", "middle", "long", "long"]
    assert usage.audio_seconds_transcribed == pytest.approx(0.4 + 0.99 + 1.0 + 1.7 + 2.0 + 9.0)


def test_instant_recogniser_needs_a_text() -> None:
    with pytest.raises(ValueError, match="at least one text"):
        InstantSpeechToText([])


async def test_tone_lasts_as_long_as_the_text_would_take_to_say() -> None:
    tts = ToneTextToSpeech(sample_rate=22050, seconds_per_character=0.07)
    usage = Usage()
    text = "You can reset your password from the sign-in page."
    chunks = [chunk async for chunk in tts.synthesize(text, usage)]
    audio = b"".join(chunks)
    assert len(audio) == 2 * int(len(text) * 0.07 * 22050)
    assert all(len(chunk) == 2 * 2205 for chunk in chunks[:-1])  # 100 ms chunks, as the local engine
    assert max(abs(int.from_bytes(audio[i : i + 2], "little", signed=True)) for i in range(0, 400, 2)) > 1000
    assert usage.characters_synthesized == len(text)


def test_settings_choose_the_load_test_engines() -> None:
    settings = Settings(stt_engine="instant", tts_engine="tone", stt_instant_texts=["only this"])
    stt = speech_to_text_from_settings(settings)
    assert isinstance(stt, InstantSpeechToText) and stt.texts == ("only this",)
    assert isinstance(text_to_speech_from_settings(settings), ToneTextToSpeech)


@pytest.mark.parametrize("engines", [{"stt_engine": "instant"}, {"tts_engine": "tone"}])
def test_load_test_engines_are_refused_in_production(engines: dict[str, str]) -> None:
    with pytest.raises(ValidationError, match="load-test engines"):
        Settings(environment="production", **engines)  # type: ignore[arg-type]
