"""`kca call` against the assistant on its default local engines: the caller's line is synthesized by eSpeak
NG, sent as real-time μ-law, recognised by faster-whisper tiny.en, and answered in eSpeak NG's voice."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from telephony_support import voice_rig
from typer.testing import CliRunner

from kayako_call_assistant.audio.wav import read_wav
from kayako_call_assistant.cli.main import app


async def test_kca_call_asks_for_a_person_and_is_transferred_with_a_case(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with voice_rig(tmp_path) as rig:
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("KCA_DATABASE_URL", rig.settings.database_url)
        out = tmp_path / "assistant.wav"
        result = await asyncio.to_thread(
            CliRunner().invoke,
            app,
            ["call", "--say", "let me talk to a person", "--url", rig.base_url, "-o", str(out), "--json"],
        )
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        twilio = await rig.twilio_call(report["call_sid"])
    assert report["outcome"] == "transferred" and report["case_id"] is not None, report
    assert report["ended_by"] == "assistant"
    caller_lines = [t["text"].lower() for t in report["transcript"] if t["speaker"] == "caller"]
    assert len(caller_lines) == 1 and "person" in caller_lines[0]
    assert "<Enqueue>support</Enqueue>" in twilio["twiml"]
    heard, rate = read_wav(out)
    assert rate == 8000 and len(heard) / 16000 > 5.0  # the greeting and the hand-off, in eSpeak's voice
