"""Shared fixtures: real PostgreSQL and Redis where the machine has them (required under CI=true)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
POSTGRES_URL = os.environ.get("KCA_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("KCA_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def _require(service: str, host: str, port: int) -> None:
    if _reachable(host, port):
        return
    if IN_CI:
        pytest.fail(f"{service} at {host}:{port} is required under CI=true but is not reachable")
    pytest.skip(f"{service} at {host}:{port} is not reachable")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """The test PostgreSQL database (``test`` on 127.0.0.1:5432); skips without it, fails under CI."""
    _require("PostgreSQL", "127.0.0.1", 5432)
    yield POSTGRES_URL


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The test Redis (database 15 on 127.0.0.1:6379); skips without it, fails under CI."""
    _require("Redis", "127.0.0.1", 6379)
    yield REDIS_URL
