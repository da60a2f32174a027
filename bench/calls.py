"""Simultaneous phone calls against the real server process (`kca serve`), in real time, measured so that
the figures describe what the server actually carried.

For each N the benchmark starts a fresh `kca serve` (pinned with ``taskset`` to ``--server-cpus``) with the
load-test speech engines (``KCA_STT_ENGINE=instant``, ``KCA_TTS_ENGINE=tone``: no speech model in the
numbers), the local language engine, SQLite or ``--database-url``, and the Kayako mock in a process of its
own. This process is Twilio, pinned to ``--client-cpus``: a Media Streams client in the style of
``../shared/perf/twilio_load.py`` (each call dialled through the signed voice webhook for its one-use stream
token, a signed WebSocket upgrade, ``connected``/``start``, 20 ms μ-law frames on an absolute real-time
schedule for the whole call, each ``mark`` echoed when the audio before it has played, ``clear`` obeyed).

The callers must stay far cheaper than the server they measure, so they share one clock and one cheap
WebSocket client rather than a task and a sleep per call and frame:
- **one ticker** (``Ticker``): the 20 ms frame period is cut into ten 2 ms phases; a call's first frame is
  due at the first tick after it was answered (so the phases are as random as the calls' start times) and
  frame k 20 ms × k later. One timer wakes the loop every 2 ms and sends, synchronously, the frame due of
  every call in that phase. Each frame's lateness (sent − due) is recorded; a late tick sends the late
  frames in order (at most one per call before the loop reads what arrived meanwhile) until the schedule is
  caught up. What a caller says is a generator (``caller_script``) advanced once per frame with the time
  that frame was sent: no awaits per frame.
- **picows** (Cython) for the WebSockets: ``send`` is a synchronous write; a media message is built from
  pre-encoded bytes (only its sequence number, chunk and timestamp are formatted). Received media is
  recognised by a substring and its audio length taken from the base64 payload's length, so a message may
  carry any number of 20 ms frames; other messages (``mark``, ``clear``) are parsed as JSON.
- the client's heap is frozen out of garbage collection (``gc.freeze``) before the calls start.
``--stand-in`` runs the same callers against a stand-in server that costs next to nothing (it answers each
caller frame with one reply frame while it speaks): a check of the callers alone at any N, not a
measurement of any server.

Every call, as a caller would: one second of silence, the greeting heard to its end, a pause, then turns
until the run ends: a question ("how do I reset my password", 1.3 s of eSpeak NG speech) first, then
"say again" (0.5 s) — the assistant repeats its whole answer — each after the previous reply has played
and a pause of 0.5–2.5 s. Nobody says "yes, that solved it": no call ends before the run does.

Measured over a window that opens when every call has connected and heard its greeting and lasts
``--window`` seconds; the calls hang up only after it closes:
- **concurrency**: media-stream seconds the server served in the window (its ``/debug/load``, counted at the
  ASGI level) divided by the window as the server measured it: the time-averaged number of open streams, to
  compare with N;
- **CPU per call**: the server's CPU seconds in that window (its own process time, all threads, from the
  same probe; ``/proc/<pid>/stat`` for the peer, which has no probe) divided by
  those stream seconds, as a share of one core; calls per core is its inverse;
- **turns**: each caller turn whose last frame was sent in the window counts once; a turn without a reply
  within 10 s counts as unanswered;
- **added latency**: last caller frame sent → first reply frame received, minus the end-of-turn silence;
- **late replies**: the share of replies whose audio fell more than 60 ms behind real-time playout at any
  point (frame k arrived later than the first frame's arrival + the audio before k);
- **memory per call**: the server's RSS at the end of the window minus its RSS after the warm-up call, / N;
- **GC pause**: the largest garbage-collection pause in the server in the window (``gc.callbacks``);
- **client**: its own lateness sending frames (p99) and CPU share, to show the client kept real time, and
  the CPU everything else used on the client's cores in the window (other processes on a shared machine,
  and interrupts: the loopback network's softirq work, partly caused by the client's own sends).

``--peer`` runs the same load against the Pipecat bot of ``../shared/perf/pipecat_server.py`` in its own
virtual environment (created once under ``--cache-dir`` with pinned versions) and prints both side by side.
``--workers 2`` runs ``kca serve --workers 2`` (two processes on one port) on two cores.

    .venv/bin/python bench/calls.py --calls 100,300,500 [--silence-ms 200] [--peer] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import gc
import json
import math
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from array import array
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvloop
from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport, ws_connect, ws_create_server

from kayako_call_assistant.audio.mulaw import pcm16_to_ulaw
from kayako_call_assistant.audio.pcm import resample
from kayako_call_assistant.domain import Usage
from kayako_call_assistant.speech.local_tts import LocalTextToSpeech
from kayako_call_assistant.telephony import protocol
from kayako_call_assistant.telephony.signature import DEVELOPMENT_AUTH_TOKEN
from kayako_call_assistant.telephony.simulator import post_webhook, signed_headers, stream_target

FRAME_SECONDS = 0.02
FRAME_BYTES = 160
SILENCE = base64.b64encode(b"\xff" * FRAME_BYTES)
LATE_MS = 60.0  # a reply is late when its audio fell this far behind real-time playout
REPLY_TIMEOUT = 10.0  # a turn with no reply frame by then is unanswered
REPLY_IDLE = 0.6  # a reply is over when no audio came for this long (and what came has played)
_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")
ROOT = Path(__file__).resolve().parent.parent
SHARED_PERF = Path(os.environ.get("KCA_BENCH_SHARED_PERF", "/work/shared/perf"))
# The peer's pinned environment (as in ../shared/perf/README.md).
PEER_REPLY = (
    "You can reset your password from the sign in page. Choose forgot password, enter the email address of "
    "your account, and follow the link we send you. Did that solve it?"
)
PEER_REQUIREMENTS = ["pipecat-ai[websocket,silero]==1.14.0", "uvicorn[standard]==0.38.0"]


# --- the caller's voice ----------------------------------------------------------------------------------


async def utterance_frames(text: str, words_per_minute: int) -> list[bytes]:
    """``text`` in eSpeak NG's voice at 8 kHz, silence trimmed, as base64 μ-law 20 ms frames."""
    tts = LocalTextToSpeech("en-us", words_per_minute)
    pcm = b"".join([chunk async for chunk in tts.synthesize(text, Usage())])
    pcm = resample(pcm, tts.sample_rate, 8000)
    samples = memoryview(pcm).cast("h")
    loud = [i for i in range(0, len(samples), 80) if abs(samples[i]) > 300]
    if loud:
        pcm = pcm[2 * loud[0] : 2 * (loud[-1] + 80)]
    ulaw = pcm16_to_ulaw(pcm)
    ulaw += b"\xff" * (-len(ulaw) % FRAME_BYTES)
    return [base64.b64encode(ulaw[i : i + FRAME_BYTES]) for i in range(0, len(ulaw), FRAME_BYTES)]


