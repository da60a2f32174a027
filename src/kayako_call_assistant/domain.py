"""Plain data shared by the core and the ports: calls, turns, usage, help-center content, understanding.

Nothing here performs I/O; adapters translate their services' shapes into these types.
"""

from __future__ import annotations

import datetime as dt
import enum
import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --- Calls -------------------------------------------------------------------------------------------


class Speaker(enum.StrEnum):
    CALLER = "caller"
    ASSISTANT = "assistant"


@dataclass(slots=True)
class Turn:
    """One utterance. For an assistant turn cut off by barge-in, ``text`` keeps only what the caller heard."""

    speaker: Speaker
    text: str
    started_at: dt.datetime
    ended_at: dt.datetime | None = None
    interrupted: bool = False
    intent: str | None = None
    seq: int = 0
    # An assistant turn on a voice call: seconds from the caller's last voiced frame to the first frame of
    # this reply (the measurement of ``kca_turn_latency_seconds``); None in text chat or when not heard.
    latency_seconds: float | None = None


class CallOutcome(enum.StrEnum):
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"  # answered from the help center and confirmed by the caller
    # Answered from the help center, then the call ended without a yes or a no: not a failure (no case by
    # default), and not counted in the resolution rate either way.
    ANSWERED = "answered"
    ESCALATED = "escalated"  # a case was opened; no live transfer
    TRANSFERRED = "transferred"  # a case was opened and the call handed to an agent
    ABANDONED = "abandoned"  # the caller left (or stayed silent) before anything could be done
    FAILED = "failed"  # the call could not be served (internal error)


class CallChannel(enum.StrEnum):
    MEDIA_STREAM = "twilio-media-stream"
    GATHER = "twilio-gather"
    CHAT = "chat"


@dataclass(slots=True)
class Usage:
    """What a call consumed from paid services; the basis of its cost."""

    model_input_tokens: int = 0
    model_output_tokens: int = 0
    audio_seconds_transcribed: float = 0.0
    characters_synthesized: int = 0
    kayako_requests: int = 0

    def add(self, other: Usage) -> None:
        self.model_input_tokens += other.model_input_tokens
        self.model_output_tokens += other.model_output_tokens
        self.audio_seconds_transcribed += other.audio_seconds_transcribed
        self.characters_synthesized += other.characters_synthesized
        self.kayako_requests += other.kayako_requests


@dataclass(slots=True)
class ContactDetails:
    """The caller's details as confirmed during the call (each one read back before it is kept)."""

    name: str | None = None
    email: str | None = None
    phone: str | None = None  # E.164


@dataclass(slots=True)
class CallRecord:
    call_id: str
    channel: CallChannel
    started_at: dt.datetime
    external_id: str | None = None  # Twilio CallSid
    from_number: str | None = None
    to_number: str | None = None
    # STIR/SHAKEN attestation of the caller ID from the signed voice webhook ("A", "B", "C"; Twilio's
    # StirVerstat "TN-Validation-Passed-A" is stored as "A"); None when absent or not a phone call.
    caller_attestation: str | None = None
    ended_at: dt.datetime | None = None
    outcome: CallOutcome = CallOutcome.IN_PROGRESS
    escalation_reason: str | None = None
    case_id: int | None = None
    case_status: str | None = None  # kept in step by Kayako webhooks
    contact: ContactDetails = field(default_factory=ContactDetails)
    usage: Usage = field(default_factory=Usage)
    cost_usd: float | None = None

    @property
    def duration_seconds(self) -> float | None:
        if self.ended_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds()


# --- Help desk -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Person:
    """A Kayako user as the core sees it."""

    id: int
    full_name: str
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()

    @property
    def first_name(self) -> str:
        return self.full_name.split()[0] if self.full_name.strip() else ""


@dataclass(frozen=True, slots=True)
class CaseInfo:
    id: int
    subject: str
    status: str  # the status label, e.g. "Open"
    updated_at: dt.datetime | None = None
    # The Kayako user the case belongs to. None when the adapter does not know it: then the case's status and
    # subject are told to nobody (privacy fails closed).
    requester_id: int | None = None


