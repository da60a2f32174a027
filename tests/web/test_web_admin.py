"""The admin API over real HTTP on SQLite: bearer tokens, calls and transcripts, re-send, audit trail."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from kayako_call_assistant.domain import CallChannel, CallOutcome, CallRecord, Speaker, Turn
from kayako_call_assistant.ports import OutboxEntry
from kayako_call_assistant.servers import serve_in_background
from kayako_call_assistant.storage import SqlStores, create_engine, upgrade
from kayako_call_assistant.web.admin import create_admin_router

T0 = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
async def stores(tmp_path: Path) -> AsyncIterator[SqlStores]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'admin.db'}")
    await upgrade(engine)
    stores = SqlStores(engine)
    yield stores
    await stores.close()


async def test_admin_api_requires_a_token_and_audits_every_access(stores: SqlStores) -> None:
    call = CallRecord(
        call_id="c1",
        channel=CallChannel.CHAT,
        started_at=T0,
        from_number="+14155550100",
        ended_at=T0 + dt.timedelta(seconds=90),
        outcome=CallOutcome.ESCALATED,
        escalation_reason="handoff_request",
    )
    await stores.calls.create_call(call)
    await stores.calls.add_turn("c1", Turn(Speaker.ASSISTANT, "Hello, Acme Support.", T0, T0, seq=0))
    await stores.calls.add_turn("c1", Turn(Speaker.CALLER, "I want a person", T0, T0, seq=1))
    await stores.outbox.enqueue(
        OutboxEntry(idempotency_key="case-c1", call_id="c1", payload={"subject": "x"})
    )
    await stores.outbox.mark_failed("case-c1", "Kayako down", None)
    token = await stores.tokens.create("ops-alice")
    resent: list[bool] = []

    async def on_resend() -> None:
        resent.append(True)

    app = FastAPI()
    app.include_router(
        create_admin_router(
            tokens=stores.tokens,
            audit=stores.audit,
            calls=stores.calls,
            outbox=stores.outbox,
            case_key_for_call=lambda c: f"case-{c}",
            on_resend=on_resend,
        )
    )
    async with serve_in_background(app) as base, httpx.AsyncClient(base_url=base) as client:
        assert (await client.get("/admin/calls")).status_code == 401
        assert (
            await client.get("/admin/calls", headers={"Authorization": "Bearer wrong"})
        ).status_code == 401
        auth = {"Authorization": f"Bearer {token}"}
        listed = (await client.get("/admin/calls", headers=auth)).json()["calls"]
        assert [c["call_id"] for c in listed] == ["c1"]
        assert listed[0]["duration_seconds"] == 90
        detail = (await client.get("/admin/calls/c1", headers=auth)).json()
        assert [t["text"] for t in detail["transcript"]] == ["Hello, Acme Support.", "I want a person"]
        assert (await client.get("/admin/calls/nope", headers=auth)).status_code == 404
        resend = await client.post("/admin/calls/c1/resend-case", headers=auth)
        assert resend.status_code == 200
        assert resent == [True]
        assert (await stores.outbox.get("case-c1")).status == "pending"  # type: ignore[union-attr]
        assert (await client.post("/admin/calls/nope/resend-case", headers=auth)).status_code == 404
        events = (await client.get("/admin/audit", headers=auth)).json()["events"]
    actions = [(e["actor"], e["action"], e["target"]) for e in events]
    assert ("anonymous", "GET /admin/calls", "denied") in actions
    assert ("ops-alice", "list_calls", "calls") in actions
    assert ("ops-alice", "read_transcript", "c1") in actions
    assert ("ops-alice", "resend_case", "c1") in actions


async def test_admin_api_lists_shows_and_requeues_dead_cases_with_an_audit_trail(stores: SqlStores) -> None:
    for key in ("call-a", "call-b"):
        await stores.outbox.enqueue(
            OutboxEntry(idempotency_key=key, call_id=key[5:], payload={"subject": key})
        )
        await stores.outbox.mark_failed(key, "KayakoValidationError: FIELD_INVALID email", None)
    await stores.outbox.enqueue(OutboxEntry(idempotency_key="call-c", call_id="c", payload={"subject": "c"}))
    token = await stores.tokens.create("ops-bob")
    woken: list[bool] = []

    async def on_resend() -> None:
        woken.append(True)

    app = FastAPI()
    app.include_router(
        create_admin_router(
            tokens=stores.tokens,
            audit=stores.audit,
            calls=stores.calls,
            outbox=stores.outbox,
            case_key_for_call=lambda c: f"call-{c}",
            on_resend=on_resend,
        )
    )
    async with serve_in_background(app) as base, httpx.AsyncClient(base_url=base) as client:
        assert (await client.get("/admin/outbox")).status_code == 401
        auth = {"Authorization": f"Bearer {token}"}
        dead = (await client.get("/admin/outbox", params={"status": "dead"}, headers=auth)).json()
        assert dead["counts"] == {"pending": 1, "delivered": 0, "dead": 2}
        assert sorted(e["idempotency_key"] for e in dead["entries"]) == ["call-a", "call-b"]
        shown = (await client.get("/admin/outbox/call-a", headers=auth)).json()["entry"]
        assert shown["payload"] == {"subject": "call-a"} and "FIELD_INVALID" in shown["last_error"]
        assert (await client.get("/admin/outbox/call-zz", headers=auth)).status_code == 404
        one = await client.post("/admin/outbox/call-a/requeue", headers=auth)
        assert one.json() == {"requeued": ["call-a"]}
        rest = await client.post("/admin/outbox/requeue-dead", headers=auth)
        assert rest.json() == {"requeued": ["call-b"]}
        assert woken == [True, True]
    assert (await stores.outbox.counts())["dead"] == 0
    actions = [e.action for e in await stores.audit.list(limit=20)]
    for action in ("list_outbox", "read_outbox_entry", "requeue_case", "requeue_dead_cases"):
        assert action in actions
    assert any(e.actor == "anonymous" for e in await stores.audit.list(limit=20))
