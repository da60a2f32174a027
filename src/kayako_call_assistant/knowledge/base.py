"""The knowledge base the call flow searches: synced from Kayako, refreshed on a schedule and on webhooks.

Implements ``ports.Retriever``. With an embedder, every passage has a unit vector (one matrix; a query costs
one embedding and one matrix product) and an article's fused score is ``cosine + lexical_weight × BM25
relevance`` of its best passage: the semantic side carries paraphrase and speech errors, the lexical side
rewards the exact names and terms a caller says. Without an embedder the ranking is BM25 alone and the
gate compares its calibrated relevance with one threshold (docs/knowledge.md). The index is built in a
worker thread; vectors of unchanged passages are kept across syncs, so a webhook re-embeds only what changed.
"""

from __future__ import annotations

import asyncio
import contextlib

import numpy as np
import numpy.typing as npt
import structlog

from ..domain import Assessment, HelpArticle, Passage, SearchHit
from ..ports import Embedder, HelpDesk, PassageEmbedder
from .gate import Evidence, GateThresholds, decide
from .index import KnowledgeIndex
from .query import clean_query

log = structlog.get_logger(__name__)

Matrix = npt.NDArray[np.float32]


def embedding_text(passage: Passage) -> str:
    """What is embedded for a passage: the article's title leads, as callers ask about the title's topic."""
    heading = f" {passage.heading}." if passage.heading else ""
    return f"{passage.title}.{heading} {passage.text}"


