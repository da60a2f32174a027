"""A simulated Twilio for one call: it signs and posts the voice webhook, follows the TwiML to the media
stream, and speaks the Media Streams protocol over a real WebSocket with real μ-law audio in real time.

It plays Twilio's part faithfully where the assistant depends on it: caller audio (speech, then silence) is
sent as one 20 ms frame every 20 ms; the assistant's audio is "played" at real time, each ``mark`` is echoed
when playback reaches it, and ``clear`` drops what was not yet played and echoes the pending marks. What the
caller heard is kept, so it can be saved as a WAV. ``kca call``, the tests and ``bench/calls.py`` use it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
import uuid
import xml.etree.ElementTree as ET
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import httpx
from twilio.request_validator import RequestValidator
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from ..audio.mulaw import pcm16_to_ulaw, ulaw_to_pcm16

FRAME_BYTES = 160
FRAME_SECONDS = 0.02
_SILENCE_FRAME = b"\xff" * FRAME_BYTES
_SAME_UTTERANCE = 0.5  # audio arriving within this of the previous frame continues the same speech


class SimulationError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class StreamTarget:
    url: str
    parameters: dict[str, str]


def stream_target(twiml: str) -> StreamTarget:
    """The ``<Connect><Stream>`` of a voice webhook's TwiML."""
    root = ET.fromstring(twiml)  # noqa: S314 - TwiML from the server under test, not untrusted input
    stream = root.find("./Connect/Stream")
    if stream is None or not stream.get("url"):
        raise SimulationError(f"the voice webhook did not connect a media stream: {twiml[:200]}")
    parameters = {p.get("name", ""): p.get("value", "") for p in stream.findall("Parameter")}
    return StreamTarget(stream.get("url", ""), parameters)


def signed_headers(auth_token: str, url: str, params: dict[str, str]) -> dict[str, str]:
    return {"X-Twilio-Signature": RequestValidator(auth_token).compute_signature(url, params)}


async def post_webhook(
    client: httpx.AsyncClient, url: str, params: dict[str, str], auth_token: str
) -> httpx.Response:
    return await client.post(url, data=params, headers=signed_headers(auth_token, url, params))


@dataclass(slots=True)
class Received:
    """What came back over the stream, for assertions and reports."""

    media_frames: int = 0  # 20 ms frames of assistant audio received (a message may carry several)
    media_messages: int = 0
    marks: list[str] = field(default_factory=list)
    clears: int = 0
    # Time the caller heard nothing in the middle of the assistant's speech because its audio came late:
    # zero when the outgoing audio keeps up with real time.
    underrun_seconds: float = 0.0
    heard: bytearray = field(
        default_factory=bytearray
    )  # μ-law the caller heard (clear cuts the unplayed part)
    # The call's timeline on this process's monotonic clock: the caller's speech (first to last frame
    # sent), the assistant's audio as the caller heard it (cut where a ``clear`` arrived), the clears.
    caller_speech: list[tuple[float, float]] = field(default_factory=list)
    assistant_audio: list[tuple[float, float]] = field(default_factory=list)
    clear_times: list[float] = field(default_factory=list)

    def assistant_seconds(self, start: float, end: float) -> float:
        """Seconds of assistant audio the caller heard between ``start`` and ``end``."""
        return sum(max(0.0, min(b, end) - max(a, start)) for a, b in self.assistant_audio)

    def assistant_during_caller_speech(self) -> float:
        return sum(self.assistant_seconds(a, b) for a, b in self.caller_speech)

    def assistant_stopped_after(self, at: float) -> float | None:
        """When the assistant audio playing at ``at`` stopped (None: none was playing then)."""
        ends = [b for a, b in self.assistant_audio if a <= at < b]
        if not ends:
            return None
        end = max(ends)
        for a, b in sorted(self.assistant_audio):  # contiguous audio after it continues the same speech
            if a <= end + 0.001 and b > end:
                end = b
        return end


