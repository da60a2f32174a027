"""`kca serve`: the assistant's HTTP server. In development, what is not configured is embedded: the Kayako
mock when no Kayako is configured, and a fake Twilio REST API when no Twilio account is."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal
import socket
import ssl
from collections.abc import Callable
from types import FrameType
from typing import Annotated, Any
from urllib.parse import urlsplit

import structlog
import typer
import uvicorn
import uvloop

from ..observability.gc_pauses import GcPauses, tune_gc
from ..observability.load_probe import LoadProbe
from ..observability.logging import configure_logging
from ..observability.sentry import init_sentry
from ..servers import serve_in_background
from ..settings import Settings
from ..web.drain import Drain
from .errors import load_settings

log = structlog.get_logger(__name__)


class DrainingServer(uvicorn.Server):
    """uvicorn, except that the first SIGTERM drains this replica (web/drain.py) before uvicorn's own shutdown,
    which would close live media streams at once. SIGINT, or a second SIGTERM, stops without waiting."""

    def __init__(self, config: uvicorn.Config, drain: Drain, bound_seconds: float) -> None:
        super().__init__(config)
        self._drain = drain
        self._bound_seconds = bound_seconds
        self._drain_requested = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._drain_task: asyncio.Task[None] | None = None

    async def serve(self, sockets: Any = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig == signal.SIGTERM and not self._drain_requested and self._loop is not None:
            self._drain_requested = True  # runs in the signal handler: hand over to the event loop
            self._loop.call_soon_threadsafe(self._start_drain)
            return
        super().handle_exit(sig, frame)

    def _start_drain(self) -> None:
        self._drain_task = asyncio.create_task(self._drain_then_exit(), name="drain")

    async def _drain_then_exit(self) -> None:
        await self._drain.run(self._bound_seconds)
        self.should_exit = True  # uvicorn's shutdown closes what is still open (cut calls resume elsewhere)


async def _serve(settings: Settings, sockets: list[socket.socket] | None = None) -> None:
    from ..config_check import refuse_unsafe
    from ..web.app import create_app
    from ..wiring import call_runtime, telephony_runtime

    # Before anything starts: staging and production never run on the embedded mock or a dev token.
    refuse_unsafe(settings)
    async with contextlib.AsyncExitStack() as stack:
        if not settings.kayako_base_url:
            from ..kayako_mock.app import create_app as create_mock_app
            from ..kayako_mock.config import MockConfig

            settings.data_dir.mkdir(parents=True, exist_ok=True)
            mock = create_mock_app(MockConfig(database=str(settings.data_dir / "kayako-mock.sqlite3")))
            url = await stack.enter_async_context(serve_in_background(mock, port=settings.kayako_mock_port))
            # KCA_KAYAKO_MOCK_PORT=0 takes any free port: the client must be given the one it got.
            settings = settings.model_copy(update={"kayako_mock_port": urlsplit(url).port})
            log.info("kayako_mock.started", url=f"{url}/api/v1", reason="KCA_KAYAKO_BASE_URL is empty")
        if not settings.twilio_account_sid and settings.environment == "development":
            from ..fakes.twilio_rest import DEVELOPMENT_ACCOUNT_SID, create_default_app

            url = await stack.enter_async_context(
                serve_in_background(create_default_app(), port=settings.twilio_fake_port)
            )
            # A development setup plays a whole deployment: agents on duty behind a queue, unless set otherwise.
            update: dict[str, object] = {
                "twilio_account_sid": DEVELOPMENT_ACCOUNT_SID,
                "twilio_api_base_url": url,
            }
            if "transfer_enabled" not in settings.model_fields_set:
                update["transfer_enabled"] = True
            if not settings.transfer_target:
                update["transfer_target"] = "queue:support"
            settings = settings.model_copy(update=update)
            log.info(
                "twilio_fake.started",
                url=url,
                reason="KCA_TWILIO_ACCOUNT_SID is empty",
                transfer_target=settings.transfer_target,
            )
        runtime = await stack.enter_async_context(call_runtime(settings))
        telephony = await stack.enter_async_context(telephony_runtime(settings, runtime))
        live = telephony.live
        drain = Drain(live_calls=lambda: len(live))
        telephony = dataclasses.replace(telephony, draining=drain.active)
        app: Any = create_app(runtime, telephony, drain=drain)
        if settings.gc_tuning:
            tune_gc()
        pauses = GcPauses()
        pauses.install()
        track: Callable[[], contextlib.AbstractContextManager[object]] = contextlib.nullcontext
        if settings.stt_engine == "instant":  # load-test engines (development only): expose /debug/load
            app = probe = LoadProbe(app, pauses)
            track = probe.stream
        config = server_config(settings, app)
        if settings.media_port and telephony.media_signatures is not None:
            from ..telephony.media_listener import start_media_listener

            media = await start_media_listener(
                telephony,
                telephony.media_signatures,
                host=settings.host,
                port=settings.media_port,
                max_message_bytes=settings.ws_max_message_bytes,
                ssl_context=_tls_context(settings),
                reuse_port=sockets is not None,  # workers share the port, as they share the main one
                track=track,
            )
            stack.callback(media.close)
            log.info("server.media_listening", url=settings.media_url, port=settings.media_port)
        log.info("server.listening", url=settings.public_url, bind=f"{settings.host}:{settings.port}")
        await DrainingServer(config, drain, settings.drain_seconds).serve(sockets=sockets)


def _tls_context(settings: Settings) -> ssl.SSLContext | None:
    """The media listener's TLS, from the same certificate as the main port's (None: plain)."""
    if not settings.tls_cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(settings.tls_cert), str(settings.tls_key) if settings.tls_key else None)
    return context


def server_config(settings: Settings, app: Any) -> uvicorn.Config:
    """uvicorn's configuration from the settings: bind address, TLS, trusted proxies, WebSockets."""
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        ssl_certfile=str(settings.tls_cert) if settings.tls_cert else None,
        ssl_keyfile=str(settings.tls_key) if settings.tls_key else None,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        ws="websockets-sansio",
        ws_max_size=settings.ws_max_message_bytes,
        # Twilio's media frames are small and already compressed audio: deflate only costs CPU.
        ws_per_message_deflate=False,
        log_config=None,
    )


def serve_command(
    host: Annotated[str | None, typer.Option(help="Bind address (default KCA_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default KCA_PORT).")] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Server processes sharing the port (SO_REUSEPORT; default KCA_WORKERS); >1 needs PostgreSQL.",
        ),
    ] = None,
) -> None:
    """Run the assistant (Twilio webhooks and media streams, Kayako webhooks, admin API, metrics)."""
    overrides = {k: v for k, v in {"host": host, "port": port, "workers": workers}.items() if v is not None}
    settings = load_settings(**overrides)
    configure_logging(json=settings.production_rules, level=settings.log_level)
    if settings.workers > 1:
        from .workers import WorkersRefused, run_workers

        try:
            run_workers(settings, settings.workers, overrides)
        except WorkersRefused as refused:
            log.error("server.workers_refused", reason=str(refused))
            raise typer.Exit(2) from None
        return
    init_sentry(
        settings.sentry_dsn.get_secret_value(),
        environment=settings.environment,
        traces_sample_rate=settings.sentry_traces_sample_rate,
    )
    uvloop.run(_serve(settings))