# --- the callers ---------------------------------------------------------------------------------------------


@dataclass
class Turn:
    last_speech: float  # when the caller's last frame was sent (monotonic)
    first: float | None = None  # first reply frame received
    last: float | None = None
    audio_seconds: float = 0.0
    worst_behind: float = 0.0  # the reply's largest lateness against real-time playout, seconds


@dataclass(slots=True, eq=False)
class Call:
    index: int
    sid: str
    turns: list[Turn] = field(default_factory=list)
    connected_at: float | None = None
    greeted_at: float | None = None
    ended_at: float | None = None
    error: str | None = None
    current: Turn | None = None
    last_media: float | None = None
    play_end: float = 0.0
    # While the call is on: its connection, what it says (a generator of frames), its schedule.
    transport: WSTransport | None = None
    script: Generator[bytes, float, None] | None = None
    payload: bytes = b""  # the next frame's base64 μ-law
    media_tail: bytes = b""  # the end of each media message (its streamSid)
    first_due: float = 0.0  # when its first frame was due; frame k is due 20 ms × k later
    frames_sent: int = 0
    done: asyncio.Future[None] | None = None
    ticker: Ticker | None = None
    pending_marks: dict[str, asyncio.TimerHandle] = field(default_factory=dict)
    partial: list[bytes] | None = None  # a fragmented text message's frames so far


# A media message is formatted by hand from pre-built bytes: the client sends tens of thousands a second.
_MEDIA_HEAD = b'{"event":"media","sequenceNumber":"%d","media":{"track":"inbound","chunk":"%d","timestamp":"%d","payload":"'
_TEXT, _CONTINUATION, _CLOSE = WSMsgType.TEXT, WSMsgType.CONTINUATION, WSMsgType.CLOSE  # looked up once
PHASES = 10  # the 20 ms frame period is divided into 10 phases of 2 ms; each call sends in one of them
SLOT = FRAME_SECONDS / PHASES


class Ticker:
    """The callers' one clock. Every call has its frames due on an absolute real-time schedule, 20 ms apart
    from its first frame, which falls on one of the ticker's 2 ms ticks (the first tick after the call was
    answered, so the calls' phases are as random as their start times). One timer wakes the loop each tick
    and sends the frame due of every call in that tick's phase, synchronously; a late tick sends late
    frames, in order, until the schedule is caught up. Each frame's lateness (sent − due) is recorded."""

    def __init__(self) -> None:
        self.origin = time.monotonic()
        self.phases: list[list[Call]] = [[] for _ in range(PHASES)]
        self.next_tick = 0  # the index of the next tick to run
        self.calls = 0
        self.ended = False  # some call in the tick just run has ended: drop it from its phase
        self.timer: asyncio.TimerHandle | None = None
        self.sent_at = array("d")  # each frame sent: when (monotonic) …
        self.late = array("d")  # … and how late against its schedule, seconds

    def add(self, call: Call) -> None:
        now = time.monotonic()
        first = max(self.next_tick, math.ceil((now - self.origin) / SLOT))
        if self.timer is None:
            self.next_tick = first
        call.first_due = self.origin + first * SLOT
        self.phases[first % PHASES].append(call)
        self.calls += 1
        if self.timer is None:
            self._schedule(now)

    def _schedule(self, now: float) -> None:
        delay = self.origin + self.next_tick * SLOT - now
        self.timer = asyncio.get_running_loop().call_later(max(0.0, delay), self._run)

    def _run(self) -> None:
        sent_at, late, monotonic, text, head = self.sent_at, self.late, time.monotonic, _TEXT, _MEDIA_HEAD
        now = monotonic()
        # A tick runs when it is due; as with a sleep, the loop's millisecond timer can wake it up to 1 ms early.
        # Behind schedule, at most one frame per call goes before the loop reads what has arrived meanwhile.
        last = self.next_tick + PHASES
        while self.origin + self.next_tick * SLOT <= now + 0.001 and self.next_tick < last:
            for call in self.phases[self.next_tick % PHASES]:
                script = call.script
                if script is None:
                    continue
                now = monotonic()
                sent = call.frames_sent
                sent_at.append(now)
                late.append(now - (call.first_due + sent * FRAME_SECONDS))
                # The frame due now, then the caller's next one (this loop is most of the client's cost).
                try:
                    call.transport.send(  # type: ignore[union-attr]
                        text, head % (sent + 2, sent, sent * 20) + call.payload + call.media_tail
                    )
                    call.frames_sent = sent + 1
                    call.payload = script.send(now)
                except StopIteration:
                    _end(call, None)
                except Exception as error:
                    _end(call, f"{type(error).__name__}: {error}")
            if self.ended:  # calls have ended (here or in between ticks): they leave their phases
                for calls in self.phases:
                    calls[:] = [c for c in calls if c.script is not None]
                self.calls = sum(len(p) for p in self.phases)
                self.ended = False
            self.next_tick += 1
            now = monotonic()
        if self.calls:
            self._schedule(now)
        else:
            self.timer = None


@dataclass
class Load:
    url: str
    question: list[bytes]
    repeat: list[bytes]
    stop_at: float = float("inf")  # calls hang up after their turn in progress at this time (set later)
    sign: bool = True
    wait_greeting: bool = True
    http: httpx.AsyncClient | None = None  # the voice webhook's client, shared by the calls
    ticker: Ticker = field(default_factory=Ticker)


def _end(call: Call, error: str | None) -> None:
    """The call's script has ended (or its connection failed): it sends no more frames."""
    if call.script is None:
        return
    if error is not None and call.error is None:
        call.error = error[:200]
    call.script = None
    if call.ticker is not None:
        call.ticker.ended = True
    if call.done is not None and not call.done.done():
        call.done.set_result(None)


