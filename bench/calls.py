"""Simultaneous phone calls against one server process, in real time, with instant fake speech engines and
the local language engine.

For each N the benchmark starts a fresh server process (the assistant with its Twilio routes, SQLite or
``--database-url``, the Kayako mock in a process of its own) and places N simulated Twilio calls from this
process, each from its own number. The calls arrive at random over a window of N/10 seconds (at least
three), and all N then stay in progress together for another 15 seconds. Each call hears the greeting,
then goes through rounds of a question in one second of real μ-law speech and a "yes" of 0.4 s when asked
whether the answer helped, each after a pause of 0.3 to 2.5 s, hearing every reply; then it hangs up. The
fake recogniser knows the two utterances apart by their length.

Reported per N:
- added latency: from the caller's last speech frame to the first answer frame, minus the configured
  end-of-turn silence (the part the pipeline adds), p50 and p95 over the calls;
- server CPU per call: server CPU seconds / call seconds (a share of one core), and calls per core;
- memory per call: the server's peak RSS during the run minus its RSS with no call, divided by N;
- real time: the share of the assistant's speech that left the server late (gaps mid-sentence, from its
  ``kca_playback_*`` metrics) and the share the callers heard late (which adds this process's own delays);
  the largest N in real time is the largest whose audio left late less than 1 % of the time.

    .venv/bin/python bench/calls.py [--calls 50,100,200] [--silence-ms 500] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import uvloop
from prometheus_client.parser import text_string_to_metric_families

from kayako_call_assistant.telephony.signature import DEVELOPMENT_AUTH_TOKEN
from kayako_call_assistant.telephony.simulator import SimulatedCall

QUESTION = "how do I reset my password"
CONFIRMATION = "yes that solved it"
SECONDS_PER_CHARACTER = 0.02  # the fake speech is faster than a person so a run takes seconds, not minutes
_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


# --- the server process ------------------------------------------------------------------------------


def serve(port: int, kayako_url: str, data_dir: Path, silence_ms: int, database_url: str | None) -> None:
    import uvicorn

    from kayako_call_assistant.domain import Transcript, Usage
    from kayako_call_assistant.fakes.speech import ToneTextToSpeech

    class LengthSpeechToText:
        """Instant: a long utterance is the question, a short one the confirmation."""

        name = "by-length"

        async def transcribe(self, pcm16: bytes, sample_rate: int, usage: Usage) -> Transcript:
            seconds = len(pcm16) / (2 * sample_rate)
            usage.audio_seconds_transcribed += seconds
            return Transcript(QUESTION if seconds > 1.3 else CONFIRMATION)

    from kayako_call_assistant.cli.serve import server_config
    from kayako_call_assistant.observability.logging import configure_logging
    from kayako_call_assistant.settings import Settings
    from kayako_call_assistant.web.app import create_app
    from kayako_call_assistant.wiring import call_runtime, telephony_runtime

    settings = Settings(
        kayako_base_url=kayako_url,
        kayako_email="agent@example.com",
        kayako_password="mock-password",  # type: ignore[arg-type]
        kayako_requests_per_minute=100_000,
        database_url=database_url or f"sqlite+aiosqlite:///{data_dir / 'bench.db'}",
        data_dir=data_dir,
        host="127.0.0.1",
        port=port,
        public_url=f"http://127.0.0.1:{port}",
        end_of_turn_silence_ms=silence_ms,
        idle_timeout_seconds=60.0,
        log_level="WARNING",
    )
    configure_logging(json=True, level="WARNING")

    async def main() -> None:
        async with call_runtime(settings) as runtime, telephony_runtime(settings, runtime) as built:
            telephony = dataclasses.replace(
                built,
                stt=LengthSpeechToText(),
                tts=ToneTextToSpeech(seconds_per_character=SECONDS_PER_CHARACTER),
                fallback_tts=None,
            )
            config = server_config(settings, create_app(runtime, telephony))
            config.backlog = 4096  # hundreds of calls connect within seconds
            await uvicorn.Server(config).serve()

    uvloop.run(main())


# --- measuring ---------------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def rss_bytes(pid: int) -> int:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE


def speech(seconds: float) -> bytes:
    t = np.arange(int(seconds * 8000)) / 8000
    signal = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 14))
    envelope = 0.55 + 0.45 * np.abs(np.sin(2 * np.pi * 3 * t))
    return bytes((signal * envelope * 5000).astype("<i2").tobytes())


QUESTION_AUDIO = speech(1.0)
CONFIRMATION_AUDIO = speech(0.4)
# Calls start at random within a window that brings in this many a second: far more than a help desk line
# sees (150 calls in progress that last three minutes arrive under one a second), but not all at once.
ARRIVALS_PER_SECOND = 10.0
ALL_IN_PROGRESS_SECONDS = 15.0  # how long all N calls go on together after the last has started


@dataclasses.dataclass
class CallResult:
    added_latency_ms: list[float]
    seconds: float
    speech_seconds: float
    underrun_seconds: float
    error: str | None = None


async def one_call(
    base_url: str, start_delay: float, from_number: str, silence_ms: int, seed: int, until: float
) -> CallResult:
    """Greeting, then rounds of a question and a "yes" after its answer, each after a pause of 0.3–2.5 s as
    a person takes (the calls' turns fall at random moments, not all at once), until ``until`` (monotonic)
    and for at least one round: every call is still in progress when the last one starts."""
    rng = random.Random(seed)
    await asyncio.sleep(start_delay)
    started = time.monotonic()
    latencies: list[float] = []
    call = SimulatedCall(base_url, auth_token=DEVELOPMENT_AUTH_TOKEN, from_number=from_number)
    try:
        async with call:
            await call.wait_until_quiet(quiet_for=0.3, within=60)
            while True:
                for utterance in (QUESTION_AUDIO, CONFIRMATION_AUDIO):
                    await asyncio.sleep(rng.uniform(0.3, 2.5))
                    await call.say_and_wait(utterance)
                    await call.wait_for_speech(within=30)
                    if call.answer_started_at is not None and call.last_speech_frame_at is not None:
                        latencies.append(
                            (call.answer_started_at - call.last_speech_frame_at) * 1000 - silence_ms
                        )
                    await call.wait_until_quiet(quiet_for=0.3, within=60)
                if time.monotonic() >= until:
                    break
    except Exception as error:  # a failed call is counted, not fatal to the run
        return CallResult([], time.monotonic() - started, 0.0, 0.0, error=f"{type(error).__name__}: {error}")
    return CallResult(
        latencies,
        time.monotonic() - started,
        len(call.received.heard) / 8000,
        call.received.underrun_seconds,
    )


async def playback_seconds(base_url: str) -> tuple[float, float]:
    """The server's speech sent and late-audio seconds so far, from its /metrics."""
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"{base_url}/metrics")).text
    totals = {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    return totals.get("kca_playback_seconds_total", 0.0), totals.get("kca_playback_late_seconds_total", 0.0)


async def wait_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(600):
            if process.poll() is not None:
                raise RuntimeError(f"{url} exited with {process.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"{url}/healthz")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not start")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def run(n: int, silence_ms: int, kayako_url: str, database_url: str | None) -> dict[str, Any]:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as data_dir:
        server = subprocess.Popen(  # noqa: ASYNC220 - started once per run, before any call
            [
                sys.executable,
                __file__,
                "--serve",
                str(port),
                "--kayako",
                kayako_url,
                "--data",
                data_dir,
                "--silence-ms",
                str(silence_ms),
                *(["--database-url", database_url] if database_url else []),
            ],
        )
        try:
            await wait_healthy(base_url, server)
            # Warm-up: imports, caches, first queries.
            await one_call(base_url, 0.0, "+15550000000", silence_ms, 0, until=0.0)
            await asyncio.sleep(1.0)
            late_before = await playback_seconds(base_url)
            baseline_rss = rss_bytes(server.pid)
            peak_rss = baseline_rss
            cpu_before = cpu_seconds(server.pid)
            driver_before, wall_before = cpu_seconds(os.getpid()), time.monotonic()
            rng = random.Random(n)
            window = max(3.0, n / ARRIVALS_PER_SECOND)
            until = time.monotonic() + window + ALL_IN_PROGRESS_SECONDS
            tasks = [
                asyncio.create_task(
                    one_call(
                        base_url,
                        rng.uniform(0, window),
                        f"+1555{1000000 + i:07d}",
                        silence_ms,
                        seed=n * 10_000 + i,
                        until=until,
                    )
                )
                for i in range(n)
            ]
            while not all(task.done() for task in tasks):
                peak_rss = max(peak_rss, rss_bytes(server.pid))
                await asyncio.sleep(0.25)
            cpu_used = cpu_seconds(server.pid) - cpu_before
            driver_share = (cpu_seconds(os.getpid()) - driver_before) / (time.monotonic() - wall_before)
            results = [task.result() for task in tasks]
            late_after = await playback_seconds(base_url)
        finally:
            server.terminate()
            server.wait(timeout=30)
    ok = [r for r in results if r.error is None]
    latencies = sorted(value for r in ok for value in r.added_latency_ms)
    call_seconds = sum(r.seconds for r in ok) or 1.0
    speech_seconds = sum(r.speech_seconds for r in ok) or 1.0
    cpu_per_call = cpu_used / call_seconds
    return {
        "calls": n,
        "failed": len(results) - len(ok),
        "errors": sorted({r.error for r in results if r.error})[:3],
        "turns": len(latencies),
        "added_latency_p50_ms": round(statistics.median(latencies), 1) if latencies else None,
        "added_latency_p95_ms": round(latencies[int(0.95 * (len(latencies) - 1))], 1) if latencies else None,
        "server_cpu_per_call": round(cpu_per_call, 5),
        "calls_per_core": round(1 / cpu_per_call) if cpu_per_call else None,
        "memory_per_call_mb": round((peak_rss - baseline_rss) / n / 2**20, 3),
        # Gaps the server left in its own outgoing audio (its kca_playback_* metrics) ...
        "server_late_audio_share": round(
            (late_after[1] - late_before[1]) / max(1e-9, late_after[0] - late_before[0]), 5
        ),
        # ... and those the simulated callers heard, which include this process's own delays.
        "late_audio_share": round(sum(r.underrun_seconds for r in ok) / speech_seconds, 5),
        "mean_call_seconds": round(call_seconds / max(1, len(ok)), 1),
        # The simulated callers share this process: near 1.0 it is the bottleneck, not the server.
        "driver_cpu_share": round(driver_share, 2),
    }


async def main(sizes: list[int], silence_ms: int, as_json: bool, database_url: str | None) -> None:
    kayako_port = free_port()
    kayako_url = f"http://127.0.0.1:{kayako_port}"
    mock = subprocess.Popen(  # noqa: ASYNC220 - one helper process for the whole benchmark
        [
            sys.executable,
            "-c",
            "from kayako_call_assistant.cli.main import app; app()",
            "kayako-mock",
            "--port",
            str(kayako_port),
        ],
        stdout=subprocess.DEVNULL,
    )
    rows = []
    try:
        await wait_healthy_mock(kayako_url, mock)
        for n in sizes:
            row = await run(n, silence_ms, f"{kayako_url}/api/v1", database_url)
            rows.append(row)
            if not as_json:
                print(json.dumps(row), flush=True)
    finally:
        mock.terminate()
        mock.wait(timeout=30)
    realtime = [r["calls"] for r in rows if r["failed"] == 0 and r["server_late_audio_share"] < 0.01]
    summary = {
        "end_of_turn_silence_ms": silence_ms,
        "runs": rows,
        "largest_real_time_n": max(realtime, default=None),
    }
    if as_json:
        print(json.dumps(summary, indent=2))
    else:
        print(table(summary))


async def wait_healthy_mock(url: str, process: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            if process.poll() is not None:
                raise RuntimeError("the Kayako mock exited")
            with contextlib.suppress(httpx.HTTPError):
                await client.get(f"{url}/api/v1/helpcenter/articles")
                return
            await asyncio.sleep(0.1)
    raise RuntimeError("the Kayako mock did not start")


def table(summary: dict[str, Any]) -> str:
    lines = [
        f"end-of-turn silence {summary['end_of_turn_silence_ms']} ms; largest N in real time: "
        f"{summary['largest_real_time_n']}",
        "",
        "| calls | failed | added latency p50 / p95 (ms) | server CPU per call | calls per core | memory per call (MB) | late audio sent / heard | driver CPU |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in summary["runs"]:
        lines.append(
            f"| {r['calls']} | {r['failed']} | {r['added_latency_p50_ms']} / {r['added_latency_p95_ms']} | "
            f"{r['server_cpu_per_call'] * 100:.2f} % | {r['calls_per_core']} | {r['memory_per_call_mb']} | "
            f"{r['server_late_audio_share'] * 100:.2f} % / {r['late_audio_share'] * 100:.2f} % | "
            f"{r['driver_cpu_share']:.2f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--calls", default="25,50,100,200", help="Comma-separated numbers of simultaneous calls."
    )
    parser.add_argument("--silence-ms", type=int, default=500, help="End-of-turn silence of the server.")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--database-url",
        help="The server's database (default: a fresh SQLite file per run), e.g. PostgreSQL.",
    )
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--kayako", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.kayako, args.data, args.silence_ms, args.database_url)
    else:
        uvloop.run(
            main([int(n) for n in args.calls.split(",")], args.silence_ms, args.json, args.database_url)
        )
