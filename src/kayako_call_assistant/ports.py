"""The small interfaces the core talks to. Adapters implement them; ``wiring`` picks them from settings.

The core (calls/, dialogue/, knowledge/, tickets/) imports only this module and ``domain`` for the outside
world, never an adapter package.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from .domain import (
    Assessment,
    CallRecord,
    CallStart,
    CaseDraft,
    CaseInfo,
    CaseSummary,
    ContactDetails,
    DialogueContext,
    FlowAction,
    HelpArticle,
    Passage,
    Person,
    SearchHit,
    Transcript,
    Turn,
    Understanding,
    Usage,
)


@runtime_checkable
class HelpDesk(Protocol):
    """Kayako as the core needs it."""

    async def find_person(self, *, email: str | None = None, phone: str | None = None) -> Person | None: ...

    async def create_person(self, contact: ContactDetails) -> Person:
        """Create a customer with an email and/or phone identity."""
        ...

    async def open_cases(self, person_id: int) -> list[CaseInfo]:
        """The person's cases that are not completed or closed, most recently updated first."""
        ...

    async def create_case(self, draft: CaseDraft, requester_id: int) -> CaseInfo:
        """Open a case. Must not create a second case for the same ``draft.idempotency_key``."""
        ...

    async def get_case(self, case_id: int) -> CaseInfo | None: ...

    async def add_note(self, case_id: int, html: str) -> None: ...

    def help_articles(self) -> AsyncIterator[HelpArticle]:
        """Every published article, text resolved for the configured locale."""
        ...


class LanguageEngine(Protocol):
    """Understanding and speaking. Implemented by the local engine and the OpenAI-compatible one."""

    name: str

    async def understand(self, text: str, context: DialogueContext, usage: Usage) -> Understanding: ...

    def answer(
        self, question: str, passages: Sequence[Passage], context: DialogueContext, usage: Usage
    ) -> AsyncIterator[str]:
        """A spoken answer grounded only in ``passages``, yielded sentence by sentence."""
        ...

    async def summarize(self, transcript: Sequence[Turn], usage: Usage) -> CaseSummary:
        """A case subject and a short summary of the caller's issue."""
        ...

    async def search_query(self, text: str, context: DialogueContext, usage: Usage) -> str:
        """The caller's turn as a self-contained help-center search query ("it" resolved from the context).

        A model failure raises ``LanguageModelError`` as the other operations do; the fallback engine then
        uses the local engine's, which is the caller's own words cleaned of fillers.
        """
        ...

    async def confirms_answer(
        self, question: str, passage: Passage, context: DialogueContext, usage: Usage
    ) -> bool | None:
        """Whether ``passage`` answers the caller's ``question`` (the answer gate's second opinion).

        True: it answers it; False: it does not (the call then goes on as when nothing matched); None: this
        engine cannot judge, or its reply could not be read: the gate's verdict stands. Tokens spent are added
        to ``usage``. A model failure raises ``LanguageModelError`` as the other operations do; the fallback
        engine then returns its fallback's judgement (None from the local engine).
        """
        ...


class Retriever(Protocol):
    """The help-center search the call flow asks (implemented by ``knowledge``)."""

    answer_threshold: float  # a hit whose ``relevance`` is below this is not good enough to answer from

    async def search(self, query: str, top: int = 3) -> list[SearchHit]: ...

    async def assess(self, query: str, *, exclude: frozenset[int] = frozenset(), top: int = 3) -> Assessment:
        """Search and decide: answer from ``hits[0]``, ask which of ``hits[0:2]`` is meant, or neither.

        ``exclude`` holds article ids already offered on this call. Raises what ``search`` raises.
        """
        ...


class Embedder(Protocol):
    """Text embeddings for optional semantic ranking."""

    name: str

    async def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


@runtime_checkable
class PassageEmbedder(Embedder, Protocol):
    """An embedder with a cheaper form for passages (e.g. a shorter token window); queries use ``embed``."""

    async def embed_passages(self, texts: Sequence[str]) -> list[list[float]]: ...


class SpeechToText(Protocol):
    name: str

    async def transcribe(self, pcm16: bytes, sample_rate: int, usage: Usage) -> Transcript:
        """Transcribe one finished utterance of mono 16-bit little-endian PCM."""
        ...


