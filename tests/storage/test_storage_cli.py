"""`kca db` (the group cli.main registers): upgrade, purge, tokens against a SQLite file in the data dir."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kayako_call_assistant.cli.db import app
from kayako_call_assistant.storage import SqlAdminTokens, create_engine


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KCA_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("KCA_DATABASE_URL", "")
    return tmp_path / "var"


async def _verify(db: Path, token: str) -> str | None:
    engine = create_engine(f"sqlite+aiosqlite:///{db}")
    try:
        return await SqlAdminTokens(engine).verify(token)
    finally:
        await engine.dispose()


def test_upgrade_tokens_and_purge(data_dir: Path) -> None:
    runner = CliRunner()
    upgraded = runner.invoke(app, ["upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    assert (data_dir / "kca.db").exists()

    created = runner.invoke(app, ["tokens", "create", "ops"])
    assert created.exit_code == 0, created.output
    token = created.stdout.strip().splitlines()[-1]
    assert asyncio.run(_verify(data_dir / "kca.db", token)) == "ops"

    purged = runner.invoke(app, ["purge", "--days", "30"])
    assert purged.exit_code == 0, purged.output
    assert "purged older than 30 days: 0 turns" in purged.stdout

    refused = runner.invoke(app, ["purge", "--days", "0"])
    assert refused.exit_code != 0

    revoked = runner.invoke(app, ["tokens", "revoke", "ops"])
    assert revoked.exit_code == 0, revoked.output
    assert asyncio.run(_verify(data_dir / "kca.db", token)) is None
    assert runner.invoke(app, ["tokens", "revoke", "ops"]).exit_code == 1
