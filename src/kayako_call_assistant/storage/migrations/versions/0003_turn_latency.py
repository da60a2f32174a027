"""Turn latency: an assistant turn keeps the seconds the caller waited for it (voice calls).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 07:45:00

- ``turns.latency_seconds``: from the caller's last voiced frame to the reply's first audio frame, the same
  measurement as ``kca_turn_latency_seconds``, so that ``kca report`` and the metric agree.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("turns") as batch:
        batch.add_column(sa.Column("latency_seconds", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("turns") as batch:
        batch.drop_column("latency_seconds")
