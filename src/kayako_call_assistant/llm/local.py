"""The language engine that needs no keys and no network: rules, example phrases and extractive answers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import structlog

from ..dialogue.extractive import extractive_answer, summarize_turns
from ..dialogue.intents import classify
from ..domain import CaseSummary, DialogueContext, Passage, Turn, Understanding, Usage
from ..knowledge.query import clean_query

log = structlog.get_logger(__name__)


class LocalLanguageEngine:
    """``ports.LanguageEngine`` without a model. It consumes no tokens, so ``usage`` is left unchanged."""

    name = "local"

    def __init__(self, *, max_sentences: int = 3, max_words: int = 60) -> None:
        self.max_sentences = max_sentences
        self.max_words = max_words

    async def understand(self, text: str, context: DialogueContext, usage: Usage) -> Understanding:
        understanding = classify(text, context)
        log.debug(
            "local_understanding",
            intent=understanding.intent.value,
            confidence=understanding.confidence,
            expecting=context.expecting,
            frustrated=understanding.frustrated,
            topic=understanding.topic,
        )
        return understanding

    async def answer(
        self, question: str, passages: Sequence[Passage], context: DialogueContext, usage: Usage
    ) -> AsyncIterator[str]:
        for sentence in extractive_answer(
            question, passages, max_sentences=self.max_sentences, max_words=self.max_words
        ):
            yield sentence

    async def summarize(self, transcript: Sequence[Turn], usage: Usage) -> CaseSummary:
        return summarize_turns(transcript)

    async def search_query(self, text: str, context: DialogueContext, usage: Usage) -> str:
        """The caller's words without fillers, noise tokens and stutters (no context: no model to resolve it)."""
        return clean_query(text)

    async def confirms_answer(
        self, question: str, passage: Passage, context: DialogueContext, usage: Usage
    ) -> bool | None:
        """None: without a model there is no judgement beyond the answer gate's own, which stands."""
        return None
