"""Faults the mock injects on purpose, so that tests and benchmarks can break it.

``FaultSettings`` is the settable shape (at start through ``MockConfig``, live through ``/_mock/faults``);
``FaultState`` is the live copy and decides, request by request, what goes wrong.
"""

from __future__ import annotations

import random
import time

from pydantic import BaseModel, ConfigDict, Field


class FaultSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    latency_ms: int = Field(0, ge=0, description="Added delay before every API request is handled.")
    error_rate: float = Field(0.0, ge=0.0, le=1.0, description="Share of requests answered `error_status`.")
    error_status: int = Field(500, ge=500, le=599, description="Status of injected errors.")
    burst_429: int = Field(0, ge=0, description="The next N API requests get 429 RATE_LIMIT_REACHED.")
    retry_after: int = Field(1, ge=0, description="`Retry-After` seconds of the injected 429s.")
    down: bool = Field(False, description="Every API request is answered 503.")
    fail_after_commit_next: int = Field(
        0, ge=0, description="The next N successful writes are committed, then answered 500."
    )


FAULT_FIELDS = frozenset(FaultSettings.model_fields)


class FaultState:
    """The live faults plus the per-minute rate limiter; one per app."""

    def __init__(self, settings: FaultSettings, rate_limit_per_minute: int) -> None:
        self.initial = settings.model_copy()
        self.current = settings.model_copy()
        self.rate_limit_per_minute = rate_limit_per_minute
        self._window_start = time.monotonic()
        self._window_count = 0
        self._random = random.Random()

    def reset(self) -> None:
        self.current = self.initial.model_copy()

    def update(self, changes: dict[str, object]) -> FaultSettings:
        """Apply a partial update; invalid values raise ``pydantic.ValidationError`` and change nothing."""
        self.current = FaultSettings.model_validate({**self.current.model_dump(), **changes})
        return self.current

    def take_burst_429(self) -> bool:
        if self.current.burst_429 > 0:
            self.current.burst_429 -= 1
            return True
        return False

    def inject_error(self) -> bool:
        return self.current.error_rate > 0 and self._random.random() < self.current.error_rate

    def take_fail_after_commit(self) -> bool:
        if self.current.fail_after_commit_next > 0:
            self.current.fail_after_commit_next -= 1
            return True
        return False

    def rate_limited(self) -> int | None:
        """Seconds until the current one-minute window ends when this request is over the limit."""
        if self.rate_limit_per_minute <= 0:
            return None
        now = time.monotonic()
        if now - self._window_start >= 60.0:
            self._window_start, self._window_count = now, 0
        self._window_count += 1
        if self._window_count > self.rate_limit_per_minute:
            return max(1, int(60.0 - (now - self._window_start)) + 1)
        return None
