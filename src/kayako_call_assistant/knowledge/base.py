"""The knowledge base the call flow searches: synced from Kayako, refreshed on a schedule and on webhooks.

Implements ``ports.Retriever``. With an embedder configured, semantic ranking is fused with BM25 by
reciprocal-rank fusion; relevance (what the answer threshold is compared with) stays the calibrated lexical
one, so the threshold keeps its meaning with or without embeddings.
"""

from __future__ import annotations

import asyncio
import contextlib
import math

import structlog

from ..domain import AnswerVerdict, Assessment, HelpArticle, SearchHit
from ..ports import Embedder, HelpDesk
from .index import KnowledgeIndex
from .query import clean_query

log = structlog.get_logger(__name__)

_RRF_K = 60  # the constant of reciprocal-rank fusion (Cormack et al., 2009)


def _cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


class KnowledgeBase:
    def __init__(
        self,
        helpdesk: HelpDesk,
        *,
        embedder: Embedder | None = None,
        answer_threshold: float,
        refresh_seconds: float = 900.0,
    ) -> None:
        self._helpdesk = helpdesk
        self._embedder = embedder
        self.answer_threshold = answer_threshold
        self._refresh_seconds = refresh_seconds
        self._index = KnowledgeIndex([])
        self._vectors: list[list[float]] = []
        self._lock = asyncio.Lock()

    @property
    def index(self) -> KnowledgeIndex:
        return self._index

    async def sync(self) -> int:
        """Pull every published article; if Kayako fails, the previous index stays in service."""
        async with self._lock:
            try:
                articles: list[HelpArticle] = [a async for a in self._helpdesk.help_articles()]
            except Exception as error:  # any failure keeps the last good index answering
                log.warning("knowledge.sync_failed", error=type(error).__name__, kept=len(self._index))
                return len(self._index)
            index = KnowledgeIndex(articles)
            vectors: list[list[float]] = []
            if self._embedder is not None and index.passages:
                try:
                    vectors = await self._embedder.embed([f"{p.title}. {p.text}" for p in index.passages])
                except Exception as error:  # semantic ranking is optional: fall back to lexical
                    log.warning("knowledge.embedding_failed", error=type(error).__name__)
            self._index, self._vectors = index, vectors
            log.info(
                "knowledge.synced", articles=len(index), passages=len(index.passages), semantic=bool(vectors)
            )
            return len(index)

    async def on_article_changed(self, article_id: int | None) -> None:
        """A webhook said an article changed: rebuild from Kayako (cheap at help-center sizes)."""
        log.info("knowledge.article_changed", article_id=article_id)
        await self.sync()

    async def run_refresher(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._refresh_seconds)
            if not stop.is_set():
                await self.sync()

    async def search(self, query: str, top: int = 3) -> list[SearchHit]:
        index, vectors = self._index, self._vectors
        lexical = index.lexical(query)
        if not vectors or self._embedder is None:
            return index.search(query, top)
        try:
            [query_vector] = await self._embedder.embed([clean_query(query)])
        except Exception as error:  # the caller still gets a lexical answer
            log.warning("knowledge.query_embedding_failed", error=type(error).__name__)
            return index.search(query, top)
        relevance = {i: r for i, _, r in lexical}
        scores = {i: s for i, s, _ in lexical}
        fused: dict[int, float] = {}
        for rank, (i, _, _) in enumerate(lexical):
            fused[i] = fused.get(i, 0.0) + 1 / (_RRF_K + rank + 1)
        semantic = sorted(range(len(vectors)), key=lambda i: -_cosine(query_vector, vectors[i]))
        for rank, i in enumerate(semantic):
            fused[i] = fused.get(i, 0.0) + 1 / (_RRF_K + rank + 1)
        hits: list[SearchHit] = []
        seen: set[int] = set()
        for i in sorted(fused, key=lambda i: -fused[i]):
            passage = index.passages[i]
            if passage.article_id in seen:
                continue
            seen.add(passage.article_id)
            hits.append(SearchHit(passage=passage, score=scores.get(i, 0.0), relevance=relevance.get(i, 0.0)))
            if len(hits) == top:
                break
        return hits

    async def assess(self, query: str, *, exclude: frozenset[int] = frozenset(), top: int = 3) -> Assessment:
        """The answer gate: the best fresh article answers when its relevance reaches the threshold."""
        hits = await self.search(query, top=top + len(exclude))
        fresh = [hit for hit in hits if hit.passage.article_id not in exclude][:top]
        best = fresh[0].relevance if fresh else 0.0
        if fresh and best >= self.answer_threshold:
            return Assessment(AnswerVerdict.ANSWER, fresh, confidence=best, reason="above_threshold")
        return Assessment(AnswerVerdict.NONE, fresh, confidence=best, reason="below_threshold")
