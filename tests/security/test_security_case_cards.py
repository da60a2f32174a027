"""Payment card numbers, written or spoken, never reach Kayako: not in the case subject, body or summary."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Sequence

from kayako_call_assistant.domain import (
    CallChannel,
    CaseSummary,
    ContactDetails,
    DialogueContext,
    Passage,
    Speaker,
    Turn,
    Understanding,
    Usage,
)
from kayako_call_assistant.tickets.case_builder import CaseBuilder, CaseRequest

T0 = dt.datetime(2026, 1, 5, 14, 30, 0, tzinfo=dt.UTC)
CARD = "4111 1111 1111 1111"
SPOKEN_CARD = "four one one one one one one one one one one one one one one one"


class EchoingEngine:
    """A summariser that copies the card number into the subject and summary, as a model might."""

    name = "echo"

    async def understand(self, text: str, context: DialogueContext, usage: Usage) -> Understanding:
        raise NotImplementedError

    async def answer(
        self, question: str, passages: Sequence[Passage], context: DialogueContext, usage: Usage
    ) -> AsyncIterator[str]:
        yield ""

    async def summarize(self, transcript: Sequence[Turn], usage: Usage) -> CaseSummary:
        return CaseSummary(subject=f"Refund to card {CARD}", summary=f"Caller gave card {CARD} for a refund.")


async def test_card_numbers_are_redacted_from_subject_body_and_summary() -> None:
    builder = CaseBuilder(EchoingEngine(), priority_escalated="High", priority_resolved="Low", case_type=None)
    request = CaseRequest(
        call_id="c1",
        idempotency_key="call-c1",
        channel=CallChannel.CHAT,
        started_at=T0,
        contact=ContactDetails(name="Jane", email="jane@example.com", phone="+14155550100"),
        turns=[
            Turn(Speaker.ASSISTANT, "How can I help?", T0, seq=0),
            Turn(Speaker.CALLER, f"refund to my card {CARD} please", T0, seq=1),
            Turn(Speaker.CALLER, f"that is {SPOKEN_CARD}", T0, seq=2),
        ],
        resolved=False,
        reason="caller_asked",
        caller_number="+14155550100",
    )
    draft = await builder.build(request, Usage())
    assert CARD not in draft.subject and "[card]" in draft.subject
    assert CARD not in draft.contents_html and SPOKEN_CARD not in draft.contents_html
    assert draft.contents_html.count("[card]") == 3  # the summary and both caller turns
    # Only card numbers: the contact details an agent needs stay.
    assert "jane@example.com" in draft.contents_html and "+14155550100" in draft.contents_html
