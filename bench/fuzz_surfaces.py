"""Fuzz the assistant's public surfaces against a real ``kca serve`` on a port (issue 10).

Run: PYTHONPATH=src python bench/fuzz_surfaces.py [--http 10000] [--ws 10000] [--seed 1]

The server is ``kca serve`` in a child process (development environment, embedded Kayako mock, SQLite in a
temporary directory), so its memory is its own and its log is a file this script reads afterwards.

Surfaces and what counts:
- HTTP: schemathesis cases generated from the server's ``/openapi.json`` over every operation, plus forged
  and replayed Twilio signatures on every signed webhook (no signature, random, the wrong token, a captured
  signature replayed with other parameters, on another path, or for another host). A forged request is
  *accepted* when it is answered below 400.
- ``/twilio/media``: upgrades with no or a forged signature (accepted = the upgrade succeeds); signed
  upgrades whose frames are random or mutated Twilio messages followed by a ``start`` without a valid token
  (a forged token, another call's token, a replayed used token: accepted = the server speaks); and real
  calls (simulator: signed voice webhook, valid ``start``) fed mutated frames mid-call.
- ``/softphone/media`` (served in development): upgrades with no, forged or reused tokens (accepted = the
  upgrade succeeds), and one real browser call fed mutated frames.
Every surface also counts 5xx answers, and the server's log is searched for tracebacks at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from kayako_call_assistant.telephony.signature import DEVELOPMENT_AUTH_TOKEN
from kayako_call_assistant.telephony.simulator import SimulatedCall, signed_headers

SIGNED_ROUTES = [
    "/twilio/voice",
    "/twilio/gather?call=CA" + "1" * 32,
    "/twilio/status",
    "/twilio/stream-status",
    "/twilio/whisper",
]


@dataclass
class Tally:
    inputs: int = 0
    forged: int = 0
    forged_accepted: int = 0
    server_errors: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)

    def answer(self, status: int, *, forged: bool) -> None:
        self.inputs += 1
        self.statuses[status] += 1
        if status >= 500:
            self.server_errors += 1
        if forged:
            self.forged += 1
            if status < 400:
                self.forged_accepted += 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return -1


# --- HTTP ----------------------------------------------------------------------------------------------


def schemathesis_requests(base: str, target: int, admin_token: str, tally: Tally) -> None:
    """Generated cases over every operation, round after round, until ``target`` requests were sent; every
    other case carries a valid admin bearer token, so the admin API's handlers see fuzzed input too (the
    anonymous ones are refused with 401, then 429 once the refusal limit is reached)."""
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    per_round = max(10, target // len(operations) // 4)
    while tally.inputs < target:
        before = tally.inputs
        for operation in operations:

            @settings(
                max_examples=per_round,
                deadline=None,
                database=None,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy())
            def run(case: schemathesis.Case) -> None:
                if tally.inputs >= target:
                    return
                bearer = {"Authorization": f"Bearer {admin_token}"} if tally.inputs % 2 else {}
                response = case.call(base_url=base, headers=bearer, timeout=30)
                tally.answer(response.status_code, forged=False)
                if response.status_code >= 500 and len(tally.notes) < 10:
                    tally.notes.append(f"{case.method} {case.formatted_path} -> {response.status_code}")

            run()
        if tally.inputs == before:
            break


def forged_signature_requests(base: str, count: int, seed: int, tally: Tally) -> None:
    """Forged and replayed signatures on the signed webhooks; one genuine request per route as a control
    (it must be accepted, or a zero below would mean nothing)."""
    rng = random.Random(seed)
    with httpx.Client(base_url=base, timeout=30) as client:
        captured: dict[str, tuple[dict[str, str], str]] = {}
        for route in SIGNED_ROUTES:
            params = {
                "CallSid": "CA" + os.urandom(16).hex(),
                "AccountSid": "AC" + "0" * 32,
                "CallStatus": "completed",
            }
            signature = signed_headers(DEVELOPMENT_AUTH_TOKEN, base + route, params)["X-Twilio-Signature"]
            control = client.post(route, data=params, headers={"X-Twilio-Signature": signature})
            if control.status_code >= 400:
                tally.notes.append(f"control {route} answered {control.status_code}: the harness is broken")
            captured[route] = (params, signature)
        for _ in range(count):
            route = rng.choice(SIGNED_ROUTES)
            params = {
                "CallSid": "CA" + os.urandom(16).hex(),
                "AccountSid": "AC" + "0" * 32,
                "From": f"+1555{rng.randrange(10**7):07d}",
                "CallStatus": rng.choice(["ringing", "completed", "in-progress"]),
                "SpeechResult": rng.choice(["", "my email is jane@example.com", "x" * rng.randrange(2000)]),
            }
            kind = rng.randrange(7)
            headers: dict[str, str] = {}
            if kind == 1:  # random bytes
                headers["X-Twilio-Signature"] = base64.b64encode(os.urandom(20)).decode()
            elif kind == 2:  # signed with a token that is not the server's
                headers = signed_headers("0" * 32, base + route, params)
            elif kind == 3:  # a captured genuine signature replayed with other parameters
                headers["X-Twilio-Signature"] = captured[route][1]
            elif kind == 4:  # a genuine signature for another route, replayed here
                other = rng.choice([r for r in SIGNED_ROUTES if r != route])
                params = dict(captured[other][0])
                headers["X-Twilio-Signature"] = captured[other][1]
            elif kind == 5:  # signed for another host, with the forwarded headers naming it
                headers = signed_headers(DEVELOPMENT_AUTH_TOKEN, "https://attacker.example" + route, params)
                headers |= {"X-Forwarded-Host": "attacker.example", "X-Forwarded-Proto": "https"}
            elif kind == 6:  # a valid signature, then one parameter changed
                headers = signed_headers(DEVELOPMENT_AUTH_TOKEN, base + route, params)
                params["From"] = "+15550000000"
            response = client.post(route, data=params, headers=headers)
            tally.answer(response.status_code, forged=True)


# --- WebSocket -----------------------------------------------------------------------------------------

PAYLOAD = base64.b64encode(b"\xff" * 160).decode()
SHAPES: list[dict[str, Any]] = [
    {"event": "media", "media": {"payload": PAYLOAD, "timestamp": "20", "track": "inbound"}},
    {"event": "mark", "mark": {"name": "reply-1"}},
    {"event": "dtmf", "dtmf": {"digit": "5"}},
    {"event": "connected", "protocol": "Call", "version": "1.0.0"},
    {"event": "start", "start": {"streamSid": "MZ9", "callSid": "CA9", "customParameters": {"token": "x"}}},
]
ODD: list[object] = [None, -1, 2**70, 1e308, "", "x" * 3000, [], {}, [[[[]]]], "AAAA====", "🙂" * 30, True]


def mutated_frame(rng: random.Random, *, allow_start: bool = True) -> str | bytes:
    shapes = SHAPES if allow_start else SHAPES[:-1]
    message = json.loads(json.dumps(rng.choice(shapes)))
    section = message.get(message["event"])
    target = section if isinstance(section, dict) and rng.random() < 0.7 else message
    key = rng.choice([*target.keys(), "event", "payload", "timestamp", "name", "digit", "token"])
    target[key] = rng.choice(ODD)
    text = json.dumps(message)
    roll = rng.random()
    if roll < 0.1:
        return text[: rng.randrange(len(text))]
    if roll < 0.2:
        return text.encode()[:50] + rng.randbytes(8)
    if roll < 0.25:
        return rng.randbytes(rng.randrange(1, 400))
    if roll < 0.27:
        return "[" * rng.randrange(1, 5000)
    return text


def forged_start(rng: random.Random, used_token: str, other_token: str) -> dict[str, Any]:
    token = rng.choice(["", "forged." + os.urandom(8).hex(), used_token, other_token, "x" * 500])
    start: dict[str, Any] = {
        "accountSid": "AC" + "0" * 32,
        "streamSid": "MZ" + os.urandom(16).hex(),
        "callSid": "CA" + os.urandom(16).hex(),
        "tracks": ["inbound"],
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        "customParameters": {"token": token, "caller": "+15005550006"},
    }
    return {"event": "start", "start": start, "streamSid": start["streamSid"]}


async def upgrade_refused(url: str, headers: dict[str, str], tally: Tally) -> None:
    """A forged upgrade; accepted when the server completes the WebSocket handshake."""
    try:
        async with connect(url, additional_headers=headers, open_timeout=30) as ws:
            tally.answer(101, forged=True)
            await ws.close()
    except InvalidStatus as refused:
        tally.answer(refused.response.status_code, forged=True)


async def stream_without_valid_token(
    url: str, frames: int, rng: random.Random, used_token: str, other_token: str, tally: Tally
) -> None:
    """Signed upgrade, ``frames`` random frames before any start, then a start without a valid token: the
    server must close without speaking."""
    async with connect(
        url, additional_headers=signed_headers(DEVELOPMENT_AUTH_TOKEN, url, {}), max_size=2**20
    ) as ws:
        for _ in range(frames):
            await ws.send(mutated_frame(rng, allow_start=False))
            tally.answer(200, forged=False)
        await ws.send(json.dumps(forged_start(rng, used_token, other_token)))
        spoke = False
        with contextlib.suppress(ConnectionClosed, TimeoutError):
            async with asyncio.timeout(10):
                async for message in ws:
                    if isinstance(message, str) and '"media"' in message:
                        spoke = True
                        break
        tally.answer(200 if spoke else 403, forged=True)


async def twilio_media(base: str, count: int, seed: int, tally: Tally) -> None:
    rng = random.Random(seed)
    url = base.replace("http://", "ws://") + "/twilio/media"
    # A real call first: its token (now used) and a second call's token are replayed below.
    calls = []
    for _ in range(2):
        call = SimulatedCall(base, auth_token=DEVELOPMENT_AUTH_TOKEN)
        await call.dial()
        calls.append(call)
    used_token, other_token = calls[0].issued_token, calls[1].issued_token
    # Mid-call mutation: 40 % of the inputs into the two live calls.
    for i in range(int(count * 0.4)):
        call = calls[i % 2]
        if call.closed.is_set():
            break
        await call.send_raw(mutated_frame(rng, allow_start=True))
        tally.answer(200, forged=False)
    for call in calls:
        await call.hang_up()
    # Forged upgrades: no signature, a random one, one for another URL.
    for i in range(200):
        kind = i % 3
        headers = (
            {}
            if kind == 0
            else {"X-Twilio-Signature": base64.b64encode(os.urandom(20)).decode()}
            if kind == 1
            else signed_headers(DEVELOPMENT_AUTH_TOKEN, "wss://attacker.example/twilio/media", {})
        )
        await upgrade_refused(url, headers, tally)
    # Signed upgrades with junk then a start without a valid token (forged, used, another call's CallSid).
    while tally.inputs < count:
        await stream_without_valid_token(url, 200, rng, used_token, other_token, tally)


async def softphone_media(base: str, count: int, seed: int, tally: Tally) -> None:
    rng = random.Random(seed)
    url = base.replace("http://", "ws://") + "/softphone/media"
    origin = {"Origin": base}
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        response = await client.post("/softphone/token", headers=origin)
        if response.status_code != 200:
            tally.notes.append(f"softphone token answered {response.status_code}; softphone not fuzzed")
            return
        token = response.json()["token"]
    async with connect(f"{url}?token={token}", additional_headers=origin, max_size=2**20) as ws:
        with contextlib.suppress(ConnectionClosed):
            for _ in range(int(count * 0.7)):
                await ws.send(mutated_frame(rng))
                tally.answer(200, forged=False)
    while tally.inputs < count:
        kind = rng.randrange(4)
        query = ["", "?token=" + os.urandom(12).hex(), f"?token={token}", f"?token={token[:-2]}xx"][kind]
        await upgrade_refused(url + query, origin if kind else {}, tally)


# --- main ----------------------------------------------------------------------------------------------


def report(name: str, tally: Tally, seconds: float) -> None:
    statuses = ", ".join(f"{code}: {n}" for code, n in sorted(tally.statuses.items()))
    print(
        f"| {name} | {tally.inputs:,} | {tally.forged:,} | {tally.forged_accepted} | {tally.server_errors} "
        f"| {seconds:.0f} s | {statuses} |",
        flush=True,
    )
    for note in tally.notes:
        print(f"  note: {note}", flush=True)


async def fuzz(base: str, admin_token: str, server: subprocess.Popen[bytes], args: argparse.Namespace) -> int:
    """Fuzz every surface of the server at ``base``; returns how many bad outcomes (0: all refused)."""
    async with httpx.AsyncClient(base_url=base) as probe:
        for _ in range(600):
            with contextlib.suppress(httpx.HTTPError):
                if (await probe.get("/healthz")).status_code == 200:
                    break
            if server.poll() is not None:
                return 1
            await asyncio.sleep(0.1)
    rss_before = rss_kib(server.pid)
    print(f"server pid {server.pid}, RSS before {rss_before / 1024:.1f} MiB", flush=True)
    print("| surface | inputs | forged | forged accepted | 5xx | time | statuses |")
    print("|---|---:|---:|---:|---:|---:|---|")
    http = Tally()
    started = time.monotonic()
    await asyncio.to_thread(schemathesis_requests, base, int(args.http * 0.6), admin_token, http)
    await asyncio.to_thread(forged_signature_requests, base, args.http - http.inputs, args.seed, http)
    report("HTTP (schemathesis + forged signatures)", http, time.monotonic() - started)
    media = Tally()
    started = time.monotonic()
    await twilio_media(base, args.ws, args.seed, media)
    report("/twilio/media", media, time.monotonic() - started)
    soft = Tally()
    started = time.monotonic()
    await softphone_media(base, args.ws, args.seed, soft)
    report("/softphone/media", soft, time.monotonic() - started)
    await asyncio.sleep(2)  # calls hung up above finish their bookkeeping
    rss_after = rss_kib(server.pid)
    async with httpx.AsyncClient(base_url=base) as probe:
        healthy = (await probe.get("/healthz")).status_code
    print(f"server RSS before {rss_before / 1024:.1f} MiB, after {rss_after / 1024:.1f} MiB")
    print(f"/healthz after the run: {healthy}")
    return sum(t.forged_accepted + t.server_errors for t in (http, media, soft)) + (healthy != 200)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--http", type=int, default=10_000, help="HTTP inputs (about 60 %% schemathesis)")
    parser.add_argument("--ws", type=int, default=10_000, help="inputs per WebSocket surface")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as directory:
        log_path = Path(directory) / "server.log"
        env = {
            **os.environ,
            "KCA_ENVIRONMENT": "development",
            "KCA_HOST": "127.0.0.1",
            "KCA_PORT": str(port),
            "KCA_PUBLIC_URL": base,
            "KCA_DATABASE_URL": f"sqlite+aiosqlite:///{directory}/fuzz.db",
            "KCA_DATA_DIR": directory,
        }
        kca = str(Path(sys.executable).with_name("kca"))
        admin_token = subprocess.run(
            [kca, "db", "tokens", "create", "fuzz"], env=env, capture_output=True, text=True, check=True
        ).stdout.split()[-1]
        with log_path.open("w") as log:
            server = subprocess.Popen([kca, "serve"], env=env, stdout=log, stderr=log)
        try:
            bad = asyncio.run(fuzz(base, admin_token, server, args))
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(60)
        text = log_path.read_text()
    tracebacks = text.count("Traceback") + text.count("Exception in ASGI")
    print(f"tracebacks in the server's log: {tracebacks}; log lines: {text.count(chr(10)):,}")
    if tracebacks:  # the first one's frames in our package and its exception lines
        block = text[text.find("Traceback") :].splitlines()[:400]
        exception = re.compile(r"^[A-Za-z_.]+(Error|Exception)\b")
        print("\n".join(line for line in block if "kayako_call_assistant/" in line or exception.match(line)))
    return 1 if bad or tracebacks else 0


if __name__ == "__main__":
    raise SystemExit(main())