class TextToSpeech(Protocol):
    name: str
    sample_rate: int

    def synthesize(self, text: str, usage: Usage) -> AsyncIterator[bytes]:
        """Mono 16-bit little-endian PCM at ``sample_rate``, in chunks as soon as they are ready."""
        ...


class CallControl(Protocol):
    """Acting on a live phone call (Twilio REST)."""

    async def transfer(self, external_call_id: str, *, case_id: int | None, announcement: str) -> bool:
        """Hand the call to a person; False when the transfer could not be made."""
        ...

    async def hang_up(self, external_call_id: str) -> None: ...


class CallHandler(Protocol):
    """One call's brain as a transport (media stream, Gather, chat) sees it.

    Each method yields what the transport must do, in order; replies stream sentence by sentence.
    """

    @property
    def call(self) -> CallRecord: ...

    @property
    def finished(self) -> bool: ...

    @property
    def expects(self) -> str | None:
        """What the last reply asked the caller for ("email", "phone", "digits", "yes_no", "name"), or None:
        the session lengthens or shortens the end-of-turn silence by it."""
        ...

    def greet(self) -> AsyncIterator[FlowAction]: ...

    def caller_said(self, text: str) -> AsyncIterator[FlowAction]: ...

    def caller_silent(self) -> AsyncIterator[FlowAction]:
        """The caller said nothing for the idle timeout."""
        ...

    def caller_pressed(self, digit: str) -> AsyncIterator[FlowAction]: ...

    def transfer_failed(self) -> AsyncIterator[FlowAction]:
        """The live transfer a ``Transfer`` asked for could not be made: tell the caller what happens instead."""
        ...

    def reply_started(self, latency_seconds: float) -> None:
        """The first audio of the latest reply went out ``latency_seconds`` after the caller stopped
        speaking (voice transports): kept on the assistant's turn, so the report reads what the metric reads."""
        ...

    async def assistant_cut_off(self, heard_text: str) -> None:
        """Barge-in: the last assistant turn was heard only up to ``heard_text``."""
        ...

    async def hung_up(self, *, transport_failure: bool = False) -> None:
        """The call ended on the caller's side (or the transport's): finalize the record, ensure the case.

        ``transport_failure``: the transport ended the call because it could not go on (speech service down,
        internal error), not the caller: an answer given just before is then not counted as ``answered``."""
        ...


CallHandlerFactory = Callable[[CallStart], Awaitable[CallHandler]]


class AdminTokens(Protocol):
    """Bearer tokens of the admin API, stored hashed."""

    async def create(self, name: str) -> str:
        """Issue a token for ``name``; the plain token is returned once and never stored."""
        ...

    async def verify(self, token: str) -> str | None:
        """The token's name when it is valid, else None."""
        ...


# --- Storage ------------------------------------------------------------------------------------------


