"""`kca serve --workers N`: several processes on one port (SO_REUSEPORT), refused where the processes could
not share their state."""

from __future__ import annotations

import socket

import pytest
from typer.testing import CliRunner

from kayako_call_assistant.cli.main import app
from kayako_call_assistant.cli.workers import (
    WorkersRefused,
    check_shareable,
    reuseport_socket,
    worker_overrides,
)
from kayako_call_assistant.settings import Settings
from kayako_call_assistant.telephony.stream_auth import InProcessUsedTokens, StreamTokens


def test_two_workers_bind_the_same_port_and_both_accept() -> None:
    first = reuseport_socket("127.0.0.1", 0)
    port = first.getsockname()[1]
    second = reuseport_socket("127.0.0.1", port)
    try:
        first.setblocking(True)
        second.setblocking(True)
        first.settimeout(0.05)
        second.settimeout(0.05)
        accepted = {0: 0, 1: 0}
        clients = []
        for _ in range(40):  # the kernel spreads connections by source port: both sockets get some
            clients.append(socket.create_connection(("127.0.0.1", port)))
            for index, listener in enumerate((first, second)):
                try:
                    conn, _ = listener.accept()
                    conn.close()
                    accepted[index] += 1
                except TimeoutError:
                    pass
        assert accepted[0] > 0 and accepted[1] > 0
        assert accepted[0] + accepted[1] == 40
    finally:
        for client in clients:
            client.close()
        first.close()
        second.close()


def test_workers_need_a_shared_database_kayako_and_redis() -> None:
    shared = {
        "database_url": "postgresql+asyncpg://db/kca",
        "kayako_base_url": "http://kayako.example/api/v1",
        "redis_url": "redis://redis:6379/0",
    }
    with pytest.raises(WorkersRefused, match="KCA_DATABASE_URL"):
        check_shareable(Settings(**{**shared, "database_url": ""}))
    with pytest.raises(WorkersRefused, match="KCA_KAYAKO_BASE_URL"):
        check_shareable(Settings(**{**shared, "kayako_base_url": ""}))
    with pytest.raises(WorkersRefused, match="KCA_REDIS_URL"):
        check_shareable(Settings(**{**shared, "redis_url": ""}))
    check_shareable(Settings(**shared))


def test_the_workers_share_one_stream_token_key() -> None:
    # A token issued by the worker that answered the voice webhook is checked by the one that accepts the
    # stream: with no key configured, the parent makes one for all of them.
    made = worker_overrides(Settings(stream_secret=""), {"port": 8080})
    key = made["stream_secret"]
    assert len(key) >= 32 and made["port"] == 8080 and made["twilio_fake_port"] == 0
    first, second = (
        StreamTokens(Settings(**made).stream_secret.get_secret_value().encode(), used=InProcessUsedTokens())
        for _ in range(2)
    )
    token = first.issue(call_sid="CA1", caller="+15551234567", called=None, attestation="A")
    claims = second.verify(token, "CA1")
    assert claims is not None and claims.caller == "+15551234567"
    assert worker_overrides(Settings(stream_secret=""), {})["stream_secret"] != key  # a new one per run
    assert "stream_secret" not in worker_overrides(Settings(stream_secret="configured-key-0123456789"), {})


def test_serve_refuses_workers_on_sqlite_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KCA_DATABASE_URL", "sqlite+aiosqlite:///var/x.db")
    result = CliRunner().invoke(app, ["serve", "--workers", "2"])
    assert result.exit_code == 2
    assert "KCA_DATABASE_URL" in result.output
    assert "Traceback" not in result.output
