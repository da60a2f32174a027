"""`kca call`: place a simulated phone call against a running server, as Twilio would.

It signs the voice webhook, opens the media stream, speaks the caller's lines in real time (a WAV file or
text synthesized locally), saves what the assistant said to a WAV and prints the transcript and outcome,
read from the call's record once the server has finalized it.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console

from ..audio.pcm import resample
from ..audio.wav import read_wav, write_wav
from ..domain import CallRecord, Turn, Usage
from ..settings import Settings
from ..speech.errors import SpeechError
from ..telephony.signature import auth_tokens
from ..telephony.simulator import SimulatedCall, SimulationError
from .errors import CliError, load_settings


async def _caller_audio(settings: Settings, says: list[str], audio: list[Path]) -> list[bytes]:
    clips = []
    for path in audio:
        pcm, rate = read_wav(path)
        clips.append(resample(pcm, rate, 8000))
    if says:
        from ..speech.local_tts import LocalTextToSpeech

        tts = LocalTextToSpeech(
            voice=settings.tts_local_voice, words_per_minute=settings.tts_local_words_per_minute
        )
        for text in says:
            pcm = b"".join([chunk async for chunk in tts.synthesize(text, Usage())])
            clips.append(resample(pcm, tts.sample_rate, 8000))
    return clips


async def _finished_record(
    settings: Settings, call_sid: str, wait: float
) -> tuple[CallRecord | None, list[Turn]]:
    from ..storage import SqlStores, create_engine, database_url

    engine = create_engine(database_url(settings))
    try:
        calls = SqlStores(engine).calls
        deadline = time.monotonic() + wait
        record = await calls.get_call_by_external_id(call_sid)
        while (record is None or record.ended_at is None) and time.monotonic() < deadline:
            await asyncio.sleep(0.25)
            record = await calls.get_call_by_external_id(call_sid)
        turns = await calls.list_turns(record.call_id) if record else []
        return record, turns
    finally:
        await engine.dispose()


async def _call(
    settings: Settings,
    *,
    url: str,
    clips: list[bytes],
    keys: list[str],
    from_number: str,
    quiet_for: float,
    output: Path | None,
) -> dict[str, Any]:
    token = auth_tokens(
        settings.twilio_auth_token.get_secret_value(),
        settings.twilio_auth_token_secondary.get_secret_value(),
        production=settings.production_rules,
    )[0]
    call = SimulatedCall(url, auth_token=token, from_number=from_number)
    async with call:
        await call.wait_until_quiet(quiet_for=quiet_for)  # the greeting
        for clip in clips:
            if call.closed.is_set():
                break
            await call.say_and_wait(clip)
            await call.wait_until_quiet(quiet_for=quiet_for, within=60.0)
        for key in keys:
            if call.closed.is_set():
                break
            await call.press(key)
            await call.wait_until_quiet(quiet_for=quiet_for, within=60.0)
        ended_by_server = call.closed.is_set()
    if output is not None:
        write_wav(output, call.heard_pcm16(), 8000)
    record, turns = await _finished_record(settings, call.call_sid, wait=15.0)
    return {
        "call_sid": call.call_sid,
        "call_id": record.call_id if record else None,
        "outcome": record.outcome.value if record else None,
        "escalation_reason": record.escalation_reason if record else None,
        "case_id": record.case_id if record else None,
        "ended_by": "assistant" if ended_by_server else "caller",
        "assistant_audio_seconds": round(len(call.received.heard) / 8000, 2),
        "barge_in_clears": call.received.clears,
        "transcript": [
            {"speaker": t.speaker.value, "text": t.text, "interrupted": t.interrupted} for t in turns
        ],
    }


def call_command(
    *,
    say: Annotated[
        list[str] | None, typer.Option("--say", help="A caller line, synthesized locally (repeatable).")
    ] = None,
    audio: Annotated[
        list[Path] | None,
        typer.Option("--audio", exists=True, dir_okay=False, help="A caller WAV (repeatable)."),
    ] = None,
    press: Annotated[
        list[str] | None, typer.Option("--press", help="A key pressed after the lines (repeatable).")
    ] = None,
    url: Annotated[str | None, typer.Option(help="The server's base URL (default KCA_PUBLIC_URL).")] = None,
    from_number: Annotated[str, typer.Option("--from", help="Caller ID.")] = "+15005550006",
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Save what the assistant said (WAV).")
    ] = None,
    quiet_for: Annotated[float, typer.Option(help="Assistant silence (s) that ends its turn.")] = 2.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Place a simulated Twilio call against a running `kca serve` (Media Streams, real μ-law audio)."""
    settings = load_settings()
    console = Console(stderr=True)
    try:
        clips = asyncio.run(_caller_audio(settings, say or [], audio or []))
        result = asyncio.run(
            _call(
                settings,
                url=url or settings.public_url,
                clips=clips,
                keys=press or [],
                from_number=from_number,
                quiet_for=quiet_for,
                output=output,
            )
        )
    except (httpx.TransportError, ConnectionError) as error:
        raise CliError(
            f"--url {url or settings.public_url}: no server answers ({error or type(error).__name__}); "
            "is `kca serve` running there?"
        ) from None
    except (SimulationError, SpeechError, OSError, ValueError) as error:
        console.print(f"[red]call failed:[/] {error}")
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    for turn in result["transcript"]:
        cut = " [dim](cut off)[/]" if turn["interrupted"] else ""
        colour = "green" if turn["speaker"] == "assistant" else "cyan"
        console.print(f"[bold {colour}]{turn['speaker']}>[/] {turn['text']}{cut}")
    console.print(
        f"[bold]outcome[/] {result['outcome']} · [bold]case[/] {result['case_id']} · "
        f"[bold]reason[/] {result['escalation_reason']} · ended by {result['ended_by']}"
    )
