"""SqlCallStore: calls, turns, flow state, redaction — on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncEngine

from kayako_call_assistant.domain import (
    CallChannel,
    CallOutcome,
    CallRecord,
    ContactDetails,
    Speaker,
    Turn,
    Usage,
)
from kayako_call_assistant.observability.redact import redact_text
from kayako_call_assistant.storage import SqlCallStore
from kayako_call_assistant.storage.models import turns

PARIS = dt.timezone(dt.timedelta(hours=2))
START = dt.datetime(2026, 3, 1, 14, 30, 5, 123456, tzinfo=PARIS)


def _call(call_id: str = "call-1", **changes: object) -> CallRecord:
    call = CallRecord(
        call_id=call_id,
        channel=CallChannel.MEDIA_STREAM,
        started_at=START,
        external_id=f"CA{call_id}",
        from_number="+15551230000",
        to_number="+15559870000",
    )
    for name, value in changes.items():
        setattr(call, name, value)
    return call


async def test_call_round_trip_keeps_every_field_in_utc(engine: AsyncEngine) -> None:
    store = SqlCallStore(engine)
    await store.create_call(_call())

    call = _call()
    call.ended_at = START + dt.timedelta(minutes=3, seconds=2)
    call.outcome = CallOutcome.ESCALATED
    call.escalation_reason = "caller asked for a person"
    call.case_id = 4_000_000_001
    call.contact = ContactDetails(name="Ada Lovelace", email="ada@example.com", phone="+15551230000")
    call.usage = Usage(
        model_input_tokens=1200,
        model_output_tokens=340,
        audio_seconds_transcribed=61.5,
        characters_synthesized=900,
        kayako_requests=7,
    )
    call.cost_usd = 0.0123
    await store.update_call(call)

    loaded = await store.get_call("call-1")
    assert loaded is not None
    assert loaded.started_at == START
    assert loaded.started_at.utcoffset() == dt.timedelta(0)
    assert loaded.started_at.hour == 12  # 14:30 in UTC+2
    assert loaded.ended_at == call.ended_at
    assert loaded.duration_seconds == 182.0
    assert loaded.outcome is CallOutcome.ESCALATED
    assert loaded.escalation_reason == "caller asked for a person"
    assert loaded.case_id == 4_000_000_001
    assert loaded.contact == call.contact
    assert loaded.usage == call.usage
    assert loaded.cost_usd == pytest.approx(0.0123)
    assert loaded.channel is CallChannel.MEDIA_STREAM
    assert await store.get_call_by_external_id("CAcall-1") == loaded
    assert await store.get_call("missing") is None
    assert await store.get_call_by_external_id("CAmissing") is None


async def test_bad_writes_are_refused_clearly(engine: AsyncEngine) -> None:
    store = SqlCallStore(engine)
    await store.create_call(_call())
    with pytest.raises(ValueError, match="already stored"):
        await store.create_call(_call())
    with pytest.raises(LookupError):
        await store.update_call(_call("ghost"))
    with pytest.raises(LookupError):
        await store.add_turn("ghost", Turn(Speaker.CALLER, "hello", START))
    with pytest.raises(LookupError):
        await store.save_flow_state("ghost", {"state": "x"})
    with pytest.raises(StatementError, match=r"naive datetime .* refused"):
        await store.create_call(_call("naive", started_at=dt.datetime(2026, 1, 1, 9, 0)))
    assert await store.get_call("naive") is None


async def test_turns_round_trip_in_order_and_same_seq_replaces(engine: AsyncEngine) -> None:
    store = SqlCallStore(engine)
    await store.create_call(_call())
    greeting = Turn(
        Speaker.ASSISTANT, "Hello, this is Acme Support.", START, START + dt.timedelta(seconds=2), seq=0
    )
    question = Turn(
        Speaker.CALLER, "My invoice is wrong", START + dt.timedelta(seconds=3), intent="question", seq=1
    )
    answer = Turn(
        Speaker.ASSISTANT, "Open Billing, then choose Invoices. Then…", START + dt.timedelta(seconds=5), seq=2
    )
    for turn in (question, answer, greeting):
        await store.add_turn("call-1", turn)

    cut = Turn(
        answer.speaker, "Open Billing,", answer.started_at, START + dt.timedelta(seconds=6), True, None, 2
    )
    await store.add_turn("call-1", cut)

    stored = await store.list_turns("call-1")
    assert [turn.seq for turn in stored] == [0, 1, 2]
    assert stored[0] == greeting
    assert stored[1] == question
    assert stored[2] == cut
    assert stored[2].interrupted is True
    assert stored[1].started_at.tzinfo is not None
    assert await store.list_turns("other") == []


async def test_flow_state_is_saved_and_loaded(engine: AsyncEngine) -> None:
    store = SqlCallStore(engine)
    await store.create_call(_call())
    assert await store.load_flow_state("call-1") is None
    state = {
        "state": "confirm_email",
        "pending": {"email": "ada@example.com"},
        "failed_answers": 1,
        "ok": True,
    }
    await store.save_flow_state("call-1", state)
    assert await store.load_flow_state("call-1") == state
    await store.save_flow_state("call-1", {"state": "closing"})
    assert await store.load_flow_state("call-1") == {"state": "closing"}
    assert await store.load_flow_state("missing") is None


async def test_listing_by_time_and_by_case(engine: AsyncEngine) -> None:
    store = SqlCallStore(engine)
    for index in range(5):
        started = START + dt.timedelta(hours=index)
        await store.create_call(_call(f"c{index}", started_at=started, case_id=77 if index % 2 else None))

    newest_first = await store.list_calls()
    assert [call.call_id for call in newest_first] == ["c4", "c3", "c2", "c1", "c0"]
    window = await store.list_calls(since=START + dt.timedelta(hours=1), until=START + dt.timedelta(hours=3))
    assert [call.call_id for call in window] == ["c2", "c1"]
    page = await store.list_calls(limit=2, offset=1)
    assert [call.call_id for call in page] == ["c3", "c2"]
    assert [call.call_id for call in await store.calls_for_case(77)] == ["c1", "c3"]
    assert await store.calls_for_case(78) == []


async def test_case_status_from_webhooks_survives_a_stale_update(engine: AsyncEngine) -> None:
    store = SqlCallStore(engine)
    await store.create_call(_call(case_id=5))
    from_webhook = await store.get_call("call-1")
    assert from_webhook is not None
    from_webhook.case_status = "Pending"
    await store.update_call(from_webhook)

    stale = _call(case_id=5, outcome=CallOutcome.ESCALATED)  # the flow's copy, without a status
    await store.update_call(stale)

    loaded = await store.get_call("call-1")
    assert loaded is not None
    assert loaded.case_status == "Pending"
    assert loaded.outcome is CallOutcome.ESCALATED


async def test_redaction_applies_to_stored_turns_only(engine: AsyncEngine) -> None:
    store = SqlCallStore(engine, redact=redact_text)
    call = _call(contact=ContactDetails(name="Ada", email="ada@example.com", phone="+15551230000"))
    await store.create_call(call)
    await store.add_turn(
        "call-1", Turn(Speaker.CALLER, "my email is ada@example.com and my number is +1 555 123 0000", START)
    )

    [turn] = await store.list_turns("call-1")
    assert "ada@example.com" not in turn.text
    assert "555" not in turn.text
    assert "[email]" in turn.text
    async with engine.connect() as conn:
        raw = (await conn.execute(select(turns.c.text))).scalar_one()
    assert "ada@example.com" not in raw
    loaded = await store.get_call("call-1")
    assert loaded is not None
    assert loaded.contact.email == "ada@example.com"  # confirmed details keep their own columns


async def test_without_redaction_text_is_stored_verbatim(engine: AsyncEngine) -> None:
    store = SqlCallStore(engine)
    await store.create_call(_call())
    await store.add_turn("call-1", Turn(Speaker.CALLER, "mail ada@example.com", START))
    [turn] = await store.list_turns("call-1")
    assert turn.text == "mail ada@example.com"


async def test_progress_writes_turns_call_and_state_together_or_not_at_all(engine: AsyncEngine) -> None:
    store = SqlCallStore(engine)
    await store.create_call(_call())
    call = _call(outcome=CallOutcome.RESOLVED, ended_at=START + dt.timedelta(minutes=1))
    said = [
        Turn(Speaker.CALLER, "how do I reset my password", START, seq=1, intent="question"),
        Turn(Speaker.ASSISTANT, "Choose Forgot password.", START, seq=2),
    ]
    await store.save_progress(call, said, {"state": "closed"})
    stored = await store.get_call("call-1")
    assert stored is not None and stored.outcome is CallOutcome.RESOLVED
    assert [(t.seq, t.text, t.intent) for t in await store.list_turns("call-1")] == [
        (1, "how do I reset my password", "question"),
        (2, "Choose Forgot password.", None),
    ]
    assert await store.load_flow_state("call-1") == {"state": "closed"}

    with pytest.raises(LookupError):
        await store.save_progress(_call("ghost"), [Turn(Speaker.CALLER, "hello", START, seq=1)], {})
    async with engine.connect() as conn:
        assert (await conn.execute(select(turns).where(turns.c.call_id == "ghost"))).first() is None


async def test_a_turns_save_keeps_the_other_writers_columns(engine: AsyncEngine) -> None:
    # The flow's usual save: one turn, the call still going (one statement on PostgreSQL, not two).
    store = SqlCallStore(engine)
    await store.create_call(_call())
    await store.set_case("call-1", 42, "New")
    await store.set_case_status(42, "Open")
    stale = _call(usage=Usage(model_input_tokens=350), escalation_reason="asked for a person")
    reply = Turn(Speaker.ASSISTANT, "Choose Forgot password.", START, None, latency_seconds=0.412, seq=3)

    assert await store.save_progress(stale, [reply], {"state": "confirming"}) is False

    stored = await store.get_call("call-1")
    assert stored is not None
    assert (stored.case_id, stored.case_status) == (42, "Open")  # neither blanked nor overwritten
    assert (stored.usage.model_input_tokens, stored.escalation_reason) == (350, "asked for a person")
    assert stored.ended_at is None and stored.outcome is CallOutcome.IN_PROGRESS
    assert await store.list_turns("call-1") == [reply]
    assert await store.load_flow_state("call-1") == {"state": "confirming"}


async def test_a_refused_save_stores_nothing_of_it(engine: AsyncEngine) -> None:
    store = SqlCallStore(engine)
    await store.create_call(_call())
    await store.create_call(_call("call-2"))
    taken = _call(external_id="CAcall-2")  # another call's Twilio id: the unique column refuses it
    turn = Turn(Speaker.CALLER, "hello", START, START, seq=1)

    with pytest.raises(IntegrityError):
        await store.save_progress(taken, [turn], {"state": "x"})

    assert await store.list_turns("call-1") == []  # the turn went with the refused row
    assert await store.load_flow_state("call-1") is None
    with pytest.raises(StatementError, match=r"naive datetime .* refused"):
        await store.add_turn("call-1", Turn(Speaker.CALLER, "hello", dt.datetime(2026, 1, 1, 9, 0)))
    with pytest.raises(StatementError, match=r"naive datetime .* refused"):
        await store.save_progress(_call(), [Turn(Speaker.CALLER, "hi", dt.datetime(2026, 1, 1, 9, 0))], {})
    assert await store.list_turns("call-1") == []
    assert await store.load_flow_state("call-1") is None


async def test_several_turns_are_saved_in_one_write(engine: AsyncEngine) -> None:
    # A save may carry earlier turns again (a latency measured after they were written): each replaced.
    store = SqlCallStore(engine)
    await store.create_call(_call())
    first = Turn(Speaker.ASSISTANT, "Hello.", START, START, seq=0)
    await store.save_progress(_call(), [first], {"state": "a"})
    first.latency_seconds = 0.25
    question = Turn(Speaker.CALLER, "my invoice", START, START, intent="question", seq=1)
    answer = Turn(Speaker.ASSISTANT, "Open Billing.", START, None, seq=2)

    await store.save_progress(_call(), [first, question, answer], {"state": "b"})

    assert await store.list_turns("call-1") == [first, question, answer]
    assert await store.load_flow_state("call-1") == {"state": "b"}
