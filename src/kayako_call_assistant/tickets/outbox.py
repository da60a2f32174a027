"""Delivering stored cases to Kayako: retried with backoff until Kayako accepts, never twice.

The outbox row is written before Kayako is ever called, so an outage or a crash loses nothing; the
idempotency key (one per call) travels with every attempt and the help-desk adapter guarantees that a
create repeated with the same key does not make a second case.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import random
from collections.abc import Callable

import structlog

from ..domain import CaseDraft, CaseInfo, utcnow
from ..ports import CallStore, HelpDesk, OutboxEntry, OutboxStore
from .requester import find_or_create_requester

log = structlog.get_logger(__name__)

# HTTP statuses after which the same request can never succeed. 401/403 are left out on purpose: they
# usually mean credentials that an operator will fix, after which the retry should go through.
_PERMANENT_STATUSES = frozenset({400, 404, 405, 410, 413, 415, 422})


def is_permanent(error: BaseException) -> bool:
    """Whether retrying ``error`` is pointless: malformed stored data or a request Kayako rejects as invalid.

    The core cannot import the Kayako adapter's error classes, so the HTTP ``status`` its errors carry
    decides.
    """
    if isinstance(error, KeyError | TypeError | ValueError) and not hasattr(error, "status"):
        return True  # the stored payload itself is broken
    status = getattr(error, "status", None)
    return isinstance(status, int) and status in _PERMANENT_STATUSES


class OutboxWorker:
    def __init__(
        self,
        outbox: OutboxStore,
        helpdesk: HelpDesk,
        calls: CallStore,
        *,
        base_delay: float = 5.0,
        max_delay: float = 300.0,
        max_attempts: int = 12,
        lease_seconds: float = 60.0,
        batch_size: int = 10,
        poll_seconds: float = 2.0,
        clock: Callable[[], dt.datetime] = utcnow,
        anonymous_requester_email: str | None = None,
    ) -> None:
        self._outbox = outbox
        self._helpdesk = helpdesk
        self._calls = calls
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._max_attempts = max_attempts
        self._lease_seconds = lease_seconds
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        self._clock = clock
        self._anonymous_email = anonymous_requester_email

    def backoff(self, attempt: int) -> float:
        """Seconds before retry number ``attempt`` (1-based): exponential, capped, with jitter so that many
        cases failed by one outage do not all hit Kayako again in the same second."""
        ceiling: float = min(self._max_delay, self._base_delay * 2.0 ** max(attempt - 1, 0))
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    async def deliver(self, entry: OutboxEntry) -> CaseInfo:
        """One delivery attempt. On success the entry is marked delivered and the case id stored on the call.

        Raises what the help desk raised; recording the failure is the caller's business (``attempt``).
        """
        draft = CaseDraft.from_json(entry.payload)
        requester = await find_or_create_requester(
            self._helpdesk, draft.contact, anonymous_email=self._anonymous_email
        )
        case = await self._helpdesk.create_case(draft, requester.id)
        await self._outbox.mark_delivered(entry.idempotency_key, case.id)
        call = await self._calls.get_call(entry.call_id)
        if call is not None and call.case_id != case.id:
            call.case_id = case.id
            call.case_status = case.status
            await self._calls.update_call(call)
        log.info("outbox.delivered", call_id=entry.call_id, case_id=case.id, attempts=entry.attempts + 1)
        return case

    async def attempt(self, entry: OutboxEntry) -> CaseInfo | None:
        """Deliver ``entry`` once; on failure schedule the retry, or give up on a permanent error."""
        try:
            return await self.deliver(entry)
        except Exception as error:
            await self._record_failure(entry, error)
            return None

    async def _record_failure(self, entry: OutboxEntry, error: Exception) -> None:
        attempt = entry.attempts + 1
        message = f"{type(error).__name__}: {error}"[:500]
        if is_permanent(error) or attempt >= self._max_attempts:
            await self._outbox.mark_failed(entry.idempotency_key, message, None)
            log.error(
                "outbox.dead",
                call_id=entry.call_id,
                idempotency_key=entry.idempotency_key,
                attempts=attempt,
                permanent=is_permanent(error),
                error=message,
                action="fix the cause, then `requeue` the entry",
            )
            return
        delay = self.backoff(attempt)
        await self._outbox.mark_failed(
            entry.idempotency_key, message, self._clock() + dt.timedelta(seconds=delay)
        )
        log.warning(
            "outbox.retry_scheduled",
            call_id=entry.call_id,
            idempotency_key=entry.idempotency_key,
            attempts=attempt,
            retry_in_seconds=round(delay, 1),
            error=message,
        )

    async def deliver_due(self) -> int:
        """Deliver every entry that is due now; returns how many were delivered."""
        entries = await self._outbox.claim_due(self._clock(), self._batch_size, self._lease_seconds)
        delivered = 0
        for entry in entries:
            if await self.attempt(entry) is not None:
                delivered += 1
        return delivered

    async def run(self, stop: asyncio.Event) -> None:
        """Drain the outbox until ``stop`` is set, polling while it is empty."""
        log.info("outbox.worker_started")
        while not stop.is_set():
            try:
                delivered = await self.deliver_due()
            except Exception:
                # The store itself failed (database restarting): keep the worker alive and try again later.
                log.exception("outbox.drain_failed")
                delivered = 0
            if delivered == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self._poll_seconds)
        log.info("outbox.worker_stopped")
