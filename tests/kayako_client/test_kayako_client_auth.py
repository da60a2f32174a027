"""Authentication against the Kayako mock: sessions, CSRF, re-login, OAuth refresh, 2FA."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from kayako_client_support import AGENT_EMAIL, AGENT_PASSWORD, JANE_EMAIL, MockKayako, RequestLog

from kayako_call_assistant.kayako import (
    KayakoApi,
    KayakoAuthError,
    KayakoClient,
    KayakoConfig,
    KayakoTwoFactorRequired,
)
from kayako_call_assistant.kayako_mock.config import MockConfig

MakeClient = Callable[..., tuple[KayakoClient, RequestLog]]


async def test_kayako_session_is_reused_after_one_login(make_client: MakeClient) -> None:
    client, log = make_client()
    for _ in range(3):
        me = await client.get("me")
        assert me["id"]
    # One Basic login (the first GET /me) and then three requests on the session, none refused.
    assert client.requests_made == 4
    assert log.count(status=401) == 0
    assert log.count(status=454) == 0


async def test_kayako_concurrent_first_requests_share_one_login(make_client: MakeClient) -> None:
    client, log = make_client()
    await asyncio.gather(*(client.get("cases/statuses") for _ in range(10)))
    assert log.count("GET", "/me") == 1
    assert client.requests_made == 11


async def test_kayako_writes_carry_the_csrf_token(kayako: MockKayako, api: KayakoApi) -> None:
    jane = await api.find_user_by_email(JANE_EMAIL)
    assert jane is not None
    case = (await api.open_cases(jane.id))[0]
    updated = await api.update_case(case.id, tags=["csrf-checked"])
    assert "csrf-checked" in updated.tag_names or "csrf-checked" in (await api.get_case(case.id)).tag_names

    # The same write on a session without the token is refused: the mock enforces CSRF.
    async with httpx.AsyncClient() as http:
        login = await http.get(f"{kayako.api}/me", auth=(AGENT_EMAIL, AGENT_PASSWORD))
        session = login.json()["session_id"]
        refused = await http.put(
            f"{kayako.api}/cases/{case.id}", json={"tags": "no-csrf"}, headers={"X-Session-ID": session}
        )
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["code"] == "CSRF_FAILED"


async def test_kayako_expired_session_logs_in_again_and_replays(
    kayako: MockKayako, make_client: MakeClient
) -> None:
    client, log = make_client()
    await client.get("me")
    await kayako.admin("POST", "expire-sessions")
    before = client.requests_made
    me = await client.get("me")
    assert me["id"]
    # The refused request, one new login, the replay.
    assert client.requests_made - before == 3
    assert log.count(status=454) + log.count(status=401) == 1


async def test_kayako_wrong_password_is_an_auth_error_without_the_password(make_client: MakeClient) -> None:
    client, _ = make_client(password="not-the-password-xyz")
    with pytest.raises(KayakoAuthError) as caught:
        await client.get("me")
    assert caught.value.status == 401
    assert caught.value.code == "AUTHENTICATION_FAILED"
    assert "not-the-password-xyz" not in str(caught.value)
    assert "not-the-password-xyz" not in repr(caught.value.args)


async def test_kayako_two_factor_account_is_a_configuration_error(
    make_client: MakeClient, mock_config: MockConfig
) -> None:
    client, _ = make_client(email=mock_config.twofactor_email)
    with pytest.raises(KayakoTwoFactorRequired) as caught:
        await client.get("me")
    assert caught.value.code == "OTP_EXPECTED"
    assert "two-factor" in str(caught.value)


def _oauth(make_client: MakeClient, config: MockConfig, **extra: Any) -> tuple[KayakoClient, RequestLog]:
    return make_client(
        auth="oauth",
        oauth_client_id=config.oauth_client_id,
        oauth_client_secret=config.oauth_client_secret,
        **extra,
    )


async def test_kayako_oauth_one_token_request_for_many_waiting_requests(
    kayako: MockKayako, make_client: MakeClient, mock_config: MockConfig
) -> None:
    client, log = _oauth(make_client, mock_config)
    results = await asyncio.gather(*(client.get("cases/statuses") for _ in range(20)))
    assert all(results)
    assert log.count("POST", "/oauth/token") == 1

    # Tokens revoked server-side: every waiting request gets a 401, but only one refresh happens.
    await kayako.admin("POST", "expire-tokens")
    results = await asyncio.gather(*(client.get("cases/statuses") for _ in range(20)))
    assert all(results)
    assert log.count("POST", "/oauth/token") == 2


@pytest.mark.parametrize("mock_config", [MockConfig(oauth_token_ttl_seconds=2, strict=True)])
async def test_kayako_oauth_refreshes_before_expiry(make_client: MakeClient, mock_config: MockConfig) -> None:
    client, log = _oauth(make_client, mock_config)
    await client.get("me")
    await asyncio.sleep(1.6)  # past the refresh margin (a quarter of the lifetime), before expiry
    await client.get("me")
    assert log.count("POST", "/oauth/token") == 2
    assert log.count(status=401) == 0


async def test_kayako_oauth_bad_client_secret_is_an_auth_error(
    make_client: MakeClient, mock_config: MockConfig
) -> None:
    client, _ = make_client(
        auth="oauth", oauth_client_id=mock_config.oauth_client_id, oauth_client_secret="wrong-secret-abc"
    )
    with pytest.raises(KayakoAuthError) as caught:
        await client.get("me")
    assert "wrong-secret-abc" not in str(caught.value)


def test_kayako_oauth_needs_a_grant() -> None:
    with pytest.raises(KayakoAuthError, match="REFRESH_TOKEN"):
        KayakoClient(
            KayakoConfig(
                base_url="http://x/api/v1", auth="oauth", oauth_client_id="a", oauth_client_secret="b"
            )
        )
