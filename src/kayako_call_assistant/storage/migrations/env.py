"""Alembic environment: migrations run on the connection that ``storage.database`` hands over.

There is no alembic.ini and no URL here on purpose: ``upgrade`` opens the connection (with its advisory
lock on PostgreSQL) and passes it in, so the migration and the lock share one transaction.
"""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import JSON, Connection

from kayako_call_assistant.storage.columns import UTCDateTime
from kayako_call_assistant.storage.models import metadata


def _render_item(kind: str, obj: Any, autogen: AutogenContext) -> str | Literal[False]:
    """Spell our column types in plain SQLAlchemy, so a revision never depends on this package's code."""
    if kind != "type":
        return False
    if isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if isinstance(obj, JSON):
        autogen.imports.add("from sqlalchemy.dialects import postgresql")
        return 'sa.JSON().with_variant(postgresql.JSONB(), "postgresql")'
    return False


connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError("run migrations with `kca db upgrade` (storage.database.upgrade), not the alembic CLI")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
    compare_type=True,
    render_item=_render_item,
)
with context.begin_transaction():
    context.run_migrations()
