"""The language engine and embedder the configuration asks for (called from ``wiring``)."""

from __future__ import annotations

from ..ports import Embedder, LanguageEngine
from ..settings import Settings
from .fallback import CircuitBreaker, FallbackLanguageEngine
from .local import LocalLanguageEngine
from .local_embedder import LocalEmbedder
from .openai_embeddings import OpenAIEmbedder
from .openai_engine import OpenAILanguageEngine


def language_engine_from_settings(settings: Settings) -> LanguageEngine:
    """``llm_engine=local``: the local engine. ``openai``: the model, with the local engine as fallback."""
    local = LocalLanguageEngine()
    if settings.llm_engine == "local":
        return local
    breaker = CircuitBreaker(settings.breaker_failure_threshold, settings.breaker_reset_seconds)
    return FallbackLanguageEngine(
        OpenAILanguageEngine.from_settings(settings),
        local,
        breaker,
        turn_budget_seconds=settings.turn_budget_seconds,
    )


def embedder_from_settings(settings: Settings) -> Embedder:
    """``kb_embedder=local``: MiniLM on this machine (no network); ``openai``: the endpoint's embeddings."""
    if settings.kb_embedder == "openai":
        return OpenAIEmbedder.from_settings(settings)
    return LocalEmbedder(
        passage_tokens=settings.kb_passage_tokens,
        int8_matmul=settings.kb_int8_matmul,
        cache_dir=settings.data_dir / "models",
    )
