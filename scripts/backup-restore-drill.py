#!/usr/bin/env python3
"""Backup and restore drill on a PostgreSQL server (docs/maintenance.md, "Backup and recovery").

1. In a fresh schema of the given database, create the assistant's tables (the real migrations) and store
   calls with transcripts and cases still waiting in the outbox (the real stores).
2. Back it up with pg_dump (custom format), as the nightly backup does.
3. Restore the dump with pg_restore into a new, empty database.
4. Read the restored database with the assistant's own stores: every call, turn and pending case is there,
   and the outbox would deliver the pending cases.
5. Drop the drill's database and schema.

    scripts/backup-restore-drill.py --url postgresql+asyncpg://postgres@127.0.0.1:5432/test

Exit status 0 when the restored data matches, 1 otherwise. Needs pg_dump/pg_restore (postgresql-client) of
the server's major version and a role that may create databases.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from kayako_call_assistant.domain import CallChannel, CallOutcome, CallRecord, Speaker, Turn, Usage
from kayako_call_assistant.ports import OutboxEntry
from kayako_call_assistant.storage import SqlStores, create_engine, upgrade

CALLS = 3


def _libpq(url: str, database: str | None = None) -> list[str]:
    """pg_dump/pg_restore connection arguments for a SQLAlchemy URL."""
    parsed = make_url(url)
    args = ["--host", parsed.host or "127.0.0.1", "--port", str(parsed.port or 5432)]
    if parsed.username:
        args += ["--username", parsed.username]
    return [*args, "--dbname", database or parsed.database or "postgres"]


async def _seed(url: str, schema: str) -> dict[str, int]:
    engine = create_engine(url, schema=schema)
    try:
        await upgrade(engine)
        stores = SqlStores(engine)
        started = dt.datetime.now(dt.UTC).replace(microsecond=0)
        for n in range(CALLS):
            call = CallRecord(f"drill-call-{n}", CallChannel.MEDIA_STREAM, started, external_id=f"CAdrill{n}")
            call.usage = Usage(model_input_tokens=100 * (n + 1))
            await stores.calls.create_call(call)
            for seq, speaker in enumerate([Speaker.ASSISTANT, Speaker.CALLER, Speaker.ASSISTANT]):
                await stores.calls.add_turn(
                    call.call_id, Turn(speaker, f"call {n} turn {seq}", started, seq=seq)
                )
            call.outcome, call.ended_at = CallOutcome.ESCALATED, started + dt.timedelta(minutes=2)
            await stores.calls.update_call(call)
            payload = {"subject": f"Caller needs help ({n})", "contents_html": "<p>transcript</p>"}
            await stores.outbox.enqueue(
                OutboxEntry(f"case-drill-{n}", call.call_id, payload, created_at=started)
            )
        await stores.outbox.mark_delivered("case-drill-0", 101)  # one delivered, the others still pending
        return await _counts(engine, claim=False)
    finally:
        await engine.dispose()


async def _counts(engine: AsyncEngine, *, claim: bool) -> dict[str, int]:
    """What is stored; ``claim``: also let the outbox claim its due cases, as the worker would after a restore."""
    stores = SqlStores(engine)
    calls = await stores.calls.list_calls(limit=500)
    turns = sum([len(await stores.calls.list_turns(call.call_id)) for call in calls])
    counts = {"calls": len(calls), "turns": turns, "pending_cases": await stores.outbox.depth()}
    if claim:
        due = await stores.outbox.claim_due(dt.datetime.now(dt.UTC) + dt.timedelta(days=1), 100, 60.0)
        counts["deliverable_cases"] = len(due)
    return counts


async def _tool(name: str, *args: str) -> None:
    path = shutil.which(name)
    if path is None:
        raise SystemExit(f"{name} not found: install postgresql-client of the server's major version")
    process = await asyncio.create_subprocess_exec(path, *args)
    if await process.wait() != 0:
        raise SystemExit(f"{name} failed with exit status {process.returncode}")


async def _admin(url: str, statement: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


async def drill(url: str) -> bool:
    tag = uuid.uuid4().hex[:10]
    schema, restored_db = f"kca_drill_{tag}", f"kca_drill_{tag}"
    restored_url = make_url(url).set(database=restored_db).render_as_string(hide_password=False)
    try:
        before = await _seed(url, schema)
        print(f"seeded    {before}")
        with tempfile.TemporaryDirectory() as work:
            dump = Path(work) / "kca.dump"
            await _tool(
                "pg_dump",
                "--format=custom",
                "--no-owner",
                f"--schema={schema}",
                f"--file={dump}",
                *_libpq(url),
            )
            print(f"backed up {dump.stat().st_size} bytes")
            await _admin(url, f'CREATE DATABASE "{restored_db}"')
            await _tool("pg_restore", "--no-owner", "--exit-on-error", *_libpq(url, restored_db), str(dump))
        restored = create_engine(restored_url, schema=schema)
        try:
            await upgrade(restored)  # a restored backup must also take the current migrations
            after = await _counts(restored, claim=True)
        finally:
            await restored.dispose()
        print(f"restored  {after}")
        deliverable = after.pop("deliverable_cases")
        ok = before == after and after["pending_cases"] == CALLS - 1 and deliverable == CALLS - 1
        print("drill: OK" if ok else "drill: MISMATCH")
        return ok
    finally:
        await _admin(url, f'DROP DATABASE IF EXISTS "{restored_db}"')
        await _admin(url, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="SQLAlchemy URL of a PostgreSQL database to drill in")
    args = parser.parse_args()
    sys.exit(0 if asyncio.run(drill(args.url)) else 1)


if __name__ == "__main__":
    main()
