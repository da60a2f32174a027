"""`kca serve --workers N`: N server processes on one port, each with its own event loop.

One event loop carries a few hundred calls (see docs/performance.md); more processes carry more. Each
worker binds the port itself with ``SO_REUSEPORT`` and the kernel spreads new connections evenly over the
workers' sockets (by a hash of the client address and port). Chosen over uvicorn's ``--workers`` (one
shared socket, accepted by whichever process is free first) because the server is assembled inside its
event loop (``_serve``), which uvicorn's supervisor cannot do with an import string, and because an even
spread suits media streams, which are long-lived and cost about the same each. A media stream stays on the
process that accepted it; everything else a call needs is in the shared database (PostgreSQL) and Redis,
so any worker answers any webhook.

The parent applies the database migrations once, starts the workers, forwards SIGTERM/SIGINT to them (each
drains as a single server does) and exits when they have; if one worker dies the others are stopped too, so
that the process supervisor (systemd, Kubernetes) restarts a whole, known state.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import secrets
import signal
import socket
import sys
import time
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

import structlog

from ..settings import Settings

log = structlog.get_logger(__name__)


class WorkersRefused(ValueError):
    """A setting that cannot be shared by several processes (said in one line to the operator)."""


def check_shareable(settings: Settings) -> None:
    from ..storage.database import database_url

    if database_url(settings).startswith("sqlite"):
        raise WorkersRefused("--workers > 1 needs a shared database: set KCA_DATABASE_URL to PostgreSQL")
    if not settings.kayako_base_url:
        raise WorkersRefused(
            "--workers > 1 needs KCA_KAYAKO_BASE_URL: the embedded Kayako mock would be one per process "
            "(run `kca kayako-mock` once and point every worker at it)"
        )
    if not settings.redis_url:
        raise WorkersRefused(
            "--workers > 1 needs KCA_REDIS_URL: each process would otherwise keep its own record of used "
            "media-stream tokens and its own Kayako rate limit (each would spend the account's whole limit)"
        )


def worker_overrides(settings: Settings, overrides: dict[str, Any]) -> dict[str, Any]:
    """The settings every worker starts with: the command line's, each worker's development Twilio fake on a
    port of its own, and one media-stream token key for all of them. A token is issued by whichever worker
    answers the voice webhook and checked by whichever accepts the media stream; with ``KCA_STREAM_SECRET``
    unset each process would make up its own key and refuse the other's tokens (half of all calls, measured
    with two workers), so the parent makes one for this run."""
    shared: dict[str, Any] = {**overrides, "twilio_fake_port": 0}
    if not settings.stream_secret.get_secret_value():
        shared["stream_secret"] = secrets.token_urlsafe(32)
    return shared


def reuseport_socket(host: str, port: int) -> socket.socket:
    """A listening socket that other processes may bind to the same address too (``SO_REUSEPORT``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(4096)  # hundreds of calls may connect within seconds
    sock.setblocking(False)
    return sock


def _worker(overrides: dict[str, Any]) -> None:
    import uvloop

    from ..observability.logging import configure_logging
    from ..observability.sentry import init_sentry
    from .serve import _serve

    settings = Settings(**overrides)
    configure_logging(json=settings.production_rules, level=settings.log_level)
    init_sentry(
        settings.sentry_dsn.get_secret_value(),
        environment=settings.environment,
        traces_sample_rate=settings.sentry_traces_sample_rate,
    )
    sock = reuseport_socket(settings.host, settings.port)
    uvloop.run(_serve(settings, sockets=[sock]))


def run_workers(settings: Settings, workers: int, overrides: dict[str, Any]) -> None:
    """Run ``workers`` server processes until they stop; returns the process's exit code via SystemExit."""
    from ..storage.database import database_url, upgrade

    check_shareable(settings)
    asyncio.run(upgrade(database_url(settings)))  # once, before the workers race to do it
    overrides = worker_overrides(settings, overrides)
    context = multiprocessing.get_context("spawn")
    processes: list[BaseProcess] = [
        context.Process(target=_worker, args=(overrides,), name=f"kca-worker-{i}") for i in range(workers)
    ]
    for process in processes:
        process.start()
    log.info("server.workers", workers=workers, pids=[p.pid for p in processes], url=settings.public_url)

    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for process in processes:
            if process.is_alive() and process.pid is not None:
                process.terminate() if signum == signal.SIGTERM else _interrupt(process)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while any(p.is_alive() for p in processes):
        dead = [p for p in processes if not p.is_alive()]
        if dead and not stopping:
            log.error("server.worker_died", pid=dead[0].pid, exitcode=dead[0].exitcode)
            stop(signal.SIGTERM, None)
        time.sleep(0.2)
    codes = [p.exitcode or 0 for p in processes]
    sys.exit(0 if stopping and all(c in (0, -signal.SIGTERM) for c in codes) else 1)


def _interrupt(process: BaseProcess) -> None:
    import os

    if process.pid is not None:
        os.kill(process.pid, signal.SIGINT)
