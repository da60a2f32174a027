"""A LanguageEngine decorator that records model latency per operation (``kca_model_seconds``).

For a streamed answer the time is to the first sentence: that is what the caller waits for.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence

from ..domain import CaseSummary, DialogueContext, Passage, Turn, Understanding, Usage
from ..ports import LanguageEngine
from .metrics import MODEL_LATENCY


class MeteredLanguageEngine:
    def __init__(self, inner: LanguageEngine) -> None:
        self._inner = inner
        self.name = inner.name

    async def understand(self, text: str, context: DialogueContext, usage: Usage) -> Understanding:
        started = time.perf_counter()
        try:
            return await self._inner.understand(text, context, usage)
        finally:
            MODEL_LATENCY.labels(engine=self.name, operation="understand").observe(
                time.perf_counter() - started
            )

    async def answer(
        self, question: str, passages: Sequence[Passage], context: DialogueContext, usage: Usage
    ) -> AsyncIterator[str]:
        started = time.perf_counter()
        first = True
        async for sentence in self._inner.answer(question, passages, context, usage):
            if first:
                first = False
                MODEL_LATENCY.labels(engine=self.name, operation="answer").observe(
                    time.perf_counter() - started
                )
            yield sentence

    async def search_query(self, text: str, context: DialogueContext, usage: Usage) -> str:
        started = time.perf_counter()
        try:
            return await self._inner.search_query(text, context, usage)
        finally:
            MODEL_LATENCY.labels(engine=self.name, operation="search_query").observe(
                time.perf_counter() - started
            )

    async def confirms_answer(
        self, question: str, passage: Passage, context: DialogueContext, usage: Usage
    ) -> bool | None:
        started = time.perf_counter()
        try:
            return await self._inner.confirms_answer(question, passage, context, usage)
        finally:
            MODEL_LATENCY.labels(engine=self.name, operation="confirms_answer").observe(
                time.perf_counter() - started
            )

    async def summarize(self, transcript: Sequence[Turn], usage: Usage) -> CaseSummary:
        started = time.perf_counter()
        try:
            return await self._inner.summarize(transcript, usage)
        finally:
            MODEL_LATENCY.labels(engine=self.name, operation="summarize").observe(
                time.perf_counter() - started
            )
