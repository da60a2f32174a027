"""Kayako's authentication conventions: Basic → session → CSRF, 454, two-factor, OAuth, envelopes."""

from __future__ import annotations

import httpx
import pytest
from kayako_mock_support import AGENT, Served

from kayako_call_assistant.kayako_mock.config import MockConfig


async def test_kayako_mock_basic_login_returns_session_and_csrf(served: Served) -> None:
    response = await served.http.get(f"{served.api}/me.json", auth=AGENT)
    assert response.status_code == 200
    assert response.headers["X-API-Version"] == "1"
    body = response.json()
    assert body["status"] == 200
    assert body["resource"] == "user"
    assert body["data"]["full_name"] == "Alex Agent"
    assert body["data"]["id"] >= 80014400000
    assert body["data"]["created_at"].endswith("+00:00")
    assert body["session_id"]
    assert response.headers["X-CSRF-Token"]
    again = await served.http.get(f"{served.api}/me", headers={"X-Session-ID": body["session_id"]})
    assert again.json()["data"]["id"] == body["data"]["id"]
    assert "session_id" not in again.json()


async def test_kayako_mock_errors_carry_the_envelope_and_api_version(served: Served) -> None:
    anonymous = await served.http.get(f"{served.api}/cases")
    assert anonymous.status_code == 401
    assert anonymous.headers["X-API-Version"] == "1"
    error = anonymous.json()["errors"][0]
    assert error["code"] == "AUTHENTICATION_FAILED"
    assert error["more_info"].endswith("/AUTHENTICATION_FAILED")
    wrong = await served.http.get(f"{served.api}/me", auth=(AGENT[0], "wrong"))
    assert wrong.status_code == 401
    assert "session_id" not in wrong.json()


async def test_kayako_mock_writes_need_the_csrf_token(served: Served, agent: dict[str, str]) -> None:
    session_only = {"X-Session-ID": agent["X-Session-ID"]}
    body = {"full_name": "No Token", "role_id": 4}
    refused = await served.http.post(f"{served.api}/users", json=body, headers=session_only)
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["code"] == "CSRF_FAILED"
    wrong = await served.http.post(
        f"{served.api}/users", json=body, headers={**session_only, "X-CSRF-Token": "forged"}
    )
    assert wrong.status_code == 403
    accepted = await served.http.post(f"{served.api}/users", json=body, headers=agent)
    assert accepted.status_code == 201
    # Reads never need the token.
    assert (await served.http.get(f"{served.api}/users", headers=session_only)).status_code == 200


async def test_kayako_mock_session_without_csrf_on_request(served: Served) -> None:
    headers = await served.session(csrf=False)
    created = await served.http.post(
        f"{served.api}/users", json={"full_name": "Server Side", "role_id": 4}, headers=headers
    )
    assert created.status_code == 201


async def test_kayako_mock_expired_sessions_answer_454(served: Served, agent: dict[str, str]) -> None:
    assert (await served.http.get(f"{served.api}/me", headers=agent)).status_code == 200
    expired = await served.http.post(f"{served.url}/_mock/expire-sessions")
    assert expired.json()["expired"] >= 1
    refused = await served.http.get(f"{served.api}/me", headers=agent)
    assert refused.status_code == 454
    assert refused.json()["errors"][0]["code"] == "SESSION_LOADING_FAILED"
    unknown = await served.http.get(f"{served.api}/me", params={"_session_id": "nope"})
    assert unknown.status_code == 454