def caller_script(call: Call, load: Load, rng: random.Random) -> Generator[bytes, float, None]:
    """What one caller says, frame by frame: yields the next frame's payload and gets back when it was sent."""

    def quiet_until_played(deadline: float, turn: Turn | None = None) -> Generator[bytes, float, float]:
        """Silence until the assistant's audio (of ``turn``, if given) has come, stopped coming and played,
        or until ``deadline``."""
        while True:
            now = yield SILENCE
            last = call.last_media if turn is None else turn.last
            if now >= deadline or (last is not None and now - last > REPLY_IDLE and now >= call.play_end):
                return now

    now = 0.0
    for _ in range(50):  # one second before the caller speaks, as after a ring
        now = yield SILENCE
    if load.wait_greeting:
        now = yield from quiet_until_played(now + 30)
    call.greeted_at = now
    utterance = load.question
    while True:
        for _ in range(int(rng.uniform(0.5, 2.5) / FRAME_SECONDS)):
            now = yield SILENCE
        if now >= load.stop_at:
            return
        last_speech = 0.0
        for payload in utterance:
            last_speech = yield payload
        turn = Turn(last_speech)
        call.current = turn
        call.turns.append(turn)
        yield from quiet_until_played(last_speech + REPLY_TIMEOUT, turn)
        call.current = None
        utterance = load.repeat


class CallListener(WSListener):
    """What the assistant sends on one call, as it arrives (picows calls ``on_ws_frame`` per frame)."""

    def __init__(self, call: Call) -> None:
        super().__init__()
        self.call = call
        self.close: str | None = None  # the server's close frame, if it sent one

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        now = time.monotonic()
        kind = frame.msg_type
        call = self.call
        if kind is _TEXT:
            if not frame.fin:  # the first part of a fragmented message: read it whole
                call.partial = [frame.get_payload_as_bytes()]
                return
            message = frame.get_payload_as_bytes()
        elif kind is _CONTINUATION and call.partial is not None:
            call.partial.append(frame.get_payload_as_bytes())
            if not frame.fin:
                return
            message, call.partial = b"".join(call.partial), None
        elif kind is _CLOSE:
            self.close = f"ConnectionClosed: the server closed the stream ({frame.get_close_code()})"
            transport.send_close(frame.get_close_code())
            transport.disconnect()
            return
        else:  # binary messages, pongs: nothing a caller hears
            return
        try:
            _received(call, transport, message, now)
        except Exception as error:  # a message the caller cannot read ends its call, as a failure
            _end(call, f"{type(error).__name__} reading {message[:80]!r}: {error}")
            transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        _end(self.call, self.close or "ConnectionClosed: the connection was lost during the call")


