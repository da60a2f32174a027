"""The local MiniLM embedder, the fused ranking and the answer gate (answer, clarify, none)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from kayako_call_assistant.domain import AnswerVerdict, HelpArticle, Passage, SearchHit
from kayako_call_assistant.fakes.helpdesk import ListedHelpDesk
from kayako_call_assistant.knowledge.base import KnowledgeBase
from kayako_call_assistant.knowledge.gate import Evidence, GateThresholds, decide
from kayako_call_assistant.llm.local_embedder import LocalEmbedder
from kayako_call_assistant.settings import Settings

SETTINGS = Settings()
GATE = GateThresholds(
    answer=SETTINGS.kb_gate_answer,
    answer_disagree=SETTINGS.kb_gate_answer_disagree,
    margin=SETTINGS.kb_gate_margin,
    lexical_only=SETTINGS.kb_answer_threshold,
)

ARTICLES = [
    HelpArticle(
        1,
        "How do I delete my account?",
        "<p>Open Settings, then Account, then Delete account. Deletion is permanent after 30 days.</p>",
    ),
    HelpArticle(
        2,
        "Where is my order?",
        "<p>Track a parcel from Orders. Standard shipping takes three to five business days.</p>",
    ),
    HelpArticle(
        3,
        "How do I change my password?",
        "<p>Open Settings, then Security, then Change password, and enter the old and new password.</p>",
    ),
    HelpArticle(
        4,
        "How do I update the card I pay with?",
        "<p>Open Billing, then Payment methods, and add the new card before removing the old one.</p>",
    ),
]


class CountingEmbedder:
    """The real local embedder, recording which texts it was asked to embed."""

    def __init__(self) -> None:
        self.inner = LocalEmbedder()
        self.name = self.inner.name
        self.asked: list[str] = []

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.asked.extend(texts)
        return await self.inner.embed(texts)


class BrokenEmbedder:
    name = "broken"

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        raise ConnectionError("embedding service down")


@pytest.fixture(scope="module")
def embedder() -> LocalEmbedder:
    return LocalEmbedder()


def test_vectors_are_unit_length_in_order_and_mean_what_the_text_means(embedder: LocalEmbedder) -> None:
    texts = [
        "how do i close my account for good",
        "what's the weather like tomorrow",
        "I want to permanently delete my profile",
    ]
    matrix = embedder.embed_matrix(texts)
    assert matrix.shape == (3, 384)
    assert np.allclose(np.linalg.norm(matrix, axis=1), 1.0, atol=1e-5)
    similar, unrelated = float(matrix[0] @ matrix[2]), float(matrix[0] @ matrix[1])
    assert similar > 0.4 and similar > unrelated + 0.3
    # Batching by length (with padding) and the cache change nothing: each text gets its vector alone.
    session = embedder._load()
    alone = np.stack([embedder._batch(session, [text], embedder.max_tokens)[0] for text in texts])
    assert np.allclose(alone, matrix, atol=1e-4)
    assert np.array_equal(embedder.embed_matrix(texts[::-1]), matrix[::-1])


def test_tokenizer_is_bert_uncased_wordpiece(embedder: LocalEmbedder) -> None:
    encoding = embedder._tokenizer.encode("How do I delete my Facebook account?")
    assert encoding.tokens == [
        "[CLS]",
        "how",
        "do",
        "i",
        "del",
        "##ete",
        "my",
        "facebook",
        "account",
        "?",
        "[SEP]",
    ]
    # the ids of bert-base-uncased's vocabulary, which the model's embedding table is indexed by
    assert encoding.ids == [101, 2129, 2079, 1045, 3972, 12870, 2026, 9130, 4070, 1029, 102]
    long = embedder._tokenizer.encode("word " * 500).ids
    assert len(long) == embedder.max_tokens


async def test_embed_runs_off_the_event_loop_and_handles_nothing(embedder: LocalEmbedder) -> None:
    assert await embedder.embed([]) == []
    [vector] = await embedder.embed(["reset my password"])
    assert len(vector) == 384


async def test_caller_phrasing_finds_the_article_and_small_talk_finds_none() -> None:
    kb = KnowledgeBase(ListedHelpDesk(ARTICLES), embedder=LocalEmbedder(), answer_threshold=0.115, gate=GATE)  # type: ignore[arg-type]
    await kb.sync()
    assert kb.semantic
    # No word of the article's title or text but "my": BM25 alone cannot find it.
    found = await kb.assess("uh yeah i'm done with you guys and want my profile gone for good")
    assert found.verdict is AnswerVerdict.ANSWER and found.hits[0].passage.article_id == 1
    assert found.confidence >= GATE.answer
    parcel = await kb.assess("my package still hasn't shown up")  # cosine 0.34-0.38, at the gate's edge
    assert parcel.hits[0].passage.article_id == 2
    for line in ("what's the weather like", "tell me a joke", "who won the game last night"):
        assessment = await kb.assess(line)
        assert assessment.verdict is AnswerVerdict.NONE, line
        assert assessment.confidence < GATE.answer
    # An article already offered on this call is never the answer again.
    again = await kb.assess("i want my profile gone for good", exclude=frozenset({1}))
    assert all(hit.passage.article_id != 1 for hit in again.hits)


async def test_two_near_identical_articles_make_the_gate_ask_which_one() -> None:
    twins = [
        *ARTICLES,
        HelpArticle(
            5,
            "How do I change my password?",
            "<p>Open Settings, then Security, then Change password, and type the old and the new password.</p>",
        ),
    ]
    kb = KnowledgeBase(ListedHelpDesk(twins), embedder=LocalEmbedder(), answer_threshold=0.115, gate=GATE)  # type: ignore[arg-type]
    await kb.sync()
    assessment = await kb.assess("how do i change my password")
    assert assessment.verdict is AnswerVerdict.CLARIFY
    assert assessment.reason == "ambiguous_top_two"
    assert {hit.passage.article_id for hit in assessment.hits[:2]} == {3, 5}


async def test_a_resync_embeds_only_passages_that_changed() -> None:
    desk = ListedHelpDesk(list(ARTICLES))
    embedder = CountingEmbedder()
    kb = KnowledgeBase(desk, embedder=embedder, answer_threshold=0.115, gate=GATE)  # type: ignore[arg-type]
    await kb.sync()
    first = len(embedder.asked)
    assert first == len(kb.index.passages)
    desk.articles.append(
        HelpArticle(6, "Can I pay by bank transfer?", "<p>Yes, choose Bank transfer at checkout.</p>")
    )
    await kb.on_article_changed(6)
    assert len(embedder.asked) == first + 1 and "bank transfer" in embedder.asked[-1].lower()
    assert (await kb.search("can i pay with a wire transfer"))[0].passage.article_id == 6


async def test_embedding_failure_keeps_the_lexical_ranking_and_threshold() -> None:
    kb = KnowledgeBase(ListedHelpDesk(ARTICLES), embedder=BrokenEmbedder(), answer_threshold=0.115, gate=GATE)  # type: ignore[arg-type]
    assert await kb.sync() == 4
    assert not kb.semantic
    assessment = await kb.assess("how do i change my password")
    assert assessment.verdict is AnswerVerdict.ANSWER and assessment.hits[0].passage.article_id == 3
    assert assessment.reason == "above_threshold"


def _hit(article_id: int) -> SearchHit:
    return SearchHit(Passage(article_id, f"title {article_id}", "text"), score=0.0, relevance=0.0)


def test_gate_answers_clarifies_or_declines_on_the_evidence() -> None:
    gate = GateThresholds(answer=0.4, answer_disagree=0.5, margin=0.05, lexical_only=0.1)
    hits = [_hit(1), _hit(2), _hit(3)]

    def verdict(fused: list[float], lexical_best: int | None) -> tuple[AnswerVerdict, str]:
        assessment = decide(Evidence(hits, fused, lexical_best), gate, top=3)
        return assessment.verdict, assessment.reason

    assert verdict([0.60, 0.40, 0.3], 1) == (AnswerVerdict.ANSWER, "above_threshold")
    assert verdict([0.45, 0.30, 0.2], 2) == (AnswerVerdict.NONE, "below_threshold_retrievers_disagree")
    assert verdict([0.55, 0.30, 0.2], None) == (AnswerVerdict.ANSWER, "above_threshold_semantic")
    assert verdict([0.38, 0.30, 0.2], 1) == (AnswerVerdict.NONE, "below_threshold")
    assert verdict([0.60, 0.58, 0.2], 1) == (AnswerVerdict.CLARIFY, "ambiguous_top_two")
    assert decide(Evidence([], [], None), gate, top=3).verdict is AnswerVerdict.NONE
    lexical = [SearchHit(Passage(1, "t", "x"), score=3.0, relevance=0.2)]
    assert decide(Evidence(lexical, [], 1), gate, top=3).verdict is AnswerVerdict.ANSWER
    weak = [SearchHit(Passage(1, "t", "x"), score=1.0, relevance=0.05)]
    assert decide(Evidence(weak, [], 1), gate, top=3).verdict is AnswerVerdict.NONE
