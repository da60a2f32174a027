"""The admin API: list calls, read a transcript, re-send a case, read the audit log.

Every request needs a bearer token (stored hashed, see ``ports.AdminTokens``) and every access — refused
ones too — is written to the audit log with who, what and when.
"""

# No `from __future__ import annotations`: FastAPI must resolve the local `Actor` dependency type.

import datetime as dt
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, HTTPException, Query, Request

from ..domain import CallRecord, Turn, utcnow
from ..ports import AdminTokens, AuditEvent, AuditLog, CallStore, OutboxStore
from ..tickets.outbox import entry_json

# Paging past this is meaningless, and a larger offset overflows the databases' 64-bit integer parameter
# (a 500 instead of a 422; found by bench/fuzz_surfaces.py).
MAX_OFFSET = 2**31 - 1


def utc_query(value: dt.datetime | None, name: str) -> dt.datetime | None:
    """A ``since``/``until`` query parameter in UTC, or a 422 naming it: the store refuses naive times
    (their zone would be a guess), and an offset near year 1 or 9999 overflows on conversion (a 500 before
    bench/fuzz_surfaces.py found it)."""
    if value is None:
        return None
    if value.utcoffset() is None:
        raise HTTPException(status_code=422, detail=f"{name} needs a time zone, e.g. 2026-05-01T00:00:00Z")
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:
        raise HTTPException(status_code=422, detail=f"{name} is out of range") from None


log = structlog.get_logger(__name__)

CaseKeyForCall = Callable[[str], str]


def _call_json(call: CallRecord) -> dict[str, Any]:
    return {
        "call_id": call.call_id,
        "external_id": call.external_id,
        "channel": call.channel.value,
        "from_number": call.from_number,
        "to_number": call.to_number,
        "started_at": call.started_at.isoformat(),
        "ended_at": call.ended_at.isoformat() if call.ended_at else None,
        "duration_seconds": call.duration_seconds,
        "outcome": call.outcome.value,
        "escalation_reason": call.escalation_reason,
        "case_id": call.case_id,
        "case_status": call.case_status,
        "cost_usd": call.cost_usd,
    }


def _turn_json(turn: Turn) -> dict[str, Any]:
    return {
        "seq": turn.seq,
        "speaker": turn.speaker.value,
        "text": turn.text,
        "started_at": turn.started_at.isoformat(),
        "ended_at": turn.ended_at.isoformat() if turn.ended_at else None,
        "interrupted": turn.interrupted,
        "intent": turn.intent,
    }


