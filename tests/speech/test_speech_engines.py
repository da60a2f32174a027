"""The speech engines: eSpeak NG and faster-whisper from their wheels, and OpenAI's speech endpoints through
the real `openai` SDK against the fake OpenAI server on a port."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import openai
import pytest
from typer.testing import CliRunner

from kayako_call_assistant.audio.pcm import resample
from kayako_call_assistant.audio.wav import read_wav
from kayako_call_assistant.cli.main import app
from kayako_call_assistant.domain import Usage
from kayako_call_assistant.fakes.openai_server import FakeOpenAIScript, create_app
from kayako_call_assistant.servers import serve_in_background
from kayako_call_assistant.speech.errors import SpeechError
from kayako_call_assistant.speech.local_stt import PINNED_MODEL_SHA256, LocalSpeechToText, packaged_model_dir
from kayako_call_assistant.speech.local_tts import LocalTextToSpeech
from kayako_call_assistant.speech.openai_stt import OpenAISpeechToText
from kayako_call_assistant.speech.openai_tts import OpenAITextToSpeech


async def synthesize(
    tts: LocalTextToSpeech | OpenAITextToSpeech, text: str, usage: Usage
) -> tuple[bytes, int]:
    chunks = [chunk async for chunk in tts.synthesize(text, usage)]
    return b"".join(chunks), len(chunks)


def rms(pcm: bytes) -> float:
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    return float(np.sqrt(np.mean(samples**2)))


@pytest.fixture(scope="module")
def whisper() -> LocalSpeechToText:
    return LocalSpeechToText()


async def test_espeak_speaks_in_chunks_at_a_plausible_length() -> None:
    tts, usage = LocalTextToSpeech(), Usage()
    pcm, chunks = await synthesize(tts, "Please reset my password.", usage)
    seconds = len(pcm) / 2 / tts.sample_rate
    assert tts.sample_rate == 22050
    assert 1.0 < seconds < 4.0 and chunks > 3  # streamed as it is produced, not in one piece
    assert rms(pcm) > 500
    assert usage.characters_synthesized == len("Please reset my password.")


async def test_local_round_trip_through_telephone_audio(whisper: LocalSpeechToText) -> None:
    tts, usage = LocalTextToSpeech(), Usage()
    pcm, _ = await synthesize(tts, "Let me talk to a person.", usage)
    telephone = resample(pcm, tts.sample_rate, 8000)
    transcript = await whisper.transcribe(telephone, 8000, usage)
    assert "person" in transcript.text.lower()
    assert usage.audio_seconds_transcribed == pytest.approx(len(telephone) / 16000)


async def test_empty_audio_is_an_empty_transcript(whisper: LocalSpeechToText) -> None:
    assert (await whisper.transcribe(b"", 8000, Usage())).text == ""


async def test_the_packaged_model_is_checked_against_its_pinned_hash(tmp_path: Path) -> None:
    assert len(PINNED_MODEL_SHA256) == 64
    copy = tmp_path / "model"
    shutil.copytree(packaged_model_dir(), copy)
    (copy / "model.bin").write_bytes(b"not the weights")
    stt = LocalSpeechToText(copy, expected_sha256=PINNED_MODEL_SHA256)
    with pytest.raises(SpeechError, match="expected " + PINNED_MODEL_SHA256):
        await stt.transcribe(b"\x00\x00" * 8000, 8000, Usage())
    with pytest.raises(SpeechError, match=r"model\.bin missing"):
        await LocalSpeechToText(tmp_path / "nowhere").transcribe(b"\x00\x00" * 800, 8000, Usage())


@pytest.fixture
async def fake_openai() -> AsyncIterator[tuple[openai.AsyncOpenAI, FakeOpenAIScript]]:
    script = FakeOpenAIScript()
    async with serve_in_background(create_app(script)) as base:
        client = openai.AsyncOpenAI(api_key="test", base_url=f"{base}/v1", max_retries=0, timeout=5)
        yield client, script
        await client.close()


async def test_openai_transcription_sends_a_wav_and_counts_the_audio(
    fake_openai: tuple[openai.AsyncOpenAI, FakeOpenAIScript],
) -> None:
    client, script = fake_openai
    script.transcripts.append("how do I reset my password")
    stt, usage = OpenAISpeechToText(client, model="gpt-4o-mini-transcribe"), Usage()
    transcript = await stt.transcribe(b"\x01\x00" * 16000, 8000, usage)
    assert transcript.text == "how do I reset my password"
    assert usage.audio_seconds_transcribed == pytest.approx(2.0)
    request = next(r for r in script.requests if r["path"] == "/v1/audio/transcriptions")
    assert request["body"] == {"model": "gpt-4o-mini-transcribe", "bytes": 32044}  # 44-byte WAV header


async def test_openai_speech_streams_pcm_in_whole_samples(
    fake_openai: tuple[openai.AsyncOpenAI, FakeOpenAIScript],
) -> None:
    client, script = fake_openai
    tts, usage = OpenAITextToSpeech(client, model="tts-1", voice="alloy"), Usage()
    pcm, chunks = await synthesize(tts, "Hello there.", usage)
    assert tts.sample_rate == 24000 and chunks > 1 and len(pcm) % 2 == 0
    assert len(pcm) == pytest.approx(len("Hello there.") * 0.06 * 24000 * 2, rel=0.01)
    assert usage.characters_synthesized == 12
    body = next(r["body"] for r in script.requests if r["path"] == "/v1/audio/speech")
    assert body["response_format"] == "pcm" and body["voice"] == "alloy"


async def test_openai_failures_become_speech_errors(
    fake_openai: tuple[openai.AsyncOpenAI, FakeOpenAIScript],
) -> None:
    client, script = fake_openai
    script.audio_failures.extend([500, 503])
    with pytest.raises(SpeechError, match="whisper-1 failed: InternalServerError"):
        await OpenAISpeechToText(client).transcribe(b"\x01\x00" * 800, 8000, Usage())
    with pytest.raises(SpeechError, match="tts-1 failed"):
        await synthesize(OpenAITextToSpeech(client), "Hello.", Usage())


def test_cli_synthesizes_a_wav_and_transcribes_it_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # settings read an optional .env from the working directory
    runner = CliRunner()
    out = tmp_path / "hello.wav"
    made = runner.invoke(
        app, ["tts", "I would like to speak to a person.", "-o", str(out), "--engine", "local"]
    )
    assert made.exit_code == 0, made.output
    pcm, rate = read_wav(out)
    assert rate == 22050 and len(pcm) > rate
    heard = runner.invoke(app, ["stt", str(out), "--engine", "local", "--json"])
    assert heard.exit_code == 0, heard.output
    assert "person" in heard.stdout.lower()
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF....WAVE")
    failed = runner.invoke(app, ["stt", str(broken)])
    assert failed.exit_code != 0