class KnowledgeBase:
    def __init__(
        self,
        helpdesk: HelpDesk,
        *,
        embedder: Embedder | None = None,
        answer_threshold: float,
        gate: GateThresholds | None = None,
        lexical_weight: float = 0.1,
        refresh_seconds: float = 900.0,
    ) -> None:
        """``answer_threshold`` is the lexical-only threshold; ``gate`` the fused one (default: settings)."""
        self._helpdesk = helpdesk
        self._embedder = embedder
        self._gate = gate or GateThresholds(
            answer=0.35, answer_disagree=0.35, margin=0.02, lexical_only=answer_threshold
        )
        # What a hit's relevance is compared with: the fused threshold with embeddings, else BM25's.
        self.answer_threshold = self._gate.answer if embedder is not None else self._gate.lexical_only
        self._lexical_weight = lexical_weight
        self._refresh_seconds = refresh_seconds
        self._index = KnowledgeIndex([])
        self._vectors: Matrix | None = None
        self._starts: npt.NDArray[np.intp] = np.zeros(0, dtype=np.intp)  # first passage of each article
        self._article_of: list[int] = []  # the article of each entry of ``_starts``
        self._cache: dict[str, Matrix] = {}
        self._lock = asyncio.Lock()

    @property
    def index(self) -> KnowledgeIndex:
        return self._index

    @property
    def semantic(self) -> bool:
        return self._vectors is not None

    async def _embed_passages(self, index: KnowledgeIndex) -> Matrix | None:
        if self._embedder is None or not index.passages:
            return None
        texts = [embedding_text(p) for p in index.passages]
        missing = sorted({t for t in texts if t not in self._cache})
        embed = (
            self._embedder.embed_passages
            if isinstance(self._embedder, PassageEmbedder)
            else self._embedder.embed
        )
        try:
            fresh = await embed(missing) if missing else []
        except Exception as error:  # semantic ranking is optional: fall back to lexical
            log.warning("knowledge.embedding_failed", error=type(error).__name__)
            return None
        cache = {t: self._cache[t] for t in texts if t in self._cache}
        cache.update({t: np.asarray(v, dtype=np.float32) for t, v in zip(missing, fresh, strict=True)})
        self._cache = cache
        matrix = np.stack([cache[t] for t in texts]).astype(np.float32)
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        unit: Matrix = (matrix / np.maximum(norms, 1e-12)).astype(np.float32)
        return unit

    async def sync(self) -> int:
        """Pull every published article; if Kayako fails, the previous index stays in service."""
        async with self._lock:
            try:
                articles: list[HelpArticle] = [a async for a in self._helpdesk.help_articles()]
            except Exception as error:  # any failure keeps the last good index answering
                log.warning("knowledge.sync_failed", error=type(error).__name__, kept=len(self._index))
                return len(self._index)
            index = await asyncio.to_thread(KnowledgeIndex, articles)
            vectors = await self._embed_passages(index)
            ids = [p.article_id for p in index.passages]
            starts = np.asarray([i for i, a in enumerate(ids) if i == 0 or ids[i - 1] != a], dtype=np.intp)
            self._article_of = [index.passages[int(s)].article_id for s in starts]
            self._index, self._vectors, self._starts = index, vectors, starts
            log.info(
                "knowledge.synced",
                articles=len(index),
                passages=len(index.passages),
                semantic=vectors is not None,
                embedded=len(self._cache),
            )
            return len(index)

    async def on_article_changed(self, article_id: int | None) -> None:
        """A webhook said an article changed: rebuild from Kayako (unchanged passages keep their vectors)."""
        log.info("knowledge.article_changed", article_id=article_id)
        await self.sync()

    async def run_refresher(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._refresh_seconds)
            if not stop.is_set():
                await self.sync()

    async def _query_vector(self, query: str) -> Matrix | None:
        if self._vectors is None or self._embedder is None:
            return None
        try:
            [vector] = await self._embedder.embed([clean_query(query)])
        except Exception as error:  # the caller still gets a lexical answer
            log.warning("knowledge.query_embedding_failed", error=type(error).__name__)
            return None
        return np.asarray(vector, dtype=np.float32)

    def rank(
        self, query: str, query_vector: Matrix | None, exclude: frozenset[int] = frozenset()
    ) -> Evidence:
        """Every article's best passage, best article first (blocking, cheap: one matrix product)."""
        index, vectors, starts, article_of = self._index, self._vectors, self._starts, self._article_of
        if not index.passages:
            return Evidence([], [], None)
        relevance = index.relevance(query)
        lexical_by_article = np.maximum.reduceat(relevance, starts)
        lexical_best = (
            article_of[int(np.argmax(lexical_by_article))] if lexical_by_article.max() > 0 else None
        )
        if vectors is None or query_vector is None or len(vectors) != len(index.passages):
            lexical = index.search(query, top=len(exclude) + 10)
            return Evidence([h for h in lexical if h.passage.article_id not in exclude], [], lexical_best)
        norm = float(np.linalg.norm(query_vector)) or 1.0
        cosine = vectors @ (query_vector / norm)
        fused = cosine + self._lexical_weight * relevance
        # Best passage of each article: argmax within each contiguous run of an article's passages.
        article_score = np.maximum.reduceat(fused, starts)
        order = np.argsort(-article_score, kind="stable")
        hits: list[SearchHit] = []
        scores: list[float] = []
        ends = [*starts[1:].tolist(), len(fused)]
        for a in order:
            if article_of[a] in exclude:
                continue
            start, end = int(starts[a]), int(ends[a])
            best = start + int(np.argmax(fused[start:end]))
            # relevance: the fused score clipped to [0, 1], what the gate's threshold is compared with
            clipped = min(1.0, max(0.0, float(fused[best])))
            hits.append(SearchHit(passage=index.passages[best], score=float(fused[best]), relevance=clipped))
            scores.append(float(fused[best]))
            if len(hits) == 10:
                break
        return Evidence(hits, scores, lexical_best)

    async def search(self, query: str, top: int = 3) -> list[SearchHit]:
        """The best passage of each of the ``top`` best articles (fused ranking when embeddings exist)."""
        return self.rank(query, await self._query_vector(query)).hits[:top]

    async def assess(self, query: str, *, exclude: frozenset[int] = frozenset(), top: int = 3) -> Assessment:
        """Search and let the gate decide: answer, ask which of the top two, or neither (``gate.decide``)."""
        evidence = self.rank(query, await self._query_vector(query), exclude)
        return decide(evidence, self._gate, top=top)
