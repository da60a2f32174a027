"""One call row, many writers (the call flow, the Twilio status-callback finalizer, the case outbox, Kayako
webhooks), each in its own process (engine), concurrently: no write undoes another's, and exactly one
write finalizes the call, which is what the metrics count."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import Awaitable, Callable

from prometheus_client import REGISTRY
from sqlalchemy.ext.asyncio import AsyncEngine

from kayako_call_assistant.domain import CallChannel, CallOutcome, CallRecord, ContactDetails, Usage
from kayako_call_assistant.observability.call_metrics import MeteredCallStore
from kayako_call_assistant.observability.metrics import PriceTable
from kayako_call_assistant.storage import SqlCallStore

EngineFactory = Callable[[], Awaitable[AsyncEngine]]
T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
PRICES = PriceTable(1.0, 1.0, 1.0, 1.0)


async def test_concurrent_writers_never_undo_each_other(engine_factory: EngineFactory) -> None:
    flow_store, callback_store, outbox_store, webhook_store = [
        SqlCallStore(await engine_factory()) for _ in range(4)
    ]
    for n in range(12):
        call_id = f"w{n}"
        await flow_store.create_call(
            CallRecord(call_id=call_id, channel=CallChannel.MEDIA_STREAM, started_at=T0)
        )
        # Every writer reads the row first, as they do in the product.
        flow_copy = await flow_store.get_call(call_id)
        callback_copy = await callback_store.get_call(call_id)
        assert flow_copy is not None and callback_copy is not None
        await outbox_store.set_case(call_id, 1000 + n, "New")

        flow_copy.contact = ContactDetails(name="Sam", email="sam@example.com")
        flow_copy.usage = Usage(model_input_tokens=10)
        flow_copy.outcome = CallOutcome.ESCALATED
        flow_copy.escalation_reason = "handoff_request"
        flow_copy.ended_at = T0 + dt.timedelta(seconds=60)
        callback_copy.outcome = CallOutcome.ABANDONED
        callback_copy.ended_at = T0 + dt.timedelta(seconds=75)

        results = await asyncio.gather(
            flow_store.save_progress(flow_copy, [], {"state": "closed"}),
            callback_store.update_call(callback_copy),
            webhook_store.set_case_status(1000 + n, "Open"),
        )
        finalized = results[:2]
        assert sorted(finalized) == [False, True]  # exactly one writer made the transition
        stored = await flow_store.get_call(call_id)
        assert stored is not None
        assert stored.case_id == 1000 + n  # neither stale copy blanked the outbox's case
        assert stored.case_status == "Open"  # the webhook's status stands
        winner = flow_copy if finalized[0] else callback_copy
        assert (stored.ended_at, stored.outcome) == (winner.ended_at, winner.outcome)  # one consistent end
        # A later write of an older copy changes nothing that was finalized.
        late = dataclasses.replace(
            flow_copy, outcome=CallOutcome.RESOLVED, ended_at=T0 + dt.timedelta(hours=1)
        )
        assert await flow_store.update_call(late) is False
        again = await flow_store.get_call(call_id)
        assert again is not None and (again.ended_at, again.outcome) == (winner.ended_at, winner.outcome)


async def test_a_call_is_counted_once_across_workers_and_restarts(engine_factory: EngineFactory) -> None:
    def counted() -> float:
        return REGISTRY.get_sample_value("kca_calls_total", {"outcome": "escalated"}) or 0.0

    before = counted()
    first = MeteredCallStore(SqlCallStore(await engine_factory()), PRICES)
    await first.create_call(CallRecord(call_id="once", channel=CallChannel.CHAT, started_at=T0))
    call = await first.get_call("once")
    assert call is not None
    call.outcome, call.ended_at = CallOutcome.ESCALATED, T0 + dt.timedelta(seconds=30)
    assert await first.save_progress(call, [], {}) is True
    # Another worker (or this one restarted) writes the finished call again: not counted again.
    second = MeteredCallStore(SqlCallStore(await engine_factory()), PRICES)
    assert await second.update_call(call) is False
    assert await first.update_call(call) is False
    assert counted() == before + 1
