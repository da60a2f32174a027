"""Initial schema: calls, turns, case outbox, webhook deliveries, audit events, admin tokens.

Revision ID: 0001
Revises:
Create Date: 2026-11-25 01:41:29.761605
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "admin_tokens",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_tokens")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_admin_tokens_token_sha256")),
    )
    op.create_index(op.f("ix_admin_tokens_name"), "admin_tokens", ["name"], unique=False)

    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=200), nullable=False),
        sa.Column("target", sa.String(length=500), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detail", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index(op.f("ix_audit_events_at"), "audit_events", ["at"], unique=False)

    op.create_table(
        "calls",
        sa.Column("call_id", sa.String(length=64), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=True),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("from_number", sa.String(length=32), nullable=True),
        sa.Column("to_number", sa.String(length=32), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_seconds", sa.Float(), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("escalation_reason", sa.Text(), nullable=True),
        sa.Column("case_id", sa.BigInteger(), nullable=True),
        sa.Column("case_status", sa.String(length=64), nullable=True),
        sa.Column("contact_name", sa.String(length=200), nullable=True),
        sa.Column("contact_email", sa.String(length=320), nullable=True),
        sa.Column("contact_phone", sa.String(length=32), nullable=True),
        sa.Column("model_input_tokens", sa.Integer(), nullable=False),
        sa.Column("model_output_tokens", sa.Integer(), nullable=False),
        sa.Column("audio_seconds_transcribed", sa.Float(), nullable=False),
        sa.Column("characters_synthesized", sa.Integer(), nullable=False),
        sa.Column("kayako_requests", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=True),
        sa.Column("flow_state", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("call_id", name=op.f("pk_calls")),
        sa.UniqueConstraint("external_id", name=op.f("uq_calls_external_id")),
    )
    op.create_index(op.f("ix_calls_case_id"), "calls", ["case_id"], unique=False)
    op.create_index(op.f("ix_calls_started_at"), "calls", ["started_at"], unique=False)

    op.create_table(
        "case_outbox",
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("call_id", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("leased_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("case_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("idempotency_key", name=op.f("pk_case_outbox")),
    )
    op.create_index(op.f("ix_case_outbox_call_id"), "case_outbox", ["call_id"], unique=False)
    op.create_index(op.f("ix_case_outbox_due"), "case_outbox", ["status", "next_attempt_at"], unique=False)

    op.create_table(
        "webhook_deliveries",
        sa.Column("delivery_id", sa.String(length=128), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("delivery_id", name=op.f("pk_webhook_deliveries")),
    )
    op.create_index(
        op.f("ix_webhook_deliveries_received_at"), "webhook_deliveries", ["received_at"], unique=False
    )

    op.create_table(
        "turns",
        sa.Column("call_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("speaker", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("interrupted", sa.Boolean(), nullable=False),
        sa.Column("intent", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.call_id"], name=op.f("fk_turns_call_id_calls"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("call_id", "seq", name=op.f("pk_turns")),
    )


def downgrade() -> None:
    op.drop_table("turns")
    op.drop_index(op.f("ix_webhook_deliveries_received_at"), table_name="webhook_deliveries")

    op.drop_table("webhook_deliveries")
    op.drop_index(op.f("ix_case_outbox_due"), table_name="case_outbox")
    op.drop_index(op.f("ix_case_outbox_call_id"), table_name="case_outbox")

    op.drop_table("case_outbox")
    op.drop_index(op.f("ix_calls_started_at"), table_name="calls")
    op.drop_index(op.f("ix_calls_case_id"), table_name="calls")

    op.drop_table("calls")
    op.drop_index(op.f("ix_audit_events_at"), table_name="audit_events")

    op.drop_table("audit_events")
    op.drop_index(op.f("ix_admin_tokens_name"), table_name="admin_tokens")

    op.drop_table("admin_tokens")
