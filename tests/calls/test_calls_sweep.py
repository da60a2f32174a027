"""Calls whose stream or process died without finishing are finished from the database by the sweep: the
case of an unresolved call is filed, the outcome set, once (SQLite and PostgreSQL, two "processes")."""

from __future__ import annotations

import datetime as dt

from calls_support import KeywordEngine, MemoryHelpDesk, StoresFactory, WordRetriever

from kayako_call_assistant.calls.policy import CallPolicy
from kayako_call_assistant.calls.service import CallService
from kayako_call_assistant.domain import CallChannel, CallOutcome, CallRecord, CallStart
from kayako_call_assistant.storage import SqlStores

ARTICLES = {1: ("Reset your password", "Open the login page and choose Forgot password.")}


def _service(stores: SqlStores, helpdesk: MemoryHelpDesk) -> CallService:
    return CallService(
        helpdesk=helpdesk,
        engine=KeywordEngine(),
        retriever=WordRetriever(ARTICLES),
        calls=stores.calls,
        outbox=stores.outbox,
        policy=CallPolicy(helpdesk_name="Acme Support"),
    )


async def test_the_sweep_finishes_a_call_whose_process_died_and_files_its_case(
    stores_factory: StoresFactory,
) -> None:
    helpdesk = MemoryHelpDesk()
    dead_process = _service(stores_factory(), helpdesk)
    flow = await dead_process.start(CallStart(channel=CallChannel.MEDIA_STREAM, from_number="+14155550123"))
    async for _ in flow.greet():
        pass
    async for _ in flow.caller_said("my printer is jammed and shows error e forty seven"):
        pass
    async for _ in flow.caller_said("I need to speak to a person"):
        pass
    # ...and the process serving the call dies here: no hang-up, no status callback.
    never_greeted = CallRecord(call_id="ghost", channel=CallChannel.GATHER, started_at=flow.call.started_at)
    survivor_stores = stores_factory()
    await survivor_stores.calls.create_call(never_greeted)

    survivor = _service(survivor_stores, helpdesk)
    live_cutoff = flow.call.started_at - dt.timedelta(minutes=1)
    assert await survivor.finalize_stale(live_cutoff) == 0  # recent calls are left to their workers

    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    assert await survivor.finalize_stale(later) == 2
    call = await survivor_stores.calls.get_call(flow.call.call_id)
    assert call is not None and call.ended_at is not None
    assert call.outcome is CallOutcome.ESCALATED and call.case_id is not None
    entry = await survivor_stores.outbox.get(f"call-{flow.call.call_id}")
    assert entry is not None and entry.status == "delivered"
    _info, draft, _requester = helpdesk.cases[f"call-{flow.call.call_id}"]
    assert "printer is jammed" in draft.contents_html  # the transcript went with it
    ghost = await survivor_stores.calls.get_call("ghost")
    assert ghost is not None and ghost.outcome is CallOutcome.ABANDONED and ghost.ended_at is not None

    assert await survivor.finalize_stale(later + dt.timedelta(hours=1)) == 0  # finished calls stay finished
    assert len(helpdesk.cases) == 1
