"""The audit trail in SQL (``ports.AuditLog``): who did what to which record, and when."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from ..ports import AuditEvent
from .models import audit_events


class SqlAuditLog:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def write(self, event: AuditEvent) -> None:
        values = {
            "actor": event.actor,
            "action": event.action,
            "target": event.target,
            "at": event.at,
            "detail": event.detail,
        }
        async with self._engine.begin() as conn:
            await conn.execute(audit_events.insert().values(**values))

    async def list(self, *, since: dt.datetime | None = None, limit: int = 100) -> list[AuditEvent]:
        """Events at or after ``since``, newest first."""
        statement = select(audit_events)
        if since is not None:
            statement = statement.where(audit_events.c.at >= since)
        statement = statement.order_by(audit_events.c.at.desc(), audit_events.c.id.desc()).limit(limit)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(statement)).mappings().all()
        return [
            AuditEvent(
                actor=row["actor"],
                action=row["action"],
                target=row["target"],
                at=row["at"],
                detail=dict(row["detail"]),
            )
            for row in rows
        ]
