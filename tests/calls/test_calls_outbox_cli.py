"""``kca outbox`` on the server's database, against the strict mock served from a thread."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kayako_call_assistant.cli.main import app
from kayako_call_assistant.domain import CallChannel, CallRecord, CaseDraft, ContactDetails
from kayako_call_assistant.kayako_mock.app import create_app
from kayako_call_assistant.kayako_mock.config import MockConfig
from kayako_call_assistant.ports import OutboxEntry
from kayako_call_assistant.servers import serve_in_thread
from kayako_call_assistant.storage import SqlStores, create_engine, upgrade

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    config = MockConfig(strict=True)
    with serve_in_thread(create_app(config)) as url:
        yield {
            "KCA_KAYAKO_BASE_URL": f"{url}/api/v1",
            "KCA_KAYAKO_AUTH": "basic",
            "KCA_KAYAKO_EMAIL": config.agent_email,
            "KCA_KAYAKO_PASSWORD": config.agent_password,
            "KCA_KAYAKO_MAX_RETRIES": "0",
            "KCA_REDIS_URL": "",
            "KCA_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'server.db'}",
            "KCA_DATA_DIR": str(tmp_path),
            # The cause of death, fixed below: an anonymous requester address Kayako refuses.
            "KCA_ANONYMOUS_REQUESTER_EMAIL": "nobody@localhost",
        }


def _dead_entry(url: str) -> None:
    """A case from a caller who left no identity, delivered once by the misconfigured server: dead."""

    async def run() -> None:
        engine = create_engine(url)
        await upgrade(engine)
        stores = SqlStores(engine)
        await stores.calls.create_call(
            CallRecord(call_id="quiet", channel=CallChannel.CHAT, started_at=dt.datetime.now(dt.UTC))
        )
        draft = CaseDraft("call-quiet", "Printer", "<p>Transcript: it jams</p>", ContactDetails())
        await stores.outbox.enqueue(OutboxEntry("call-quiet", "quiet", draft.to_json()))
        claimed = await stores.outbox.claim("call-quiet", dt.datetime.now(dt.UTC), 60)
        assert claimed is not None
        await stores.outbox.mark_failed("call-quiet", "KayakoValidationError: FIELD_INVALID email", None)
        await engine.dispose()

    asyncio.run(run())


def _run(env: dict[str, str], *args: str) -> str:
    result = runner.invoke(app, ["outbox", *args], env=env)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_outbox_cli_lists_shows_and_requeues_a_dead_case(env: dict[str, str]) -> None:
    _dead_entry(env["KCA_DATABASE_URL"])
    listed = json.loads(_run(env, "list", "--json"))
    assert listed["counts"]["dead"] == 1
    assert [(e["idempotency_key"], e["status"]) for e in listed["entries"]] == [("call-quiet", "dead")]
    assert "requeue" in _run(env, "list")  # the text output says what to do
    report = runner.invoke(app, ["report", "--json"], env=env)
    assert report.exit_code == 0, report.output
    assert (json.loads(report.stdout)["cases_dead"], json.loads(report.stdout)["cases_pending"]) == (1, 0)
    shown = json.loads(_run(env, "show", "call-quiet", "--json"))
    assert shown["payload"]["subject"] == "Printer" and "FIELD_INVALID" in shown["last_error"]

    # Requeued with the cause still there: repairs run again, nothing helps, dead again (not lost).
    again = json.loads(_run(env, "requeue", "call-quiet", "--now", "--json"))
    assert again["delivered"] == 0 and again["entries"][0]["status"] == "dead"

    fixed = env | {"KCA_ANONYMOUS_REQUESTER_EMAIL": "unknown-caller@example.invalid"}
    delivered = json.loads(_run(fixed, "requeue-all", "--now", "--json"))
    assert delivered["requeued"] == ["call-quiet"] and delivered["delivered"] == 1
    assert delivered["entries"][0]["status"] == "delivered" and delivered["entries"][0]["case_id"]
    assert json.loads(_run(fixed, "list", "--json"))["counts"] == {"pending": 0, "delivered": 1, "dead": 0}


def test_outbox_cli_unknown_key_exits_non_zero(env: dict[str, str]) -> None:
    result = runner.invoke(app, ["outbox", "requeue", "call-nope"], env=env)
    assert result.exit_code == 1 and "no outbox entry" in result.output
