"""A delivery worker killed with SIGKILL in the middle of delivering 20 escalated cases, then restarted:
exactly 20 cases in Kayako, each with its transcript. The worker is a real process (`kca outbox deliver
--watch`, the server's outbox worker on its own), Kayako the strict mock over HTTP, the database SQLite."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from kayako_call_assistant.cli.chat import run_chat
from kayako_call_assistant.domain import CallOutcome
from kayako_call_assistant.kayako_mock.app import create_app as create_mock_app
from kayako_call_assistant.kayako_mock.config import MockConfig
from kayako_call_assistant.servers import serve_in_background
from kayako_call_assistant.settings import Settings
from kayako_call_assistant.storage import SqlStores, create_engine
from kayako_call_assistant.wiring import call_runtime

AGENT = ("agent@example.com", "mock-password")
# `kca outbox deliver --watch`, entered through its own module: the process starts without the CLI's other
# commands (speech engines and all), which keeps the test short.
WORKER = [
    sys.executable,
    "-c",
    "from kayako_call_assistant.cli.outbox import app; app(['deliver', '--watch'])",
]


async def _lines(n: int) -> AsyncIterator[str]:
    for line in [
        f"I want to talk to a real person about order {n}",
        "Sam Lee",
        "sam dot lee at example dot com",
        "yes",
    ]:
        yield line


async def _marked_cases(mock: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(auth=AGENT, base_url=f"{mock}/api/v1", timeout=30) as kayako:
        every = (await kayako.get("/cases", params={"limit": 1000})).json()["data"]
    return [c for c in every if str(c.get("legacy_id") or "").startswith("kca-")]


async def _start_worker(env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *WORKER, env=env, stdout=log.open("ab"), stderr=asyncio.subprocess.STDOUT
    )


async def test_a_worker_killed_mid_delivery_and_restarted_files_each_case_once(tmp_path: Path) -> None:
    mock_config = MockConfig(strict=True, database=str(tmp_path / "kayako.db"))
    database = f"sqlite+aiosqlite:///{tmp_path / 'calls.db'}"
    async with serve_in_background(create_mock_app(mock_config)) as mock:
        settings = Settings(
            kayako_base_url=f"{mock}/api/v1",
            kayako_email=mock_config.agent_email,
            kayako_password=mock_config.agent_password,  # type: ignore[arg-type]
            kayako_max_retries=0,
            redis_url="",
            database_url=database,
            data_dir=tmp_path,
            case_delivery_budget_seconds=0.2,
        )
        async with httpx.AsyncClient(base_url=mock) as admin:
            assert (await admin.put("/_mock/faults", json={"down": True})).status_code == 200
            async with call_runtime(settings) as runtime:
                for n in range(20):
                    flow = await run_chat(runtime.call_service, _lines(n))
                    assert flow.call.outcome is CallOutcome.ESCALATED and flow.call.case_id is None
            # Kayako is back but slow, so that the kill lands in the middle of deliveries.
            assert (await admin.post("/_mock/reset-faults")).status_code == 200
            assert (await admin.put("/_mock/faults", json={"latency_ms": 60})).status_code == 200

        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(sys.path),
            "KCA_KAYAKO_BASE_URL": f"{mock}/api/v1",
            "KCA_KAYAKO_EMAIL": mock_config.agent_email,
            "KCA_KAYAKO_PASSWORD": mock_config.agent_password,
            "KCA_KAYAKO_MAX_RETRIES": "0",
            "KCA_REDIS_URL": "",
            "KCA_DATABASE_URL": database,
            "KCA_DATA_DIR": str(tmp_path),
            "KCA_OUTBOX_LEASE_SECONDS": "3",
            "KCA_OUTBOX_BASE_DELAY_SECONDS": "0.1",
            "KCA_OUTBOX_MAX_DELAY_SECONDS": "0.5",
            "KCA_OUTBOX_POLL_SECONDS": "0.2",
        }
        log = tmp_path / "worker.log"
        first = await _start_worker(env, log)
        try:
            for _ in range(600):  # bounded: until a few cases are in Kayako
                if len(await _marked_cases(mock)) >= 3:
                    break
                await asyncio.sleep(0.1)
        finally:
            os.kill(first.pid, signal.SIGKILL)
            await first.wait()
        killed_at = len(await _marked_cases(mock))
        assert 3 <= killed_at < 20, log.read_text()[-3000:]

        second = await _start_worker(env, log)
        engine = create_engine(database)
        stores = SqlStores(engine)
        try:
            for _ in range(600):  # bounded: until the outbox is drained
                counts = await stores.outbox.counts()
                if counts["pending"] == 0:
                    break
                await asyncio.sleep(0.2)
        finally:
            second.terminate()
            await second.wait()
        assert counts == {"pending": 0, "delivered": 20, "dead": 0}, log.read_text()[-3000:]

        ours = await _marked_cases(mock)
        assert len(ours) == 20 and len({c["legacy_id"] for c in ours}) == 20
        orders = []
        async with httpx.AsyncClient(auth=AGENT, base_url=f"{mock}/api/v1", timeout=30) as kayako:
            for case in ours:
                posts = (await kayako.get(f"/cases/{case['id']}/posts")).json()["data"]
                [order] = set(re.findall(r"about order (\d+)", posts[-1]["contents"]))
                orders.append(order)
        assert sorted(orders, key=int) == [str(n) for n in range(20)]
        entries = [await stores.outbox.get(e.idempotency_key) for e in await stores.outbox.list_entries()]
        assert {e.case_id for e in entries if e} == {c["id"] for c in ours}
        await engine.dispose()
