"""Retention blanks callers' contact details (caller ID, name, email, phone) of old ended calls."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from kayako_call_assistant.domain import CallChannel, CallOutcome, CallRecord, ContactDetails, utcnow
from kayako_call_assistant.storage import SqlStores, create_engine, purge_older_than, upgrade


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'retention.db'}")
    await upgrade(engine)
    yield engine
    await engine.dispose()


async def _call(stores: SqlStores, call_id: str, started: dt.datetime, *, ended: bool = True) -> None:
    call = CallRecord(
        call_id, CallChannel.GATHER, started, outcome=CallOutcome.ESCALATED, from_number="+14155550100"
    )
    call.contact = ContactDetails(name="Jane Doe", email="jane@example.com", phone="+14155550100")
    if ended:
        call.ended_at = started + dt.timedelta(minutes=3)
    await stores.calls.create_call(call)
    await stores.calls.update_call(call)


async def test_old_ended_calls_lose_their_contact_details_recent_ones_keep_them(engine: AsyncEngine) -> None:
    stores = SqlStores(engine)
    now = utcnow()
    await _call(stores, "old", now - dt.timedelta(days=40))
    await _call(stores, "recent", now - dt.timedelta(days=1))
    result = await purge_older_than(engine, 30)
    assert result.contacts == 1
    old = await stores.calls.get_call("old")
    assert old is not None
    assert (old.from_number, old.contact.name, old.contact.email, old.contact.phone) == (
        None,
        None,
        None,
        None,
    )
    assert old.outcome is CallOutcome.ESCALATED and old.duration_seconds == 180.0
    recent = await stores.calls.get_call("recent")
    assert recent is not None and recent.contact.email == "jane@example.com"
    assert recent.from_number == "+14155550100"
    assert (await purge_older_than(engine, 30)).contacts == 0
