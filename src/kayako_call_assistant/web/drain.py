"""Graceful drain of one replica: after SIGTERM it takes no new calls and lets live ones finish, up to a bound.

While draining, ``/readyz`` answers 503 (load balancers stop sending new work) and the voice webhook answers
new calls with TwiML that sends Twilio back through the public URL to another replica. Calls already on this
replica's media streams go on until they end or ``KCA_DRAIN_SECONDS`` pass; a call cut at the bound continues
on another replica through the ``<Redirect>`` after ``<Connect>`` (telephony/twiml.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import structlog

from ..observability.metrics import DRAINING

log = structlog.get_logger(__name__)


class Drain:
    """``live_calls``: how many calls this process is serving now (media streams)."""

    def __init__(self, live_calls: Callable[[], int], *, poll_seconds: float = 0.5) -> None:
        self._live_calls = live_calls
        self._poll_seconds = poll_seconds
        self.draining = False

    def active(self) -> bool:
        return self.draining

    async def run(self, bound_seconds: float) -> bool:
        """Stop taking calls and wait for the live ones; True when all ended within ``bound_seconds``."""
        self.draining = True
        DRAINING.set(1)
        started = time.monotonic()
        log.info("drain.started", live_calls=self._live_calls(), bound_seconds=bound_seconds)
        # Polled: the live calls are the router's plain dict of sessions; nothing signals when it empties.
        while self._live_calls() > 0 and time.monotonic() - started < bound_seconds:  # noqa: ASYNC110
            await asyncio.sleep(self._poll_seconds)
        left = self._live_calls()
        log_method = log.info if left == 0 else log.warning
        log_method(
            "drain.finished",
            seconds=round(time.monotonic() - started, 1),
            calls_cut=left,  # they resume on another replica through the TwiML's <Redirect>
        )
        return left == 0
