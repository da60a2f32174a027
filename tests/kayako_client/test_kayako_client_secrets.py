"""Passwords, session ids and tokens never reach logs or exception text."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
import structlog
from kayako_client_support import AGENT_PASSWORD, MockKayako, RequestLog

from kayako_call_assistant.kayako import KayakoAuthError, KayakoClient
from kayako_call_assistant.kayako_mock.config import MockConfig

MakeClient = Callable[..., tuple[KayakoClient, RequestLog]]


async def test_kayako_logs_and_errors_hold_no_credentials(
    kayako: MockKayako, make_client: MakeClient, mock_config: MockConfig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    secrets: set[str] = {AGENT_PASSWORD, mock_config.oauth_client_secret}
    with structlog.testing.capture_logs() as events:
        session_client, _ = make_client()
        login = await session_client.request("GET", "me")
        secrets.add(str(login.get("session_id") or "no-session-id"))
        await kayako.admin("POST", "expire-sessions")
        await session_client.get("me")

        oauth_client, _ = make_client(
            auth="oauth",
            oauth_client_id=mock_config.oauth_client_id,
            oauth_client_secret=mock_config.oauth_client_secret,
        )
        await oauth_client.get("me")
        await kayako.admin("POST", "expire-tokens")
        await oauth_client.get("me")

        bad, _ = make_client(password="hunter2-secret")
        secrets.add("hunter2-secret")
        with pytest.raises(KayakoAuthError) as caught:
            await bad.get("me")
        texts += [str(caught.value), repr(caught.value)]
        await kayako.faults(error_rate=1.0, error_status=500)
        failing, _ = make_client(max_retries=1)
        with pytest.raises(Exception) as server_error:
            await failing.get("me")
        texts += [str(server_error.value), repr(server_error.value)]

    texts += [repr(event) for event in events]
    texts += [record.getMessage() for record in caplog.records]
    texts.append(repr(session_client.config) + repr(oauth_client.config))
    assert any("kayako.logged_in" in t for t in texts)  # the capture did see the client's logs
    for secret in secrets:
        assert secret
        assert not any(secret in text for text in texts), "a credential leaked into logs or errors"
