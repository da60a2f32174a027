"""`kca tts` and `kca stt`: the configured (or chosen) speech engines on their own, with WAV files."""

from __future__ import annotations

import asyncio
import json
import struct
import wave
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console

from ..audio.pcm import duration_seconds
from ..audio.wav import read_wav, write_wav
from ..domain import Usage
from ..settings import Settings
from ..speech.errors import SpeechError
from .errors import CliError

Engine = Literal["local", "openai"]


def tts_command(
    text: Annotated[str, typer.Argument(help="What to say.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="WAV file to write.")],
    engine: Annotated[Engine | None, typer.Option(help="local or openai (default KCA_TTS_ENGINE).")] = None,
) -> None:
    """Synthesize TEXT to a WAV file."""
    from ..speech.engines import text_to_speech_from_settings

    if not output.parent.is_dir():  # checked first: synthesis is slow, and its result would be lost
        raise CliError(f"--output {output}: directory {output.parent} does not exist")

    async def run() -> tuple[bytes, int]:
        tts = text_to_speech_from_settings(Settings(), engine)
        return b"".join([chunk async for chunk in tts.synthesize(text, Usage())]), tts.sample_rate

    try:
        pcm, rate = asyncio.run(run())
    except (SpeechError, ValueError) as error:
        Console(stderr=True).print(f"[red]speech synthesis failed:[/] {error}")
        raise typer.Exit(1) from None
    try:
        write_wav(output, pcm, rate)
    except OSError as error:
        raise CliError(f"--output {output}: cannot write ({error.strerror or error})") from None
    typer.echo(f"{output}: {duration_seconds(pcm, rate):.2f} s at {rate} Hz")


def stt_command(
    audio: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A 16-bit PCM WAV file.")],
    engine: Annotated[Engine | None, typer.Option(help="local or openai (default KCA_STT_ENGINE).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print text, seconds and engine as JSON.")] = False,
) -> None:
    """Transcribe a WAV file."""
    from ..speech.engines import speech_to_text_from_settings

    try:
        pcm, rate = read_wav(audio)
    # The standard library's chunk reader raises a bare RuntimeError on a RIFF header with garbage.
    except (ValueError, RuntimeError, wave.Error, EOFError, struct.error) as error:
        raise CliError(
            f"AUDIO {audio}: not a readable 16-bit PCM WAV file ({str(error) or 'corrupt chunk'})"
        ) from None

    async def run() -> tuple[str, float, str]:
        stt = speech_to_text_from_settings(Settings(), engine)
        usage = Usage()
        transcript = await stt.transcribe(pcm, rate, usage)
        return transcript.text, usage.audio_seconds_transcribed, stt.name

    try:
        text, seconds, name = asyncio.run(run())
    except (SpeechError, ValueError) as error:
        Console(stderr=True).print(f"[red]transcription failed:[/] {error}")
        raise typer.Exit(1) from None

    if as_json:
        typer.echo(json.dumps({"text": text, "seconds": round(seconds, 3), "engine": name}))
    else:
        typer.echo(text)
