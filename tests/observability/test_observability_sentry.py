"""Error reports reach a (fake) Sentry over real HTTP as envelopes, with PII and secrets scrubbed."""

from __future__ import annotations

import asyncio

import httpx
import sentry_sdk

from kayako_call_assistant.fakes.sentry_server import create_app
from kayako_call_assistant.observability.sentry import init_sentry
from kayako_call_assistant.servers import serve_in_background


async def test_exception_reaches_sentry_scrubbed() -> None:
    async with serve_in_background(create_app()) as base:
        dsn = base.replace("http://", "http://publickey@") + "/42"
        assert init_sentry(dsn, environment="test")
        try:
            try:
                raise RuntimeError(
                    "caller jane.doe@example.com at +1 415 555 0100 paid with 4111 1111 1111 1111"
                )
            except RuntimeError as error:
                sentry_sdk.capture_exception(error)
            await asyncio.to_thread(sentry_sdk.flush, 5)
            async with httpx.AsyncClient() as client:
                events = (await client.get(f"{base}/_fake/events")).json()
        finally:
            sentry_sdk.init(dsn=None)
    errors = [e for e in events if e["type"] == "event"]
    assert errors, events
    assert errors[0]["project"] == "42"
    raw = errors[0]["raw"]
    assert "RuntimeError" in raw
    assert "jane.doe@example.com" not in raw
    assert "555 0100" not in raw
    assert "4111 1111 1111 1111" not in raw
    assert "[email]" in raw and "[card]" in raw


def test_no_dsn_means_no_sentry() -> None:
    assert init_sentry("", environment="test") is False
