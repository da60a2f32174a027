"""Helpers of the Kayako client tests: the mock's seeded accounts, a request log and the mock's admin API."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

AGENT_EMAIL = "agent@example.com"
AGENT_PASSWORD = "mock-password"
JANE_EMAIL = "jane.doe@example.com"
JANE_PHONE = "+14155550100"


@dataclass
class RequestLog:
    """What the client reported through ``on_request``."""

    calls: list[tuple[str, str, int]] = field(default_factory=list)

    def __call__(self, method: str, path: str, status: int, seconds: float) -> None:
        self.calls.append((method, path, status))

    def count(self, method: str | None = None, path: str | None = None, status: int | None = None) -> int:
        return sum(
            1
            for m, p, s in self.calls
            if (method is None or m == method)
            and (path is None or p == path)
            and (status is None or s == status)
        )


@dataclass
class MockKayako:
    url: str

    @property
    def api(self) -> str:
        return f"{self.url}/api/v1"

    async def admin(self, method: str, path: str, json: Any = None) -> Any:
        async with httpx.AsyncClient() as http:
            response = await http.request(method, f"{self.url}/_mock/{path}", json=json)
            response.raise_for_status()
            return response.json() if response.content else None

    async def faults(self, **faults: Any) -> None:
        await self.admin("PUT", "faults", faults)