@dataclass(slots=True)
class CaseDraft:
    """A case to open. ``idempotency_key`` is one per call: delivering it twice must not create two cases."""

    idempotency_key: str
    subject: str
    contents_html: str
    contact: ContactDetails
    tags: list[str] = field(default_factory=list)
    priority: str | None = None  # a label, looked up by name on the instance
    case_type: str | None = None  # a label, looked up by name on the instance

    def to_json(self) -> dict[str, Any]:
        return {
            "idempotency_key": self.idempotency_key,
            "subject": self.subject,
            "contents_html": self.contents_html,
            "contact": {"name": self.contact.name, "email": self.contact.email, "phone": self.contact.phone},
            "tags": list(self.tags),
            "priority": self.priority,
            "case_type": self.case_type,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CaseDraft:
        return cls(
            idempotency_key=data["idempotency_key"],
            subject=data["subject"],
            contents_html=data["contents_html"],
            contact=ContactDetails(**data["contact"]),
            tags=list(data.get("tags", [])),
            priority=data.get("priority"),
            case_type=data.get("case_type"),
        )


@dataclass(frozen=True, slots=True)
class HelpArticle:
    """A published help-center article, its text fields resolved for one locale."""

    id: int
    title: str
    body_html: str
    section: str | None = None
    category: str | None = None
    url: str | None = None
    updated_at: dt.datetime | None = None
    locale: str = "en-us"


@dataclass(frozen=True, slots=True)
class Passage:
    """A chunk of an article (one heading's worth of text), the unit of retrieval and of grounding."""

    article_id: int
    title: str
    text: str
    heading: str | None = None


@dataclass(frozen=True, slots=True)
class SearchHit:
    passage: Passage
    score: float  # raw ranking score
    relevance: float  # calibrated to [0, 1]; compared with the answer threshold


class AnswerVerdict(enum.StrEnum):
    """What the help-center evidence allows the call to do with a question."""

    ANSWER = "answer"  # one article answers it: read it
    CLARIFY = "clarify"  # two articles are close: ask the caller which one they mean
    NONE = "none"  # nothing good enough: do not read an article


@dataclass(frozen=True, slots=True)
class Assessment:
    """The answer gate's decision on a question, with the evidence and its reason (logged as a decision)."""

    verdict: AnswerVerdict
    hits: list[SearchHit]  # best first, one per article, excluded articles left out
    confidence: float  # in [0, 1]: the gate's belief that ``hits[0]`` answers the question
    reason: str  # e.g. "above_threshold", "below_threshold", "ambiguous_top_two"
    # ANSWER: how far the best score is above the threshold it had to pass (None: the gate did not say).
    headroom: float | None = None


# --- Understanding ----------------------------------------------------------------------------------


class Intent(enum.StrEnum):
    QUESTION = "question"  # a support question or problem description
    HANDOFF = "handoff"  # wants a person
    AFFIRM = "affirm"
    DENY = "deny"
    INFORM = "inform"  # gives a detail that was asked for (email, phone, name, case number)
    CASE_STATUS = "case_status"  # asks about an existing case
    REPEAT = "repeat"
    GOODBYE = "goodbye"
    GREETING = "greeting"
    THANKS = "thanks"
    DONT_KNOW = "dont_know"
    OUT_OF_SCOPE = "out_of_scope"
    ABUSE = "abuse"


@dataclass(slots=True)
class Entities:
    email: str | None = None
    phone: str | None = None  # E.164
    case_number: int | None = None
    name: str | None = None


@dataclass(slots=True)
class Understanding:
    intent: Intent
    confidence: float
    entities: Entities = field(default_factory=Entities)
    frustrated: bool = False  # strong frustration: a reason to escalate
    topic: str | None = None  # one of the configured always-human topics, when the request is about it
    engine: str = ""


@dataclass(slots=True)
class DialogueContext:
    """What an engine needs to know about the conversation to understand or phrase a turn."""

    state: str
    expecting: str | None = None  # "email", "phone", "name", "yes_no", … when a question is pending
    helpdesk_name: str = ""
    history: list[Turn] = field(default_factory=list)
    always_human_topics: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CaseSummary:
    subject: str
    summary: str


@dataclass(frozen=True, slots=True)
class Transcript:
    text: str
    confidence: float | None = None


# --- What a call flow asks its transport to do --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Say:
    """Speak one sentence (or a short run of sentences) to the caller."""

    text: str


@dataclass(frozen=True, slots=True)
class Transfer:
    """Hand the call to a person; ``case_id`` is passed to the agent."""

    case_id: int | None
    reason: str


@dataclass(frozen=True, slots=True)
class EndCall:
    """Hang up once everything said before has been played."""

    reason: str


FlowAction = Say | Transfer | EndCall


@dataclass(frozen=True, slots=True)
class CallStart:
    """How a transport announces a new call to the call flow."""

    channel: CallChannel
    external_id: str | None = None
    from_number: str | None = None
    to_number: str | None = None
    caller_attestation: str | None = None  # see CallRecord.caller_attestation; only from a signed source


def append_delivery_notes(contents_html: str, notes: Sequence[str]) -> str:
    """The case body with a "Delivery notes" section listing what was changed to get Kayako to accept it
    (an identity dropped, the anonymous requester, another channel), so an agent sees it on the case."""
    if not notes:
        return contents_html
    items = "".join(f"<li>{html.escape(note)}</li>" for note in notes)
    return f"{contents_html}\n<h3>Delivery notes</h3>\n<ul>{items}</ul>"
