"""A whole assistant on real sockets for phone-call tests: the Kayako mock, the fake Twilio REST API, the
assistant's web app with its Twilio routes, and a simulated Twilio placing calls over a real WebSocket."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from kayako_call_assistant.domain import CallRecord, Turn
from kayako_call_assistant.fakes.twilio_rest import create_app as create_twilio_app
from kayako_call_assistant.kayako_mock.app import create_app as create_mock_app
from kayako_call_assistant.kayako_mock.config import MockConfig
from kayako_call_assistant.servers import serve_in_background
from kayako_call_assistant.settings import Settings
from kayako_call_assistant.telephony.media_listener import start_media_listener
from kayako_call_assistant.telephony.router import Telephony
from kayako_call_assistant.telephony.signature import DEVELOPMENT_AUTH_TOKEN
from kayako_call_assistant.telephony.simulator import SimulatedCall
from kayako_call_assistant.web.app import create_app
from kayako_call_assistant.wiring import Runtime, call_runtime, telephony_runtime

ACCOUNT_SID = "AC" + "0" * 32
TOKEN = DEVELOPMENT_AUTH_TOKEN


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def voice(seconds: float, f0: float = 140.0) -> bytes:
    """Voiced, speech-like 8 kHz PCM16 (a harmonic series with a syllable rhythm) that any VAD calls speech."""
    t = np.arange(int(seconds * 8000)) / 8000
    signal = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 14))
    envelope = 0.55 + 0.45 * np.abs(np.sin(2 * np.pi * 3 * t))
    return (signal * envelope * 5000).astype("<i2").tobytes()


async def finished(rig: VoiceRig, call: SimulatedCall, within: float = 15.0) -> tuple[CallRecord, list[Turn]]:
    """The call's record once the assistant has finalized it, and its turns."""
    for _ in range(int(within / 0.05)):
        record = await rig.runtime.calls.get_call_by_external_id(call.call_sid)
        if record is not None and record.ended_at is not None:
            return record, await rig.runtime.calls.list_turns(record.call_id)
        await asyncio.sleep(0.05)
    raise AssertionError("the call was not finalized")


@dataclass(slots=True)
class VoiceRig:
    base_url: str
    mock_url: str
    twilio_url: str
    mock: MockConfig
    settings: Settings
    runtime: Runtime
    telephony: Telephony

    def call(self, **kwargs: Any) -> SimulatedCall:
        return SimulatedCall(self.base_url, auth_token=TOKEN, **kwargs)

    async def twilio_call(self, call_sid: str) -> dict[str, Any]:
        async with httpx.AsyncClient() as client:
            response = await client.get(f"{self.twilio_url}/_fake/calls/{call_sid}")
            return dict(response.json()) if response.status_code == 200 else {}

    async def kayako(self, path: str, **params: Any) -> Any:
        async with httpx.AsyncClient(auth=(self.mock.agent_email, self.mock.agent_password)) as client:
            response = await client.get(f"{self.mock_url}/api/v1{path}", params=params)
            response.raise_for_status()
            return response.json()


@contextlib.asynccontextmanager
async def voice_rig(
    tmp_path: Path, *, engines: dict[str, Any] | None = None, **overrides: Any
) -> AsyncIterator[VoiceRig]:
    """``engines`` replaces Telephony fields (stt, tts, fallback_tts, voice); ``overrides`` are settings."""
    mock = MockConfig(strict=True)
    port = free_port()
    async with (
        serve_in_background(create_mock_app(mock)) as mock_url,
        serve_in_background(create_twilio_app(ACCOUNT_SID, TOKEN)) as twilio_url,
    ):
        values: dict[str, Any] = {
            "kayako_base_url": f"{mock_url}/api/v1",
            "kayako_email": mock.agent_email,
            "kayako_password": mock.agent_password,
            "database_url": f"sqlite+aiosqlite:///{tmp_path / 'voice.db'}",
            "data_dir": tmp_path,
            "public_url": f"http://127.0.0.1:{port}",
            "twilio_account_sid": ACCOUNT_SID,
            "twilio_api_base_url": twilio_url,
            "transfer_enabled": True,
            "transfer_target": "queue:support",
            "idle_timeout_seconds": 30.0,
            **overrides,
        }
        settings = Settings(**values)
        async with call_runtime(settings) as runtime, telephony_runtime(settings, runtime) as built:
            telephony = dataclasses.replace(built, **engines) if engines else built
            async with contextlib.AsyncExitStack() as stack:
                if telephony.media_signatures is not None:  # KCA_MEDIA_PORT: the native media listener
                    media = await start_media_listener(
                        telephony,
                        telephony.media_signatures,
                        host="127.0.0.1",
                        port=settings.media_port,
                        max_message_bytes=settings.ws_max_message_bytes,
                    )
                    stack.callback(media.close)
                app = create_app(runtime, telephony)
                base_url = await stack.enter_async_context(serve_in_background(app, port=port))
                yield VoiceRig(base_url, mock_url, twilio_url, mock, settings, runtime, telephony)
