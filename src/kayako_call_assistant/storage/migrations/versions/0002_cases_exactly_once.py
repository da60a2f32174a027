"""Cases exactly once: outbox repairs, the caller ID's attestation, the call row's finalizer.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 06:10:00

- ``case_outbox.repairs``: what was changed to get Kayako to accept the case (JSON list of sentences).
- ``calls.caller_attestation``: the STIR/SHAKEN attestation of the caller ID (A, B, C or null).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("case_outbox") as batch:
        batch.add_column(
            sa.Column("repairs", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True)
        )
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("caller_attestation", sa.String(length=8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("caller_attestation")
    with op.batch_alter_table("case_outbox") as batch:
        batch.drop_column("repairs")
