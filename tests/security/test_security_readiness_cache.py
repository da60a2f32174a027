"""Readiness probes read Kayako's state from a cache refreshed in the background: a probe costs no Kayako
request while the result is fresh, and a stale result is refreshed without making the probe wait."""

from __future__ import annotations

import asyncio

from kayako_call_assistant.web.health import CachedCheck


async def test_cached_check_runs_at_most_once_per_interval_and_refreshes_in_the_background() -> None:
    now = [0.0]
    calls: list[int] = []
    failing = [False]

    async def kayako() -> None:
        calls.append(1)
        if failing[0]:
            raise ConnectionError("down")

    check = CachedCheck("kayako", kayako, interval=30.0, timeout_seconds=1.0, clock=lambda: now[0])
    assert await check.cached() == "ok" and len(calls) == 1  # the first probe waits for a result
    for _ in range(10):
        assert await check.cached() == "ok"
    assert len(calls) == 1  # fresh: no more requests
    failing[0] = True
    now[0] = 31.0
    assert await check.cached() == "ok"  # stale: the old result now, a refresh started
    for _ in range(100):
        if len(calls) == 2:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0)
    assert len(calls) == 2
    assert (await check.cached()).startswith("failed: ConnectionError")
    assert (await check.fresh()).startswith("failed") and len(calls) == 3
