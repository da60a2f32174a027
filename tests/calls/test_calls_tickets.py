"""The case body, the requester lookup and the outbox worker (real SQLite stores, an in-memory help desk)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pytest
from calls_support import MemoryHelpDesk

from kayako_call_assistant.domain import (
    CallChannel,
    CallRecord,
    CaseDraft,
    CaseSummary,
    ContactDetails,
    DialogueContext,
    Passage,
    Person,
    Speaker,
    Turn,
    Understanding,
    Usage,
)
from kayako_call_assistant.ports import OutboxEntry
from kayako_call_assistant.storage import SqlStores
from kayako_call_assistant.tickets import (
    CaseBuilder,
    CaseRequest,
    OfferedArticle,
    OutboxWorker,
    find_or_create_requester,
)
from kayako_call_assistant.tickets.outbox import is_permanent
from kayako_call_assistant.tickets.requester import e164_or_none

T0 = dt.datetime(2026, 1, 5, 14, 30, 0, tzinfo=dt.UTC)


class SummaryEngine:
    """A language engine whose summary is fixed (or fails), for the case builder."""

    name = "summary"

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail

    async def understand(self, text: str, context: DialogueContext, usage: Usage) -> Understanding:
        raise NotImplementedError

    async def answer(
        self, question: str, passages: Sequence[Passage], context: DialogueContext, usage: Usage
    ):  # type: ignore[no-untyped-def]
        yield ""

    async def summarize(self, transcript: Sequence[Turn], usage: Usage) -> CaseSummary:
        if self.fail:
            raise TimeoutError("model timed out")
        return CaseSummary(subject="Cannot <reset> password", summary="Caller's reset link & token expired.")


def _request(resolved: bool = False) -> CaseRequest:
    return CaseRequest(
        call_id="c1",
        idempotency_key="call-c1",
        channel=CallChannel.CHAT,
        started_at=T0,
        contact=ContactDetails(name="Jane <Doe>", email="jane@example.com", phone=None),
        turns=[
            Turn(Speaker.ASSISTANT, "How can I help?", T0, seq=0),
            Turn(Speaker.CALLER, "my reset <link> expired", T0 + dt.timedelta(seconds=5), seq=1),
            Turn(Speaker.ASSISTANT, "Open settings", T0 + dt.timedelta(seconds=9), interrupted=True, seq=2),
        ],
        resolved=resolved,
        reason="answers_did_not_help",
        caller_number="+14155550100",
        articles=[OfferedArticle(7, "Reset your password")],
    )


async def test_case_body_has_summary_details_articles_and_timed_escaped_transcript() -> None:
    builder = CaseBuilder(
        SummaryEngine(), priority_escalated="High", priority_resolved="Low", case_type="Question"
    )
    draft = await builder.build(_request(), Usage())
    assert draft.subject == "Cannot <reset> password"
    assert (
        draft.tags == ["ai-call", "escalated"] and draft.priority == "High" and draft.case_type == "Question"
    )
    html = draft.contents_html
    assert "Caller&#x27;s reset link &amp; token expired." in html
    assert "Jane &lt;Doe&gt;" in html and "jane@example.com" in html and "+14155550100" in html
    assert "#7 Reset your password" in html and "answers_did_not_help" in html
    assert "[14:30:05] <strong>Caller:</strong> my reset &lt;link&gt; expired" in html
    assert "Open settings <em>(interrupted)</em>" in html
    assert "<link>" not in html
    resolved = await builder.build(_request(resolved=True), Usage())
    assert resolved.tags == ["ai-call", "resolved"] and resolved.priority == "Low"


async def test_case_is_built_even_when_the_summary_fails() -> None:
    builder = CaseBuilder(
        SummaryEngine(fail=True), priority_escalated="High", priority_resolved=None, case_type=None
    )
    draft = await builder.build(_request(), Usage())
    assert draft.subject == "my reset <link> expired"
    assert "see the transcript" in draft.contents_html


async def test_requester_found_by_email_then_phone_else_created_with_both() -> None:
    jane = Person(1, "Jane Doe", emails=("jane@example.com",), phones=("+14155550100",))
    helpdesk = MemoryHelpDesk(people=[jane])
    by_email = await find_or_create_requester(
        helpdesk, ContactDetails(email="jane@example.com", phone="+1999")
    )
    by_phone = await find_or_create_requester(
        helpdesk, ContactDetails(email="other@x.org", phone="+14155550100")
    )
    assert by_email == jane and by_phone == jane
    assert helpdesk.lookups == [("jane@example.com", None), ("other@x.org", None), (None, "+14155550100")]
    created = await find_or_create_requester(
        helpdesk, ContactDetails(name="Bo", email="bo@x.org", phone="+1 (415) 555-0155")
    )
    assert created.id != jane.id and created.emails == ("bo@x.org",) and created.phones == ("+14155550155",)


@pytest.mark.parametrize(
    "caller_id", ["anonymous", "restricted", "unavailable", "unknown", "", "+1555", "4155550155"]
)
async def test_a_caller_id_that_is_not_e164_is_no_identity(caller_id: str) -> None:
    assert e164_or_none(caller_id) is None
    helpdesk = MemoryHelpDesk()
    person = await find_or_create_requester(
        helpdesk, ContactDetails(phone=caller_id), anonymous_email="unknown-caller@example.invalid"
    )
    assert person.emails == ("unknown-caller@example.invalid",) and person.phones == ()


def _draft(key: str) -> CaseDraft:
    return CaseDraft(
        idempotency_key=key,
        subject="Printer on fire",
        contents_html="<p>help</p>",
        contact=ContactDetails(name="Al", email="al@example.com"),
        tags=["ai-call", "escalated"],
    )


async def _call_with_entry(stores: SqlStores, call_id: str, due: dt.datetime | None = None) -> OutboxEntry:
    await stores.calls.create_call(CallRecord(call_id=call_id, channel=CallChannel.CHAT, started_at=T0))
    entry = OutboxEntry(
        idempotency_key=f"call-{call_id}", call_id=call_id, payload=_draft(f"call-{call_id}").to_json()
    )
    entry.next_attempt_at = due
    return await stores.outbox.enqueue(entry)


async def test_worker_retries_through_an_outage_and_delivers_exactly_once(stores: SqlStores) -> None:
    helpdesk = MemoryHelpDesk(down=True)
    await _call_with_entry(stores, "c1")
    now = [dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)]
    worker = OutboxWorker(
        stores.outbox, helpdesk, stores.calls, base_delay=10, max_delay=40, clock=lambda: now[0]
    )
    assert await worker.deliver_due() == 0
    failed = await stores.outbox.get("call-c1")
    assert failed is not None and failed.status == "pending" and failed.attempts == 1
    assert failed.next_attempt_at is not None and failed.next_attempt_at > now[0]
    assert "help desk unreachable" in (failed.last_error or "")
    assert await worker.deliver_due() == 0  # not due yet: nothing is attempted
    helpdesk.down = False
    now[0] += dt.timedelta(seconds=60)
    assert await worker.deliver_due() == 1
    delivered = await stores.outbox.get("call-c1")
    assert delivered is not None and delivered.status == "delivered" and delivered.case_id == 1000
    call = await stores.calls.get_call("c1")
    assert call is not None and call.case_id == 1000
    await stores.outbox.requeue("call-c1")  # an operator re-sends: still one case
    assert await worker.deliver_due() == 1
    assert len(helpdesk.cases) == 1 and helpdesk.create_calls == 2


async def test_worker_marks_a_rejected_case_dead_and_gives_up_after_max_attempts(stores: SqlStores) -> None:
    helpdesk = MemoryHelpDesk(reject=True)
    worker = OutboxWorker(stores.outbox, helpdesk, stores.calls, base_delay=0, max_attempts=2)
    await _call_with_entry(stores, "bad")
    assert await worker.deliver_due() == 0
    dead = await stores.outbox.get("call-bad")
    assert dead is not None and dead.status == "dead" and "contents" in (dead.last_error or "")
    helpdesk.reject, helpdesk.down = False, True
    await _call_with_entry(stores, "down")
    await worker.deliver_due()
    await worker.deliver_due()
    gone = await stores.outbox.get("call-down")
    assert gone is not None and gone.status == "dead" and gone.attempts == 2


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    worker = OutboxWorker(None, None, None, base_delay=2, max_delay=30)  # type: ignore[arg-type]
    for attempt, ceiling in [(1, 2), (2, 4), (3, 8), (4, 16), (5, 30), (9, 30)]:
        delays = [worker.backoff(attempt) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1


def test_permanent_errors_are_told_apart_from_transient_ones() -> None:
    class Http(Exception):
        def __init__(self, status: int) -> None:
            self.status = status

    assert is_permanent(Http(400)) and is_permanent(Http(422)) and is_permanent(KeyError("subject"))
    assert not is_permanent(Http(500)) and not is_permanent(Http(429)) and not is_permanent(Http(401))
    assert not is_permanent(ConnectionError("refused")) and not is_permanent(TimeoutError())


class NeverCalled(SummaryEngine):
    async def summarize(self, transcript: Sequence[Turn], usage: Usage) -> CaseSummary:
        raise AssertionError("the caller's path must not wait for the model")


@pytest.mark.parametrize("fail", [False, True])
async def test_a_deferred_summary_is_written_by_the_delivery_or_falls_back(
    stores: SqlStores, fail: bool
) -> None:
    builder = CaseBuilder(
        NeverCalled(), priority_escalated="High", priority_resolved=None, case_type=None, defer_summary=True
    )
    draft = await builder.build(_request(), Usage())
    assert draft.subject == "my reset <link> expired"  # the caller's words until the model has spoken
    await stores.calls.create_call(CallRecord(call_id="c1", channel=CallChannel.CHAT, started_at=T0))
    await stores.outbox.enqueue(OutboxEntry(idempotency_key="call-c1", call_id="c1", payload=draft.to_json()))
    helpdesk = MemoryHelpDesk()
    worker = OutboxWorker(stores.outbox, helpdesk, stores.calls, engine=SummaryEngine(fail=fail))
    assert await worker.deliver_due() == 1
    _info, filed, _requester = helpdesk.cases["call-c1"]
    assert "[14:30:05] <strong>Caller:</strong> my reset &lt;link&gt; expired" in filed.contents_html
    if fail:
        assert filed.subject == "my reset <link> expired" and "see the transcript" in filed.contents_html
    else:
        assert filed.subject == "Cannot <reset> password"
        assert "Caller&#x27;s reset link &amp; token expired." in filed.contents_html
        assert "see the transcript" not in filed.contents_html