async def test_kayako_mock_session_header_and_argument_must_agree(
    served: Served, agent: dict[str, str]
) -> None:
    response = await served.http.get(f"{served.api}/me", headers=agent, params={"_session_id": "other"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "PARAMETERS_INCONSISTENT"


async def test_kayako_mock_logout_ends_the_session(served: Served, agent: dict[str, str]) -> None:
    current = await served.http.get(f"{served.api}/session", headers=agent)
    assert current.json()["data"]["id"] == agent["X-Session-ID"]
    assert (await served.http.delete(f"{served.api}/session", headers=agent)).status_code == 200
    assert (await served.http.get(f"{served.api}/me", headers=agent)).status_code == 454


async def test_kayako_mock_two_factor_login(served: Served, mock_config: MockConfig) -> None:
    credentials = (mock_config.twofactor_email, mock_config.agent_password)
    first = await served.http.get(f"{served.api}/me", auth=credentials)
    assert first.status_code == 403
    body = first.json()
    assert body["errors"][0]["code"] == "OTP_EXPECTED"
    assert body["auth_token"]
    assert "session_id" not in body
    wrong = await served.http.get(
        f"{served.api}/me", auth=credentials, headers={"X-Token": body["auth_token"], "X-OTP": "000000"}
    )
    assert wrong.status_code == 403
    done = await served.http.get(
        f"{served.api}/me",
        auth=credentials,
        headers={"X-Token": body["auth_token"], "X-OTP": mock_config.twofactor_otp},
    )
    assert done.status_code == 200
    assert done.json()["session_id"]


async def _token(served: Served, mock_config: MockConfig, **form: str) -> httpx.Response:
    return await served.http.post(
        f"{served.url}/oauth/token",
        data={
            "client_id": mock_config.oauth_client_id,
            "client_secret": mock_config.oauth_client_secret,
            **form,
        },
    )


async def test_kayako_mock_oauth_password_and_rotating_refresh(
    served: Served, mock_config: MockConfig
) -> None:
    first = await _token(served, mock_config, grant_type="password", username=AGENT[0], password=AGENT[1])
    assert first.status_code == 200
    grant = first.json()
    assert grant["token_type"] == "Bearer"
    assert grant["expires_in"] == mock_config.oauth_token_ttl_seconds
    assert grant["scope"]
    bearer = {"Authorization": f"Bearer {grant['access_token']}"}
    me = await served.http.get(f"{served.api}/me", headers=bearer)
    assert me.status_code == 200
    # Bearer writes need no CSRF token.
    created = await served.http.post(
        f"{served.api}/users", json={"full_name": "Via OAuth", "role_id": 4}, headers=bearer
    )
    assert created.status_code == 201

    refreshed = await _token(
        served, mock_config, grant_type="refresh_token", refresh_token=grant["refresh_token"]
    )
    assert refreshed.status_code == 200
    assert refreshed.json()["refresh_token"] != grant["refresh_token"]
    reused = await _token(
        served, mock_config, grant_type="refresh_token", refresh_token=grant["refresh_token"]
    )
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"

    stats = (await served.http.get(f"{served.url}/_mock/stats")).json()
    assert stats["tokens_issued"] == 2
    assert stats["requests"]["POST /oauth/token"] == 3

    await served.http.post(f"{served.url}/_mock/expire-tokens")
    assert (await served.http.get(f"{served.api}/me", headers=bearer)).status_code == 401


async def test_kayako_mock_oauth_json_body_and_bad_client(served: Served, mock_config: MockConfig) -> None:
    json_grant = await served.http.post(
        f"{served.url}/oauth/token",
        json={
            "grant_type": "password",
            "username": AGENT[0],
            "password": AGENT[1],
            "client_id": mock_config.oauth_client_id,
            "client_secret": mock_config.oauth_client_secret,
        },
    )
    assert json_grant.status_code == 200
    bad = await served.http.post(
        f"{served.url}/oauth/token",
        data={"grant_type": "password", "username": AGENT[0], "password": AGENT[1], "client_id": "x"},
    )
    assert bad.status_code == 401
    assert bad.json()["error"] == "invalid_client"
    wrong_password = await _token(
        served, mock_config, grant_type="password", username=AGENT[0], password="no"
    )
    assert wrong_password.json()["error"] == "invalid_grant"


@pytest.mark.parametrize("mock_config", [MockConfig(oauth_token_ttl_seconds=1)])
async def test_kayako_mock_oauth_tokens_expire(served: Served, mock_config: MockConfig) -> None:
    import asyncio

    grant = (
        await _token(served, mock_config, grant_type="password", username=AGENT[0], password=AGENT[1])
    ).json()
    bearer = {"Authorization": f"Bearer {grant['access_token']}"}
    assert (await served.http.get(f"{served.api}/me", headers=bearer)).status_code == 200
    await asyncio.sleep(1.1)
    assert (await served.http.get(f"{served.api}/me", headers=bearer)).status_code == 401


async def test_kayako_mock_unknown_ids_paths_and_methods(served: Served, agent: dict[str, str]) -> None:
    missing = await served.http.get(f"{served.api}/cases/1", headers=agent)
    assert missing.status_code == 404
    assert missing.json()["errors"][0]["code"] == "RESOURCE_NOT_FOUND"
    assert missing.headers["X-API-Version"] == "1"
    method = await served.http.delete(f"{served.api}/cases/statuses", headers=agent)
    assert method.status_code == 405
    assert method.json()["errors"][0]["code"] == "METHOD_NOT_SUPPORTED"
    nowhere = await served.http.get(f"{served.api}/no-such-thing", headers=agent)
    assert nowhere.status_code == 404
