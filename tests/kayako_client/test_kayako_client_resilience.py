"""Rate limits, retries, timeouts and duplicate-free creation against the Kayako mock."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from kayako_client_support import AGENT_EMAIL, AGENT_PASSWORD, JANE_EMAIL, MockKayako, RequestLog

from kayako_call_assistant.domain import CaseDraft, ContactDetails
from kayako_call_assistant.kayako import (
    KayakoApi,
    KayakoClient,
    KayakoConfig,
    KayakoHelpDesk,
    KayakoRateLimited,
    KayakoServerError,
    KayakoUnavailable,
    KayakoValidationError,
)
from kayako_call_assistant.kayako.helpdesk import idempotency_tag
from kayako_call_assistant.kayako.ratelimit import LocalRateLimiter, RedisRateLimiter

MakeClient = Callable[..., tuple[KayakoClient, RequestLog]]


async def test_kayako_429_storm_is_waited_out_with_retry_after(
    kayako: MockKayako, make_client: MakeClient
) -> None:
    client, log = make_client()
    await client.get("me")
    await kayako.faults(burst_429=2)
    statuses = await client.get("cases/statuses")
    assert statuses
    assert log.count(status=429) == 2


async def test_kayako_429_beyond_the_retries_is_rate_limited(
    kayako: MockKayako, make_client: MakeClient
) -> None:
    client, log = make_client(max_retries=1, retry_after_max_seconds=0.05)
    await client.get("me")
    await kayako.faults(burst_429=5)
    with pytest.raises(KayakoRateLimited) as caught:
        await client.get("cases/statuses")
    assert caught.value.retry_after is not None
    assert caught.value.code == "RATE_LIMIT_REACHED"
    assert log.count(status=429) == 2


async def test_kayako_5xx_is_retried_then_raised(kayako: MockKayako, make_client: MakeClient) -> None:
    client, log = make_client(max_retries=2)
    await client.get("me")
    await kayako.faults(error_rate=1.0, error_status=503)
    with pytest.raises(KayakoServerError) as caught:
        await client.get("cases/statuses")
    assert caught.value.status == 503
    assert log.count(status=503) == 3
    await kayako.admin("POST", "reset-faults")
    assert await client.get("cases/statuses")


async def test_kayako_timeouts_end_in_unavailable(kayako: MockKayako, make_client: MakeClient) -> None:
    client, log = make_client(timeout_seconds=0.2, max_retries=1)
    await client.get("me")
    await kayako.faults(latency_ms=1000)
    with pytest.raises(KayakoUnavailable):
        await client.get("cases/statuses")
    assert log.count("GET", "/cases/statuses", 0) == 2


async def test_kayako_unreachable_server_is_unavailable(make_client: MakeClient) -> None:
    client, log = make_client(base_url="http://127.0.0.1:9/api/v1", max_retries=2)
    with pytest.raises(KayakoUnavailable) as caught:
        await client.get("me")
    assert caught.value.status == 0
    assert log.count(status=0) == 3


async def test_kayako_validation_errors_are_not_retried(api: KayakoApi) -> None:
    client = api.client
    before = client.requests_made
    with pytest.raises(KayakoValidationError) as caught:
        await client.request("POST", "cases", json={"subject": "missing the rest"})
    assert caught.value.status == 400
    assert caught.value.code in {"FIELD_REQUIRED", "FIELD_INVALID", "FIELD_EMPTY"}
    assert caught.value.parameter
    # The login and the one refused POST.
    assert client.requests_made - before <= 2


async def test_kayako_case_committed_then_500_is_not_duplicated(kayako: MockKayako, api: KayakoApi) -> None:
    helpdesk = KayakoHelpDesk(api)
    jane = await api.find_user_by_email(JANE_EMAIL)
    assert jane is not None
    draft = CaseDraft(
        idempotency_key="call-dup-1",
        subject="Printer on fire",
        contents_html="<p>It is on fire.</p>",
        contact=ContactDetails(email=JANE_EMAIL),
        tags=["phone"],
        priority="High",
        case_type="Problem",
    )
    await kayako.faults(fail_after_commit_next=1)
    case = await helpdesk.create_case(draft, jane.id)
    again = await helpdesk.create_case(draft, jane.id)
    assert again.id == case.id
    marked = await api.cases_with_legacy_id(idempotency_tag("call-dup-1"))
    assert [c.id for c in marked] == [case.id]
    stored = await api.get_case(case.id)
    assert "phone" in stored.tag_names


async def test_kayako_user_committed_then_500_is_not_duplicated(kayako: MockKayako, api: KayakoApi) -> None:
    await kayako.faults(fail_after_commit_next=1)
    user = await api.create_user("Sam Dup", email="sam.dup@example.com", phone="+14155550177")
    found = await api.find_user_by_email("sam.dup@example.com")
    assert found is not None
    assert found.id == user.id
    by_phone = await api.find_user_by_phone("+14155550177")
    assert by_phone is not None
    assert by_phone.id == user.id
    results = await api.search("sam.dup@example.com", resources="USERS")
    assert len({r.id or 0 for r in results}) == 1


async def test_kayako_note_committed_then_500_is_posted_once(kayako: MockKayako, api: KayakoApi) -> None:
    jane = await api.find_user_by_email(JANE_EMAIL)
    assert jane is not None
    case = (await api.open_cases(jane.id))[0]
    await kayako.faults(fail_after_commit_next=1)
    await api.add_note(case.id, "<p>Caller rang again.</p>")
    posts = await api.posts(case.id)
    assert sum("Caller rang again." in p.contents for p in posts) == 1


async def test_kayako_local_limiter_spaces_requests() -> None:
    limiter = LocalRateLimiter(limit=2, window_seconds=0.2)
    waits = [await limiter.acquire() for _ in range(4)]
    assert waits[:2] == [0.0, 0.0]
    assert all(w > 0 for w in waits[2:])
    assert limiter.waited_seconds > 0


@pytest.mark.redis
async def test_kayako_redis_limiter_shares_one_budget_between_workers(redis_url: str) -> None:
    key = f"kca:test:rpm:{id(object())}"
    window = 1.0
    first = RedisRateLimiter(redis_url, limit=3, window_seconds=window, key=key)
    second = RedisRateLimiter(redis_url, limit=3, window_seconds=window, key=key)
    # Start just after a window boundary, so the six requests cannot straddle two fixed windows.
    await asyncio.sleep(window - time.time() % window + 0.02)
    try:
        waits = await asyncio.gather(
            *(limiter.acquire() for limiter in (first, second, first, second, first, second))
        )
        # Six requests against one budget of three per window: some had to wait for the next window.
        assert sum(1 for w in waits if w > 0) >= 3
        assert first.waited_seconds + second.waited_seconds > 0
    finally:
        await first.aclose()
        await second.aclose()


async def test_kayako_read_mostly_data_is_cached_until_invalidated(api: KayakoApi) -> None:
    client = api.client
    await api.statuses()
    titles = [a.id async for a in api.articles(max_items=5)]
    before = client.requests_made
    assert [s.label for s in await api.statuses()]
    assert [a.id async for a in api.articles(max_items=5)] == titles
    assert client.requests_made == before
    client.cache.invalidate("articles")
    assert [a.id async for a in api.articles(max_items=5)] == titles
    assert client.requests_made > before
    after_articles = client.requests_made
    await api.statuses()
    assert client.requests_made == after_articles


async def test_kayako_rate_limit_waits_are_reported(kayako: MockKayako) -> None:
    waits: list[float] = []
    config = KayakoConfig(
        base_url=kayako.api, email=AGENT_EMAIL, password=AGENT_PASSWORD, requests_per_minute=2,
        rate_window_seconds=0.3,
    )  # fmt: skip
    async with KayakoClient(config, on_rate_limit_wait=waits.append) as client:
        for _ in range(3):
            await client.request("GET", "/cases/statuses")
    assert waits and all(w > 0 for w in waits)
