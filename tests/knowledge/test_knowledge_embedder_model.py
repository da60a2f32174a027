"""The int8-MatMul graph derived from the wheel's model: cached once, fallbacks, and vectors that agree."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from kayako_call_assistant.domain import HelpArticle
from kayako_call_assistant.fakes.helpdesk import ListedHelpDesk
from kayako_call_assistant.knowledge.base import KnowledgeBase
from kayako_call_assistant.llm import minilm_model
from kayako_call_assistant.llm.engines import embedder_from_settings
from kayako_call_assistant.llm.local_embedder import LocalEmbedder
from kayako_call_assistant.ports import PassageEmbedder
from kayako_call_assistant.settings import Settings

TEXTS = [
    "How do I delete my account?. Open Settings, then Account, then Delete account.",
    "Where is my order?. Track a parcel from Orders. Standard shipping takes three to five business days.",
    "How do I change my password?. Open Settings, then Security, then Change password.",
    "How do I update the card I pay with?. Open Billing, then Payment methods, and add the new card.",
    "Can I pay by bank transfer?. Yes, choose Bank transfer at checkout.",
    "How do I export my contacts to a spreadsheet?. Open Contacts, select all, then Export as CSV.",
]
QUERIES = [
    "i want my profile gone for good",
    "my package still hasn't shown up",
    "i forgot my login and need a new one",
    "my credit card expired how do i put in the new one",
    "can i just wire you the money",
    "how do i get my address book into excel",
]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def derived(cache_dir: Path) -> Path:
    model = minilm_model.int8_model(cache_dir)
    assert isinstance(model, Path)
    return model


def test_the_derived_model_is_cached_under_the_wheel_digest_and_reused(
    cache_dir: Path, derived: Path
) -> None:
    assert derived.parent == cache_dir and derived.is_file()
    name = derived.name
    assert minilm_model.RECIPE in name and name == minilm_model.derived_name(minilm_model.wheel_model())
    assert [p.name for p in cache_dir.iterdir()] == [name]  # no partial file left behind
    stamp = derived.stat().st_mtime_ns
    assert minilm_model.int8_model(cache_dir) == derived  # found, not derived again
    assert derived.stat().st_mtime_ns == stamp
    embedder = LocalEmbedder(cache_dir=cache_dir)
    session = embedder._load()
    assert {o.name for o in session.get_outputs()} == {"last_hidden_state"}


def test_the_int8_vectors_agree_with_the_wheel_model_and_rank_alike(cache_dir: Path, derived: Path) -> None:
    int8 = LocalEmbedder(cache_dir=cache_dir)
    wheel = LocalEmbedder(int8_matmul=False)
    for tokens in (32, 64):
        a, b = int8.embed_matrix(TEXTS, tokens=tokens), wheel.embed_matrix(TEXTS, tokens=tokens)
        assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
        assert float((a * b).sum(axis=1).min()) >= 0.985
    passages = int8.embed_matrix(TEXTS, tokens=32)
    queries = int8.embed_matrix(QUERIES)
    reference = wheel.embed_matrix(QUERIES) @ wheel.embed_matrix(TEXTS, tokens=32).T
    assert np.array_equal(np.argmax(queries @ passages.T, axis=1), np.argmax(reference, axis=1))
    assert np.array_equal(np.argmax(reference, axis=1), np.arange(len(QUERIES)))  # each finds its passage


def test_a_vector_does_not_depend_on_the_texts_embedded_with_it(cache_dir: Path, derived: Path) -> None:
    # int8 activations are quantised per run: one text per run keeps each vector a function of its text.
    embedder = LocalEmbedder(cache_dir=cache_dir)
    together = embedder.embed_matrix(TEXTS, tokens=32)
    fresh = LocalEmbedder(cache_dir=cache_dir)
    fresh._load()
    alone = np.stack([fresh._batch(fresh._load(), [text], 32)[0] for text in TEXTS])
    assert np.array_equal(together, alone)


def test_an_unwritable_cache_derives_the_model_in_memory(tmp_path: Path, derived: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the cache directory should be")
    model = minilm_model.int8_model(blocker / "models")
    assert isinstance(model, bytes) and model == derived.read_bytes()
    embedder = LocalEmbedder(cache_dir=blocker / "models")
    reference = LocalEmbedder(cache_dir=derived.parent)
    assert np.array_equal(embedder.embed_matrix(QUERIES[:2]), reference.embed_matrix(QUERIES[:2]))
    assert list(tmp_path.iterdir()) == [blocker]


def test_a_damaged_cache_file_falls_back_to_the_wheel_model(tmp_path: Path) -> None:
    (tmp_path / minilm_model.derived_name(minilm_model.wheel_model())).write_bytes(b"not an onnx model")
    embedder = LocalEmbedder(cache_dir=tmp_path)
    vectors = embedder.embed_matrix(QUERIES[:2])
    assert np.allclose(vectors, LocalEmbedder(int8_matmul=False).embed_matrix(QUERIES[:2]), atol=1e-5)


class RecordingEmbedder:
    """The real local embedder, recording what was embedded as a passage and what as a query."""

    def __init__(self, inner: LocalEmbedder) -> None:
        self.inner = inner
        self.name = inner.name
        self.passages: list[str] = []
        self.queries: list[str] = []

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.queries.extend(texts)
        return await self.inner.embed(texts)

    async def embed_passages(self, texts: Sequence[str]) -> list[list[float]]:
        self.passages.extend(texts)
        return await self.inner.embed_passages(texts)


async def test_passages_use_the_passage_window_and_queries_the_query_window(
    cache_dir: Path, derived: Path
) -> None:
    inner = LocalEmbedder(passage_tokens=16, cache_dir=cache_dir)
    embedder = RecordingEmbedder(inner)
    assert isinstance(embedder, PassageEmbedder) and isinstance(inner, PassageEmbedder)
    long_body = "<p>Open Settings, then Account, then Delete account. " + "More detail. " * 80 + "</p>"
    articles = [HelpArticle(1, "How do I delete my account?", long_body)]
    kb = KnowledgeBase(ListedHelpDesk(articles), embedder=embedder, answer_threshold=0.115)  # type: ignore[arg-type]
    await kb.sync()
    assert len(embedder.passages) == len(kb.index.passages) and not embedder.queries
    [passage] = await inner.embed_passages(embedder.passages[:1])
    assert np.allclose(passage, inner.embed_matrix(embedder.passages[:1], tokens=16)[0])
    assert not np.allclose(passage, inner.embed_matrix(embedder.passages[:1], tokens=64)[0], atol=1e-3)
    await kb.search("close my account")
    assert embedder.queries == ["close my account"]


def test_the_settings_choose_the_window_the_graph_and_the_cache(tmp_path: Path) -> None:
    default = embedder_from_settings(Settings(data_dir=tmp_path))
    assert isinstance(default, LocalEmbedder)
    assert (default.passage_tokens, default.max_tokens, default.int8_matmul) == (32, 64, True)
    assert default.cache_dir == tmp_path / "models"
    chosen = embedder_from_settings(Settings(kb_passage_tokens=64, kb_int8_matmul=False))
    assert isinstance(chosen, LocalEmbedder) and (chosen.passage_tokens, chosen.int8_matmul) == (64, False)


async def test_a_query_embedded_before_is_answered_on_the_event_loop_without_a_thread(
    cache_dir: Path, derived: Path
) -> None:
    import asyncio

    embedder = LocalEmbedder(cache_dir=cache_dir)
    [first] = await embedder.embed(["where is my parcel today"])
    # With the loop's default executor shut down, anything that still needs a worker thread fails.
    await asyncio.get_running_loop().shutdown_default_executor()
    [again] = await embedder.embed(["where is my parcel today"])
    assert again == first
    with pytest.raises(RuntimeError):
        await embedder.embed(["a question never embedded before"])