class CallStore(Protocol):
    async def create_call(self, call: CallRecord) -> None: ...

    async def update_call(self, call: CallRecord) -> bool:
        """Write the call's scalar fields (outcome, times, case, contact, usage, cost) as the call flow owns
        them: a finalized call's end, outcome and cost are never changed, a stored case id never blanked,
        a case status another writer set never overwritten. True when this write finalized the call (set
        its ``ended_at`` from empty): exactly one writer, in any process, ever gets True for a call."""
        ...

    async def set_case(self, call_id: str, case_id: int, case_status: str | None) -> None:
        """The case delivered for the call (the outbox's write: only these columns)."""
        ...

    async def set_case_status(self, case_id: int, status: str) -> int:
        """Kayako's status of a case on every call that opened it (the webhooks' write); how many calls."""
        ...

    async def unfinished_calls(self, idle_since: dt.datetime, limit: int = 100) -> list[CallRecord]:
        """Calls never finalized whose row has not changed since ``idle_since`` (stream or process gone)."""
        ...

    async def add_turn(self, call_id: str, turn: Turn) -> None: ...

    async def save_progress(
        self, call: CallRecord, turns: Sequence[Turn], flow_state: dict[str, Any]
    ) -> bool:
        """``turns`` (as ``add_turn``), the call's fields (as ``update_call``, same guards, same result) and
        its flow state, in one transaction: what a turn changed is stored together, and many calls share
        one database."""
        ...

    async def get_call(self, call_id: str) -> CallRecord | None: ...

    async def get_call_by_external_id(self, external_id: str) -> CallRecord | None: ...

    async def list_turns(self, call_id: str) -> list[Turn]: ...

    async def calls_for_case(self, case_id: int) -> list[CallRecord]: ...

    async def list_calls(
        self,
        *,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[CallRecord]: ...

    async def save_flow_state(self, call_id: str, state: dict[str, Any]) -> None:
        """Persist a call flow's serialized state, so any worker can serve the call's next turn (Gather mode)."""
        ...

    async def load_flow_state(self, call_id: str) -> dict[str, Any] | None: ...


@dataclass(slots=True)
class OutboxEntry:
    idempotency_key: str
    call_id: str
    payload: dict[str, Any]  # CaseDraft.to_json()
    status: str = "pending"  # pending | delivered | dead
    attempts: int = 0
    next_attempt_at: dt.datetime | None = None
    last_error: str | None = None
    case_id: int | None = None
    created_at: dt.datetime | None = None
    repairs: list[str] = field(default_factory=list)  # what was changed to get the case accepted
    leased_until: dt.datetime | None = None


class OutboxStore(Protocol):
    async def enqueue(self, entry: OutboxEntry) -> OutboxEntry:
        """Store a pending case; if the key exists already, return the stored entry unchanged."""
        ...

    async def claim_due(self, now: dt.datetime, limit: int, lease_seconds: float) -> list[OutboxEntry]:
        """Pending entries due by ``now``, leased to this worker (others skip them until the lease ends)."""
        ...

    async def mark_delivered(self, idempotency_key: str, case_id: int) -> None: ...

    async def mark_failed(
        self, idempotency_key: str, error: str, next_attempt_at: dt.datetime | None
    ) -> None:
        """Record a failed attempt; ``next_attempt_at=None`` gives up (status ``dead``)."""
        ...

    async def get(self, idempotency_key: str) -> OutboxEntry | None: ...

    async def requeue(self, idempotency_key: str) -> bool:
        """Make an entry pending again, due now (an operator's re-send); False when there is no such entry."""
        ...

    async def depth(self) -> int:
        """How many entries are still pending."""
        ...

    async def claim(self, idempotency_key: str, now: dt.datetime, lease_seconds: float) -> OutboxEntry | None:
        """Lease this one pending entry whatever its due time; None when it is leased by another
        deliverer, delivered, dead or unknown. The same lease as ``claim_due``: one delivery at a time."""
        ...

    async def extend_lease(self, idempotency_key: str, leased_until: dt.datetime) -> None:
        """Push the lease of an entry being delivered further out (the deliverer's heartbeat)."""
        ...

    async def record_repairs(self, idempotency_key: str, repairs: list[str]) -> None:
        """Store what the latest delivery changed to get the case accepted."""
        ...

    async def list_entries(self, status: str | None = None, limit: int = 100) -> list[OutboxEntry]:
        """Entries, newest first, optionally only those with ``status``."""
        ...

    async def counts(self) -> dict[str, int]:
        """How many entries there are per status (pending, delivered, dead)."""
        ...

    async def requeue_all(self, status: str = "dead") -> list[str]:
        """Requeue every entry with ``status``; returns their keys."""
        ...


@dataclass(slots=True)
class WebhookDelivery:
    delivery_id: str
    source: str
    payload: dict[str, Any]
    received_at: dt.datetime
    processed_at: dt.datetime | None = None
    error: str | None = None  # why the last processing attempt failed


class WebhookStore(Protocol):
    async def record(self, delivery: WebhookDelivery) -> bool:
        """Store a delivery; False when the same ``delivery_id`` was stored before (a replay)."""
        ...

    async def mark_processed(self, delivery_id: str) -> None: ...

    async def mark_failed(self, delivery_id: str, error: str) -> None:
        """Record why processing failed; the delivery stays unprocessed, to be retried."""
        ...

    async def unprocessed(self, limit: int = 100) -> list[WebhookDelivery]: ...


@dataclass(slots=True)
class AuditEvent:
    actor: str
    action: str
    target: str
    at: dt.datetime
    detail: dict[str, Any] = field(default_factory=dict)


class AuditLog(Protocol):
    async def write(self, event: AuditEvent) -> None: ...

    async def list(self, *, since: dt.datetime | None = None, limit: int = 100) -> list[AuditEvent]: ...
