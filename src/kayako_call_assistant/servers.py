"""Running an ASGI application on a real port inside this process.

Used by ``kca serve`` to start the embedded Kayako mock beside the assistant, and by tests and benchmarks
that need a real server (the Kayako mock, the fake OpenAI, Twilio and Sentry servers) on a real socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import uvicorn


class _EmbeddedServer(uvicorn.Server):
    """A server that leaves signals alone: the process's main server (or the test runner) owns Ctrl-C and
    stops embedded servers by setting ``should_exit``."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _config(app: Any, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        # uvicorn's logging config is process-wide: an embedded server (the mock inside `kca serve`, test
        # fakes) must not replace the redacting pipeline's loggers or levels (observability/logging.py).
        log_config=None,
        log_level=None,
        lifespan="on",
        ws="websockets-sansio",
        ws_per_message_deflate=False,
    )


def _bound_url(server: uvicorn.Server, host: str) -> str:
    sock = server.servers[0].sockets[0]
    return f"http://{host}:{sock.getsockname()[1]}"


@contextlib.asynccontextmanager
async def serve_in_background(app: Any, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """Serve ``app`` as a task of the running event loop; yields its base URL (``port=0``: a free port)."""
    server = _EmbeddedServer(_config(app, host, port))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("server stopped before it started")
        await asyncio.sleep(0.01)
    try:
        yield _bound_url(server, host)
    finally:
        server.should_exit = True
        await task


@contextlib.contextmanager
def serve_in_thread(app: Any, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve ``app`` from a thread with its own event loop, for synchronous callers (CLI tests)."""
    server = _EmbeddedServer(_config(app, host, port))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("server stopped before it started")
        threading.Event().wait(0.01)
    try:
        yield _bound_url(server, host)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
