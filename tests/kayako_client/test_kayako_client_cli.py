"""``kca kayako …`` against the mock served from a thread."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from kayako_client_support import AGENT_EMAIL, AGENT_PASSWORD, JANE_EMAIL, JANE_PHONE
from typer.testing import CliRunner

from kayako_call_assistant.cli.main import app
from kayako_call_assistant.kayako_mock.app import create_app
from kayako_call_assistant.kayako_mock.config import MockConfig
from kayako_call_assistant.servers import serve_in_thread

runner = CliRunner()


@pytest.fixture(scope="module")
def env() -> Iterator[dict[str, str]]:
    with serve_in_thread(create_app(MockConfig(strict=True))) as url:
        yield {
            "KCA_KAYAKO_BASE_URL": f"{url}/api/v1",
            "KCA_KAYAKO_AUTH": "basic",
            "KCA_KAYAKO_EMAIL": AGENT_EMAIL,
            "KCA_KAYAKO_PASSWORD": AGENT_PASSWORD,
            "KCA_REDIS_URL": "",
        }


def _json(env: dict[str, str], *args: str) -> object:
    result = runner.invoke(app, ["kayako", *args, "--json"], env=env)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_kayako_cli_ping(env: dict[str, str]) -> None:
    result = _json(env, "ping")
    assert isinstance(result, dict)
    assert result["ok"] is True
    text = runner.invoke(app, ["kayako", "ping"], env=env)
    assert text.exit_code == 0
    assert "ok:" in text.stdout


def test_kayako_cli_search_answers_from_the_help_center(env: dict[str, str]) -> None:
    hits = _json(env, "search", "reset my password")
    assert isinstance(hits, list)
    assert hits
    assert "password" in hits[0]["title"].lower()
    users = _json(env, "search", "Jane", "--resources", "USERS")
    assert isinstance(users, list)
    assert users


def test_kayako_cli_articles_list(env: dict[str, str]) -> None:
    rows = _json(env, "articles", "list", "--limit", "3")
    assert isinstance(rows, list)
    assert len(rows) == 3
    assert all(r["title"] for r in rows)


def test_kayako_cli_users_find(env: dict[str, str]) -> None:
    by_email = _json(env, "users", "find", "--email", JANE_EMAIL)
    by_phone = _json(env, "users", "find", "--phone", JANE_PHONE)
    assert isinstance(by_email, dict)
    assert by_email == by_phone
    assert _json(env, "users", "find", "--email", "ghost@example.com") is None
    missing = runner.invoke(app, ["kayako", "users", "find"], env=env)
    assert missing.exit_code != 0


def test_kayako_cli_cases_create_and_get(env: dict[str, str]) -> None:
    args = ["cases", "create", "--subject", "CLI case", "--contents", "<p>from the CLI</p>"]
    created = _json(
        env, *args, "--email", "cli.user@example.com", "--name", "Cli User", "--idempotency-key", "k1"
    )
    assert isinstance(created, dict)
    repeated = _json(env, *args, "--email", "cli.user@example.com", "--idempotency-key", "k1")
    assert isinstance(repeated, dict)
    assert repeated["id"] == created["id"]
    shown = _json(env, "cases", "get", str(created["id"]))
    assert isinstance(shown, dict)
    assert shown["subject"] == "CLI case"
    assert any("from the CLI" in p["contents"] for p in shown["posts"])


def test_kayako_cli_errors_exit_non_zero_with_kayako_code(env: dict[str, str]) -> None:
    result = runner.invoke(app, ["kayako", "cases", "get", "987654321", "--json"], env=env)
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"]["status"] == 404
    bad = runner.invoke(app, ["kayako", "ping"], env={**env, "KCA_KAYAKO_PASSWORD": "wrong-pw-123"})
    assert bad.exit_code == 1
    assert "wrong-pw-123" not in bad.output
