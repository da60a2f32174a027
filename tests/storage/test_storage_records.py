"""SqlWebhookStore, SqlAuditLog and SqlAdminTokens on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from kayako_call_assistant.domain import utcnow
from kayako_call_assistant.ports import AuditEvent, WebhookDelivery
from kayako_call_assistant.storage import SqlAdminTokens, SqlAuditLog, SqlWebhookStore
from kayako_call_assistant.storage.models import admin_tokens


async def test_webhook_deliveries_are_recorded_once(engine: AsyncEngine) -> None:
    store = SqlWebhookStore(engine)
    now = utcnow()
    first = WebhookDelivery("d-1", "kayako", {"event": "case.updated", "case_id": 5}, now)
    assert await store.record(first) is True
    assert await store.record(WebhookDelivery("d-1", "kayako", {"other": True}, now)) is False
    assert (
        await store.record(WebhookDelivery("d-2", "kayako", {"n": 2}, now + dt.timedelta(seconds=1))) is True
    )

    pending = await store.unprocessed()
    assert [delivery.delivery_id for delivery in pending] == ["d-1", "d-2"]
    assert pending[0].payload == {"event": "case.updated", "case_id": 5}
    assert pending[0].received_at == now

    await store.mark_failed("d-1", "RuntimeError: cache unavailable")
    [still, _] = await store.unprocessed()
    assert still.error == "RuntimeError: cache unavailable"
    await store.mark_processed("d-1")
    assert [delivery.delivery_id for delivery in await store.unprocessed()] == ["d-2"]
    assert [delivery.delivery_id for delivery in await store.unprocessed(limit=0)] == []


async def test_audit_events_newest_first_and_since(engine: AsyncEngine) -> None:
    log = SqlAuditLog(engine)
    base = utcnow()
    for minutes, action in [(0, "list_calls"), (1, "read_transcript"), (2, "resend_case")]:
        await log.write(
            AuditEvent(
                "ops", action, "call-1", base + dt.timedelta(minutes=minutes), {"found": True, "n": minutes}
            )
        )
    events = await log.list()
    assert [event.action for event in events] == ["resend_case", "read_transcript", "list_calls"]
    assert events[-1] == AuditEvent("ops", "list_calls", "call-1", base, {"found": True, "n": 0})
    recent = await log.list(since=base + dt.timedelta(minutes=1), limit=1)
    assert [event.action for event in recent] == ["resend_case"]


async def test_tokens_are_stored_only_as_hashes(engine: AsyncEngine) -> None:
    tokens = SqlAdminTokens(engine)
    token = await tokens.create("ops-team")
    other = await tokens.create("reporting")
    assert len(token) >= 40
    assert token != other

    assert await tokens.verify(token) == "ops-team"
    assert await tokens.verify(other) == "reporting"
    assert await tokens.verify(token[:-1]) is None
    assert await tokens.verify("") is None

    async with engine.connect() as conn:
        rows = (await conn.execute(select(admin_tokens))).mappings().all()
    stored = " ".join(str(value) for row in rows for value in row.values())
    assert token not in stored
    assert other not in stored
    assert {row["name"] for row in rows} == {"ops-team", "reporting"}

    assert await tokens.revoke("ops-team") == 1
    assert await tokens.verify(token) is None
    assert await tokens.verify(other) == "reporting"
    assert await tokens.revoke("ops-team") == 0
