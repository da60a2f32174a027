"""Read-only queries behind the operator dashboard, in SQLAlchemy Core on ``storage.models``.

The stores' ports serve the call path (one call, one entry at a time); the dashboard needs lists, searches
and per-day aggregates across calls. They live here, read-only, so the ports stay small. Turn latency is
derived from stored turn times: from the end of a caller's turn to the start of the assistant's next turn
(the assistant turn starts when its first sentence reaches the transport).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import String, cast, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ..domain import utcnow
from ..storage.models import calls, turns


@dataclass(frozen=True, slots=True)
class CallRow:
    call_id: str
    external_id: str | None
    channel: str
    from_number: str | None
    started_at: dt.datetime
    ended_at: dt.datetime | None
    outcome: str
    case_id: int | None
    case_status: str | None
    cost_usd: float | None
    turn_latency_seconds: float | None = None  # median over the call's turns

    @property
    def duration_seconds(self) -> float | None:
        return None if self.ended_at is None else (self.ended_at - self.started_at).total_seconds()


@dataclass(slots=True)
class DayStats:
    day: dt.date
    calls: int = 0
    resolved: int = 0
    cost_usd: float = 0.0
    latencies: list[float] = field(default_factory=list)

    @property
    def resolution_rate(self) -> float | None:
        return self.resolved / self.calls if self.calls else None

    @property
    def p50(self) -> float | None:
        return percentile(self.latencies, 0.50)

    @property
    def p95(self) -> float | None:
        return percentile(self.latencies, 0.95)


def percentile(values: Sequence[float], share: float) -> float | None:
    """Nearest-rank percentile (no interpolation: every number shown is one a caller actually waited)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def mask_number(number: str | None) -> str:
    """A caller's number with all but its last four digits hidden ("+•••••••0142")."""
    if not number:
        return "unknown"
    digits = [c for c in number if c.isdigit()]
    if len(digits) <= 4:
        return "•" * len(digits)
    prefix = "+" if number.startswith("+") else ""
    return prefix + "•" * (len(digits) - 4) + "".join(digits[-4:])


def _call_row(row: Any, latency: float | None = None) -> CallRow:
    return CallRow(
        call_id=row.call_id,
        external_id=row.external_id,
        channel=row.channel,
        from_number=row.from_number,
        started_at=row.started_at,
        ended_at=row.ended_at,
        outcome=row.outcome,
        case_id=row.case_id,
        case_status=row.case_status,
        cost_usd=row.cost_usd,
        turn_latency_seconds=latency,
    )


_CALL_COLUMNS = (
    calls.c.call_id,
    calls.c.external_id,
    calls.c.channel,
    calls.c.from_number,
    calls.c.started_at,
    calls.c.ended_at,
    calls.c.outcome,
    calls.c.case_id,
    calls.c.case_status,
    calls.c.cost_usd,
)


class DashboardQueries:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def search_calls(
        self, *, query: str = "", outcome: str = "", limit: int = 50, offset: int = 0
    ) -> list[CallRow]:
        """Newest first. ``query`` matches the call id, the CallSid, the caller's number or the case id."""
        statement = select(*_CALL_COLUMNS).order_by(calls.c.started_at.desc()).limit(limit).offset(offset)
        if query.strip():
            text = query.strip()  # autoescape: a "%" or "_" typed in the search box matches itself
            statement = statement.where(
                or_(
                    calls.c.call_id.contains(text, autoescape=True),
                    calls.c.external_id.contains(text, autoescape=True),
                    calls.c.from_number.contains(text, autoescape=True),
                    cast(calls.c.case_id, String).contains(text, autoescape=True),
                )
            )
        if outcome:
            statement = statement.where(calls.c.outcome == outcome)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(statement)).all()
        latencies = await self._latencies([row.call_id for row in rows])
        return [_call_row(row, percentile(latencies.get(row.call_id, []), 0.5)) for row in rows]

    async def live_calls(self, *, within_hours: float = 6.0) -> list[CallRow]:
        """Calls started recently and not ended (a call whose worker died shows until its status callback
        or the stream's grace period closes it)."""
        since = utcnow() - dt.timedelta(hours=within_hours)
        statement = (
            select(*_CALL_COLUMNS)
            .where(calls.c.ended_at.is_(None), calls.c.started_at >= since)
            .order_by(calls.c.started_at.desc())
            .limit(100)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(statement)).all()
        return [_call_row(row) for row in rows]

    async def turn_latencies(self, call_id: str) -> list[float]:
        return (await self._latencies([call_id])).get(call_id, [])

    async def _latencies(self, call_ids: Sequence[str]) -> dict[str, list[float]]:
        if not call_ids:
            return {}
        statement = (
            select(turns.c.call_id, turns.c.speaker, turns.c.started_at, turns.c.ended_at)
            .where(turns.c.call_id.in_(list(call_ids)))
            .order_by(turns.c.call_id, turns.c.seq)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(statement)).all()
        found: dict[str, list[float]] = defaultdict(list)
        caller_ended: dict[str, dt.datetime | None] = {}
        for row in rows:
            if row.speaker == "caller":
                caller_ended[row.call_id] = row.ended_at or row.started_at
            elif row.speaker == "assistant" and caller_ended.get(row.call_id) is not None:
                ended = caller_ended.pop(row.call_id)
                assert ended is not None
                found[row.call_id].append(max(0.0, (row.started_at - ended).total_seconds()))
        return found

    async def daily(self, days: int = 14) -> list[DayStats]:
        """One entry per day (UTC) for the last ``days`` days, oldest first, days without calls included."""
        today = utcnow().date()
        first = today - dt.timedelta(days=days - 1)
        since = dt.datetime.combine(first, dt.time(), tzinfo=dt.UTC)
        statement = select(calls.c.call_id, calls.c.started_at, calls.c.outcome, calls.c.cost_usd).where(
            calls.c.started_at >= since
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(statement)).all()
        stats = {first + dt.timedelta(days=i): DayStats(first + dt.timedelta(days=i)) for i in range(days)}
        day_of: dict[str, dt.date] = {}
        for row in rows:
            day = row.started_at.astimezone(dt.UTC).date()
            entry = stats.get(day)
            if entry is None:
                continue
            day_of[row.call_id] = day
            entry.calls += 1
            entry.resolved += row.outcome == "resolved"
            entry.cost_usd += row.cost_usd or 0.0
        latencies = await self._latencies(list(day_of))
        for call_id, values in latencies.items():
            stats[day_of[call_id]].latencies.extend(values)
        return list(stats.values())
