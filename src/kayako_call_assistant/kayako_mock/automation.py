"""Outgoing automation: what a Kayako trigger with an HTTP endpoint action would send after a change.

Kayako documents no fixed payload (reference §5.2), so the mock sends a small JSON event with a unique
delivery ``id``; a receiver can test its own de-duplication with it. Deliveries run in the background:
a failing receiver is logged and never fails the API request that caused the event.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import structlog
from pydantic import BaseModel, ConfigDict, Field

log = structlog.get_logger(__name__)


class AutomationTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1)
    auth_username: str | None = None
    auth_password: str | None = None
    timeout_seconds: float = Field(5.0, gt=0)


class Automation:
    def __init__(self) -> None:
        self.target: AutomationTarget | None = None
        self.sent = 0
        self.failed = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def fire(self, event: str, **fields: Any) -> None:
        if self.target is None:
            return
        payload = {"event": event, **fields, "id": str(uuid.uuid4())}
        task = asyncio.get_running_loop().create_task(self._deliver(self.target, payload))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, target: AutomationTarget, payload: dict[str, Any]) -> None:
        auth = None
        if target.auth_username is not None:
            auth = httpx.BasicAuth(target.auth_username, target.auth_password or "")
        try:
            async with httpx.AsyncClient(timeout=target.timeout_seconds, auth=auth) as http:
                response = await http.post(target.url, json=payload)
            if response.status_code >= 300:
                self.failed += 1
                log.warning(
                    "kayako_mock.automation_refused",
                    webhook_event=payload["event"],
                    status=response.status_code,
                )
                return
            self.sent += 1
            log.info("kayako_mock.automation_sent", webhook_event=payload["event"], delivery=payload["id"])
        except httpx.HTTPError as error:
            self.failed += 1
            log.warning(
                "kayako_mock.automation_failed", webhook_event=payload["event"], error=type(error).__name__
            )

    async def aclose(self) -> None:
        """Let deliveries in flight finish (each is bounded by its timeout)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
