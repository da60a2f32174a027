"""Text embeddings from an OpenAI-compatible ``/embeddings`` endpoint (``ports.Embedder``)."""

from __future__ import annotations

from collections.abc import Sequence

import openai
import structlog

from ..settings import Settings
from .errors import LanguageModelError
from .openai_engine import client_from_settings

log = structlog.get_logger(__name__)


class OpenAIEmbedder:
    def __init__(self, client: openai.AsyncOpenAI, *, model: str, batch_size: int = 256) -> None:
        self._client = client
        self.model = model
        self.batch_size = batch_size
        self.name = f"openai:{model}"

    @classmethod
    def from_settings(cls, settings: Settings) -> OpenAIEmbedder:
        return cls(client_from_settings(settings), model=settings.embedding_model)

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order. Raises ``LanguageModelError`` when the endpoint fails."""
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start : start + self.batch_size])
            try:
                response = await self._client.embeddings.create(model=self.model, input=batch)
            except openai.OpenAIError as exc:
                log.warning("embedding_failed", model=self.model, texts=len(batch), error=type(exc).__name__)
                raise LanguageModelError(f"embedding request failed: {type(exc).__name__}") from exc
            if len(response.data) != len(batch):
                raise LanguageModelError(
                    f"embedding response has {len(response.data)} vectors for {len(batch)} texts"
                )
            vectors.extend(item.embedding for item in sorted(response.data, key=lambda item: item.index))
        return vectors
