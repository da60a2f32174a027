"""Walking a Kayako collection page by page.

Kayako collections answer ``offset``/``limit``/``total_count`` and, where there is one, a ``next_url``.
The walk follows ``next_url`` when present (it keeps every filter of the query) and otherwise advances
``offset`` until ``total_count`` is reached or a page comes back empty.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from .client import KayakoClient


async def paginate(
    client: KayakoClient,
    path: str,
    params: dict[str, Any] | None = None,
    *,
    page_size: int = 100,
    cache_kind: str | None = None,
    max_items: int | None = None,
) -> AsyncIterator[dict[str, Any]]:
    """Every item of the collection at ``path``, in the server's order (at most ``max_items``)."""
    query: dict[str, Any] | None = {**(params or {}), "offset": 0, "limit": page_size}
    target = path
    seen_urls: set[str] = set()
    yielded = 0
    while True:
        envelope = await client.request("GET", target, params=query, cache_kind=cache_kind)
        items = envelope.get("data") or []
        if not isinstance(items, list):
            return
        for item in items:
            if isinstance(item, dict):
                yield item
                yielded += 1
                if max_items is not None and yielded >= max_items:
                    return
        if not items:
            return
        next_url = envelope.get("next_url")
        if isinstance(next_url, str) and next_url:
            if next_url in seen_urls:  # a server bug would otherwise loop forever
                return
            seen_urls.add(next_url)
            target, query = next_url, None
            continue
        offset = int(envelope.get("offset") or 0) + len(items)
        total = envelope.get("total_count")
        if total is None or offset >= int(total):
            return
        target, query = path, {**(params or {}), "offset": offset, "limit": page_size}
