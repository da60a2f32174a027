"""Turning a call into a Kayako case: subject, an HTML body a human agent can read at a glance, tags."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any

import structlog

from ..domain import CallChannel, CaseDraft, CaseSummary, ContactDetails, Speaker, Turn, Usage
from ..observability.redact import redact_cards
from ..ports import LanguageEngine

log = structlog.get_logger(__name__)

TAG_AI_CALL = "ai-call"
TAG_ESCALATED = "escalated"
TAG_RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class OfferedArticle:
    """A help-center article the assistant answered from during the call."""

    id: int
    title: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OfferedArticle:
        return cls(id=int(data["id"]), title=str(data["title"]))


@dataclass(slots=True)
class CaseRequest:
    """Everything known about a call when a case is to be opened for it."""

    call_id: str
    idempotency_key: str
    channel: CallChannel
    started_at: dt.datetime
    contact: ContactDetails
    turns: Sequence[Turn]
    resolved: bool  # False: the call is handed to a person (the case is the hand-off)
    reason: str | None = None  # why the call was escalated, as logged
    caller_number: str | None = None  # the caller ID, which may differ from the confirmed phone
    articles: Sequence[OfferedArticle] = field(default_factory=tuple)


def idempotency_key_for(call_id: str) -> str:
    """One key per call: every attempt to file this call's case carries it."""
    return f"call-{call_id}"


NO_SUMMARY = "No automatic summary: see the transcript."
# The summary paragraph of a draft whose summary is still to be written by the delivery (see ``defer``).
SUMMARY_PENDING = '<p class="kca-summary">' + NO_SUMMARY + "</p>"


class DeferredSummaryDraft(CaseDraft):
    """A draft whose subject and summary the outbox delivery writes (``summarize_draft``), off the caller's
    path: its JSON carries the transcript for that, and the body a placeholder summary until then."""

    __slots__ = ("turns",)

    def __init__(self, draft: CaseDraft, turns: Sequence[Turn]) -> None:
        super().__init__(**{name: getattr(draft, name) for name in CaseDraft.__dataclass_fields__})
        self.turns = list(turns)

    def to_json(self) -> dict[str, Any]:
        return super().to_json() | {
            "summary_pending": {"turns": [[t.speaker.value, t.text] for t in self.turns]}
        }


def _fallback_summary(turns: Sequence[Turn]) -> CaseSummary:
    first = next((t.text for t in turns if t.speaker is Speaker.CALLER), "")
    return CaseSummary(subject=first[:80], summary=NO_SUMMARY)


class CaseBuilder:
    def __init__(
        self,
        engine: LanguageEngine,
        *,
        priority_escalated: str | None,
        priority_resolved: str | None,
        case_type: str | None,
        defer_summary: bool = False,
    ) -> None:
        """``defer_summary``: build at once with a placeholder summary and leave the model call to the
        outbox delivery (``summarize_draft``), so a slow or failing model never holds the caller up."""
        self._engine = engine
        self._priority_escalated = priority_escalated
        self._priority_resolved = priority_resolved
        self._case_type = case_type
        self._defer = defer_summary

    async def build(self, request: CaseRequest, usage: Usage) -> CaseDraft:
        if self._defer:
            draft = self._draft(request, _fallback_summary(request.turns), SUMMARY_PENDING)
            return DeferredSummaryDraft(draft, request.turns)
        try:
            summary = await self._engine.summarize(list(request.turns), usage)
        except Exception:
            # The case must be filed even when the language engine fails; the transcript is all there.
            log.exception("case.summary_failed", call_id=request.call_id)
            summary = _fallback_summary(request.turns)
        return self._draft(request, summary, None)

    def _draft(self, request: CaseRequest, summary: CaseSummary, summary_html: str | None) -> CaseDraft:
        # Payment card numbers never leave the process (PCI), whatever KCA_REDACT_TRANSCRIPTS says.
        subject = redact_cards(" ".join(summary.subject.split())) or "Phone call"
        return CaseDraft(
            idempotency_key=request.idempotency_key,
            subject=subject[:255],
            contents_html=redact_cards(case_html(request, summary.summary, summary_html)),
            contact=ContactDetails(
                name=request.contact.name, email=request.contact.email, phone=request.contact.phone
            ),
            tags=[TAG_AI_CALL, TAG_RESOLVED if request.resolved else TAG_ESCALATED],
            priority=self._priority_resolved if request.resolved else self._priority_escalated,
            case_type=self._case_type,
        )


def _item(label: str, value: str | None) -> str:
    return f"<li><strong>{escape(label)}:</strong> {escape(value) if value else '<em>not given</em>'}</li>"


def _time(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%H:%M:%S")


def case_html(request: CaseRequest, summary: str, summary_html: str | None = None) -> str:
    """The case body: summary, caller, call facts, articles offered, the whole transcript with times."""
    parts = [
        "<h3>Summary</h3>",
        summary_html or f"<p>{escape(summary)}</p>",
        "<h3>Caller</h3>",
        "<ul>",
        _item("Name", request.contact.name),
        _item("Email", request.contact.email),
        _item("Phone", request.contact.phone),
        _item("Caller ID", request.caller_number),
        "</ul>",
        "<h3>Call</h3>",
        "<ul>",
        _item("Outcome", "resolved by the assistant" if request.resolved else "handed to an agent"),
        _item("Reason", request.reason),
        _item("Call ID", request.call_id),
        _item("Channel", str(request.channel)),
        _item("Started (UTC)", request.started_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")),
        "</ul>",
        "<h3>Articles offered</h3>",
    ]
    if request.articles:
        parts.append("<ul>")
        parts.extend(f"<li>#{article.id} {escape(article.title)}</li>" for article in request.articles)
        parts.append("</ul>")
    else:
        parts.append("<p><em>none</em></p>")
    parts.append("<h3>Transcript</h3>")
    parts.append("<ol>")
    for turn in request.turns:
        who = "Caller" if turn.speaker is Speaker.CALLER else "Assistant"
        cut = " <em>(interrupted)</em>" if turn.interrupted else ""
        parts.append(f"<li>[{_time(turn.started_at)}] <strong>{who}:</strong> {escape(turn.text)}{cut}</li>")
    parts.append("</ol>")
    return "\n".join(parts)


async def summarize_draft(payload: dict[str, Any], engine: LanguageEngine, usage: Usage) -> CaseDraft:
    """The draft stored in ``payload``, its subject and summary written by ``engine`` when they were
    deferred (``CaseBuilder(defer_summary=True)``). A failing engine leaves the fallback (the caller's first
    words as subject, "see the transcript"): the case is filed all the same."""
    draft = CaseDraft.from_json(payload)
    pending = payload.get("summary_pending")
    if not isinstance(pending, dict) or SUMMARY_PENDING not in draft.contents_html:
        return draft
    turns = [
        Turn(speaker=Speaker(speaker), text=str(text), started_at=dt.datetime.now(dt.UTC))
        for speaker, text in pending.get("turns", [])
    ]
    try:
        summary = await engine.summarize(turns, usage)
    except Exception:
        log.warning("case.summary_failed", key=draft.idempotency_key, exc_info=True)
        return draft
    subject = " ".join(summary.subject.split())
    if subject:
        draft.subject = subject[:255]
    draft.contents_html = draft.contents_html.replace(SUMMARY_PENDING, f"<p>{escape(summary.summary)}</p>", 1)
    return draft