def _received(call: Call, transport: WSTransport, message: bytes, now: float) -> None:
    # Media is recognised by a substring, not by parsing: at hundreds of calls the client must stay
    # cheaper than the server it measures. The payload's length (any multiple of 160 bytes of μ-law, base64)
    # gives the audio's length.
    if (
        message.startswith(b'{"event":"media"')
        or b'"event": "media"' in message
        or b'"event":"media"' in message
    ):
        start = message.index(b'"payload"') + 9
        start = message.index(b'"', start) + 1
        length = message.index(b'"', start) - start
        seconds = (length * 3 // 4 - message.count(b"=", start, start + length)) / 8000
        call.play_end = max(call.play_end, now) + seconds
        call.last_media = now
        turn = call.current
        if turn is None:
            return
        if turn.first is None:
            turn.first = now
        else:
            turn.worst_behind = max(turn.worst_behind, now - (turn.first + turn.audio_seconds))
        turn.audio_seconds += seconds
        turn.last = now
        return
    data = json.loads(message)
    event = data.get("event")
    if event == "mark":
        name = data.get("mark", {}).get("name", "")
        call.pending_marks[name] = asyncio.get_running_loop().call_later(
            max(0.0, call.play_end - now), _echo_mark, call, transport, name
        )
    elif event == "clear":
        call.play_end = now
        for name, handle in list(call.pending_marks.items()):
            handle.cancel()
            _echo_mark(call, transport, name)


def _echo_mark(call: Call, transport: WSTransport, name: str) -> None:
    call.pending_marks.pop(name, None)
    if not transport.is_disconnected:
        transport.send(
            WSMsgType.TEXT, _json({"event": "mark", "streamSid": call.sid, "mark": {"name": name}})
        )


def _json(message: dict[str, Any]) -> bytes:
    return json.dumps(message).encode()


async def run_call(call: Call, load: Load, start_at: float, rng: random.Random) -> None:
    await asyncio.sleep(max(0.0, start_at - time.monotonic()))
    transport: WSTransport | None = None
    try:
        url, parameters = load.url, {"From": f"+1555{1000000 + call.index:07d}"}
        if load.sign:  # this project: dialled as Twilio does, through the signed voice webhook
            url, parameters = await _dial(call, load)
        headers = signed_headers(DEVELOPMENT_AUTH_TOKEN, url, {}) if load.sign else None
        ws, _ = await asyncio.wait_for(
            ws_connect(
                lambda: CallListener(call),
                url,
                websocket_handshake_timeout=30,
                max_frame_size=2**20,
                extra_headers=headers,
            ),
            30,
        )
        transport = ws
        call.connected_at = time.monotonic()
        ws.send(WSMsgType.TEXT, _json({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        ws.send(
            WSMsgType.TEXT,
            _json(
                {
                    "event": "start",
                    "sequenceNumber": "1",
                    "streamSid": call.sid,
                    "start": {
                        "accountSid": "AC" + "0" * 32,
                        "streamSid": call.sid,
                        "callSid": "CA" + call.sid[2:],
                        "tracks": ["inbound"],
                        "customParameters": parameters,
                        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                    },
                }
            ),
        )
        call.transport = ws
        call.media_tail = f'"}},"streamSid":"{call.sid}"}}'.encode()
        call.done = asyncio.get_running_loop().create_future()
        script = caller_script(call, load, rng)
        call.payload = next(script)
        call.script = script
        call.ticker = load.ticker
        load.ticker.add(call)  # from here the ticker sends its frames, until its script ends
        try:
            await call.done
        finally:
            _end(call, None)
            for handle in call.pending_marks.values():
                handle.cancel()
            if not ws.is_disconnected:
                ws.send(WSMsgType.TEXT, _json({"event": "stop", "streamSid": call.sid, "stop": {}}))
                ws.send_close(WSCloseCode.OK)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(ws.wait_disconnected(), 10)
    except Exception as error:  # a failed call is counted, not fatal to the run
        call.error = call.error or f"{type(error).__name__}: {error}"[:200]
    finally:
        if transport is not None:
            transport.disconnect()
    call.ended_at = time.monotonic()


async def _dial(call: Call, load: Load) -> tuple[str, dict[str, str]]:
    """The voice webhook's answer for this call, as Twilio gets it: the stream URL and its parameters
    (the one-use stream token among them)."""
    webhook = load.url.replace("ws://", "http://").replace("/twilio/media", "/twilio/voice")
    params = {
        "CallSid": "CA" + call.sid[2:],
        "AccountSid": "AC" + "0" * 32,
        "From": f"+1555{1000000 + call.index:07d}",
        "To": "+15550000000",
        "CallStatus": "ringing",
        "Direction": "inbound",
        "ApiVersion": "2010-04-01",
    }
    async with contextlib.AsyncExitStack() as stack:
        client = load.http
        if client is None:
            client = await stack.enter_async_context(httpx.AsyncClient(timeout=30))
        response = await post_webhook(client, webhook, params, DEVELOPMENT_AUTH_TOKEN)
    response.raise_for_status()
    target = stream_target(response.text)
    return target.url, target.parameters


# --- the server processes ------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def cpu_busy(cpus: str) -> tuple[float, float]:
    """Seconds the CPUs in the list ``cpus`` (e.g. "0" or "0,1") have been busy since boot, and of those the
    seconds spent in interrupts (mostly the loopback network's softirq, which no process is charged for)."""
    wanted = {f"cpu{c.strip()}" for c in cpus.split(",")}
    busy = interrupts = 0
    for line in Path("/proc/stat").read_text().splitlines():
        name, *ticks = line.split()
        if name in wanted:
            values = [int(t) for t in ticks[:8]]
            busy += sum(values) - values[3] - values[4]  # all but idle and iowait
            interrupts += values[5] + values[6]
    return busy / _TICKS, interrupts / _TICKS


def rss_bytes(pid: int) -> int:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_http(
    url: str, process: subprocess.Popen[bytes], seconds: float = 120, any_status: bool = False
) -> None:
    async with httpx.AsyncClient() as client:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"the server for {url} exited with {process.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                if any_status or (await client.get(url, timeout=5)).status_code == 200:
                    if any_status:
                        await client.get(url, timeout=5)
                    return
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {seconds} s")


@dataclass
class Server:
    """A server under load: the process we started and the processes that serve (itself, or its workers)."""

    process: subprocess.Popen[bytes]
    ws_url: str
    http_url: str
    pids: list[int]
    probe: bool  # has /debug/load (this project)
    sign: bool
    greets: bool

    async def probe_all(self, reset: bool, collect: bool = False) -> list[dict[str, Any]]:
        """Every worker's /debug/load: the probe answers for the process that accepted the connection, so it
        is asked on fresh connections until every pid has answered."""
        if not self.probe:
            return []
        seen: dict[int, dict[str, Any]] = {}
        suffix = "?reset=1" if reset else "?collect=1" if collect else ""
        for _ in range(500):
            async with httpx.AsyncClient() as client:
                data = (await client.get(f"{self.http_url}/debug/load{suffix}", timeout=60)).json()
            seen.setdefault(int(data["pid"]), data)
            if len(seen) >= len(self.pids):
                break
        return list(seen.values())

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def spawn(command: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Start a server with its output in ``log`` (read it when a run fails)."""
    with log.open("wb") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)


def pinned(args: argparse.Namespace) -> list[str]:
    """The server's command prefix: its CPUs, and its priority when the machine is shared (``--nice``)."""
    return ["nice", "-n", str(args.nice), "taskset", "-c", args.server_cpus]


async def start_project(args: argparse.Namespace, kayako_url: str, data_dir: Path) -> Server:
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "KCA_ENVIRONMENT": "development",
        "KCA_STT_ENGINE": "instant",
        "KCA_TTS_ENGINE": "tone",
        "KCA_KAYAKO_BASE_URL": kayako_url,
        "KCA_KAYAKO_EMAIL": "agent@example.com",
        "KCA_KAYAKO_PASSWORD": "mock-password",
        "KCA_KAYAKO_REQUESTS_PER_MINUTE": "100000",
        "KCA_DATABASE_URL": args.database_url or f"sqlite+aiosqlite:///{data_dir / 'bench.db'}",
        "KCA_DATA_DIR": str(data_dir),
        "KCA_HOST": "127.0.0.1",
        "KCA_PORT": str(port),
        "KCA_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "KCA_TWILIO_FAKE_PORT": "0",
        # One end-of-turn silence for every turn, as the peer has: the flow's longer windows (spelling,
        # yes/no after an answer) are a dialogue policy, not server cost, and would show as added latency.
        "KCA_END_OF_TURN_SILENCE_MS": str(args.silence_ms),
        "KCA_END_OF_TURN_YES_NO_MS": str(args.silence_ms),
        "KCA_END_OF_TURN_SPELLING_MS": str(args.silence_ms),
        "KCA_IDLE_TIMEOUT_SECONDS": "60",
        "KCA_LOG_LEVEL": "WARNING",
        "KCA_GC_TUNING": "true" if args.gc else "false",
        # --media-listener: media streams on the native listener (picows), which the TwiML points Twilio to
        "KCA_MEDIA_PORT": str(free_port()) if args.media_listener else "0",
    }
    # Unless given, the server's own defaults (docs/configuration.md).
    if args.message_ms is not None:
        env["KCA_PLAYBACK_MESSAGE_MS"] = str(args.message_ms)
    if args.lead_ms is not None:
        env["KCA_PLAYBACK_LEAD_MS"] = str(args.lead_ms)
    command = [*pinned(args), str(Path(args.server_python or sys.executable).parent / "kca"), "serve"]
    if args.workers > 1:
        command += ["--workers", str(args.workers)]
        env["KCA_REDIS_URL"] = args.redis  # shared by the workers (used stream tokens, the rate limit)
    process = spawn(command, data_dir / "server.log", env)
    http_url = f"http://127.0.0.1:{port}"
    await wait_http(f"{http_url}/healthz", process)
    server = Server(process, f"ws://127.0.0.1:{port}/twilio/media", http_url, [process.pid], True, True, True)
    if args.workers > 1:  # the workers are the processes that answer the probe
        await wait_workers(server, args.workers)
    return server


async def wait_workers(server: Server, workers: int) -> None:
    deadline = time.monotonic() + 120
    seen: set[int] = set()
    async with httpx.AsyncClient() as client:
        while len(seen) < workers and time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                # A new connection each time: SO_REUSEPORT spreads them over the workers by source port.
                response = await client.get(f"{server.http_url}/debug/load", headers={"Connection": "close"})
                seen.add(int(response.json()["pid"]))
            await asyncio.sleep(0.05)
    if len(seen) < workers:
        raise RuntimeError(f"only {len(seen)} of {workers} workers answered")
    server.pids = sorted(seen)


async def start_peer(args: argparse.Namespace, data_dir: Path) -> Server:
    python = peer_python(Path(args.cache_dir))
    port = free_port()
    command = [*pinned(args), str(python), str(SHARED_PERF / "pipecat_server.py")]
    command += ["--port", str(port), "--stop-secs", f"{args.silence_ms / 1000:.3f}"]
    command += ["--bot-pcm", str(Path(args.cache_dir) / "peer_reply_8k.pcm")]
    process = spawn(command, data_dir / "peer.log", dict(os.environ))
    http_url = f"http://127.0.0.1:{port}"
    await wait_http(f"{http_url}/stats", process)
    return Server(process, f"ws://127.0.0.1:{port}/ws", http_url, [process.pid], False, False, False)


# --- the stand-in server (``--stand-in``): a check of the callers alone, not a measurement of any server ----


class StandInCall(WSListener):
    """One call on the stand-in server: it answers each caller frame with one 20 ms reply frame while it is
    speaking (paced by the caller's own real-time frames, so it needs no clock), speaks a 2 s greeting, and
    after each caller utterance (its first silent frame after speech) speaks a 10 s reply ending with a mark.
    It costs next to nothing, so the callers can be driven at any N."""

    def __init__(self) -> None:
        super().__init__()
        self.reply = b""
        self.mark = b""
        self.speaking = 0  # reply frames still to send
        self.heard = False  # the caller has spoken since the last reply

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type != WSMsgType.TEXT:
            if frame.msg_type == WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code())
                transport.disconnect()
            return
        message = frame.get_payload_as_bytes()
        if message.startswith(b'{"event":"media"'):
            if SILENCE not in message:
                self.heard = True
            elif self.heard:
                self.heard, self.speaking = False, 500
            if self.speaking:
                transport.send(WSMsgType.TEXT, self.reply)
                self.speaking -= 1
                if not self.speaking:
                    transport.send(WSMsgType.TEXT, self.mark)
        elif b'"event":"start"' in message or b'"event": "start"' in message:
            sid = json.loads(message)["streamSid"]
            self.reply = protocol.media_message(sid, b"\x7f" * FRAME_BYTES).encode()
            self.mark = protocol.mark_message(sid, "reply").encode()
            self.speaking = 100


async def serve_stand_in(port: int) -> None:
    server = await ws_create_server(lambda _request: StandInCall(), "127.0.0.1", port)
    async with server:
        await server.serve_forever()


async def start_stand_in(args: argparse.Namespace, data_dir: Path) -> Server:
    port = free_port()
    command = [*pinned(args), sys.executable, str(ROOT / "bench" / "calls.py"), "--serve-stand-in", str(port)]
    process = spawn(command, data_dir / "stand-in.log", dict(os.environ))
    deadline = time.monotonic() + 60
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the stand-in server did not start") from None
            await asyncio.sleep(0.1)
            continue
        writer.close()
        break
    return Server(process, f"ws://127.0.0.1:{port}/", "", [process.pid], False, False, True)


def peer_python(cache_dir: Path) -> Path:
    """The peer's interpreter, in a virtual environment made once under ``cache_dir`` with pinned versions
    from PyPI (its own dependencies conflict with this project's, so it never shares our environment)."""
    venv = cache_dir / "pipecat-1.14.0"
    python = venv / "bin" / "python"
    if not (venv / ".complete").exists():
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--index-url",
                "https://pypi.org/simple",
                *PEER_REQUIREMENTS,
            ],
            check=True,
        )
        (venv / ".complete").touch()
    return python


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


async def write_peer_reply(cache_dir: Path) -> float:
    """The peer's fixed reply, as long as this project's answer in the benchmark (about 10 s), in eSpeak NG's
    voice at 8 kHz: both servers then send the same amount of audio per turn. Returns its seconds."""
    tts = LocalTextToSpeech("en-us", 165)
    pcm = b"".join([chunk async for chunk in tts.synthesize(PEER_REPLY, Usage())])
    pcm = resample(pcm, tts.sample_rate, 8000)
    await asyncio.to_thread(_write, cache_dir / "peer_reply_8k.pcm", pcm)
    return len(pcm) / 16000


# --- one run ---------------------------------------------------------------------------------------------


def _percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))], 1)


