"""The whole assistant on embedded parts: mock Kayako over HTTP, local engine, knowledge, SQLite, the web app.

After a resolved and an escalated chat call, the case is in Kayako with the transcript, and `/metrics`,
`/readyz` and the report show the outcomes, durations and costs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx

from kayako_call_assistant.cli.chat import run_chat
from kayako_call_assistant.domain import CallOutcome
from kayako_call_assistant.kayako_mock.app import create_app as create_mock_app
from kayako_call_assistant.kayako_mock.config import MockConfig
from kayako_call_assistant.observability.report import build_report
from kayako_call_assistant.servers import serve_in_background
from kayako_call_assistant.settings import Settings
from kayako_call_assistant.web.app import create_app
from kayako_call_assistant.wiring import Runtime, call_runtime

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


async def _lines(name: str) -> AsyncIterator[str]:
    for line in (EXAMPLES / name).read_text(encoding="utf-8").splitlines():
        if line.strip():
            yield line.strip()


async def test_resolved_and_escalated_calls_leave_records_metrics_and_a_case(tmp_path: Path) -> None:
    config = MockConfig(strict=True)
    async with serve_in_background(create_mock_app(config)) as mock:
        settings = Settings(
            kayako_base_url=f"{mock}/api/v1",
            kayako_email=config.agent_email,
            kayako_password=config.agent_password,  # type: ignore[arg-type]
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'e2e.db'}",
            data_dir=tmp_path,
            kayako_webhook_token="hook-token",  # type: ignore[arg-type]
            kayako_webhook_secret="hook-secret",  # type: ignore[arg-type]
        )
        async with call_runtime(settings) as runtime:
            resolved = await run_chat(runtime.call_service, _lines("resolved.txt"))
            escalated = await run_chat(runtime.call_service, _lines("escalated.txt"))
            assert resolved.call.outcome is CallOutcome.RESOLVED, resolved.turns
            assert escalated.call.outcome in {CallOutcome.ESCALATED, CallOutcome.TRANSFERRED}, escalated.turns
            case_id = escalated.call.case_id
            assert case_id is not None

            async with (
                serve_in_background(create_app(runtime)) as base,
                httpx.AsyncClient(base_url=base) as web,
            ):
                ready = await web.get("/readyz")
                assert ready.status_code == 200, ready.text
                metrics = (await web.get("/metrics")).text
                await _kayako_events_reach_the_assistant(mock, base, config, runtime, case_id)
            assert 'kca_calls_total{outcome="resolved"}' in metrics
            assert "kca_call_duration_seconds_count" in metrics
            assert 'kca_kayako_requests_total{method="POST"' in metrics
            assert 'kca_model_seconds_count{engine="local",operation="understand"}' in metrics
            assert "kca_turn_latency_seconds_count" in metrics
            assert 'kca_model_seconds_count{engine="local",operation="answer"}' in metrics

            report = await build_report(runtime.calls)
            assert report.calls == 2 and report.finished == 2
            assert report.resolution_rate == 0.5
            assert report.total_cost_usd == 0.0  # local engines cost nothing
            assert report.average_duration_seconds is not None

            case = await runtime.kayako.request("GET", f"/cases/{case_id}/posts", params={"limit": 10})
        contents = " ".join(str(post.get("contents", "")) for post in case["data"])
        assert "charged twice" in contents
        assert "ai-call" in str(await _tags(mock, case_id, config))


async def _tags(mock: str, case_id: int, config: MockConfig) -> object:
    async with httpx.AsyncClient(auth=(config.agent_email, config.agent_password)) as client:
        response = await client.get(f"{mock}/api/v1/cases/{case_id}", params={"fields": "+tags"})
        return response.json()["data"].get("tags")


async def _eventually(check: Callable[[], Awaitable[bool]]) -> None:
    for _ in range(100):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the event was not processed")


async def _kayako_events_reach_the_assistant(
    mock: str, base: str, config: MockConfig, runtime: Runtime, case_id: int
) -> None:
    """Kayako's automation posts to our webhook: a case status change reaches the call record, an article
    change reaches the knowledge base (through the client's cache)."""
    async with httpx.AsyncClient(base_url=mock, auth=(config.agent_email, config.agent_password)) as kayako:
        target = {"url": f"{base}/webhooks/kayako/hook-token", "auth_username": "kayako",
                  "auth_password": "hook-secret"}  # fmt: skip
        assert (await kayako.put("/_mock/automation", json=target)).status_code == 200
        statuses = (await kayako.get("/api/v1/cases/statuses")).json()["data"]
        closed = next(s for s in statuses if s["label"] == "Closed")
        csrf = await _csrf_session(kayako)
        updated = await kayako.put(f"/api/v1/cases/{case_id}", json={"status_id": closed["id"]}, headers=csrf)
        assert updated.status_code == 200, updated.text

        async def call_closed() -> bool:
            return all(c.case_status == "Closed" for c in await runtime.calls.calls_for_case(case_id))

        await _eventually(call_closed)

        hits = await runtime.knowledge.search("how do I reset my password")
        article_id = hits[0].passage.article_id
        titles = [{"locale": "en-us", "translation": "Resetting a lost zebracorn passphrase"}]
        changed = await kayako.put(f"/api/v1/articles/{article_id}", json={"titles": titles}, headers=csrf)
        assert changed.status_code == 200, changed.text

        async def knowledge_updated() -> bool:
            found = await runtime.knowledge.search("zebracorn passphrase")
            return bool(found) and found[0].passage.article_id == article_id

        await _eventually(knowledge_updated)


async def _csrf_session(kayako: httpx.AsyncClient) -> dict[str, str]:
    """Log in with Basic auth; later writes carry the session and its CSRF token."""
    response = await kayako.get("/api/v1/me")
    kayako.auth = None
    return {"X-Session-ID": response.json()["session_id"], "X-CSRF-Token": response.headers["X-CSRF-Token"]}