class SimulatedCall:
    """One call, from the voice webhook to the end of the stream. Use as an async context manager."""

    def __init__(
        self,
        base_url: str,
        *,
        auth_token: str,
        from_number: str = "+15005550006",
        to_number: str = "+15005550001",
        call_sid: str | None = None,
        stir_verstat: str | None = None,
        start_call_sid: str | None = None,
        extra_parameters: dict[str, str] | None = None,
        token: str | None = None,
    ) -> None:
        """``stir_verstat``: Twilio's ``StirVerstat`` on the voice webhook. For tests of stream
        authentication, ``start_call_sid`` (a CallSid in ``start`` other than the webhook's),
        ``extra_parameters`` (custom parameters added to the stream's) and ``token`` (a stream token used
        instead of the one the webhook issued) make a stream Twilio would never open."""
        self.base_url = base_url.rstrip("/")
        self.auth_token = auth_token
        self.from_number = from_number
        self.to_number = to_number
        self.call_sid = call_sid or "CA" + uuid.uuid4().hex
        self.stir_verstat = stir_verstat
        self.start_call_sid = start_call_sid or self.call_sid
        self.extra_parameters = extra_parameters or {}
        self.token_override = token
        self.issued_token = ""  # the stream token the voice webhook issued
        self.stream_url = ""  # where the voice webhook's TwiML sent the stream
        self.stream_sid = "MZ" + uuid.uuid4().hex
        self.account_sid = "AC" + "0" * 32
        self.received = Received()
        self.closed = asyncio.Event()  # the server ended the stream
        self.last_speech_frame_at: float | None = None  # when the caller's last speech frame was sent
        self.answer_started_at: float | None = None  # first assistant frame after that
        self._ws: ClientConnection | None = None
        self._uplink: deque[bytes] = deque()  # caller speech frames waiting to be sent
        self._play_end = 0.0  # when the assistant audio received so far finishes playing
        self._pending_marks: deque[tuple[float, str]] = deque()
        self._last_audio_at = 0.0
        self._last_frame_at: float | None = None  # the last assistant frame received
        self._seq = 0
        self._tasks: list[asyncio.Task[None]] = []

    # --- lifecycle -----------------------------------------------------------------------------------

    async def __aenter__(self) -> SimulatedCall:
        await self.dial()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.hang_up()

    def _params(self, **extra: str) -> dict[str, str]:
        return {
            "CallSid": self.call_sid,
            "AccountSid": self.account_sid,
            "From": self.from_number,
            "To": self.to_number,
            "Direction": "inbound",
            "ApiVersion": "2010-04-01",
            **({"StirVerstat": self.stir_verstat} if self.stir_verstat else {}),
            **extra,
        }

    async def dial(self) -> None:
        async with httpx.AsyncClient(timeout=30.0) as client:
            response = await post_webhook(
                client, f"{self.base_url}/twilio/voice", self._params(CallStatus="ringing"), self.auth_token
            )
        if response.status_code != 200:
            raise SimulationError(f"voice webhook answered {response.status_code}: {response.text[:200]}")
        target = stream_target(response.text)
        self.issued_token = target.parameters.get("token", "")
        self.stream_url = target.url
        parameters = {**target.parameters, **self.extra_parameters}
        if self.token_override is not None:
            parameters["token"] = self.token_override
        self._ws = await connect(
            target.url,
            additional_headers=signed_headers(self.auth_token, target.url, {}),
            max_size=2**20,
            compression=None,  # Twilio does not compress media frames
        )
        await self._send({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        await self._send(
            {
                "event": "start",
                "start": {
                    "accountSid": self.account_sid,
                    "streamSid": self.stream_sid,
                    "callSid": self.start_call_sid,
                    "tracks": ["inbound"],
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                    "customParameters": parameters,
                },
                "streamSid": self.stream_sid,
            }
        )
        self._last_audio_at = time.monotonic()  # quiet is counted from the moment the call is answered
        self._tasks = [asyncio.create_task(self._receive()), asyncio.create_task(self._send_audio())]

    async def hang_up(self) -> None:
        """The caller hangs up: Twilio sends ``stop`` and closes the stream (if the server has not already)."""
        if self._ws is not None and not self.closed.is_set():
            with contextlib.suppress(ConnectionClosed):
                await self._send(
                    {"event": "stop", "stop": {"accountSid": self.account_sid, "callSid": self.call_sid}}
                )
                await self._ws.close()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.closed.set()

    async def status_callback(self, status: str = "completed", duration: int = 0) -> int:
        async with httpx.AsyncClient(timeout=30.0) as client:
            response = await post_webhook(
                client,
                f"{self.base_url}/twilio/status",
                self._params(CallStatus=status, CallDuration=str(duration)),
                self.auth_token,
            )
        return response.status_code

    # --- the caller ----------------------------------------------------------------------------------

    def say(self, pcm16_8k: bytes) -> None:
        """Queue caller speech (8 kHz PCM16); it goes out frame by frame in real time, then silence."""
        ulaw = pcm16_to_ulaw(pcm16_8k)
        ulaw += b"\xff" * (-len(ulaw) % FRAME_BYTES)
        self._uplink.extend(ulaw[i : i + FRAME_BYTES] for i in range(0, len(ulaw), FRAME_BYTES))

    async def say_and_wait(self, pcm16_8k: bytes) -> None:
        self.say(pcm16_8k)
        # Polled: the uplink drains on the sender's 20 ms schedule, there is no event to wait for.
        while self._uplink and not self.closed.is_set():  # noqa: ASYNC110
            await asyncio.sleep(FRAME_SECONDS)

    async def press(self, digit: str) -> None:
        await self._send(
            {
                "event": "dtmf",
                "streamSid": self.stream_sid,
                "dtmf": {"track": "inbound_track", "digit": digit},
            }
        )

    async def send_raw(self, text: str | bytes) -> None:
        """Anything at all, for tests of malformed frames."""
        assert self._ws is not None
        await self._ws.send(text)

    @property
    def assistant_speaking(self) -> bool:
        return time.monotonic() < self._play_end

    async def wait_until_quiet(self, quiet_for: float = 1.5, within: float = 30.0) -> bool:
        """Until the assistant's audio has finished playing and nothing new came for ``quiet_for`` seconds;
        True if that happened, False if the stream ended or the time ran out first."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.closed.is_set():
                return False
            now = time.monotonic()
            heard_last = max(self._last_audio_at, self._play_end, self.last_speech_frame_at or 0.0)
            if now >= self._play_end and now - heard_last >= quiet_for:
                return True
            await asyncio.sleep(0.05)
        return False

    async def wait_for_speech(self, within: float = 30.0) -> bool:
        """Until assistant audio is playing."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline and not self.closed.is_set():
            if self.assistant_speaking:
                return True
            await asyncio.sleep(0.01)
        return False

    # --- Twilio's side -------------------------------------------------------------------------------

    async def _send(self, message: dict[str, Any]) -> None:
        assert self._ws is not None
        self._seq += 1
        message.setdefault("sequenceNumber", str(self._seq))
        await self._ws.send(json.dumps(message))

    async def _send_audio(self) -> None:
        """One inbound frame every 20 ms on an absolute schedule, as a phone line delivers it."""
        assert self._ws is not None
        started = time.monotonic()
        chunk = 0
        speech_started: float | None = None
        with contextlib.suppress(ConnectionClosed):
            while True:
                frame = self._uplink.popleft() if self._uplink else _SILENCE_FRAME
                chunk += 1
                # Formatted by hand like the server's outbound frames: fifty a second per simulated call.
                self._seq += 1
                payload = base64.b64encode(frame).decode("ascii")
                await self._ws.send(
                    f'{{"event":"media","sequenceNumber":"{self._seq}","streamSid":"{self.stream_sid}",'
                    f'"media":{{"track":"inbound","chunk":"{chunk}","timestamp":"{(chunk - 1) * 20}",'
                    f'"payload":"{payload}"}}}}'
                )
                sent_at = time.monotonic()
                if frame is not _SILENCE_FRAME:
                    if speech_started is None:
                        speech_started = sent_at
                    self.last_speech_frame_at = sent_at
                    self.answer_started_at = None
                elif speech_started is not None:
                    self.received.caller_speech.append((speech_started, sent_at))
                    speech_started = None
                self._echo_due_marks()
                delay = started + chunk * FRAME_SECONDS - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)

    def _echo_due_marks(self) -> None:
        now = time.monotonic()
        while self._pending_marks and self._pending_marks[0][0] <= now:
            _, name = self._pending_marks.popleft()
            self.received.marks.append(name)
            asyncio.get_running_loop().create_task(self._echo_mark(name))

    async def _echo_mark(self, name: str) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self._send({"event": "mark", "streamSid": self.stream_sid, "mark": {"name": name}})

    async def _receive(self) -> None:
        assert self._ws is not None
        try:
            async for text in self._ws:
                message = json.loads(text)
                event = message.get("event")
                now = time.monotonic()
                if event == "media":
                    ulaw = base64.b64decode(message["media"]["payload"])
                    if self.answer_started_at is None and self.last_speech_frame_at is not None:
                        self.answer_started_at = now
                    self.received.media_messages += 1
                    self.received.media_frames += len(ulaw) // 160
                    self.received.heard += ulaw
                    previous = self._last_frame_at
                    if (
                        previous is not None
                        and now - previous < _SAME_UTTERANCE
                        and now > self._play_end + FRAME_SECONDS
                    ):
                        self.received.underrun_seconds += now - self._play_end
                    self._last_frame_at = now
                    play_start = max(self._play_end, now)
                    self._play_end = play_start + len(ulaw) / 8000
                    audio = self.received.assistant_audio
                    if audio and abs(audio[-1][1] - play_start) < 1e-6:
                        audio[-1] = (audio[-1][0], self._play_end)  # contiguous: one interval
                    else:
                        audio.append((play_start, self._play_end))
                    self._last_audio_at = now
                elif event == "mark":
                    self._pending_marks.append((self._play_end, message["mark"]["name"]))
                elif event == "clear":
                    self.received.clears += 1
                    self.received.clear_times.append(now)
                    audio = self.received.assistant_audio
                    audio[:] = [(a, min(b, now)) for a, b in audio if a < now]
                    unplayed = max(0.0, self._play_end - now)
                    if unplayed:
                        del self.received.heard[len(self.received.heard) - int(unplayed * 8000) :]
                    self._play_end = now
                    while self._pending_marks:
                        self._pending_marks[0] = (now, self._pending_marks[0][1])
                        self._echo_due_marks()
        except ConnectionClosed:
            pass
        finally:
            self.closed.set()

    def heard_pcm16(self) -> bytes:
        """What the caller heard, as 8 kHz PCM16."""
        return ulaw_to_pcm16(bytes(self.received.heard))
