"""Delivering cases to a strict Kayako (the mock in strict mode over HTTP) from the outbox, on SQLite and
PostgreSQL: repairs of refused requests, the anonymous requester, dead cases and their requeue."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from calls_support import StoresFactory
from prometheus_client import REGISTRY

from kayako_call_assistant import kayako
from kayako_call_assistant.domain import CallChannel, CallRecord, CaseDraft, ContactDetails
from kayako_call_assistant.kayako_mock.app import create_app as create_mock_app
from kayako_call_assistant.kayako_mock.config import MockConfig
from kayako_call_assistant.observability.metrics import refresh_outbox_gauges
from kayako_call_assistant.ports import HelpDesk, OutboxEntry
from kayako_call_assistant.servers import serve_in_background
from kayako_call_assistant.settings import Settings
from kayako_call_assistant.storage import SqlStores
from kayako_call_assistant.tickets.outbox import OutboxWorker

ANONYMOUS = "unknown-caller@example.invalid"
AGENT = ("agent@example.com", "mock-password")


class Kayako:
    """The strict mock and a help desk talking to it, plus direct reads of what it holds."""

    def __init__(self, url: str, helpdesk: HelpDesk) -> None:
        self.url = url
        self.helpdesk = helpdesk

    async def get(self, path: str, **params: Any) -> Any:
        async with httpx.AsyncClient(auth=AGENT, timeout=10) as client:
            answer = await client.get(f"{self.url}/api/v1/{path}", params=params)
            answer.raise_for_status()
            return answer.json()

    async def marked_cases(self) -> list[dict[str, Any]]:
        """Every case the assistant filed (its legacy_id marker), read without any filter."""
        cases = (await self.get("cases", limit=1000))["data"]
        return [c for c in cases if str(c.get("legacy_id") or "").startswith("kca-")]

    async def first_post(self, case_id: int) -> str:
        posts = (await self.get(f"cases/{case_id}/posts", limit=100))["data"]
        return str(posts[-1]["contents"])

    async def requester_emails(self, case: dict[str, Any]) -> list[str]:
        user_id = case["requester"]["id"]
        found = await self.get("identities/emails", user_id=user_id)
        return [i["email"] for i in found["data"]]

    async def requester_phones(self, case: dict[str, Any]) -> list[str]:
        found = await self.get("identities/phones", user_id=case["requester"]["id"])
        return [i["number"] for i in found["data"]]


@pytest.fixture
async def strict_kayako() -> AsyncIterator[Kayako]:
    config = MockConfig(strict=True)
    async with serve_in_background(create_mock_app(config)) as url:
        settings = Settings(
            kayako_base_url=f"{url}/api/v1",
            kayako_email=config.agent_email,
            kayako_password=config.agent_password,  # type: ignore[arg-type]
            kayako_max_retries=0,
            redis_url="",
        )
        async with kayako.build_client(settings) as client:
            yield Kayako(url, kayako.build_helpdesk(client, settings))


async def _enqueue(stores: SqlStores, call_id: str, contact: ContactDetails) -> OutboxEntry:
    await stores.calls.create_call(
        CallRecord(call_id=call_id, channel=CallChannel.MEDIA_STREAM, started_at=dt.datetime.now(dt.UTC))
    )
    draft = CaseDraft(
        idempotency_key=f"call-{call_id}",
        subject=f"Printer jam ({call_id})",
        contents_html=f"<h3>Transcript</h3><ol><li>Caller: my printer jams ({call_id})</li></ol>",
        contact=contact,
        tags=["ai-call", "escalated"],
        priority="High",
        case_type="Question",
    )
    return await stores.outbox.enqueue(
        OutboxEntry(idempotency_key=draft.idempotency_key, call_id=call_id, payload=draft.to_json())
    )


def _worker(
    stores: SqlStores, helpdesk: HelpDesk, repairs: list[str] | None = None, **kw: Any
) -> OutboxWorker:
    options: dict[str, Any] = {"anonymous_requester_email": ANONYMOUS, "base_delay": 0.0, "max_delay": 0.0}
    options.update(kw)
    hook = repairs.append if repairs is not None else None
    return OutboxWorker(stores.outbox, helpdesk, stores.calls, on_repair=hook, **options)


async def test_a_refused_identity_is_dropped_the_case_filed_and_the_repair_recorded(
    stores_factory: StoresFactory, strict_kayako: Kayako
) -> None:
    stores = stores_factory()
    repaired: list[str] = []
    await _enqueue(stores, "c1", ContactDetails(name="Sam", email="sam@localhost", phone="+14155550142"))
    assert await _worker(stores, strict_kayako.helpdesk, repaired).deliver_due() == 1

    entry = await stores.outbox.get("call-c1")
    assert entry is not None and entry.status == "delivered" and entry.case_id is not None
    assert len(entry.repairs) == 1 and "sam@localhost" in entry.repairs[0]
    assert repaired == ["email"]
    [case] = await strict_kayako.marked_cases()
    assert case["id"] == entry.case_id
    body = await strict_kayako.first_post(case["id"])
    assert "Delivery notes" in body and "sam@localhost" in body and "my printer jams (c1)" in body
    assert await strict_kayako.requester_phones(case) == ["+14155550142"]
    call = await stores.calls.get_call("c1")
    assert call is not None and call.case_id == entry.case_id


@pytest.mark.parametrize("caller_id", ["anonymous", "restricted", ""])
async def test_a_withheld_caller_id_files_under_the_anonymous_requester(
    stores_factory: StoresFactory, strict_kayako: Kayako, caller_id: str
) -> None:
    stores = stores_factory()
    await _enqueue(stores, "anon", ContactDetails(phone=caller_id))
    assert await _worker(stores, strict_kayako.helpdesk).deliver_due() == 1
    [case] = await strict_kayako.marked_cases()
    assert await strict_kayako.requester_emails(case) == [ANONYMOUS]
    assert await strict_kayako.requester_phones(case) == []


async def test_an_undeliverable_case_is_dead_loud_and_delivered_once_requeued_after_the_fix(
    stores_factory: StoresFactory, strict_kayako: Kayako
) -> None:
    stores = stores_factory()
    # The operator configured an anonymous requester address Kayako refuses: no repair can help.
    broken = _worker(stores, strict_kayako.helpdesk, anonymous_requester_email="nobody@localhost")
    await _enqueue(stores, "dead1", ContactDetails(name="Quiet caller"))
    assert await broken.deliver_due() == 0

    entry = await stores.outbox.get("call-dead1")
    assert entry is not None and entry.status == "dead" and entry.attempts == 1
    assert "FIELD_INVALID" in (entry.last_error or "") and "email" in (entry.last_error or "")
    assert (await stores.outbox.counts())["dead"] == 1
    assert [e.idempotency_key for e in await stores.outbox.list_entries("dead")] == ["call-dead1"]
    await refresh_outbox_gauges(stores.outbox)
    assert REGISTRY.get_sample_value("kca_outbox_dead") == 1.0
    assert REGISTRY.get_sample_value("kca_outbox_depth") == 0.0
    assert await broken.deliver_due() == 0  # dead stays dead: no retry storm
    assert await strict_kayako.marked_cases() == []

    # Fixed (a valid address), then requeued: delivered once, and requeueing again changes nothing.
    assert await stores.outbox.requeue_all("dead") == ["call-dead1"]
    await refresh_outbox_gauges(stores.outbox)
    assert REGISTRY.get_sample_value("kca_outbox_dead") == 0.0
    assert REGISTRY.get_sample_value("kca_outbox_depth") == 1.0
    fixed = _worker(stores, strict_kayako.helpdesk)
    assert await fixed.deliver_due() == 1
    assert await stores.outbox.requeue("call-dead1")
    assert await fixed.deliver_due() == 1  # found by its marker, not created again
    cases = await strict_kayako.marked_cases()
    assert len(cases) == 1 and await strict_kayako.requester_emails(cases[0]) == [ANONYMOUS]


async def test_the_immediate_attempt_and_the_worker_share_one_lease(
    stores_factory: StoresFactory, strict_kayako: Kayako
) -> None:
    first, second = stores_factory(), stores_factory()  # two processes on one database
    entry = await _enqueue(first, "lease", ContactDetails(email="lease@example.com"))
    now = dt.datetime.now(dt.UTC)
    claimed = await second.outbox.claim(entry.idempotency_key, now, 60)
    assert claimed is not None and claimed.leased_until is not None
    immediate = _worker(first, strict_kayako.helpdesk)
    assert await immediate.attempt(entry) is None  # the other deliverer holds the lease: no second POST
    assert await second.outbox.claim(entry.idempotency_key, now, 60) is None
    later = now + dt.timedelta(seconds=61)
    assert (
        await first.outbox.claim(entry.idempotency_key, later, 60) is not None
    )  # a dead holder's lease ends
    assert await strict_kayako.marked_cases() == []


async def test_a_delivery_renews_its_lease_while_it_runs(stores_factory: StoresFactory) -> None:
    stores = stores_factory()
    entry = await _enqueue(stores, "slow", ContactDetails(email="slow@example.com"))
    leases: list[dt.datetime | None] = []

    class SlowHelpDesk:
        """Takes longer than the lease to find the requester, reading the lease meanwhile."""

        async def find_person(self, *, email: str | None = None, phone: str | None = None) -> None:
            for _ in range(4):
                await _sleep(0.4)
                stored = await stores.outbox.get(entry.idempotency_key)
                leases.append(stored.leased_until if stored else None)
            raise RuntimeError("Kayako vanished")

    worker = OutboxWorker(stores.outbox, SlowHelpDesk(), stores.calls, lease_seconds=0.6)  # type: ignore[arg-type]
    assert await worker.attempt(entry) is None
    assert all(lease is not None for lease in leases)
    assert len(set(leases)) >= 3  # renewed again and again while the delivery ran
    stored = await stores.outbox.get(entry.idempotency_key)
    assert stored is not None and stored.status == "pending" and stored.leased_until is None


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)
