"""Received webhook deliveries in SQL (``ports.WebhookStore``): stored before they are acknowledged."""

from __future__ import annotations

from typing import Any

from sqlalchemy import RowMapping, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from ..domain import utcnow
from ..ports import WebhookDelivery
from .database import dialect_insert
from .models import webhook_deliveries


def _delivery_from_row(row: RowMapping) -> WebhookDelivery:
    return WebhookDelivery(
        delivery_id=row["delivery_id"],
        source=row["source"],
        payload=dict(row["payload"]),
        received_at=row["received_at"],
        processed_at=row["processed_at"],
        error=row["error"],
    )


class SqlWebhookStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def record(self, delivery: WebhookDelivery) -> bool:
        """Store a delivery; False when its id is stored already (concurrent replays included)."""
        values = {
            "delivery_id": delivery.delivery_id,
            "source": delivery.source,
            "payload": delivery.payload,
            "received_at": delivery.received_at,
            "processed_at": delivery.processed_at,
            "error": delivery.error,
        }
        async with self._engine.begin() as conn:
            insert = dialect_insert(conn.dialect.name, webhook_deliveries).values(**values)
            result = await conn.execute(
                insert.on_conflict_do_nothing(index_elements=[webhook_deliveries.c.delivery_id])
            )
        return bool(result.rowcount == 1)

    async def mark_processed(self, delivery_id: str) -> None:
        await self._set(delivery_id, processed_at=utcnow())

    async def mark_failed(self, delivery_id: str, error: str) -> None:
        await self._set(delivery_id, error=error)

    async def _set(self, delivery_id: str, **values: Any) -> None:
        statement = (
            update(webhook_deliveries).where(webhook_deliveries.c.delivery_id == delivery_id).values(**values)
        )
        async with self._engine.begin() as conn:
            result = await conn.execute(statement)
        if result.rowcount == 0:
            raise LookupError(f"no webhook delivery {delivery_id!r}")

    async def unprocessed(self, limit: int = 100) -> list[WebhookDelivery]:
        """Deliveries not processed yet, oldest first."""
        statement = (
            select(webhook_deliveries)
            .where(webhook_deliveries.c.processed_at.is_(None))
            .order_by(webhook_deliveries.c.received_at, webhook_deliveries.c.delivery_id)
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(statement)).mappings().all()
        return [_delivery_from_row(row) for row in rows]
