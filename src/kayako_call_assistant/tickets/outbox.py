"""Delivering stored cases to Kayako: retried with backoff until Kayako accepts, never twice.

The outbox row is written before Kayako is ever called, so an outage or a crash loses nothing. Every
delivery, the immediate one at the end of a call and the background worker's, first takes the entry's
lease and keeps it alive with a heartbeat while it runs, so two deliveries of one case never overlap; the
idempotency key travels with every attempt and the help-desk adapter finds a case an ambiguous failure may
have created (by a marker the reference documents a lookup for) before creating it again.

A refusal of the request (HTTP 4xx) is a diagnosis: where the help desk names the field it refused, the
delivery repairs the request (drops the refused identity, falls back to the anonymous requester, drops an
unknown priority or type), retries at once, and records what it changed on the case and on the entry.
Only what no repair can fix goes dead; a requeue starts again from the stored draft, repairs included.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import random
from collections.abc import Callable

import structlog

from ..domain import CaseDraft, CaseInfo, ContactDetails, Usage, append_delivery_notes, utcnow
from ..ports import CallStore, HelpDesk, LanguageEngine, OutboxEntry, OutboxStore
from .case_builder import summarize_draft
from .requester import find_or_create_requester, usable_contact

log = structlog.get_logger(__name__)

# HTTP statuses after which the same request can never succeed. 401/403 are left out on purpose: they
# usually mean credentials that an operator will fix, after which the retry should go through.
_PERMANENT_STATUSES = frozenset({400, 404, 405, 410, 413, 415, 422})

RepairHook = Callable[[str], None]
"""``on_repair(field)``: called once per repair made (``phone``, ``email``, ``requester``, ...)."""


def is_permanent(error: BaseException) -> bool:
    """Whether retrying ``error`` is pointless: malformed stored data or a request Kayako rejects as invalid.

    The core cannot import the Kayako adapter's error classes, so the HTTP ``status`` its errors carry
    decides.
    """
    if isinstance(error, KeyError | TypeError | ValueError) and not hasattr(error, "status"):
        return True  # the stored payload itself is broken
    status = getattr(error, "status", None)
    return isinstance(status, int) and status in _PERMANENT_STATUSES


@dataclasses.dataclass
class _Attempt:
    """The working copy of one delivery: the stored draft as repaired so far, and what was changed."""

    draft: CaseDraft
    contact: ContactDetails
    anonymous: bool = False
    notes: list[str] = dataclasses.field(default_factory=list)
    repaired: set[str] = dataclasses.field(default_factory=set)


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
        on_repair: RepairHook | None = None,
        engine: LanguageEngine | None = None,
        summary_timeout: float = 30.0,
    ) -> None:
        """``lease_seconds`` bounds how long a case waits after its deliverer died; a live delivery
        renews its lease every third of it (heartbeat), so a slow delivery never loses it."""
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
        self._on_repair = on_repair
        self._engine = engine
        self._summary_timeout = summary_timeout
        self._background: set[asyncio.Task[CaseInfo | None]] = set()

    def backoff(self, attempt: int) -> float:
        """Seconds before retry number ``attempt`` (1-based): exponential, capped, with jitter so that many
        cases failed by one outage do not all hit Kayako again in the same second."""
        ceiling: float = min(self._max_delay, self._base_delay * 2.0 ** max(attempt - 1, 0))
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    async def deliver(self, entry: OutboxEntry) -> CaseInfo:
        """One delivery of a leased entry, repairs included. On success the entry is marked delivered (with
        the repairs made) and the case id stored on the call.

        Raises what the help desk raised when no repair applies; recording it is ``attempt``'s business.
        """
        draft = await self._draft(entry)
        contact, dropped = usable_contact(draft.contact)
        work = _Attempt(draft=draft, contact=contact, notes=list(dropped))
        while True:
            try:
                case = await self._create(work)
                break
            except Exception as error:
                note = self._repair(work, error)
                if note is None:
                    if work.notes:
                        await self._outbox.record_repairs(entry.idempotency_key, work.notes)
                    raise
                work.notes.append(note)
                log.warning(
                    "outbox.repaired",
                    call_id=entry.call_id,
                    idempotency_key=entry.idempotency_key,
                    refused=getattr(error, "refused_field", None),
                    error=str(error)[:300],
                    repair=note,
                )
                if self._on_repair is not None:
                    self._on_repair(str(getattr(error, "refused_field", "other")))
        if work.notes:
            await self._outbox.record_repairs(entry.idempotency_key, work.notes)
        await self._outbox.mark_delivered(entry.idempotency_key, case.id)
        await self._calls.set_case(entry.call_id, case.id, case.status)  # only the case columns
        log.info(
            "outbox.delivered",
            call_id=entry.call_id,
            case_id=case.id,
            attempts=entry.attempts + 1,
            repairs=len(work.notes),
        )
        return case

    async def _draft(self, entry: OutboxEntry) -> CaseDraft:
        """The stored draft, its deferred summary written now (bounded: the case matters more)."""
        if self._engine is None or "summary_pending" not in entry.payload:
            return CaseDraft.from_json(entry.payload)
        try:
            async with asyncio.timeout(self._summary_timeout):
                return await summarize_draft(entry.payload, self._engine, Usage())
        except TimeoutError:
            log.warning("case.summary_timed_out", key=entry.idempotency_key)
            return CaseDraft.from_json(entry.payload)

    async def _create(self, work: _Attempt) -> CaseInfo:
        contact = work.contact
        if work.anonymous and self._anonymous_email:
            contact = ContactDetails(name=contact.name or "Unknown caller", email=self._anonymous_email)
        requester = await find_or_create_requester(
            self._helpdesk, contact, anonymous_email=self._anonymous_email
        )
        draft = dataclasses.replace(
            work.draft,
            contact=contact,
            contents_html=append_delivery_notes(work.draft.contents_html, work.notes),
        )
        return await self._helpdesk.create_case(draft, requester.id)

    def _repair(self, work: _Attempt, error: Exception) -> str | None:
        """Change ``work`` so that the request Kayako refused in ``error`` may pass; the sentence saying what
        was changed, or None when no repair applies (or this field was repaired already)."""
        field = getattr(error, "refused_field", None)
        if not isinstance(field, str) or field in work.repaired:
            return None
        code = getattr(error, "code", None) or "refused"
        contact = work.contact
        note: str | None = None
        if field == "phone" and contact.phone:
            note = f"Kayako refused the phone number {contact.phone} ({code}); filed without it."
            work.contact = dataclasses.replace(contact, phone=None)
        elif field == "email" and contact.email and contact.email != self._anonymous_email:
            note = f"Kayako refused the email address {contact.email} ({code}); filed without it."
            work.contact = dataclasses.replace(contact, email=None)
        elif field == "requester" and self._anonymous_email and not work.anonymous:
            note = f"Kayako refused the requester ({code}); filed under the anonymous requester."
            work.anonymous = True
        elif field == "priority" and work.draft.priority:
            note = (
                f"Kayako refused the priority {work.draft.priority!r} ({code}); the instance default applies."
            )
            work.draft = dataclasses.replace(work.draft, priority=None)
        elif field == "type" and work.draft.case_type:
            note = f"Kayako refused the case type {work.draft.case_type!r} ({code}); the instance default applies."
            work.draft = dataclasses.replace(work.draft, case_type=None)
        if note is not None:
            work.repaired.add(field)
            if not work.contact.email and not work.contact.phone and self._anonymous_email:
                work.anonymous = True
                note += " No identity is left: filed under the anonymous requester."
        return note

    async def attempt(self, entry: OutboxEntry) -> CaseInfo | None:
        """Deliver ``entry`` now, due or not (the immediate attempt at the end of a call), under the same
        lease as the worker: None when another deliverer holds it, or when this attempt failed (the retry is
        then scheduled, or the entry is dead).

        The delivery runs in its own task: if the caller stops waiting (a timeout cancels this coroutine),
        the delivery goes on in the background under its lease instead of being cut off mid-request, which
        would leave Kayako holding a case nobody knows about.
        """
        claimed = await self._outbox.claim(entry.idempotency_key, self._clock(), self._lease_seconds)
        if claimed is None:
            return None
        task = asyncio.create_task(self._attempt_leased(claimed), name=f"deliver-{entry.idempotency_key}")
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return await asyncio.shield(task)

    async def _attempt_leased(self, entry: OutboxEntry) -> CaseInfo | None:
        leased = {entry.idempotency_key}
        heartbeat = asyncio.create_task(self._heartbeat(leased))
        try:
            return await self._deliver_or_record(entry)
        finally:
            heartbeat.cancel()

    async def _deliver_or_record(self, entry: OutboxEntry) -> CaseInfo | None:
        try:
            return await self.deliver(entry)
        except Exception as error:
            await self._record_failure(entry, error)
            return None

    async def _heartbeat(self, leased: set[str]) -> None:
        """Renew the leases of ``leased`` (the keys still held: the one in delivery and those of the batch
        waiting their turn) every third of the lease's length, until cancelled."""
        while True:
            await asyncio.sleep(self._lease_seconds / 3)
            until = utcnow() + dt.timedelta(seconds=self._lease_seconds)
            for key in list(leased):
                try:
                    await self._outbox.extend_lease(key, until)
                except Exception:
                    log.warning("outbox.heartbeat_failed", key=key, exc_info=True)

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
                action=f"fix the cause, then `kca outbox requeue {entry.idempotency_key}`",
            )
            return
        delay = self.backoff(attempt)
        retry_after = getattr(error, "retry_after", None)
        if isinstance(retry_after, int | float) and retry_after > delay:
            delay = float(retry_after)  # Kayako said when to come back (429 Retry-After)
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
        leased = {entry.idempotency_key for entry in entries}
        heartbeat = asyncio.create_task(self._heartbeat(leased))
        delivered = 0
        try:
            for entry in entries:
                if await self._deliver_or_record(entry) is not None:
                    delivered += 1
                leased.discard(entry.idempotency_key)
        finally:
            heartbeat.cancel()
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


def entry_json(entry: OutboxEntry, *, with_payload: bool = False) -> dict[str, object]:
    """An outbox entry as the operator sees it (``kca outbox`` and the admin API): the draft's subject and
    requester, never its body, unless ``with_payload``."""
    contact = entry.payload.get("contact") or {}
    result: dict[str, object] = {
        "idempotency_key": entry.idempotency_key,
        "call_id": entry.call_id,
        "status": entry.status,
        "attempts": entry.attempts,
        "case_id": entry.case_id,
        "subject": entry.payload.get("subject"),
        "contact": {k: contact.get(k) for k in ("name", "email", "phone")},
        "last_error": entry.last_error,
        "repairs": list(entry.repairs),
        "next_attempt_at": entry.next_attempt_at.isoformat() if entry.next_attempt_at else None,
        "leased_until": entry.leased_until.isoformat() if entry.leased_until else None,
        "created_at": entry.created_at.isoformat() if entry.created_at else None,
    }
    if with_payload:
        result["payload"] = entry.payload
    return result
