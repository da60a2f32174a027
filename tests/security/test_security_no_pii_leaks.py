"""After calls in which the caller spelled an email, a phone number, a card number, a token and a password,
none of them is in the logs, in /metrics or in the events Sentry received."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import sentry_sdk
import structlog

from kayako_call_assistant.cli.chat import run_chat
from kayako_call_assistant.fakes.sentry_server import create_app as create_sentry_app
from kayako_call_assistant.kayako_mock.app import create_app as create_mock_app
from kayako_call_assistant.kayako_mock.config import MockConfig
from kayako_call_assistant.observability.logging import configure_logging
from kayako_call_assistant.observability.sentry import init_sentry
from kayako_call_assistant.servers import serve_in_background
from kayako_call_assistant.settings import Settings
from kayako_call_assistant.web.app import create_app
from kayako_call_assistant.wiring import call_runtime

EMAIL_SPOKEN = "jane dot doe at example dot com"
EMAIL_WRITTEN = "jane.doe@example.com"
PHONE = "415 555 0199"
PHONE_SPOKEN = "four one five five five five zero one nine nine"
CARD = "4111 1111 1111 1111"
TOKEN = "tok_9f8e7d6c5b4a3921"
PASSWORD = "Hunter2-Secret!"
SECRETS = [EMAIL_WRITTEN, EMAIL_SPOKEN, PHONE, PHONE_SPOKEN, "4155550199", CARD, "4111111111111111"]

CALLER = [
    f"hi, I was charged twice on card {CARD} and I want a refund, my password is {PASSWORD} and my token {TOKEN}",
    "Jane Doe",
    EMAIL_SPOKEN,
    "yes",
    PHONE_SPOKEN,
    "yes",
]


async def _lines(lines: list[str]) -> AsyncIterator[str]:
    for line in lines:
        yield line


async def test_spelled_contact_details_card_and_credentials_leak_nowhere(tmp_path: Path) -> None:
    configure_logging(json=True, level="DEBUG")
    logs = io.StringIO()
    logging.getLogger().handlers[0].setStream(logs)  # type: ignore[attr-defined]
    config = MockConfig()
    async with (
        serve_in_background(create_sentry_app()) as sentry_base,
        serve_in_background(create_mock_app(config)) as mock,
    ):
        assert init_sentry(sentry_base.replace("http://", "http://publickey@") + "/7", environment="test")
        try:
            settings = Settings(
                kayako_base_url=f"{mock}/api/v1",
                kayako_email=config.agent_email,
                kayako_password=config.agent_password,  # type: ignore[arg-type]
                database_url=f"sqlite+aiosqlite:///{tmp_path / 'pii.db'}",
                data_dir=tmp_path,
            )
            async with call_runtime(settings) as runtime:
                call = await run_chat(runtime.call_service, _lines(CALLER), from_number="+14155550199")
                assert call.call.case_id is not None or call.finished
                # Credentials said on a call and passed to logging by any code path, and an error report
                # that carries the caller's words, as a crash in the call path would.
                log = structlog.get_logger("test.pii")
                log.info("caller.said", text=f"my email is {EMAIL_WRITTEN}", password=PASSWORD, token=TOKEN)
                log.warning("request", headers={"Authorization": f"Bearer {TOKEN}"}, note=f"card {CARD}")
                logging.getLogger("test.stdlib").error("caller %s paid with %s", EMAIL_WRITTEN, CARD)
                try:
                    raise ValueError(f"could not file case for {EMAIL_SPOKEN}, phone {PHONE}, card {CARD}")
                except ValueError as error:
                    sentry_sdk.capture_exception(error)
                async with serve_in_background(create_app(runtime)) as base, httpx.AsyncClient() as web:
                    metrics = (await web.get(f"{base}/metrics")).text
            await asyncio.to_thread(sentry_sdk.flush, 5)
            async with httpx.AsyncClient() as client:
                events = (await client.get(f"{sentry_base}/_fake/events")).json()
        finally:
            sentry_sdk.init(dsn=None)
    text = logs.getvalue()
    assert "caller.said" in text and events, "the capture saw nothing: the test would prove nothing"
    sentry = "\n".join(event["raw"] for event in events)
    assert "ValueError" in sentry
    for where, content in (("logs", text), ("metrics", metrics), ("sentry", sentry)):
        for secret in [*SECRETS, TOKEN, PASSWORD]:
            at = content.find(secret)
            assert at < 0, f"{secret!r} leaked into {where}: {content[max(0, at - 150) : at + 60]!r}"
