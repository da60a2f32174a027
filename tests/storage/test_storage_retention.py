"""purge_older_than: old transcripts go, call metrics and anything still owed stay."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from kayako_call_assistant.domain import CallChannel, CallOutcome, CallRecord, Speaker, Turn, Usage, utcnow
from kayako_call_assistant.ports import OutboxEntry, WebhookDelivery
from kayako_call_assistant.storage import SqlStores, purge_older_than


async def _call_with_transcript(stores: SqlStores, call_id: str, started: dt.datetime) -> None:
    call = CallRecord(call_id, CallChannel.GATHER, started, outcome=CallOutcome.RESOLVED, cost_usd=0.02)
    call.usage = Usage(model_input_tokens=100)
    call.ended_at = started + dt.timedelta(minutes=2)
    await stores.calls.create_call(call)
    await stores.calls.update_call(call)
    for seq, speaker in enumerate([Speaker.ASSISTANT, Speaker.CALLER]):
        await stores.calls.add_turn(call_id, Turn(speaker, f"turn {seq}", started, seq=seq))
    await stores.calls.save_flow_state(call_id, {"state": "answering"})


async def test_purge_removes_old_transcripts_and_keeps_metrics(engine: AsyncEngine) -> None:
    stores = SqlStores(engine)
    now = utcnow()
    old, recent = now - dt.timedelta(days=40), now - dt.timedelta(days=2)
    await _call_with_transcript(stores, "old", old)
    await _call_with_transcript(stores, "recent", recent)

    await stores.webhooks.record(WebhookDelivery("old-done", "kayako", {"a": 1}, old))
    await stores.webhooks.mark_processed("old-done")
    await stores.webhooks.record(WebhookDelivery("old-pending", "kayako", {"a": 2}, old))
    await stores.webhooks.record(WebhookDelivery("new-done", "kayako", {"a": 3}, recent))
    await stores.webhooks.mark_processed("new-done")

    payload = {"subject": "x", "contents_html": "<p>transcript</p>"}
    await stores.outbox.enqueue(OutboxEntry("case-old", "old", payload, created_at=old))
    await stores.outbox.mark_delivered("case-old", 11)
    await stores.outbox.enqueue(OutboxEntry("case-old-pending", "old", payload, created_at=old))
    await stores.outbox.enqueue(OutboxEntry("case-recent", "recent", payload, created_at=recent))
    await stores.outbox.mark_delivered("case-recent", 12)

    result = await purge_older_than(engine, 30)

    assert (result.turns, result.flow_states, result.webhook_deliveries, result.outbox_payloads) == (
        2,
        1,
        1,
        1,
    )
    assert await stores.calls.list_turns("old") == []
    assert await stores.calls.load_flow_state("old") is None
    kept = await stores.calls.get_call("old")
    assert kept is not None
    assert (kept.outcome, kept.cost_usd, kept.duration_seconds) == (CallOutcome.RESOLVED, 0.02, 120.0)
    assert kept.usage.model_input_tokens == 100
    assert len(await stores.calls.list_turns("recent")) == 2
    assert await stores.calls.load_flow_state("recent") == {"state": "answering"}
    assert {d.delivery_id for d in await stores.webhooks.unprocessed()} == {"old-pending"}
    assert await stores.webhooks.record(WebhookDelivery("new-done", "kayako", {}, now)) is False

    old_case = await stores.outbox.get("case-old")
    assert old_case is not None
    assert (old_case.payload, old_case.case_id) == ({}, 11)
    pending = await stores.outbox.get("case-old-pending")
    assert pending is not None
    assert pending.payload == payload
    recent_case = await stores.outbox.get("case-recent")
    assert recent_case is not None
    assert recent_case.payload == payload

    again = await purge_older_than(engine, 30)
    assert (again.turns, again.flow_states, again.webhook_deliveries, again.outbox_payloads) == (0, 0, 0, 0)


async def test_purge_refuses_a_retention_below_one_day(engine: AsyncEngine) -> None:
    with pytest.raises(ValueError, match="at least 1 day"):
        await purge_older_than(engine, 0)
