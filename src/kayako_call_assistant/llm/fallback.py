"""Keep the call going when the model is not: a circuit breaker around the primary engine, the local
engine for any turn the primary cannot serve.

The breaker is hand-written: the breaker libraries on PyPI (pybreaker, aiobreaker, circuitbreaker) are
either synchronous or unmaintained, and the state machine needed here is a few lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextvars import ContextVar
from typing import Literal

import structlog

from ..domain import CaseSummary, DialogueContext, Passage, Turn, Understanding, Usage
from ..observability.metrics import MODEL_FALLBACKS
from ..ports import LanguageEngine
from .errors import LanguageModelError

log = structlog.get_logger(__name__)

BreakerState = Literal["closed", "open", "half_open"]

# When the caller's current turn must have its first answer sentence: set by ``understand`` (the first model
# request of every caller turn) and read by ``answer``, in the task that serves the call.
_TURN_DEADLINE: ContextVar[float | None] = ContextVar("kca_turn_deadline", default=None)
_MIN_ANSWER_SECONDS = 1.0  # what a late understanding still leaves the answer's first sentence


@contextlib.asynccontextmanager
async def _closing(sentences: AsyncIterator[str]) -> AsyncIterator[AsyncIterator[str]]:
    """Close an engine's answer stream when we stop reading it (the port types it as a plain iterator)."""
    try:
        yield sentences
    finally:
        aclose = getattr(sentences, "aclose", None)
        if aclose is not None:
            await aclose()