def write_turns(path: Path, calls: list[Call], w0: float) -> None:
    with path.open("a") as out:
        for c in calls:
            for t in c.turns:
                record = {
                    "call": c.index,
                    "t": round(t.last_speech - w0, 2),
                    "latency_ms": round((t.first - t.last_speech) * 1000, 1) if t.first else None,
                    "audio_s": round(t.audio_seconds, 2),
                    "behind_ms": round(t.worst_behind * 1000, 1),
                }
                out.write(json.dumps(record) + "\n")


async def measure(
    server: Server, n: int, args: argparse.Namespace, voice: tuple[list[bytes], list[bytes]]
) -> dict[str, Any]:
    # One HTTP client dials every call (the voice webhook), as one Twilio would.
    async with httpx.AsyncClient(timeout=30) as http:
        return await _measure(server, n, args, voice, http)


async def _measure(
    server: Server,
    n: int,
    args: argparse.Namespace,
    voice: tuple[list[bytes], list[bytes]],
    http: httpx.AsyncClient,
) -> dict[str, Any]:
    question, repeat = voice
    # Warm-up: one short call (imports, caches, first queries) before anything is measured.
    warm = Load(server.ws_url, question, repeat, sign=server.sign, wait_greeting=server.greets, http=http)
    warm.stop_at = time.monotonic() + 3
    await asyncio.wait_for(
        run_call(Call(0, f"MZwarm{os.getpid():08x}{'0' * 18}"), warm, 0, random.Random(0)), 90
    )
    await asyncio.sleep(1.0)
    rss_before = sum(rss_bytes(pid) for pid in server.pids)
    # The client's own heap (this module, the speech engine it voiced the callers with, httpx) is frozen out
    # of garbage collection: a full collection of it would stall every call's frames at once.
    gc.collect()
    gc.freeze()

    load = Load(server.ws_url, question, repeat, sign=server.sign, wait_greeting=server.greets, http=http)
    rng = random.Random(n)
    run_id = int.from_bytes(os.urandom(4), "big")
    calls = [Call(i, f"MZ{run_id:08x}{i:024x}") for i in range(n)]
    ramp = max(8.0, n / 20)
    begin = time.monotonic() + 0.5
    tasks = [
        asyncio.create_task(run_call(call, load, begin + rng.uniform(0, ramp), random.Random(rng.random())))
        for call in calls
    ]
    # The window opens when every call is connected and has heard its greeting (or failed).
    while not all(c.greeted_at is not None or c.error or c.ended_at for c in calls):
        if time.monotonic() > begin + ramp + 60:
            break
        await asyncio.sleep(0.1)
    greeted = sum(1 for c in calls if c.greeted_at is not None)
    print(
        f"N={n}: {greeted} greeted, {sum(1 for c in calls if c.error)} failed; window opens", file=sys.stderr
    )
    opening = await server.probe_all(reset=True)
    w0 = time.monotonic()
    cpu0 = sum(cpu_seconds(pid) for pid in server.pids)
    client0 = sum(os.times()[:2])
    core0 = cpu_busy(args.client_cpus)
    load.stop_at = w0 + args.window + 0.5
    profiler = None
    if args.py_spy:  # the first server process's stacks over the window, folded (flamegraph input)
        profiler = subprocess.Popen(  # noqa: ASYNC220 - started once, waited for after the window
            [
                "py-spy",
                "record",
                "--nonblocking",
                "--format",
                "raw",
                "-r",
                "50",
                "-d",
                str(int(args.window)),
                "-p",
                str(server.pids[0]),
                "-o",
                args.py_spy,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    await asyncio.sleep(args.window)
    probes = await server.probe_all(reset=False)
    w1 = time.monotonic()
    cpu1 = sum(cpu_seconds(pid) for pid in server.pids)
    client1 = sum(os.times()[:2])
    core1 = cpu_busy(args.client_cpus)
    rss_after = sum(rss_bytes(pid) for pid in server.pids)
    # After the window: what one full collection would pause every call for, with this heap and these calls.
    collections_after = await server.probe_all(reset=False, collect=True)
    await asyncio.wait_for(asyncio.gather(*tasks), REPLY_TIMEOUT + 30)
    if profiler is not None:
        await asyncio.to_thread(profiler.wait, 60)

    window = w1 - w0
    if args.turns_out:
        write_turns(Path(args.turns_out), calls, w0)
    if probes:
        # The server's own window and CPU (from the probe): a starved load client's clock would stretch them.
        window = statistics.fmean(p["window_seconds"] for p in probes)
        cpu_used = sum(p["cpu_seconds"] for p in probes)
        stream_seconds = sum(p["stream_seconds"] for p in probes)
        gc_max = max(max(p["gc"]["max_pause_ms"]) for p in probes)
        sent = sum(p["playback_seconds_total"] for p in probes) - sum(
            p["playback_seconds_total"] for p in opening
        )
        sent_late = sum(p["playback_late_seconds_total"] for p in probes) - sum(
            p["playback_late_seconds_total"] for p in opening
        )
        server_late_share: float | None = round(sent_late / sent, 5) if sent > 0 else 0.0
        cache_hits, cache_misses = (
            sum(p.get(f"speech_cache_{kind}_total", 0.0) for p in probes)
            - sum(p.get(f"speech_cache_{kind}_total", 0.0) for p in opening)
            for kind in ("hits", "misses")
        )
        collections = [sum(p["gc"]["collections"][g] for p in probes) for g in range(3)]
    else:  # the peer has no probe: /proc and the client's connected seconds in the window instead
        cpu_used = cpu1 - cpu0
        stream_seconds = sum(
            max(0.0, min(w1, c.ended_at or w1) - max(w0, c.connected_at or w1)) for c in calls
        )
        gc_max, collections, server_late_share = None, None, None
        cache_hits = cache_misses = 0.0
    turns = [t for c in calls for t in c.turns if w0 <= t.last_speech < w1]
    answered = [t for t in turns if t.first is not None]
    latency = [(t.first - t.last_speech) * 1000 for t in answered if t.first is not None]
    added = [ms - args.silence_ms for ms in latency]
    late = [t for t in answered if t.worst_behind * 1000 > LATE_MS]
    cpu_per_call = cpu_used / stream_seconds if stream_seconds else None
    ticker = load.ticker
    sends = [late * 1000 for when, late in zip(ticker.sent_at, ticker.late, strict=True) if w0 <= when < w1]
    return {
        "calls": n,
        "concurrency": round(stream_seconds / window, 1),
        "failed": sum(1 for c in calls if c.error),
        "errors": sorted({c.error for c in calls if c.error})[:3],
        "window_s": round(window, 1),
        "streams_open_at_start": sum(p["streams_open"] for p in opening),
        "streams_per_worker": [p["streams_open"] for p in opening],
        "turns": len(turns),
        "unanswered": len(turns) - len(answered),
        "reply_audio_s": round(statistics.fmean(t.audio_seconds for t in answered), 2) if answered else None,
        "latency_p50_ms": _percentile(latency, 0.5),
        "latency_p95_ms": _percentile(latency, 0.95),
        "added_p50_ms": _percentile(added, 0.5),
        "added_p95_ms": _percentile(added, 0.95),
        "late_replies": len(late),
        "late_share": round(len(late) / len(answered), 4) if answered else None,
        "server_late_audio_share": server_late_share,
        # Sentences sent from the speech cache and sentences synthesized (and resampled) in the window.
        "speech_cache_hits": int(cache_hits),
        "speech_cache_misses": int(cache_misses),
        "worst_behind_ms": round(max((t.worst_behind for t in answered), default=0.0) * 1000, 1),
        "server_cpu_core": round(cpu_used / window, 3),
        "cpu_per_call": round(cpu_per_call, 5) if cpu_per_call else None,
        "calls_per_core": round(1 / cpu_per_call) if cpu_per_call else None,
        "memory_per_call_mb": round((rss_after - rss_before) / n / 2**20, 3),
        "rss_mb": round(rss_after / 2**20, 1),
        "gc_max_pause_ms": gc_max,
        "gc_collections": collections,
        "full_collection_ms": max(
            (p.get("full_collection_ms", 0.0) for p in collections_after), default=None
        ),
        "client_send_late_p50_ms": _percentile(sends, 0.5),
        "client_send_late_p99_ms": _percentile(sends, 0.99),
        "client_send_late_max_ms": _percentile(sends, 1.0),
        "client_cpu_core": round((client1 - client0) / (w1 - w0), 2),
        # Everything else that ran on the client's cores in the window (other processes, interrupts): when it
        # is large the client was competing for its core, and its lateness says more about the machine.
        "client_core_others": round((core1[0] - core0[0] - (client1 - client0)) / (w1 - w0), 2),
        "client_core_interrupts": round((core1[1] - core0[1]) / (w1 - w0), 2),  # included in the above
    }


@contextlib.asynccontextmanager
async def fresh_postgres(admin_url: str) -> Any:
    """A database of its own on the shared PostgreSQL for one run, dropped afterwards; yields its URL."""
    import asyncpg  # type: ignore[import-untyped]

    name = f"kca_bench_{os.getpid()}_{int(time.time())}"
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield "postgresql+asyncpg://" + admin_url.split("://", 1)[1].rsplit("/", 1)[0] + "/" + name
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def run_one(kind: str, n: int, args: argparse.Namespace, kayako_url: str, voice: Any) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="kca-bench-") as tmp:
        data_dir = Path(tmp)
        async with contextlib.AsyncExitStack() as stack:
            if kind == "kca" and args.postgres and not args.database_url:
                url = await stack.enter_async_context(fresh_postgres(args.postgres))
                args = argparse.Namespace(**{**vars(args), "database_url": url})
            if kind == "pipecat":
                server = await start_peer(args, data_dir)
            elif kind == "stand-in":
                server = await start_stand_in(args, data_dir)
            else:
                server = await start_project(args, kayako_url, data_dir)
            try:
                row = await measure(server, n, args, voice)
            finally:
                server.stop()
        row["server"] = kind
        row["database"] = "postgresql" if kind == "kca" and args.database_url else "sqlite"
        return row


async def main(args: argparse.Namespace) -> None:
    voice = (
        await utterance_frames("how do I reset my password", 175),
        await utterance_frames("say again", 190),
    )
    kayako_port = free_port()
    kayako_url = f"http://127.0.0.1:{kayako_port}"
    mock = subprocess.Popen(  # noqa: ASYNC220 - one helper process for the whole benchmark
        [
            "taskset",
            "-c",
            args.client_cpus,
            str(Path(sys.executable).parent / "kca"),
            "kayako-mock",
            "--port",
            str(kayako_port),
        ],
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    rows: list[dict[str, Any]] = []
    if args.peer:
        await asyncio.to_thread(peer_python, Path(args.cache_dir))
        seconds = await write_peer_reply(Path(args.cache_dir))
        print(f"peer reply: {seconds:.2f} s of audio", file=sys.stderr)
    try:
        await wait_http(f"{kayako_url}/api/v1/helpcenter/articles", mock, any_status=True)
        for n in [int(x) for x in args.calls.split(",")]:
            kinds = ["stand-in"] if args.stand_in else ["kca", "pipecat"] if args.peer else ["kca"]
            for kind in kinds:
                try:
                    row = await run_one(kind, n, args, f"{kayako_url}/api/v1", voice)
                except Exception as error:  # e.g. an overloaded server that no longer accepts the probe
                    print(f"N={n} {kind}: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
                    continue
                rows.append(row)
                print(json.dumps(row), file=sys.stderr if args.json else sys.stdout, flush=True)
    finally:
        mock.terminate()
        mock.wait(timeout=30)
    summary = {
        "end_of_turn_silence_ms": args.silence_ms,
        "workers": args.workers,
        "gc_tuning": args.gc,
        "media_listener": args.media_listener,
        "message_ms": args.message_ms or "default",
        "lead_ms": args.lead_ms or "default",
        "server_python": platform_of(args.server_python or sys.executable),
        "machine": machine_of(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "nice": args.nice,
        "runs": rows,
    }
    print(json.dumps(summary, indent=2) if args.json else table(summary))


def platform_of(python: str) -> str:
    """The server's interpreter as the table caption names it: version and executable (how it was built —
    e.g. with profile-guided optimisation, as Debian's and the official container images' are — makes a
    pure-Python server markedly faster, and is not recorded reliably in ``sysconfig``)."""
    probe = "import sys; print('Python', sys.version.split()[0], sys.executable)"
    result = subprocess.run([python, "-c", probe], capture_output=True, text=True, check=False)
    return result.stdout.strip() or python


def machine_of() -> str:
    """The processor the figures were measured on, as the table caption names it: the same code gave 0.23 %
    of a core per call on one 2-core virtual machine of this workplace and 0.15 % on another."""
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    models = [line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")]
    guest = " (virtual machine)" if " hypervisor" in cpuinfo else ""
    return f"{models[0] if models else 'unknown CPU'}, {os.cpu_count()} CPUs{guest}"


def _setting_ms(value: object) -> str:
    return "as the server's default" if value == "default" else f"{value} ms"


def held(row: dict[str, Any]) -> bool:
    """A run counts only if it really held its concurrency (at least 98 % of N, time-averaged over the
    window) with no failed call. Whether the callers kept real time is shown beside it (client p99 late)."""
    return bool(row["failed"] == 0 and row["concurrency"] >= 0.98 * row["calls"])


def _share(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.2f} %"


def table(summary: dict[str, Any]) -> str:
    lines = [
        f"end-of-turn silence {summary['end_of_turn_silence_ms']} ms, {summary['workers']} server process(es), "
        f"GC tuning {'on' if summary['gc_tuning'] else 'off'}, nice {summary['nice']}, "
        f"media on the {'native listener' if summary.get('media_listener') else 'main port'}, "
        f"outbound messages {_setting_ms(summary.get('message_ms', 100))}, "
        f"lead {_setting_ms(summary.get('lead_ms', 60))}, "
        f"server on {summary.get('server_python', 'this Python')}, "
        f"machine: {summary.get('machine', 'not recorded')}, "
        f"load average at the end {summary['load_average']}",
        "",
        "| server | N | held (avg streams) | turns (unanswered) | added p50 / p95 ms | late replies "
        "| server late audio | worst behind ms "
        "| CPU of a core | CPU per call | calls per core | MB per call | max GC pause ms | client p99 late ms "
        "| client CPU (others on its core) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in summary["runs"]:
        lines.append(
            f"| {r['server']} | {r['calls']} | {'yes' if held(r) else 'NO'} ({r['concurrency']}) | "
            f"{r['turns']} ({r['unanswered']}) | {r['added_p50_ms']} / {r['added_p95_ms']} | "
            f"{r['late_replies']} ({(r['late_share'] or 0) * 100:.1f} %) | "
            f"{_share(r['server_late_audio_share'])} | "
            f"{r['worst_behind_ms']} | "
            f"{r['server_cpu_core'] * 100:.0f} % | {(r['cpu_per_call'] or 0) * 100:.3f} % | {r['calls_per_core']} | "
            f"{r['memory_per_call_mb']} | {r['gc_max_pause_ms']} | {r['client_send_late_p99_ms']} | "
            f"{r['client_cpu_core'] * 100:.0f} % ({r['client_core_others'] * 100:.0f} %) |"
        )
    by_n: dict[int, dict[str, dict[str, Any]]] = {}
    for r in summary["runs"]:
        by_n.setdefault(r["calls"], {})[r["server"]] = r
    pairs = [(n, s["kca"], s["pipecat"]) for n, s in sorted(by_n.items()) if "kca" in s and "pipecat" in s]
    if pairs:
        lines += [
            "",
            "| N | CPU per call: kca / Pipecat (ratio) | MB per call (ratio) | added p95 ms | late replies |",
            "|---:|---:|---:|---:|---:|",
        ]
        for n, k, p in pairs:
            cpu_ratio = (p["cpu_per_call"] or 0) / (k["cpu_per_call"] or 1)
            mem_ratio = (
                p["memory_per_call_mb"] / k["memory_per_call_mb"]
                if k["memory_per_call_mb"] > 0
                else float("nan")
            )
            lines.append(
                f"| {n} | {(k['cpu_per_call'] or 0) * 100:.3f} % / {(p['cpu_per_call'] or 0) * 100:.3f} % "
                f"(×{cpu_ratio:.1f}) | {k['memory_per_call_mb']} / {p['memory_per_call_mb']} (×{mem_ratio:.1f}) | "
                f"{k['added_p95_ms']} / {p['added_p95_ms']} | {k['late_replies']} / {p['late_replies']} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", default="50,100", help="Comma-separated numbers of simultaneous calls.")
    parser.add_argument("--silence-ms", type=int, default=200, help="End-of-turn silence (both servers).")
    parser.add_argument("--window", type=float, default=30.0, help="Seconds measured, with every call on.")
    parser.add_argument("--server-cpus", default="1", help="taskset CPU list of the server.")
    parser.add_argument("--client-cpus", default="0", help="CPU list of this process (the callers).")
    parser.add_argument("--workers", type=int, default=1, help="Server processes (`kca serve --workers`).")
    parser.add_argument("--no-gc-tuning", dest="gc", action="store_false", help="KCA_GC_TUNING=false (A/B).")
    parser.add_argument(
        "--media-listener",
        action="store_true",
        help="Serve media streams on the native listener (KCA_MEDIA_PORT, picows) instead of the main port.",
    )
    parser.add_argument(
        "--message-ms",
        type=int,
        help="KCA_PLAYBACK_MESSAGE_MS: audio per outbound message (default: the server's).",
    )
    parser.add_argument(
        "--lead-ms",
        type=int,
        help="KCA_PLAYBACK_LEAD_MS: audio kept ahead of the caller (default: the server's).",
    )
    parser.add_argument(
        "--server-python",
        help="The Python of another virtual environment with this project installed, to run the server on "
        "(e.g. one made from a PGO/LTO-optimised interpreter, as in the container image); its `kca` is used.",
    )
    parser.add_argument("--peer", action="store_true", help="Also run the Pipecat peer on the same load.")
    parser.add_argument(
        "--cache-dir", default=os.path.expanduser("~/.cache/kca-bench"), help="The peer's venv."
    )
    parser.add_argument(
        "--database-url", help="The server's database (default: a fresh SQLite file per run)."
    )
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="Niceness of the server and the callers (e.g. -10 on a machine shared with other work; root).",
    )
    parser.add_argument(
        "--postgres",
        nargs="?",
        const="postgresql://postgres@127.0.0.1:5432/test",
        help="A fresh PostgreSQL database per run, made through this admin URL (needed by --workers > 1).",
    )
    parser.add_argument(
        "--redis",
        default="redis://127.0.0.1:6379/0",
        help="The Redis the workers share (with --workers > 1).",
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--py-spy", help="Profile the server over the window into this file (py-spy, folded)."
    )
    parser.add_argument(
        "--turns-out", help="Append every turn (time, latency, audio, lateness) to this file."
    )
    parser.add_argument(
        "--stand-in",
        action="store_true",
        help="Check the callers alone: run them against a stand-in server that costs next to nothing.",
    )
    parser.add_argument("--serve-stand-in", type=int, help=argparse.SUPPRESS)  # the stand-in's own process
    arguments = parser.parse_args()
    if arguments.serve_stand_in:
        uvloop.run(serve_stand_in(arguments.serve_stand_in))
        sys.exit(0)
    if arguments.nice and os.getsid(0) != os.getpid() and shutil.which("setsid"):
        os.execvp(
            "setsid", ["setsid", "--wait", sys.executable, *sys.argv]
        )  # a session (and autogroup) of its own
    os.sched_setaffinity(0, {int(c) for c in arguments.client_cpus.split(",")})
    if arguments.nice:
        # With autogroup scheduling a niceness only ranks processes within one session: the benchmark runs in
        # a session of its own (above) and gives that session's group the niceness.
        with contextlib.suppress(OSError):
            Path("/proc/self/autogroup").write_text(str(arguments.nice))
        os.nice(arguments.nice)
    uvloop.run(main(arguments))
