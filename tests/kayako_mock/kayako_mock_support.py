"""Helpers of the Kayako mock tests: the seeded agent and a served mock with an HTTP client."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

AGENT = ("agent@example.com", "mock-password")


@dataclass
class Served:
    url: str
    http: httpx.AsyncClient

    @property
    def api(self) -> str:
        return f"{self.url}/api/v1"

    async def session(self, *, csrf: bool = True) -> dict[str, str]:
        """Headers of a fresh agent session (with its CSRF token)."""
        headers = {} if csrf else {"X-CSRF": "false"}
        login = await self.http.get(f"{self.api}/me", auth=AGENT, headers=headers)
        assert login.status_code == 200, login.text
        result = {"X-Session-ID": login.json()["session_id"]}
        if csrf:
            result["X-CSRF-Token"] = login.headers["X-CSRF-Token"]
        return result