class CircuitBreaker:
    """Closed: requests pass. ``failure_threshold`` consecutive failures open it: requests are refused for
    ``reset_seconds``. Then it is half-open: one trial request passes; success closes it, failure re-opens it.
    """

    def __init__(
        self, failure_threshold: int, reset_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        self.failure_threshold = failure_threshold
        self.reset_seconds = reset_seconds
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self.reset_seconds:
            return "half_open"
        return "open"

    def allow(self) -> bool:
        """Whether the protected service may be asked now (in half-open state: only the one trial)."""
        state = self.state
        if state == "closed":
            return True
        if state == "half_open" and not self._trial_running:
            self._trial_running = True
            return True
        return False

    def record_success(self) -> None:
        if self._opened_at is not None:
            log.info("llm_breaker_closed")
        self._failures = 0
        self._opened_at = None
        self._trial_running = False

    def record_failure(self) -> None:
        self._failures += 1
        self._trial_running = False
        if self._opened_at is not None or self._failures >= self.failure_threshold:
            self._opened_at = self._clock()
            log.warning(
                "llm_breaker_opened", consecutive_failures=self._failures, reset_seconds=self.reset_seconds
            )

    def release(self) -> None:
        """The request let through ended without a verdict (the caller stopped listening): allow another."""
        self._trial_running = False


class FallbackLanguageEngine:
    """``ports.LanguageEngine``: ``primary`` while it works, ``fallback`` for the turns it cannot serve."""

    def __init__(
        self,
        primary: LanguageEngine,
        fallback: LanguageEngine,
        breaker: CircuitBreaker,
        *,
        turn_budget_seconds: float | None = None,
    ) -> None:
        """``turn_budget_seconds``: a caller turn's understanding and the first sentence of its answer must
        come from ``primary`` within this (together), else ``fallback`` serves them — whatever the model
        client's own timeout and retries would allow."""
        self.primary = primary
        self.fallback = fallback
        self.breaker = breaker
        self.name = primary.name
        self.turn_budget_seconds = turn_budget_seconds

    def _remaining(self, *, floor: float = 0.0) -> float | None:
        deadline = _TURN_DEADLINE.get()
        if deadline is None:
            return None
        return max(floor, deadline - asyncio.get_running_loop().time())

    def _failed(self, turn: str, exc: LanguageModelError | TimeoutError) -> None:
        self.breaker.record_failure()
        MODEL_FALLBACKS.labels(operation=turn).inc()  # deploy: the fallback serves this turn (alert rule)
        log.warning(
            "llm_primary_failed",
            turn=turn,
            engine=self.primary.name,
            reason=str(exc) or "over the turn budget",
            breaker=self.breaker.state,
            fallback=self.fallback.name,
        )

    def _allowed(self, turn: str) -> bool:
        if self.breaker.allow():
            return True
        MODEL_FALLBACKS.labels(operation=turn).inc()  # deploy: the fallback serves this turn (alert rule)
        log.info("llm_primary_skipped", turn=turn, breaker=self.breaker.state, fallback=self.fallback.name)
        return False

    async def understand(self, text: str, context: DialogueContext, usage: Usage) -> Understanding:
        if self.turn_budget_seconds is not None:  # a caller turn starts: its budget starts now
            _TURN_DEADLINE.set(asyncio.get_running_loop().time() + self.turn_budget_seconds)
        if self._allowed("understand"):
            try:
                async with asyncio.timeout(self._remaining()):
                    understanding = await self.primary.understand(text, context, usage)
            except (LanguageModelError, TimeoutError) as exc:
                self._failed("understand", exc)
            else:
                self.breaker.record_success()
                return understanding
        return await self.fallback.understand(text, context, usage)

    async def answer(
        self, question: str, passages: Sequence[Passage], context: DialogueContext, usage: Usage
    ) -> AsyncIterator[str]:
        said = 0
        if self._allowed("answer"):
            verdict = False
            try:
                async with _closing(self.primary.answer(question, passages, context, usage)) as primary:
                    stream = aiter(primary)
                    async with asyncio.timeout(self._remaining(floor=_MIN_ANSWER_SECONDS)):
                        first = await anext(stream, None)
                    if first is not None:
                        said += 1
                        yield first
                        async for sentence in stream:
                            said += 1
                            yield sentence
            except (LanguageModelError, TimeoutError) as exc:
                verdict = True
                self._failed("answer", exc)
            else:
                verdict = True
                self.breaker.record_success()
                return
            finally:
                if not verdict:
                    # The listener stopped early (barge-in): what was streamed shows the model works.
                    if said:
                        self.breaker.record_success()
                    else:
                        self.breaker.release()
        # Both engines follow the passage's order, so the fallback's answer continues where the primary
        # stopped: its first sentences cover what the caller has already heard.
        async with _closing(self.fallback.answer(question, passages, context, usage)) as fallback:
            position = 0
            async for sentence in fallback:
                position += 1
                if position > said:
                    yield sentence

    async def search_query(self, text: str, context: DialogueContext, usage: Usage) -> str:
        if self._allowed("search_query"):
            try:
                query = await self.primary.search_query(text, context, usage)
            except LanguageModelError as exc:
                self._failed("search_query", exc)
            else:
                self.breaker.record_success()
                return query
        return await self.fallback.search_query(text, context, usage)

    async def confirms_answer(
        self, question: str, passage: Passage, context: DialogueContext, usage: Usage
    ) -> bool | None:
        """The primary's judgement, within what is left of the caller turn's budget (the answer waits for
        it); when the primary fails or is skipped, the fallback's (the local engine's None: the gate stands)."""
        if self._allowed("confirms_answer"):
            try:
                async with asyncio.timeout(self._remaining()):
                    confirmed = await self.primary.confirms_answer(question, passage, context, usage)
            except (LanguageModelError, TimeoutError) as exc:
                self._failed("confirms_answer", exc)
            else:
                self.breaker.record_success()
                return confirmed
        return await self.fallback.confirms_answer(question, passage, context, usage)

    async def summarize(self, transcript: Sequence[Turn], usage: Usage) -> CaseSummary:
        if self._allowed("summarize"):
            try:
                summary = await self.primary.summarize(transcript, usage)
            except LanguageModelError as exc:
                self._failed("summarize", exc)
            else:
                self.breaker.record_success()
                return summary
        return await self.fallback.summarize(transcript, usage)
