"""Retention: transcripts and callers' contact details older than the configured number of days are removed;
call metrics stay."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from dataclasses import asdict, dataclass

import structlog
from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from ..domain import utcnow
from .models import calls, case_outbox, turns, webhook_deliveries
from .outbox_store import DELIVERED

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class PurgeResult:
    turns: int
    flow_states: int
    webhook_deliveries: int
    outbox_payloads: int  # delivered cases whose stored copy (which holds the transcript) was blanked
    contacts: int = 0  # ended calls whose caller ID, name, email and phone were blanked


async def purge_older_than(engine: AsyncEngine, days: int, *, now: dt.datetime | None = None) -> PurgeResult:
    """Delete the turns of calls started over ``days`` ago and blank their flow state, in one transaction.

    The call rows keep outcome, times, case, usage and cost, so reports over old periods stay right; the
    caller's number, name, email and phone of ended calls are blanked (the case in Kayako keeps them). Processed
    webhook deliveries and the payloads of delivered cases past the cutoff go too; pending and dead cases keep
    theirs, as they are still owed to Kayako or to an operator.
    """
    if days < 1:
        raise ValueError(f"retention must be at least 1 day, got {days}")
    cutoff = (now or utcnow()) - dt.timedelta(days=days)
    old_calls = select(calls.c.call_id).where(calls.c.started_at < cutoff)
    async with engine.begin() as conn:
        turns_deleted = await conn.execute(delete(turns).where(turns.c.call_id.in_(old_calls)))
        states_blanked = await conn.execute(
            update(calls)
            .where(calls.c.started_at < cutoff, calls.c.flow_state.is_not(None))
            .values(flow_state=None, updated_at=utcnow())
        )
        contacts_blanked = await conn.execute(
            update(calls)
            .where(calls.c.started_at < cutoff, calls.c.ended_at.is_not(None))
            .where(
                or_(
                    calls.c.from_number.is_not(None),
                    calls.c.contact_name.is_not(None),
                    calls.c.contact_email.is_not(None),
                    calls.c.contact_phone.is_not(None),
                )
            )
            .values(
                from_number=None,
                contact_name=None,
                contact_email=None,
                contact_phone=None,
                updated_at=utcnow(),
            )
        )
        deliveries_deleted = await conn.execute(
            delete(webhook_deliveries).where(
                webhook_deliveries.c.received_at < cutoff, webhook_deliveries.c.processed_at.is_not(None)
            )
        )
        payloads_blanked = await conn.execute(
            update(case_outbox)
            .where(case_outbox.c.status == DELIVERED, case_outbox.c.created_at < cutoff)
            .where(case_outbox.c.payload != {})
            .values(payload={}, updated_at=utcnow())
        )
    result = PurgeResult(
        turns=turns_deleted.rowcount,
        flow_states=states_blanked.rowcount,
        webhook_deliveries=deliveries_deleted.rowcount,
        outbox_payloads=payloads_blanked.rowcount,
        contacts=contacts_blanked.rowcount,
    )
    log.info("storage.purged", days=days, cutoff=cutoff.isoformat(), **asdict(result))
    return result


async def run_purge_schedule(
    engine: AsyncEngine, *, days: int, interval_hours: float, stop: asyncio.Event
) -> None:
    """Purge now and then every ``interval_hours`` until ``stop`` is set; a failed run is logged and retried
    at the next interval rather than ending the schedule."""
    while not stop.is_set():
        try:
            await purge_older_than(engine, days)
        except Exception:
            log.exception("storage.purge_failed", days=days)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval_hours * 3600)
