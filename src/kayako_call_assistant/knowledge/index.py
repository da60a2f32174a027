"""A BM25 index (bm25s, English stemming and stop words) over help-center passages.

Relevance is calibrated as the share of the query's attainable BM25 score that the best passage reaches:
the score divided by what a passage containing every query term would score, where a query term the help
center never uses counts with the highest idf. A paraphrase of an article reaches a good share; a question
about something the help center does not cover leaves much of the query unmatched and scores low, whatever
the query's length. One threshold therefore means the same thing for every query (docs/knowledge.md).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import bm25s
import numpy as np
import numpy.typing as npt
import Stemmer

from ..domain import HelpArticle, Passage, SearchHit
from .query import clean_query
from .text import passages

_K1 = 1.5
_B = 0.75
_TITLE_WEIGHT = 3  # a title says what the article is about: it counts three times in every passage
_STEMMER = Stemmer.Stemmer("english")


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    tokens = bm25s.tokenize(
        list(texts), stopwords="english", stemmer=_STEMMER, return_ids=False, show_progress=False
    )
    return [list(t) for t in tokens]


class KnowledgeIndex:
    """Immutable once built: an update builds a new index (125 articles take milliseconds)."""

    def __init__(self, articles: Sequence[HelpArticle]) -> None:
        self.articles = {article.id: article for article in articles}
        self.passages: list[Passage] = [p for article in articles for p in passages(article)]
        documents = [
            " ".join([p.title] * _TITLE_WEIGHT + ([p.heading] if p.heading else []) + [p.text])
            for p in self.passages
        ]
        corpus = tokenize(documents) if documents else []
        self._document_frequency: Counter[str] = Counter()
        for tokens in corpus:
            self._document_frequency.update(set(tokens))
        self._size = len(corpus)
        self._bm25 = bm25s.BM25(k1=_K1, b=_B, method="lucene")
        if corpus:
            self._bm25.index(corpus, show_progress=False)

    def __len__(self) -> int:
        return len(self.articles)

    def _idf(self, token: str) -> float:
        df = self._document_frequency.get(token, 0)
        return math.log(1 + (self._size - df + 0.5) / (df + 0.5))

    def _attainable(self, tokens: list[str]) -> float:
        """The score of an ideal passage: every query term present, at the length-normalised saturation."""
        return sum(self._idf(token) for token in tokens) * (_K1 + 1)

    def relevance(self, query: str) -> npt.NDArray[np.float64]:
        """The calibrated relevance of every passage to ``query`` (zeros when nothing matches), in order."""
        if not self._size:
            return np.zeros(0)
        tokens = [t for t in tokenize([clean_query(query)])[0] if t]
        if not tokens:
            return np.zeros(self._size)
        scores = np.asarray(self._bm25.get_scores(tokens), dtype=float)
        return np.minimum(1.0, scores / self._attainable(tokens))

    def lexical(self, query: str) -> list[tuple[int, float, float]]:
        """(passage index, score, relevance) for every matching passage, best first."""
        if not self._size:
            return []
        tokens = tokenize([clean_query(query)])[0]
        tokens = [t for t in tokens if t]
        if not tokens:
            return []
        scores = np.asarray(self._bm25.get_scores(tokens), dtype=float)
        attainable = self._attainable(tokens)
        order = np.argsort(-scores)
        return [
            (int(i), float(scores[i]), min(1.0, float(scores[i]) / attainable))
            for i in order
            if scores[i] > 0
        ]

    def search(self, query: str, top: int = 3) -> list[SearchHit]:
        """The best passage of each of the ``top`` best articles."""
        hits: list[SearchHit] = []
        seen: set[int] = set()
        for index, score, relevance in self.lexical(query):
            passage = self.passages[index]
            if passage.article_id in seen:
                continue
            seen.add(passage.article_id)
            hits.append(SearchHit(passage=passage, score=score, relevance=relevance))
            if len(hits) == top:
                break
        return hits
