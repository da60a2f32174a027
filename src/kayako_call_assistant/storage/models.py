"""The database schema: one SQLAlchemy Core table per stored thing.

Core tables rather than ORM classes: the stores translate rows to and from ``domain``/``ports`` dataclasses
themselves, and several statements (upserts, leased claims) are dialect-specific Core constructs anyway.
Any change here needs a new Alembic revision in ``migrations/versions`` (``kca db revision -m "…"``).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

from .columns import JSONDocument, UTCDateTime

# Stable constraint names, so later migrations can address them on both backends.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

calls = Table(
    "calls",
    metadata,
    Column("call_id", String(64), primary_key=True),
    Column("external_id", String(64), nullable=True, unique=True),
    Column("channel", String(32), nullable=False),
    Column("from_number", String(32), nullable=True),
    Column("to_number", String(32), nullable=True),
    Column("caller_attestation", String(8), nullable=True),
    Column("started_at", UTCDateTime(), nullable=False, index=True),
    Column("ended_at", UTCDateTime(), nullable=True),
    Column("duration_seconds", Float, nullable=True),
    Column("outcome", String(32), nullable=False),
    Column("escalation_reason", Text, nullable=True),
    Column("case_id", BigInteger, nullable=True, index=True),
    Column("case_status", String(64), nullable=True),
    Column("contact_name", String(200), nullable=True),
    Column("contact_email", String(320), nullable=True),
    Column("contact_phone", String(32), nullable=True),
    Column("model_input_tokens", Integer, nullable=False, default=0),
    Column("model_output_tokens", Integer, nullable=False, default=0),
    Column("audio_seconds_transcribed", Float, nullable=False, default=0.0),
    Column("characters_synthesized", Integer, nullable=False, default=0),
    Column("kayako_requests", Integer, nullable=False, default=0),
    Column("cost_usd", Float, nullable=True),
    Column("flow_state", JSONDocument, nullable=True),
    Column("updated_at", UTCDateTime(), nullable=False),
)

turns = Table(
    "turns",
    metadata,
    Column("call_id", String(64), ForeignKey("calls.call_id", ondelete="CASCADE"), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("speaker", String(16), nullable=False),
    Column("text", Text, nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("ended_at", UTCDateTime(), nullable=True),
    Column("interrupted", Boolean, nullable=False, default=False),
    Column("intent", String(32), nullable=True),
    Column("latency_seconds", Float, nullable=True),
)

case_outbox = Table(
    "case_outbox",
    metadata,
    Column("idempotency_key", String(200), primary_key=True),
    Column("call_id", String(64), nullable=False, index=True),
    Column("payload", JSONDocument, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime(), nullable=True),
    Column("leased_until", UTCDateTime(), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("case_id", BigInteger, nullable=True),
    Column("repairs", JSONDocument, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_case_outbox_due", "status", "next_attempt_at"),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("delivery_id", String(128), primary_key=True),
    Column("source", String(32), nullable=False),
    Column("payload", JSONDocument, nullable=False),
    Column("received_at", UTCDateTime(), nullable=False, index=True),
    Column("processed_at", UTCDateTime(), nullable=True),
    Column("error", Text, nullable=True),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("actor", String(200), nullable=False),
    Column("action", String(200), nullable=False),
    Column("target", String(500), nullable=False),
    Column("at", UTCDateTime(), nullable=False, index=True),
    Column("detail", JSONDocument, nullable=False),
)

admin_tokens = Table(
    "admin_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, index=True),
    Column("token_sha256", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime(), nullable=True),
)
