"""SqlOutboxStore: idempotent enqueue, leased claims, retries, dead entries, concurrent workers."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from kayako_call_assistant.domain import CaseDraft, ContactDetails, utcnow
from kayako_call_assistant.ports import OutboxEntry
from kayako_call_assistant.storage import SqlOutboxStore

EngineFactory = Callable[[], Awaitable[AsyncEngine]]


def _entry(key: str, call_id: str = "call-1", due: dt.datetime | None = None) -> OutboxEntry:
    draft = CaseDraft(
        idempotency_key=key,
        subject="Invoice is wrong",
        contents_html="<p>The caller's invoice shows the wrong amount.</p>",
        contact=ContactDetails(name="Ada", email="ada@example.com"),
        tags=["ai-call", "escalated"],
        priority="High",
    )
    return OutboxEntry(idempotency_key=key, call_id=call_id, payload=draft.to_json(), next_attempt_at=due)


async def test_enqueue_is_idempotent_on_the_key(engine: AsyncEngine) -> None:
    store = SqlOutboxStore(engine)
    first = await store.enqueue(_entry("case-call-1"))
    assert first.status == "pending"
    assert first.attempts == 0
    assert first.created_at is not None
    assert first.created_at.tzinfo is not None
    assert CaseDraft.from_json(first.payload).subject == "Invoice is wrong"

    changed = _entry("case-call-1", call_id="another")
    changed.payload["subject"] = "Something else"
    again = await store.enqueue(changed)
    assert again == first
    assert await store.depth() == 1


async def test_concurrent_enqueues_of_one_key_store_one_entry(engine_factory: EngineFactory) -> None:
    stores = [SqlOutboxStore(await engine_factory()) for _ in range(4)]
    results = await asyncio.gather(*(store.enqueue(_entry("case-race")) for store in stores))
    assert len({result.created_at for result in results}) == 1
    assert await stores[0].depth() == 1


async def test_claim_leases_then_releases_after_the_lease(engine: AsyncEngine) -> None:
    store = SqlOutboxStore(engine)
    now = utcnow()
    await store.enqueue(_entry("due-1", due=now - dt.timedelta(seconds=5)))
    await store.enqueue(_entry("due-2", due=now))
    await store.enqueue(_entry("later", due=now + dt.timedelta(hours=1)))

    claimed = await store.claim_due(now, limit=10, lease_seconds=30)
    assert [entry.idempotency_key for entry in claimed] == ["due-1", "due-2"]
    assert await store.claim_due(now + dt.timedelta(seconds=29), limit=10, lease_seconds=30) == []

    # The worker holding the lease died: after the lease the entries are due again.
    reclaimed = await store.claim_due(now + dt.timedelta(seconds=31), limit=1, lease_seconds=30)
    assert [entry.idempotency_key for entry in reclaimed] == ["due-1"]
    assert await store.depth() == 3


async def test_failed_attempts_retry_then_die(engine: AsyncEngine) -> None:
    store = SqlOutboxStore(engine)
    now = utcnow()
    await store.enqueue(_entry("k", due=now))
    [claimed] = await store.claim_due(now, limit=5, lease_seconds=60)

    retry_at = now + dt.timedelta(seconds=10)
    await store.mark_failed(claimed.idempotency_key, "Kayako answered 503", retry_at)
    entry = await store.get("k")
    assert entry is not None
    assert (entry.status, entry.attempts, entry.last_error) == ("pending", 1, "Kayako answered 503")
    assert entry.next_attempt_at == retry_at
    assert await store.claim_due(now + dt.timedelta(seconds=9), limit=5, lease_seconds=60) == []
    [again] = await store.claim_due(retry_at, limit=5, lease_seconds=60)
    assert again.attempts == 1

    await store.mark_failed("k", "validation: requester is required", None)
    dead = await store.get("k")
    assert dead is not None
    assert (dead.status, dead.attempts) == ("dead", 2)
    assert await store.claim_due(now + dt.timedelta(days=1), limit=5, lease_seconds=60) == []
    assert await store.depth() == 0

    assert await store.requeue("k") is True
    assert await store.depth() == 1
    [resent] = await store.claim_due(utcnow(), limit=5, lease_seconds=60)
    assert resent.idempotency_key == "k"
    assert await store.requeue("nope") is False


async def test_delivered_entries_are_not_claimed_again(engine: AsyncEngine) -> None:
    store = SqlOutboxStore(engine)
    now = utcnow()
    await store.enqueue(_entry("k", due=now))
    await store.claim_due(now, limit=5, lease_seconds=60)
    await store.mark_delivered("k", 4321)
    entry = await store.get("k")
    assert entry is not None
    assert (entry.status, entry.case_id) == ("delivered", 4321)
    assert await store.claim_due(now + dt.timedelta(hours=1), limit=5, lease_seconds=60) == []
    assert await store.depth() == 0
    assert await store.get("other") is None
    with pytest.raises(LookupError):
        await store.mark_delivered("other", 1)
    with pytest.raises(LookupError):
        await store.mark_failed("other", "boom", None)

    # A worker whose lease ran out reports a failure after another one delivered: delivered it stays.
    await store.mark_failed("k", "timeout", now + dt.timedelta(seconds=30))
    late = await store.get("k")
    assert late is not None
    assert (late.status, late.case_id, late.attempts) == ("delivered", 4321, 0)


async def test_concurrent_claimers_never_share_an_entry(engine_factory: EngineFactory) -> None:
    writer = SqlOutboxStore(await engine_factory())
    now = utcnow()
    keys = {f"case-{index:02d}" for index in range(30)}
    for key in sorted(keys):
        await writer.enqueue(_entry(key, due=now))
    workers = [SqlOutboxStore(await engine_factory()) for _ in range(4)]

    seen: list[str] = []
    for _ in range(3):
        batches = await asyncio.gather(
            *(worker.claim_due(now, limit=4, lease_seconds=300) for worker in workers)
        )
        seen.extend(entry.idempotency_key for batch in batches for entry in batch)
    assert len(seen) == len(set(seen)), "an entry was claimed by two workers"
    assert len(seen) >= 16  # the first round alone has room for 16
    remaining = await writer.claim_due(now, limit=100, lease_seconds=300)
    assert set(seen) | {entry.idempotency_key for entry in remaining} == keys
    assert not set(seen) & {entry.idempotency_key for entry in remaining}
