"""`kca serve --workers N`: several processes on one port (SO_REUSEPORT), refused where the processes could
not share their state."""

from __future__ import annotations

import socket

import pytest
from typer.testing import CliRunner

from kayako_call_assistant.cli.main import app
from kayako_call_assistant.cli.workers import WorkersRefused, check_shareable, reuseport_socket
from kayako_call_assistant.settings import Settings


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


def test_workers_need_a_shared_database_and_kayako() -> None:
    with pytest.raises(WorkersRefused, match="KCA_DATABASE_URL"):
        check_shareable(Settings(kayako_base_url="http://kayako.example/api/v1"))
    with pytest.raises(WorkersRefused, match="KCA_KAYAKO_BASE_URL"):
        check_shareable(Settings(database_url="postgresql+asyncpg://db/kca", kayako_base_url=""))
    check_shareable(
        Settings(database_url="postgresql+asyncpg://db/kca", kayako_base_url="http://kayako.example/api/v1")
    )


def test_serve_refuses_workers_on_sqlite_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KCA_DATABASE_URL", "sqlite+aiosqlite:///var/x.db")
    result = CliRunner().invoke(app, ["serve", "--workers", "2"])
    assert result.exit_code == 2
    assert "KCA_DATABASE_URL" in result.output
    assert "Traceback" not in result.output
