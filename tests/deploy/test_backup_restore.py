"""The backup and restore drill (scripts/backup-restore-drill.py) runs on the real PostgreSQL: calls, turns and
pending cases survive pg_dump and pg_restore into a new database, and the outbox can deliver them."""

from __future__ import annotations

import sys

import pytest
from deploy_support import ROOT, require_tool, run

pytestmark = pytest.mark.postgres


def test_backup_restore_drill_restores_calls_and_pending_cases(postgres_url: str) -> None:
    require_tool("pg_dump", package="postgresql-client")
    require_tool("pg_restore", package="postgresql-client")
    result = run(sys.executable, str(ROOT / "scripts" / "backup-restore-drill.py"), "--url", postgres_url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "seeded    {'calls': 3, 'turns': 9, 'pending_cases': 2}" in result.stdout
    assert "restored  {'calls': 3, 'turns': 9, 'pending_cases': 2, 'deliverable_cases': 2}" in result.stdout
    assert "drill: OK" in result.stdout
