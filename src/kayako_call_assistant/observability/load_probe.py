"""What a load test needs to read from the server process itself: media-stream seconds actually served and
garbage-collection pauses, at ``GET /debug/load`` (``?reset=1`` starts a new measurement window;
``?collect=1`` times one full collection, after the figures are taken).

Mounted by ``kca serve`` only with the load-test speech engines (``KCA_STT_ENGINE=instant``), which the
settings refuse outside development. It is plain ASGI around the application: it sees each WebSocket's
lifetime without touching the media-stream code and without a hop on any message (``receive`` and ``send``
are passed through unchanged); the native media listener (``KCA_MEDIA_PORT``) reports its connections
through ``stream()``.
"""

from __future__ import annotations

import contextlib
import gc
import os
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any

from prometheus_client import REGISTRY
from starlette.responses import JSONResponse

from .gc_pauses import GcPauses

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PATH = "/debug/load"


class LoadProbe:
    """ASGI middleware: counts WebSocket seconds and serves the figures at ``PATH``."""

    def __init__(self, app: ASGIApp, gc_pauses: GcPauses) -> None:
        self.app = app
        self.gc_pauses = gc_pauses
        self._open: dict[int, float] = {}  # id of the scope -> when it opened
        self._closed_seconds = 0.0
        self._opened = 0
        self._since = time.monotonic()
        self._cpu_since = time.process_time()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            with self.stream():
                await self.app(scope, receive, send)
            return
        if scope["type"] == "http" and scope["path"] == PATH:
            query = scope.get("query_string", b"")
            figures = self.snapshot(reset=b"reset=1" in query)
            if (
                b"collect=1" in query
            ):  # what one full collection of this heap costs now (it pauses every call)
                started = time.perf_counter()
                gc.collect()
                figures["full_collection_ms"] = round((time.perf_counter() - started) * 1000, 3)
            await JSONResponse(figures)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    @contextlib.contextmanager
    def stream(self) -> Iterator[None]:
        """Counts one media stream while the block runs (the ASGI WebSockets above; the native media
        listener's connections, which do not pass through ASGI, call it themselves)."""
        key = object()
        self._open[id(key)] = time.monotonic()
        self._opened += 1
        try:
            yield
        finally:
            started = self._open.pop(id(key))
            self._closed_seconds += time.monotonic() - max(started, self._since)

    def snapshot(self, *, reset: bool = False) -> dict[str, Any]:
        """Figures since the last reset; ``stream_seconds`` includes the part of open streams in the window."""
        now = time.monotonic()
        stream_seconds = self._closed_seconds + sum(now - max(t, self._since) for t in self._open.values())
        figures = {
            "pid": os.getpid(),
            "window_seconds": round(now - self._since, 3),
            # This process's CPU (all threads) over the same window: the load client's own clock may lag.
            "cpu_seconds": round(time.process_time() - self._cpu_since, 3),
            "streams_open": len(self._open),
            "streams_opened": self._opened,
            "stream_seconds": round(stream_seconds, 3),
            "gc": self.gc_pauses.snapshot(),
            # The server's own account of its outgoing audio (running totals of kca_playback_*): a gap it
            # caused mid-sentence is counted here whatever the load client's clock says.
            "playback_seconds_total": REGISTRY.get_sample_value("kca_playback_seconds_total") or 0.0,
            "playback_late_seconds_total": REGISTRY.get_sample_value("kca_playback_late_seconds_total")
            or 0.0,
            # Running totals of the speech cache: a miss is a sentence synthesized and resampled.
            "speech_cache_hits_total": REGISTRY.get_sample_value(
                "kca_speech_cache_lookups_total", {"result": "hit"}
            )
            or 0.0,
            "speech_cache_misses_total": REGISTRY.get_sample_value(
                "kca_speech_cache_lookups_total", {"result": "miss"}
            )
            or 0.0,
        }
        if reset:
            self._since = now
            self._cpu_since = time.process_time()
            self._closed_seconds = 0.0
            self._opened = 0
            self.gc_pauses.reset()
        return figures
