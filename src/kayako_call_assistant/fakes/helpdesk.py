"""A help center held in memory, for the knowledge base in tests and benchmarks (only ``help_articles`` of
``ports.HelpDesk`` is read by ``KnowledgeBase.sync``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from ..domain import HelpArticle


class ListedHelpDesk:
    def __init__(self, articles: list[HelpArticle]) -> None:
        self.articles = articles

    async def help_articles(self) -> AsyncIterator[HelpArticle]:
        for article in self.articles:
            yield article
