"""``KCA_REDACT_TRANSCRIPTS`` covers the stored flow state's free text and the outbox payload's transcript,
written redacted at the store boundary (SQLite): the raw rows hold no email or number the caller said,
while the pending contact detail a Gather call resumes from, and the case's contact, are kept."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from kayako_call_assistant.domain import CallChannel, CallRecord, CaseDraft, ContactDetails, utcnow
from kayako_call_assistant.observability.redact import redact_text
from kayako_call_assistant.ports import OutboxEntry
from kayako_call_assistant.storage import SqlStores, create_engine, upgrade
from kayako_call_assistant.storage.models import calls, case_outbox

SAID = "I'm locked out, write to ada@example.com or call 415 555 0100, card 4111 1111 1111 1111"


async def _stores(tmp_path: Path, *, redact: bool) -> SqlStores:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'redact.db'}")
    await upgrade(engine)
    return SqlStores(engine, redact=redact_text if redact else None)


@pytest.fixture
async def redacting(tmp_path: Path) -> AsyncIterator[SqlStores]:
    stores = await _stores(tmp_path, redact=True)
    yield stores
    await stores.close()


def _call() -> CallRecord:
    return CallRecord(
        call_id="call-1",
        channel=CallChannel.GATHER,
        started_at=dt.datetime(2026, 3, 1, 14, 30, tzinfo=dt.UTC),
        external_id="CA1",
        from_number="+15551230000",
        to_number="+15559870000",
    )


def _state() -> dict[str, object]:
    return {
        "state": "collecting_email",
        "issue": [SAID, "still locked out"],
        "question": SAID,
        "pending_email": "ada@example.com",
        "pending_phone": "+14155550100",
        "last_prompt": "I heard ada at example dot com. Is that right?",
    }


def _entry() -> OutboxEntry:
    draft = CaseDraft(
        idempotency_key="k1",
        subject="Locked out: ada@example.com",
        contents_html=f"<p>Transcript</p><p>Caller: {SAID}</p>",
        contact=ContactDetails(name="Ada", email="ada@example.com", phone="+14155550100"),
    )
    payload = draft.to_json() | {"summary_pending": {"turns": [["caller", SAID], ["assistant", "Sure."]]}}
    return OutboxEntry(idempotency_key="k1", call_id="call-1", payload=payload, next_attempt_at=utcnow())


def _assert_redacted(text: str) -> None:
    for secret in ("ada@example.com", "555 0100", "4111"):
        assert secret not in text, text


async def test_flow_state_free_text_is_stored_redacted_and_the_pending_contact_kept(
    redacting: SqlStores,
) -> None:
    await redacting.calls.create_call(_call())
    await redacting.calls.save_flow_state("call-1", _state())
    loaded = await redacting.calls.load_flow_state("call-1")
    assert loaded is not None
    _assert_redacted(" ".join(loaded["issue"]))
    _assert_redacted(loaded["question"])
    assert loaded["issue"][1] == "still locked out"
    assert "[email]" in loaded["question"]
    # What a resumed Gather call needs to read back and file the detail it is confirming.
    assert loaded["pending_email"] == "ada@example.com"
    assert loaded["pending_phone"] == "+14155550100"
    assert loaded["last_prompt"] == "I heard ada at example dot com. Is that right?"

    # The same through save_progress, the flow's per-turn write; and in the raw row, not only on read.
    await redacting.calls.save_progress(_call(), [], _state())
    async with redacting.engine.connect() as conn:
        raw = (await conn.execute(select(calls.c.flow_state))).scalar_one()
    _assert_redacted(" ".join(raw["issue"]) + raw["question"])


async def test_outbox_payload_text_is_stored_redacted_and_the_contact_kept(redacting: SqlStores) -> None:
    await redacting.outbox.enqueue(_entry())
    async with redacting.engine.connect() as conn:
        payload = (await conn.execute(select(case_outbox.c.payload))).scalar_one()
    _assert_redacted(payload["subject"])
    _assert_redacted(payload["contents_html"])
    _assert_redacted(" ".join(text for _, text in payload["summary_pending"]["turns"]))
    assert payload["summary_pending"]["turns"][1] == ["assistant", "Sure."]
    assert payload["contact"] == {"name": "Ada", "email": "ada@example.com", "phone": "+14155550100"}
    draft = CaseDraft.from_json(payload)  # still a deliverable case
    assert draft.contact.email == "ada@example.com"


async def test_without_the_setting_state_and_payload_are_stored_verbatim(tmp_path: Path) -> None:
    stores = await _stores(tmp_path, redact=False)
    try:
        await stores.calls.create_call(_call())
        await stores.calls.save_flow_state("call-1", _state())
        await stores.outbox.enqueue(_entry())
        loaded = await stores.calls.load_flow_state("call-1")
        assert loaded is not None and loaded["question"] == SAID
        async with stores.engine.connect() as conn:
            payload = (await conn.execute(select(case_outbox.c.payload))).scalar_one()
        assert SAID in payload["contents_html"]
    finally:
        await stores.close()
