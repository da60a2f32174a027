"""`kca report` over calls stored in SQLite: resolution rate, reasons, durations, latency, cost."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kayako_call_assistant.cli.main import app
from kayako_call_assistant.domain import CallChannel, CallOutcome, CallRecord, Speaker, Turn, Usage
from kayako_call_assistant.observability.call_metrics import MeteredCallStore
from kayako_call_assistant.observability.metrics import PriceTable
from kayako_call_assistant.storage import SqlStores, create_engine, upgrade

T0 = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)
PRICES = PriceTable(1.0, 2.0, 0.5, 10.0)


async def _seed(url: str) -> None:
    engine = create_engine(url)
    await upgrade(engine)
    store = MeteredCallStore(SqlStores(engine).calls, PRICES)
    specs = [
        ("a", CallOutcome.RESOLVED, None, 60),
        ("b", CallOutcome.ESCALATED, "handoff_request", 120),
        ("c", CallOutcome.TRANSFERRED, "no_relevant_article", 300),
        ("d", CallOutcome.RESOLVED, None, 30),
        ("e", CallOutcome.ANSWERED, None, 127.5),  # answered, never confirmed: not in the resolution rate
    ]
    for index, (call_id, outcome, reason, seconds) in enumerate(specs):
        start = T0 + dt.timedelta(hours=index)
        call = CallRecord(call_id=call_id, channel=CallChannel.CHAT, started_at=start)
        await store.create_call(call)
        await store.add_turn(
            call_id, Turn(Speaker.CALLER, "help", start, start + dt.timedelta(seconds=2), seq=0)
        )
        await store.add_turn(
            call_id, Turn(Speaker.ASSISTANT, "sure", start + dt.timedelta(seconds=2.5), seq=1)
        )
        call.outcome, call.escalation_reason = outcome, reason
        call.ended_at = start + dt.timedelta(seconds=seconds)
        call.usage = Usage(model_input_tokens=1_000_000, audio_seconds_transcribed=60)
        await store.update_call(call)
    await engine.dispose()


def test_report_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'r.db'}"
    asyncio.run(_seed(url))
    monkeypatch.setenv("KCA_DATABASE_URL", url)
    result = CliRunner().invoke(app, ["report", "--json"])
    assert result.exit_code == 0, result.stdout
    report = json.loads(result.stdout)
    assert report["calls"] == 5 and report["finished"] == 5
    assert report["resolution_rate"] == 0.5
    assert report["escalation_reasons"] == {"handoff_request": 1, "no_relevant_article": 1}
    assert report["average_duration_seconds"] == 127.5
    assert report["p95_duration_seconds"] == 300
    assert report["average_turn_latency_seconds"] == 0.5
    assert report["cost_per_call_usd"] == 1.5  # 1M input tokens at $1 + 1 minute at $0.5
    since = CliRunner().invoke(app, ["report", "--json", "--since", (T0 + dt.timedelta(hours=2)).isoformat()])
    assert json.loads(since.stdout)["calls"] == 3
