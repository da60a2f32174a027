"""The whole assistant on embedded parts: mock Kayako over HTTP, local engine, knowledge, SQLite, the web app.

After a resolved and an escalated chat call, the case is in Kayako with the transcript, and `/metrics`,
`/readyz` and the report show the outcomes, durations and costs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
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
from kayako_call_assistant.wiring import call_runtime

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


async def _lines(name: str) -> AsyncIterator[str]:
    for line in (EXAMPLES / name).read_text(encoding="utf-8").splitlines():
        if line.strip():
            yield line.strip()


async def test_resolved_and_escalated_calls_leave_records_metrics_and_a_case(tmp_path: Path) -> None:
    config = MockConfig()
    async with serve_in_background(create_mock_app(config)) as mock:
        settings = Settings(
            kayako_base_url=f"{mock}/api/v1",
            kayako_email=config.agent_email,
            kayako_password=config.agent_password,  # type: ignore[arg-type]
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'e2e.db'}",
            data_dir=tmp_path,
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
            assert 'kca_calls_total{outcome="resolved"}' in metrics
            assert "kca_call_duration_seconds_count" in metrics
            assert 'kca_kayako_requests_total{method="POST"' in metrics

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
