"""The speech endpoints of the fake OpenAI server: transcriptions and speech.

Transcripts come from the script's ``transcripts`` queue (then "I need help with my account"); speech is a
deterministic tone about 60 ms per character long, streamed in several chunks. ``audio_failures`` makes the
next audio requests fail with the given HTTP statuses.
"""

from __future__ import annotations

import io
import wave
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse

from ..audio.wav import wav_bytes

DEFAULT_TRANSCRIPT = "I need help with my account"
_SPEECH_RATE = 24000
_SECONDS_PER_CHARACTER = 0.06

router = APIRouter()


def _error(status: int, message: str) -> JSONResponse:
    error_type = "invalid_request_error" if status == 400 else "server_error"
    return JSONResponse(
        {"error": {"message": message, "type": error_type, "param": None, "code": None}},
        status_code=status,
        headers={"retry-after-ms": "10"},
    )


def _failure(script: Any) -> JSONResponse | None:
    if script.audio_failures:
        return _error(script.audio_failures.popleft(), "fake upstream audio error")
    return None


@router.post("/v1/audio/transcriptions", response_model=None)
async def transcriptions(request: Request) -> Response:
    script = request.app.state.script
    form = await request.form()
    upload = form.get("file")
    data = await upload.read() if upload is not None and not isinstance(upload, str) else b""
    script.requests.append(
        {"path": "/v1/audio/transcriptions", "body": {"model": form.get("model"), "bytes": len(data)}}
    )
    if failed := _failure(script):
        return failed
    try:
        with wave.open(io.BytesIO(data), "rb") as wav:
            frames = wav.getnframes()
    except (wave.Error, EOFError):
        return _error(400, "Invalid file format. The audio could not be decoded.")
    if frames == 0:
        return _error(400, "Audio file is empty.")
    text = script.transcripts.popleft() if script.transcripts else DEFAULT_TRANSCRIPT
    if form.get("response_format") == "text":
        return PlainTextResponse(text)
    return JSONResponse({"text": text})


def _tone(characters: int) -> bytes:
    t = np.arange(int(characters * _SECONDS_PER_CHARACTER * _SPEECH_RATE)) / _SPEECH_RATE
    return bytes((np.sin(2 * np.pi * 330 * t) * 6000).astype("<i2").tobytes())


@router.post("/v1/audio/speech", response_model=None)
async def speech(request: Request) -> Response:
    script = request.app.state.script
    body = await request.json()
    script.requests.append({"path": "/v1/audio/speech", "body": body})
    if failed := _failure(script):
        return failed
    text = str(body.get("input", ""))
    if not text:
        return _error(400, "input is required")
    audio = _tone(len(text))
    if body.get("response_format") == "wav":
        return Response(wav_bytes(audio, _SPEECH_RATE), media_type="audio/wav")

    async def chunks() -> AsyncIterator[bytes]:
        step = 4801  # odd on purpose: clients must cope with chunks that split a sample
        for offset in range(0, len(audio), step):
            yield audio[offset : offset + step]

    return StreamingResponse(chunks(), media_type="audio/pcm")
