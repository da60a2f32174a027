"""TTL cache of read-mostly Kayako responses (help center, statuses, priorities, …), grouped by kind.

Written here rather than taken from a library because invalidation is by kind: a webhook saying "an article
changed" drops every cached article page at once, which key-only caches cannot do.
"""

from __future__ import annotations

import time
from typing import Any

import structlog

log = structlog.get_logger(__name__)

# Kinds of data that change rarely; everything else (cases, users, posts, search) is never cached.
CACHED_KINDS = frozenset(
    {"articles", "sections", "categories", "statuses", "priorities", "types", "channels", "locales", "roles"}
)


class ResponseCache:
    def __init__(self, ttl_seconds: float) -> None:
        self._ttl = ttl_seconds
        self._entries: dict[str, dict[str, tuple[float, Any]]] = {}
        self.hits = 0
        self.misses = 0

    def get(self, kind: str, key: str) -> Any | None:
        entry = self._entries.get(kind, {}).get(key)
        if entry is None or entry[0] < time.monotonic():
            self.misses += 1
            return None
        self.hits += 1
        return entry[1]

    def set(self, kind: str, key: str, value: Any) -> None:
        if self._ttl > 0:
            self._entries.setdefault(kind, {})[key] = (time.monotonic() + self._ttl, value)

    def invalidate(self, kind: str) -> None:
        """Forget one kind (e.g. ``"articles"``); called when Kayako reports a change of it."""
        dropped = len(self._entries.pop(kind, {}))
        log.info("kayako.cache_invalidated", kind=kind, entries=dropped)

    def invalidate_all(self) -> None:
        self._entries.clear()
        log.info("kayako.cache_invalidated", kind="*")