class DenialLimiter:
    """Refused (anonymous or wrong-token) admin requests allowed per client address per window.

    Each refusal writes an audit row, so an unlimited stream of them is a database write flood; beyond the
    limit a client gets 429 and nothing is written. A fixed window in this process is enough for that (no
    library needed): memory is one counter per address seen in the current window, cleared when it rolls.
    """

    def __init__(
        self, limit: int = 20, window_seconds: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._limit, self._window, self._clock = limit, window_seconds, clock
        self._window_start = clock()
        self._counts: dict[str, int] = {}

    def allow(self, client: str) -> bool:
        """Count one refusal for ``client``; False once it is over the limit in this window."""
        now = self._clock()
        if now - self._window_start >= self._window or len(self._counts) > 100_000:
            self._window_start, self._counts = now, {}
        self._counts[client] = self._counts.get(client, 0) + 1
        return self._counts[client] <= self._limit


def create_admin_router(
    *,
    tokens: AdminTokens,
    audit: AuditLog,
    calls: CallStore,
    outbox: OutboxStore,
    case_key_for_call: CaseKeyForCall,
    on_resend: Callable[[], Awaitable[None]] | None = None,
    denials: DenialLimiter | None = None,
) -> APIRouter:
    """``case_key_for_call`` maps a call id to its outbox key; ``on_resend`` wakes the outbox worker;
    ``denials`` limits refused requests per client (default: 20 a minute)."""
    router = APIRouter(prefix="/admin", tags=["admin"])
    limiter = denials or DenialLimiter()

    async def actor(request: Request) -> str:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        name = await tokens.verify(token.strip()) if scheme.lower() == "bearer" and token.strip() else None
        action = f"{request.method} {request.url.path}"
        if name is None:
            client = request.client.host if request.client else "unknown"
            if not limiter.allow(client):
                raise HTTPException(
                    status_code=429, detail="too many refused requests", headers={"Retry-After": "60"}
                )
            await audit.write(AuditEvent(actor="anonymous", action=action, target="denied", at=utcnow()))
            log.warning("admin.denied", path=request.url.path)
            raise HTTPException(
                status_code=401,
                detail="a valid bearer token is required",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return name

    Actor = Annotated[str, Depends(actor)]

    @router.get("/calls")
    async def list_calls(
        who: Actor,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    ) -> dict[str, Any]:
        found = await calls.list_calls(
            since=utc_query(since, "since"), until=utc_query(until, "until"), limit=limit, offset=offset
        )
        await audit.write(
            AuditEvent(
                actor=who, action="list_calls", target="calls", at=utcnow(), detail={"count": len(found)}
            )
        )
        return {"calls": [_call_json(call) for call in found]}

    @router.get("/calls/{call_id}")
    async def read_call(call_id: str, who: Actor) -> dict[str, Any]:
        call = await calls.get_call(call_id)
        await audit.write(
            AuditEvent(
                actor=who,
                action="read_transcript",
                target=call_id,
                at=utcnow(),
                detail={"found": call is not None},
            )
        )
        if call is None:
            raise HTTPException(status_code=404, detail="no such call")
        turns = await calls.list_turns(call_id)
        return {"call": _call_json(call), "transcript": [_turn_json(turn) for turn in turns]}

    @router.post("/calls/{call_id}/resend-case")
    async def resend_case(call_id: str, who: Actor) -> dict[str, Any]:
        key = case_key_for_call(call_id)
        requeued = await outbox.requeue(key)
        await audit.write(
            AuditEvent(
                actor=who, action="resend_case", target=call_id, at=utcnow(), detail={"requeued": requeued}
            )
        )
        if not requeued:
            raise HTTPException(status_code=404, detail="this call has no case to re-send")
        log.info("admin.case_requeued", call_id=call_id, actor=who)
        if on_resend is not None:
            await on_resend()
        return {"requeued": True, "idempotency_key": key}

    # --- the case outbox: dead cases are listed, inspected and requeued here as with `kca outbox` ---

    @router.get("/outbox")
    async def list_outbox(
        who: Actor,
        status: Annotated[str | None, Query(pattern="^(pending|delivered|dead)$")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        entries = await outbox.list_entries(status, limit)
        counts = await outbox.counts()
        await audit.write(
            AuditEvent(
                actor=who,
                action="list_outbox",
                target="outbox",
                at=utcnow(),
                detail={"status": status, "count": len(entries)},
            )
        )
        return {"counts": counts, "entries": [entry_json(e) for e in entries]}

    @router.get("/outbox/{key}")
    async def show_outbox_entry(key: str, who: Actor) -> dict[str, Any]:
        entry = await outbox.get(key)
        await audit.write(
            AuditEvent(
                actor=who,
                action="read_outbox_entry",
                target=key,
                at=utcnow(),
                detail={"found": entry is not None},
            )
        )
        if entry is None:
            raise HTTPException(status_code=404, detail="no such outbox entry")
        return {"entry": entry_json(entry, with_payload=True)}

    @router.post("/outbox/{key}/requeue")
    async def requeue_outbox_entry(key: str, who: Actor) -> dict[str, Any]:
        requeued = await outbox.requeue(key)
        await audit.write(
            AuditEvent(
                actor=who, action="requeue_case", target=key, at=utcnow(), detail={"requeued": requeued}
            )
        )
        if not requeued:
            raise HTTPException(status_code=404, detail="no such outbox entry")
        log.info("admin.case_requeued", idempotency_key=key, actor=who)
        if on_resend is not None:
            await on_resend()
        return {"requeued": [key]}

    @router.post("/outbox/requeue-dead")
    async def requeue_dead(who: Actor) -> dict[str, Any]:
        keys = await outbox.requeue_all("dead")
        await audit.write(
            AuditEvent(
                actor=who, action="requeue_dead_cases", target="outbox", at=utcnow(), detail={"keys": keys}
            )
        )
        log.info("admin.dead_cases_requeued", count=len(keys), actor=who)
        if keys and on_resend is not None:
            await on_resend()
        return {"requeued": keys}

    @router.get("/audit")
    async def audit_events(
        who: Actor, since: dt.datetime | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100
    ) -> dict[str, Any]:
        events = await audit.list(since=utc_query(since, "since"), limit=limit)
        await audit.write(AuditEvent(actor=who, action="read_audit", target="audit", at=utcnow()))
        return {
            "events": [
                {
                    "actor": e.actor,
                    "action": e.action,
                    "target": e.target,
                    "at": e.at.isoformat(),
                    "detail": e.detail,
                }
                for e in events
            ]
        }

    return router
