"""Two real `kca serve` processes sharing one database, as two replicas behind a load balancer: a replica told
to stop (SIGTERM) takes no new calls but lets its live call finish, then exits; a call whose replica is killed
(`kill -9`) continues on the other one from its stored state. The test plays Twilio and the load balancer:
it follows the TwiML's ``<Redirect>`` to the surviving replica with the same CallSid.

Kayako (the mock), Twilio's REST API and the OpenAI-compatible speech and model endpoints are fakes on real
sockets in this process; the replicas reach them over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from kayako_call_assistant.calls import phrases
from kayako_call_assistant.fakes.openai_server import FakeOpenAIScript
from kayako_call_assistant.fakes.openai_server import create_app as create_openai_app
from kayako_call_assistant.fakes.twilio_rest import create_app as create_twilio_app
from kayako_call_assistant.kayako_mock.app import create_app as create_mock_app
from kayako_call_assistant.kayako_mock.config import MockConfig
from kayako_call_assistant.servers import serve_in_background
from kayako_call_assistant.storage import create_engine
from kayako_call_assistant.telephony.signature import DEVELOPMENT_AUTH_TOKEN
from kayako_call_assistant.telephony.simulator import SimulatedCall, post_webhook

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

ACCOUNT_SID = "AC" + "0" * 32
STARTUP_SECONDS = 240.0  # generous: the machine is shared; a replica that never starts fails the test


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _speech(seconds: float) -> bytes:
    """Voiced, speech-like 8 kHz PCM16 that the voice activity detector takes for speech."""
    import numpy as np

    t = np.arange(int(seconds * 8000)) / 8000
    signal_ = sum(np.sin(2 * np.pi * 140.0 * k * t) / k for k in range(1, 14))
    envelope = 0.55 + 0.45 * np.abs(np.sin(2 * np.pi * 3 * t))
    return (signal_ * envelope * 5000).astype("<i2").tobytes()


@dataclass
class Replica:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def call(self, call_sid: str | None = None) -> SimulatedCall:
        return SimulatedCall(self.url, auth_token=DEVELOPMENT_AUTH_TOKEN, call_sid=call_sid)


@dataclass
class Cluster:
    a: Replica
    b: Replica
    database: Path
    openai: FakeOpenAIScript


async def _wait_healthy(replica: Replica) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STARTUP_SECONDS
    async with httpx.AsyncClient(timeout=5.0) as client:
        while loop.time() < deadline:
            assert replica.process.poll() is None, (
                f"replica {replica.name} exited:\n{replica.output()[-3000:]}"
            )
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"{replica.url}/healthz")).status_code == 200:
                    return
            await asyncio.sleep(0.5)
    pytest.fail(f"replica {replica.name} did not start:\n{replica.output()[-3000:]}")


def _start(name: str, tmp_path: Path, env: dict[str, str]) -> Replica:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    data = tmp_path / name
    data.mkdir()
    log = tmp_path / f"{name}.log"
    replica_env = {
        **env,
        "KCA_PORT": str(port),
        "KCA_PUBLIC_URL": url,  # each replica's own address; the test is the load balancer
        "KCA_DATA_DIR": str(data),
    }
    kca = str(Path(sys.executable).parent / "kca")
    with log.open("wb") as out:
        process = subprocess.Popen([kca, "serve"], env=replica_env, stdout=out, stderr=subprocess.STDOUT)
    return Replica(name, url, process, log)


@contextlib.asynccontextmanager
async def _cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    mock = MockConfig()
    script = FakeOpenAIScript()
    async with (
        serve_in_background(create_mock_app(mock)) as mock_url,
        serve_in_background(create_twilio_app(ACCOUNT_SID, DEVELOPMENT_AUTH_TOKEN)) as twilio_url,
        serve_in_background(create_openai_app(script)) as openai_url,
    ):
        database = tmp_path / "calls.db"
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("KCA_")},
            "KCA_ENVIRONMENT": "development",
            "KCA_HOST": "127.0.0.1",
            "KCA_DATABASE_URL": f"sqlite+aiosqlite:///{database}",
            "KCA_KAYAKO_BASE_URL": f"{mock_url}/api/v1",
            "KCA_KAYAKO_EMAIL": mock.agent_email,
            "KCA_KAYAKO_PASSWORD": mock.agent_password,
            "KCA_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "KCA_TWILIO_API_BASE_URL": twilio_url,
            "KCA_LLM_ENGINE": "openai",
            "KCA_STT_ENGINE": "openai",
            "KCA_TTS_ENGINE": "openai",
            "KCA_OPENAI_BASE_URL": f"{openai_url}/v1",
            "KCA_OPENAI_API_KEY": "sk-test",
            "KCA_HELPDESK_NAME": "Acme",
            "KCA_IDLE_TIMEOUT_SECONDS": "60",
            # A bound far beyond the test: a replica that exits did so because its calls ended.
            "KCA_DRAIN_SECONDS": "600",
        }
        replicas: list[Replica] = []
        try:
            # One after the other: the first one migrates the shared database.
            replicas.append(_start("a", tmp_path, env))
            await _wait_healthy(replicas[0])
            replicas.append(_start("b", tmp_path, env))
            await _wait_healthy(replicas[1])
            yield Cluster(replicas[0], replicas[1], database, script)
        finally:
            for replica in replicas:
                if replica.process.poll() is None:
                    replica.process.kill()
                    replica.process.wait(timeout=30)


async def _rows(database: Path, query: str, **params: object) -> list[sa.Row[tuple[object, ...]]]:
    engine = create_engine(f"sqlite+aiosqlite:///{database}")
    try:
        async with engine.connect() as connection:
            return list((await connection.execute(sa.text(query), params)).all())
    finally:
        await engine.dispose()


async def _exit_code(process: subprocess.Popen[bytes], within: float) -> int | None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    # Polled: a child process's exit has no awaitable here (Popen, not asyncio's subprocess transport).
    while process.poll() is None and loop.time() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.2)
    return process.poll()


def _spoken(script: FakeOpenAIScript) -> list[str]:
    return [r["body"]["input"] for r in script.requests if r["path"] == "/v1/audio/speech"]


async def test_killed_replica_call_resumes_on_the_other_and_a_draining_replica_finishes_its_call(
    tmp_path: Path,
) -> None:
    async with _cluster(tmp_path) as cluster:
        a, b = cluster.a, cluster.b

        # --- kill -9 mid-call: the call continues on the other replica ---------------------------------
        call = b.call()
        async with httpx.AsyncClient() as client:
            first_twiml = (
                await post_webhook(
                    client,
                    f"{b.url}/twilio/voice",
                    {"CallSid": "CAprobe", "From": "+1"},
                    DEVELOPMENT_AUTH_TOKEN,
                )
            ).text
        redirect = ET.fromstring(first_twiml).find("Redirect")
        assert redirect is not None and redirect.text == f"{b.url}/twilio/voice"
        await call.dial()
        assert await call.wait_until_quiet(quiet_for=1.0, within=60.0)  # the greeting
        cluster.openai.transcripts.append("How do I reset my password?")
        await call.say_and_wait(_speech(1.2))
        assert await call.wait_for_speech(within=60.0)
        assert await call.wait_until_quiet(quiet_for=1.5, within=90.0)  # answered; the reply is stored
        b.process.send_signal(signal.SIGKILL)
        await asyncio.wait_for(call.closed.wait(), 30.0)
        assert b.process.wait(timeout=30) == -signal.SIGKILL

        # Twilio follows the <Redirect> to the public URL; the load balancer sends it to replica a.
        before_resume = len(_spoken(cluster.openai))
        resumed = a.call(call_sid=call.call_sid)
        await resumed.dial()
        assert await resumed.wait_until_quiet(quiet_for=1.0, within=60.0)
        said_on_resume = _spoken(cluster.openai)[before_resume:]
        assert said_on_resume[0] == phrases.LINE_DROPPED  # no second greeting: the conversation goes on
        assert not any("Thank you for calling" in text for text in said_on_resume)
        assert len(said_on_resume) == 2  # and the question the assistant last asked
        cluster.openai.transcripts.append("Thanks, goodbye")
        await resumed.say_and_wait(_speech(1.0))
        await resumed.wait_until_quiet(quiet_for=1.0, within=60.0)
        await resumed.hang_up()
        await resumed.status_callback("completed", duration=30)

        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        rows: list[sa.Row[tuple[object, ...]]] = []
        while loop.time() < deadline:
            rows = await _rows(
                cluster.database,
                "SELECT call_id, ended_at, outcome FROM calls WHERE external_id = :sid",
                sid=call.call_sid,
            )
            if rows and rows[0].ended_at is not None:
                break
            await asyncio.sleep(0.5)
        assert len(rows) == 1, "the resumed call is the same call, not a new one"
        assert rows[0].ended_at is not None and rows[0].outcome != "failed"
        turns = await _rows(
            cluster.database,
            "SELECT speaker, text FROM turns WHERE call_id = :id ORDER BY seq",
            id=rows[0].call_id,
        )
        caller_lines = [t.text for t in turns if t.speaker == "caller"]
        assert caller_lines == ["How do I reset my password?", "Thanks, goodbye"]
        greetings = [t.text for t in turns if "the virtual assistant" in t.text]
        assert len(greetings) == 1, [
            tuple(t) for t in turns
        ]  # greeted once (on replica b), nothing overwritten
        assert "telephony.call_resumed" in a.output()

        # --- SIGTERM: replica a drains --------------------------------------------------------------
        live = a.call()
        await live.dial()
        assert await live.wait_until_quiet(quiet_for=1.0, within=60.0)
        a.process.send_signal(signal.SIGTERM)
        async with httpx.AsyncClient(timeout=10.0) as client:
            ready = await client.get(f"{a.url}/readyz")
            while ready.status_code == 200:  # the drain starts on the event loop right after the signal
                await asyncio.sleep(0.1)
                ready = await client.get(f"{a.url}/readyz")
            assert ready.status_code == 503
            assert ready.json()["checks"]["accepting_calls"].startswith("failed")
            newcomer = await post_webhook(
                client,
                f"{a.url}/twilio/voice",
                {"CallSid": "CAnewcomer", "From": "+15550001111", "To": "+15550002222"},
                DEVELOPMENT_AUTH_TOKEN,
            )
        root = ET.fromstring(newcomer.text)
        assert root.find("Connect") is None, "a draining replica must not take a new call"
        sent_to = root.find("Redirect")
        assert sent_to is not None and sent_to.text == f"{a.url}/twilio/voice?attempt=1"

        # The live call goes on: the caller is answered while the replica drains.
        heard_before = len(live.received.heard)
        cluster.openai.transcripts.append("How do I reset my password?")
        await live.say_and_wait(_speech(1.2))
        assert await live.wait_for_speech(within=60.0)
        await live.wait_until_quiet(quiet_for=1.0, within=60.0)
        assert len(live.received.heard) > heard_before
        assert a.process.poll() is None, "the replica must wait for its live call"
        await live.hang_up()

        code = await _exit_code(a.process, within=120.0)
        assert code == 0, a.output()[-3000:]
        output = a.output()
        assert "drain.finished" in output and "calls_cut=0" in output
        ended = await _rows(
            cluster.database, "SELECT ended_at FROM calls WHERE external_id = :sid", sid=live.call_sid
        )
        assert ended and ended[0].ended_at is not None
