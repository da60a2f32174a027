"""SQL storage (SQLite or PostgreSQL, SQLAlchemy async): the stores behind ``ports``, and migrations."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from .admin_tokens import SqlAdminTokens
from .audit_log import SqlAuditLog
from .call_store import Redactor, SqlCallStore
from .database import create_engine, database_url, upgrade
from .outbox_store import SqlOutboxStore
from .retention import PurgeResult, purge_older_than, run_purge_schedule
from .webhook_store import SqlWebhookStore

__all__ = [
    "PurgeResult",
    "SqlAdminTokens",
    "SqlAuditLog",
    "SqlCallStore",
    "SqlOutboxStore",
    "SqlStores",
    "SqlWebhookStore",
    "create_engine",
    "database_url",
    "purge_older_than",
    "run_purge_schedule",
    "upgrade",
]


class SqlStores:
    """Every store on one engine; ``close`` releases the engine's connections."""

    def __init__(self, engine: AsyncEngine, *, redact: Redactor | None = None) -> None:
        self.engine = engine
        self.calls = SqlCallStore(engine, redact=redact)
        self.outbox = SqlOutboxStore(engine, redact=redact)
        self.webhooks = SqlWebhookStore(engine)
        self.audit = SqlAuditLog(engine)
        self.tokens = SqlAdminTokens(engine)

    async def close(self) -> None:
        await self.engine.dispose()
