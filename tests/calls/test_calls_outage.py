"""Kayako down in every way while 20 callers ask for a person, then back: exactly 20 cases, each with its
transcript, none twice. The calls run on the real parts (strict mock over HTTP, Kayako client, SQLite)."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from kayako_call_assistant.cli.chat import SILENCE, run_chat
from kayako_call_assistant.domain import CallOutcome
from kayako_call_assistant.kayako_mock.app import create_app as create_mock_app
from kayako_call_assistant.kayako_mock.config import MockConfig
from kayako_call_assistant.servers import serve_in_background
from kayako_call_assistant.settings import Settings
from kayako_call_assistant.wiring import call_runtime

AGENT = ("agent@example.com", "mock-password")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _lines(n: int) -> AsyncIterator[str]:
    for line in [
        f"I want to talk to a real person about order {n}",
        "Sam Lee",
        "sam dot lee at example dot com",
        "yes",
        "four one five five five five zero one nine nine",
    ]:
        yield line


async def _faults(url: str, **faults: Any) -> None:
    async with httpx.AsyncClient(base_url=url) as admin:
        assert (await admin.post("/_mock/reset-faults")).status_code == 200
        if faults:
            assert (await admin.put("/_mock/faults", json=faults)).status_code == 200


async def test_twenty_escalations_through_every_kind_of_outage_make_exactly_twenty_cases(
    tmp_path: Path,
) -> None:
    port = _free_port()
    mock_config = MockConfig(strict=True, database=str(tmp_path / "kayako.db"))
    settings = Settings(
        kayako_base_url=f"http://127.0.0.1:{port}/api/v1",
        kayako_email=mock_config.agent_email,
        kayako_password=mock_config.agent_password,  # type: ignore[arg-type]
        kayako_max_retries=0,
        kayako_timeout_seconds=0.5,
        redis_url="",
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'calls.db'}",
        data_dir=tmp_path,
        case_delivery_budget_seconds=0.5,
        outbox_base_delay_seconds=0.01,
        outbox_max_delay_seconds=0.05,
        outbox_lease_seconds=3.0,
    )
    call_ids: list[str] = []
    async with (
        serve_in_background(create_mock_app(mock_config), port=port) as mock,
        call_runtime(settings) as runtime,
    ):
        phases: list[dict[str, Any]] = [
            {"down": True},  # 503 on every request
            {"latency_ms": 1500},  # every request times out (after it was sent: ambiguous)
            {"burst_429": 100_000, "retry_after": 1},  # 429 RATE_LIMIT_REACHED with Retry-After
        ]
        for phase, faults in enumerate(phases):
            await _faults(mock, **faults)
            for n in range(5):
                flow = await run_chat(runtime.call_service, _lines(phase * 5 + n))
                assert flow.call.outcome is CallOutcome.ESCALATED
                call_ids.append(flow.call.call_id)
        await _faults(mock)
        await asyncio.sleep(2.0)  # the requests delayed by the latency fault land now
    # Kayako is gone: connection refused.
    async with call_runtime(settings) as runtime:
        for n in range(15, 20):
            flow = await run_chat(runtime.call_service, _lines(n))
            assert flow.call.outcome is CallOutcome.ESCALATED
            call_ids.append(flow.call.call_id)
        assert (await runtime.stores.outbox.counts())["pending"] >= 5
    # Kayako is back (same data, same port); a restarted assistant drains the outbox.
    async with (
        serve_in_background(create_mock_app(mock_config), port=port),
        call_runtime(settings) as runtime,
    ):
        for _ in range(100):  # bounded: retries wait out Retry-After and backoff
            await runtime.outbox_worker.deliver_due()
            counts = await runtime.stores.outbox.counts()
            if counts["pending"] == 0:
                break
            await asyncio.sleep(0.2)
        assert counts == {"pending": 0, "delivered": 20, "dead": 0}
        for _ in range(3):  # more rounds, requeues included: never a second case
            for call_id in call_ids[::4]:
                assert await runtime.stores.outbox.requeue(f"call-{call_id}")
            await runtime.outbox_worker.deliver_due()
        stored = {cid: await runtime.calls.get_call(cid) for cid in call_ids}
        async with httpx.AsyncClient(auth=AGENT, base_url=f"http://127.0.0.1:{port}/api/v1") as kayako:
            every = (await kayako.get("/cases", params={"limit": 1000})).json()["data"]
            ours = [c for c in every if str(c.get("legacy_id") or "").startswith("kca-")]
            assert len(ours) == 20
            assert len({c["legacy_id"] for c in ours}) == 20
            assert {c["id"] for c in ours} == {call.case_id for call in stored.values() if call}
            for case in ours:
                posts = (await kayako.get(f"/cases/{case['id']}/posts")).json()["data"]
                body = posts[-1]["contents"]
                assert "Transcript" in body and "I want to talk to a real person about order" in body
            orders: list[str] = []
            for case in ours:
                posts = (await kayako.get(f"/cases/{case['id']}/posts")).json()["data"]
                [order] = set(re.findall(r"about order (\d+)", posts[-1]["contents"]))  # its own call only
                orders.append(order)
            assert sorted(orders, key=int) == [str(n) for n in range(20)]


async def test_a_call_from_a_withheld_number_files_its_case_under_the_anonymous_requester(
    tmp_path: Path,
) -> None:
    mock_config = MockConfig(strict=True)
    async with serve_in_background(create_mock_app(mock_config)) as mock:
        settings = Settings(
            kayako_base_url=f"{mock}/api/v1",
            kayako_email=mock_config.agent_email,
            kayako_password=mock_config.agent_password,  # type: ignore[arg-type]
            redis_url="",
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'calls.db'}",
            data_dir=tmp_path,
        )
        async with call_runtime(settings) as runtime:
            silent = ["I want to talk to a real person about order 7", SILENCE, SILENCE, SILENCE]

            async def lines() -> AsyncIterator[str]:
                for line in silent:
                    yield line

            flow = await run_chat(runtime.call_service, lines(), from_number="anonymous")
            assert flow.call.from_number is None  # not a number: no caller ID
            assert flow.call.case_id is not None  # filed during the call, on a strict Kayako
            entry = await runtime.stores.outbox.get(f"call-{flow.call.call_id}")
            assert entry is not None and entry.status == "delivered"
        async with httpx.AsyncClient(auth=AGENT, base_url=f"{mock}/api/v1") as kayako:
            case = (await kayako.get(f"/cases/{flow.call.case_id}")).json()["data"]
            emails = (
                await kayako.get("/identities/emails", params={"user_id": case["requester"]["id"]})
            ).json()
            assert [e["email"] for e in emails["data"]] == [settings.anonymous_requester_email]
            phones = (
                await kayako.get("/identities/phones", params={"user_id": case["requester"]["id"]})
            ).json()
            assert phones["data"] == []
