"""Latency of a browser softphone call on loopback: caller stops speaking -> first answer audio.

One server process (the assistant on its default local engines: faster-whisper tiny.en, eSpeak NG, the local
language engine, the Kayako mock), and Debian's Chromium with a fake microphone playing a question
synthesized by eSpeak NG. Per call it reports, from the page: the caller's last voiced 20 ms frame to the first
assistant audio played (the filler counts) and to the start of the answer itself; and from the server's
metrics: speech-to-text time and the session's turn latency (end of speech to the first answer frame sent).

    PYTHONPATH=src .venv/bin/python bench/browser_call.py --calls 3
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from playwright.async_api import async_playwright
from prometheus_client import REGISTRY

from kayako_call_assistant.audio.wav import write_wav
from kayako_call_assistant.domain import Usage
from kayako_call_assistant.kayako_mock.app import create_app as create_mock_app
from kayako_call_assistant.kayako_mock.config import MockConfig
from kayako_call_assistant.servers import serve_in_background
from kayako_call_assistant.settings import Settings
from kayako_call_assistant.speech.local_tts import LocalTextToSpeech
from kayako_call_assistant.web.app import create_app
from kayako_call_assistant.wiring import call_runtime, telephony_runtime

QUESTION = "I need to reset my password."
CHROMIUM = "/usr/bin/chromium"


@contextlib.asynccontextmanager
async def assistant(directory: Path) -> AsyncIterator[tuple[str, Any]]:
    mock = MockConfig()
    async with serve_in_background(create_mock_app(mock)) as mock_url:
        settings = Settings(
            kayako_base_url=f"{mock_url}/api/v1",
            kayako_email=mock.agent_email,
            kayako_password=mock.agent_password,  # type: ignore[arg-type]
            database_url=f"sqlite+aiosqlite:///{directory / 'bench.db'}",
            data_dir=directory,
            idle_timeout_seconds=60.0,
        )
        async with call_runtime(settings) as runtime, telephony_runtime(settings, runtime) as telephony:
            await telephony.stt.transcribe(b"\x00\x00" * 8000, 8000, Usage())  # model loaded, as when serving
            async with serve_in_background(create_app(runtime, telephony)) as url:
                yield url, telephony


def _metric(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


async def one_call(playwright: Any, url: str, microphone: Path, profile: Path) -> dict[str, float]:
    before = {
        "turn": (_metric("kca_turn_latency_seconds_sum"), _metric("kca_turn_latency_seconds_count")),
        "stt": (
            _metric("kca_stt_seconds_sum", {"engine": "faster-whisper"}),
            _metric("kca_stt_seconds_count", {"engine": "faster-whisper"}),
        ),
    }
    context = await playwright.chromium.launch_persistent_context(
        str(profile),
        executable_path=CHROMIUM,
        headless=True,
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--autoplay-policy=no-user-gesture-required",
            "--use-fake-device-for-media-stream",
            "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-audio-capture={microphone}%noloop",
        ],
    )
    try:
        page = await context.new_page()
        await page.goto(url + "/")
        await page.get_by_role("button", name="Call").click()
        await page.wait_for_function("() => window.softphoneStats.answer.length > 0", timeout=120_000)
        stats = await page.evaluate("() => window.softphoneStats")
        await page.get_by_role("button", name="Hang up").click()
    finally:
        await context.close()
    turn = _metric("kca_turn_latency_seconds_sum") - before["turn"][0]
    turns = _metric("kca_turn_latency_seconds_count") - before["turn"][1]
    stt = _metric("kca_stt_seconds_sum", {"engine": "faster-whisper"}) - before["stt"][0]
    stts = _metric("kca_stt_seconds_count", {"engine": "faster-whisper"}) - before["stt"][1]
    return {
        "first_audio_ms": stats["firstAudio"][0] if stats["firstAudio"] else float("nan"),
        "answer_ms": stats["answer"][0],
        "server_turn_ms": 1000 * turn / turns if turns else float("nan"),
        "stt_ms": 1000 * stt / stts if stts else float("nan"),
    }


async def main(calls: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        tts = LocalTextToSpeech(words_per_minute=130)
        speech = b"".join([chunk async for chunk in tts.synthesize(QUESTION, Usage())])
        silence = b"\x00\x00" * int(tts.sample_rate * 7)
        microphone = directory / "question.wav"
        write_wav(microphone, silence + speech + silence * 4, tts.sample_rate)
        results = []
        async with assistant(directory) as (url, _telephony), async_playwright() as playwright:
            for number in range(calls):
                result = await one_call(playwright, url, microphone, directory / f"profile-{number}")
                print(" ".join(f"{k}={v:.0f}" for k, v in result.items()), flush=True)
                results.append(result)
        print("median:", " ".join(f"{k}={statistics.median(r[k] for r in results):.0f}" for k in results[0]))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3)
    asyncio.run(main(parser.parse_args().calls))
