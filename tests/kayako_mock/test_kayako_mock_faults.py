"""Faults on purpose: latency, 429 bursts, errors, down, lost answers of committed writes, rate limit."""

from __future__ import annotations

import httpx
import pytest
from kayako_mock_support import Served

from kayako_call_assistant.kayako_mock.config import MockConfig


async def _faults(served: Served, **faults: object) -> httpx.Response:
    return await served.http.put(f"{served.url}/_mock/faults", json=faults)


async def test_kayako_mock_latency_outlasts_a_short_timeout(served: Served, agent: dict[str, str]) -> None:
    await _faults(served, latency_ms=500)
    with pytest.raises(httpx.ReadTimeout):
        await served.http.get(f"{served.api}/me", headers=agent, timeout=0.05)
    # The admin API is never slowed down, so a test can always repair the mock.
    reset = await served.http.post(f"{served.url}/_mock/reset-faults", timeout=0.4)
    assert reset.json()["latency_ms"] == 0


async def test_kayako_mock_429_burst_then_recovers(served: Served, agent: dict[str, str]) -> None:
    await _faults(served, burst_429=2, retry_after=7)
    for _ in range(2):
        limited = await served.http.get(f"{served.api}/cases/statuses", headers=agent)
        assert limited.status_code == 429
        assert limited.headers["Retry-After"] == "7"
        assert limited.headers["X-API-Version"] == "1"
        assert limited.json()["errors"][0]["code"] == "RATE_LIMIT_REACHED"
    assert (await served.http.get(f"{served.api}/cases/statuses", headers=agent)).status_code == 200
    assert (await served.http.get(f"{served.url}/_mock/faults")).json()["burst_429"] == 0


async def test_kayako_mock_down_and_error_rate(served: Served, agent: dict[str, str]) -> None:
    await _faults(served, down=True)
    down = await served.http.get(f"{served.api}/me", headers=agent)
    assert down.status_code == 503
    await _faults(served, down=False, error_rate=1.0, error_status=502)
    failing = await served.http.get(f"{served.api}/me", headers=agent)
    assert failing.status_code == 502
    assert failing.json()["errors"][0]["code"] == "EXCEPTION_CAUGHT"
    await served.http.post(f"{served.url}/_mock/reset-faults")
    assert (await served.http.get(f"{served.api}/me", headers=agent)).status_code == 200


async def test_kayako_mock_invalid_faults_are_refused(served: Served) -> None:
    assert (await _faults(served, error_rate=2)).status_code == 400
    assert (await _faults(served, no_such_fault=1)).status_code == 400
    assert (await served.http.get(f"{served.url}/_mock/faults")).json()["error_rate"] == 0


async def test_kayako_mock_fail_after_commit_keeps_the_write(served: Served, agent: dict[str, str]) -> None:
    await _faults(served, fail_after_commit_next=1)
    lost = await served.http.post(
        f"{served.api}/users",
        json={"full_name": "Lost Answer", "role_id": 4, "email": "lost@example.com"},
        headers=agent,
    )
    assert lost.status_code == 500
    found = await served.http.get(
        f"{served.api}/identities/emails", params={"email": "lost@example.com"}, headers=agent
    )
    assert found.json()["total_count"] == 1
    # Only successful writes consume the fault; the next one is answered normally.
    again = await served.http.post(
        f"{served.api}/users", json={"full_name": "Next", "role_id": 4}, headers=agent
    )
    assert again.status_code == 201


async def test_kayako_mock_stats_count_by_path_template(served: Served, agent: dict[str, str]) -> None:
    cases = (await served.http.get(f"{served.api}/cases.json", headers=agent)).json()["data"]
    for case in cases[:2]:
        await served.http.get(f"{served.api}/cases/{case['id']}", headers=agent)
    stats = (await served.http.get(f"{served.url}/_mock/stats")).json()
    assert stats["requests"]["GET /api/v1/cases/{id}"] == 2
    assert stats["requests"]["GET /api/v1/cases"] == 1


@pytest.mark.parametrize("mock_config", [MockConfig(rate_limit_per_minute=3)])
async def test_kayako_mock_rate_limit_per_minute(served: Served) -> None:
    statuses = [(await served.http.get(f"{served.api}/articles")).status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    limited = await served.http.get(f"{served.api}/articles")
    assert 1 <= int(limited.headers["Retry-After"]) <= 61


@pytest.mark.parametrize("mock_config", [MockConfig(burst_429=1, retry_after=3)])
async def test_kayako_mock_faults_set_at_start(served: Served) -> None:
    first = await served.http.get(f"{served.api}/articles")
    assert first.status_code == 429
    assert (await served.http.get(f"{served.api}/articles")).status_code == 200
    await served.http.post(f"{served.url}/_mock/reset-faults")
    assert (await served.http.get(f"{served.url}/_mock/faults")).json()["burst_429"] == 1
