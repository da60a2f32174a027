"""CPU cost of the call path's database writes: ``SqlCallStore.save_progress`` and ``add_turn``.

Each call's flow writes the caller's turn (``add_turn``) and then its reply with the call's columns and flow
state (``save_progress``) once per turn; at hundreds of simultaneous calls those writes are a measurable
share of the server's one core. This creates the schema as the service does (``create_engine`` and the
Alembic migrations), stores ``--calls`` calls, then for ``--turns`` rounds writes one caller turn and one
save per call (round robin, as calls interleave on a server), and prints the CPU time per write of the
event-loop thread (``time.thread_time`` in the loop thread) and of the whole process (``time.process_time``:
with SQLite this includes aiosqlite's worker thread), and the wall time.

    PYTHONPATH=src .venv/bin/python bench/store_speed.py
    PYTHONPATH=src .venv/bin/python bench/store_speed.py \
        --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test

On PostgreSQL the tables go in a fresh schema (``kca_bench_<random>``), dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url

from kayako_call_assistant.domain import CallChannel, CallRecord, Speaker, Turn
from kayako_call_assistant.observability.redact import redact_text
from kayako_call_assistant.storage import SqlCallStore, create_engine, upgrade

REPLY = (
    "To reset your password, open the sign-in page and choose 'Forgot password'. Enter the email address "
    "on your account and we will send you a link; it is valid for one hour. If the email does not arrive, "
    "check your spam folder. Did that solve your problem?"
)
QUESTION = "how do I reset my password I tried twice this morning and the link never came"


def _flow_state(turn: int) -> dict[str, Any]:
    """A flow state shaped like ``FlowMemory.to_json`` in the middle of a call."""
    return {
        "state": "confirming_resolution",
        "next_seq": 2 * turn + 2,
        "last_assistant_seq": 2 * turn + 1,
        "last_reply": REPLY,
        "last_prompt": "Did that solve your problem?",
        "issue": [QUESTION, "it says the link has expired"][: 1 + turn % 2],
        "question": QUESTION,
        "offered": [{"id": 101, "title": "Resetting your password"}, {"id": 57, "title": "Signing in"}],
        "failed_answers": 0,
        "silences": turn % 3,
        "abuse_warnings": 0,
        "attempts": 1,
        "skipped": [],
        "pending_email": None,
        "email_from_caller": False,
        "pending_phone": None,
        "case_number": None,
        "name_asks": 0,
        "verified_person_id": None,
        "verify_case": None,
        "verify_tries": 0,
        "person_id": None,
        "case_key": None,
        "confirm_asks": 1,
        "prompt_seq": 2 * turn + 1,
        "prompt_heard": True,
        "clarify": [],
        "clarify_asks": 0,
    }


class Meter:
    """CPU and wall time of a stretch of writes."""

    def __init__(self) -> None:
        self.thread = self.process = self.wall = 0.0
        self.count = 0

    @contextlib.asynccontextmanager
    async def measure(self) -> Any:
        thread, process, wall = time.thread_time(), time.process_time(), time.perf_counter()
        yield
        self.thread += time.thread_time() - thread
        self.process += time.process_time() - process
        self.wall += time.perf_counter() - wall
        self.count += 1

    def line(self, name: str) -> str:
        n = max(1, self.count)
        return (
            f"{name:13s} n={self.count:6d}  loop thread {1e6 * self.thread / n:7.0f} µs  "
            f"process {1e6 * self.process / n:7.0f} µs  wall {1e6 * self.wall / n:7.0f} µs"
        )


async def run(url: str, calls: int, turns: int, redact: bool, warmup: int) -> None:
    backend = make_url(url).get_backend_name()
    schema = f"kca_bench_{uuid.uuid4().hex[:12]}" if backend == "postgresql" else None
    engine = create_engine(url, schema=schema)
    try:
        await upgrade(engine)
        store = SqlCallStore(engine, redact=redact_text if redact else None)
        start = dt.datetime.now(dt.UTC)
        records = [
            CallRecord(
                call_id=f"call-{index:05d}",
                channel=CallChannel.MEDIA_STREAM,
                started_at=start,
                external_id=f"CA{uuid.uuid4().hex}",
                from_number="+15551230000",
                to_number="+15559870000",
                caller_attestation="A",
            )
            for index in range(calls)
        ]
        for record in records:
            await store.create_call(record)
        transcripts: dict[str, list[Turn]] = {record.call_id: [] for record in records}
        add_meter, save_meter = Meter(), Meter()

        async def timed(meter: Meter | None, write: Callable[[], Awaitable[Any]]) -> None:
            if meter is None:
                await write()
                return
            async with meter.measure():
                await write()

        for round_ in range(warmup + turns):
            measuring = round_ >= warmup
            for record in records:
                transcript = transcripts[record.call_id]
                now = dt.datetime.now(dt.UTC)
                caller = Turn(Speaker.CALLER, QUESTION, now, now, intent="question", seq=2 * round_)
                transcript.append(caller)
                await timed(
                    add_meter if measuring else None, lambda r=record, t=caller: store.add_turn(r.call_id, t)
                )
                reply = Turn(Speaker.ASSISTANT, REPLY, now, now + dt.timedelta(seconds=9), seq=2 * round_ + 1)
                reply.latency_seconds = 0.412
                transcript.append(reply)
                record.usage.model_input_tokens += 350
                record.usage.model_output_tokens += 60
                record.usage.audio_seconds_transcribed += 3.5
                record.usage.characters_synthesized += len(REPLY)
                state = _flow_state(round_)
                await timed(
                    save_meter if measuring else None,
                    lambda r=record, t=reply, s=state: store.save_progress(r, [t], s),
                )
        print(f"{backend}: {calls} calls × {turns} turns (after {warmup} warm-up rounds), redact={redact}")
        print(add_meter.line("add_turn"))
        print(save_meter.line("save_progress"))
        stored = await store.list_turns(records[0].call_id)
        assert len(stored) == 2 * (warmup + turns), len(stored)
    finally:
        await engine.dispose()
        if schema is not None:
            cleaner = create_engine(url)
            async with cleaner.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            await cleaner.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", help="default: a SQLite file in a temporary directory")
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--turns", type=int, default=20, help="measured writes per call (each kind)")
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured rounds first (caches, pool)")
    parser.add_argument("--redact", action="store_true", help="store with transcript redaction on")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(directory) / 'kca.db'}"
        asyncio.run(run(url, args.calls, args.turns, args.redact, args.warmup))


if __name__ == "__main__":
    main()
