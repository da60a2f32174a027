"""A second listener for Twilio media streams only, with WebSocket framing in native code (picows).

Why a listener of its own: a media stream is fifty small messages a second per call, and at that rate the
cost of a call is the cost of a message. Measured on the 2-core machine (docs/performance.md), uvicorn's
WebSocket stack (Python framing, an ASGI queue and a task wake-up per message) spends 32–40 µs of CPU per
message before the application sees it — 82 % of a core for 500 calls' inbound audio alone — where picows
(Cython framing, a synchronous callback per message) spends about 17 µs including the JSON parse. Every
other route stays on the main port (FastAPI/uvicorn); with ``KCA_MEDIA_PORT`` unset, media streams are
served there too, by the same ``run_media_stream``.

The upgrade is checked exactly as on the main port: the ``X-Twilio-Signature`` of the stream URL (signed as
Twilio signs it, from ``KCA_MEDIA_PUBLIC_URL``), refused with HTTP 403 before anything else; then the call's
one-use stream token in ``start``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections import deque
from collections.abc import Callable
from urllib.parse import urlsplit

import structlog
from picows import (
    WSCloseCode,
    WSFrame,
    WSListener,
    WSMsgType,
    WSTransport,
    WSUpgradeRequest,
    WSUpgradeResponse,
    WSUpgradeResponseWithListener,
    ws_create_server,
)
from starlette.datastructures import URL, Headers

from .media_stream import run_media_stream
from .signature import TwilioSignatures
from .webhooks import Telephony, session_registry, stream_authenticator

log = structlog.get_logger(__name__)

MEDIA_PATH = "/twilio/media"
Track = Callable[[], contextlib.AbstractContextManager[object]]
_MALFORMED = b"\x00"  # handed on in place of a frame Twilio would never send: parsed, logged and skipped


class _Inbox:
    """The frames of one connection, in order, for ``run_media_stream``'s ``receive``.

    A deque and one waiting future rather than ``asyncio.Queue``: the frame callback runs fifty times a
    second per call, and the queue's own bookkeeping (loop checks, waiter lists, ``full``/``empty``) was a
    measurable share of a message's cost. One reader only (the call's task).
    """

    __slots__ = ("_closed", "_frames", "_waiter", "divert")

    def __init__(self) -> None:
        self._frames: deque[bytes] = deque()
        # The call's synchronous handler (``media_stream.Divert``): a frame it takes is never queued.
        self.divert: Callable[[bytes], bool] | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False

    def put(self, frame: bytes) -> None:
        if self._closed:
            return
        divert = self.divert
        # Only when nothing is queued: a frame must not overtake the ones before it.
        if divert is not None and not self._frames and divert(frame):
            return
        self._frames.append(frame)
        self._wake()

    def close(self) -> None:
        self._closed = True
        self.divert = None
        self._wake()

    def set_divert(self, handler: Callable[[str | bytes], bool] | None) -> None:
        self.divert = handler

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self) -> bytes | None:
        """The next frame; None once the connection has closed and every frame before that was read."""
        while not self._frames:
            if self._closed:
                return None
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._frames.popleft()


class _StreamListener(WSListener):
    """One media-stream connection: frames into the inbox, the call served by ``run_media_stream``."""

    def __init__(self, telephony: Telephony, track: Track) -> None:
        super().__init__()
        self._telephony = telephony
        self._track = track
        self._inbox = _Inbox()
        self._transport: WSTransport | None = None
        self._task: asyncio.Task[None] | None = None

    def on_ws_connected(self, transport: WSTransport) -> None:
        self._transport = transport
        self._task = asyncio.get_running_loop().create_task(self._serve(), name="media-stream")
        self._telephony.background.add(self._task)
        self._task.add_done_callback(self._telephony.background.discard)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        kind = frame.msg_type
        if kind is WSMsgType.TEXT or kind is WSMsgType.BINARY:
            # A fragmented message is not Twilio's: skipped like any other malformed frame.
            self._inbox.put(frame.get_payload_as_bytes() if frame.fin else _MALFORMED)
        elif kind is WSMsgType.CONTINUATION:
            self._inbox.put(_MALFORMED)
        elif kind is WSMsgType.CLOSE:
            with contextlib.suppress(Exception):
                transport.send_close(frame.get_close_code())
            transport.disconnect()
            self._inbox.close()
        # PING is answered by picows itself (auto-pong); PONG carries nothing for us.

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self._inbox.close()

    async def _send(self, text: str) -> None:
        transport = self._transport
        # The caller may hang up mid-sentence: a send into the closing socket is not an error of ours.
        if transport is not None and not transport.is_disconnected and not transport.is_close_frame_sent:
            transport.send(WSMsgType.TEXT, text.encode("ascii"))

    async def _close(self) -> None:
        transport = self._transport
        if transport is not None and not transport.is_disconnected:
            with contextlib.suppress(Exception):  # the peer may have gone first
                if not transport.is_close_frame_sent:
                    transport.send_close(WSCloseCode.OK)
                transport.disconnect()
        self._inbox.close()

    async def _serve(self) -> None:
        t = self._telephony
        try:
            with self._track():
                await run_media_stream(
                    self._inbox.get,
                    self._send,
                    self._close,
                    authenticate=stream_authenticator(t),
                    parts=t.stream_parts(),
                    on_session=session_registry(t),
                    divert=self._inbox.set_divert,
                )
        except Exception:
            log.exception("telephony.stream_failed", listener="media")
        finally:
            await self._close()


def listener_factory(
    telephony: Telephony, signatures: TwilioSignatures, track: Track = contextlib.nullcontext
) -> Callable[[WSUpgradeRequest], WSListener | WSUpgradeResponseWithListener]:
    """picows' per-connection factory: the upgrade request checked (path, Twilio signature) before a
    listener is made; anything else is answered with 404 or 403 and no WebSocket."""

    def factory(request: WSUpgradeRequest) -> WSListener | WSUpgradeResponseWithListener:
        target = request.path.decode("latin-1")
        path = urlsplit(target).path
        if path != MEDIA_PATH:
            return WSUpgradeResponseWithListener(WSUpgradeResponse.create_error_response(404), None)
        headers = Headers(
            raw=[(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in request.headers.items()]
        )
        url = URL(f"ws://{headers.get('host', 'localhost')}{target}")
        signature = headers.get("x-twilio-signature")
        if not signatures.valid(signature, url, headers, {}, websocket=True):
            log.warning("telephony.signature_rejected", path=path, has_signature=signature is not None)
            return WSUpgradeResponseWithListener(
                WSUpgradeResponse.create_error_response(403, b"invalid Twilio signature"), None
            )
        return _StreamListener(telephony, track)

    return factory


async def start_media_listener(
    telephony: Telephony,
    signatures: TwilioSignatures,
    *,
    host: str,
    port: int,
    max_message_bytes: int,
    ssl_context: ssl.SSLContext | None = None,
    reuse_port: bool = False,
    track: Track = contextlib.nullcontext,
) -> asyncio.Server:
    """Listen for media streams on ``host:port`` (the caller closes the returned server). Calls in
    progress are the telephony's (``telephony.live``): a drain waits for them as for any other.
    ``track()`` is entered for each stream's lifetime (the load-test probe counts them with it)."""
    server: asyncio.Server = await ws_create_server(
        listener_factory(telephony, signatures, track),
        host,
        port,
        max_frame_size=max_message_bytes,
        ssl=ssl_context,
        reuse_port=reuse_port,
        logger_name="kayako_call_assistant.telephony.media_listener.picows",
    )
    log.info("telephony.media_listener_started", host=host, port=port)
    return server
