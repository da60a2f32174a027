"""Help-center text, query cleaning, ranking, the calibrated threshold, fusion and sync through Kayako."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Sequence

from kayako_call_assistant.domain import HelpArticle
from kayako_call_assistant.kayako_mock.app import create_app as create_mock_app
from kayako_call_assistant.kayako_mock.config import MockConfig
from kayako_call_assistant.knowledge.base import KnowledgeBase
from kayako_call_assistant.knowledge.index import KnowledgeIndex
from kayako_call_assistant.knowledge.query import clean_query
from kayako_call_assistant.knowledge.text import html_to_text, passages
from kayako_call_assistant.servers import serve_in_background
from kayako_call_assistant.settings import Settings
from kayako_call_assistant.wiring import build_helpdesk

RESET = HelpArticle(
    1,
    "How do I reset my password?",
    "<p>You can reset it yourself.</p><script>alert(1)</script><h2>Reset a forgotten password</h2>"
    "<ol><li>Open the <b>sign-in</b> page.</li><li>Choose <em>Forgot password</em>.</li></ol>"
    "<h2>If the link expired</h2><p>Request a new link &amp; use the newest email.</p>",
)
DELETE = HelpArticle(2, "How do I delete my Facebook account?", "<p>Go to settings and request deletion.</p>")
FILTERS = HelpArticle(
    3, "How do I create Gmail filters?", "<p>Use the search box options to make a filter.</p>"
)
THRESHOLD = Settings().kb_answer_threshold


def test_html_becomes_clean_text_and_passages_by_heading() -> None:
    text = html_to_text(RESET.body_html)
    assert "alert" not in text
    assert "1. Open the sign-in page." in text and "2. Choose Forgot password." in text
    assert "&amp;" not in text and "new link & use" in text
    words = " ".join(["detail"] * 30)
    article = HelpArticle(
        1, RESET.title, f"<p>Short intro.</p><h2>First</h2><p>{words}</p><h3>Second</h3><p>{words}</p>"
    )
    chunks = passages(article)
    # A one-line introduction is too short to answer from: it joins the first section.
    assert [c.heading for c in chunks] == ["First", "Second"]
    assert chunks[0].text.startswith("Short intro. detail")
    assert all(c.article_id == 1 and c.title == RESET.title for c in chunks)
    steps = passages(RESET)[-1].text
    assert steps.index("1. Open") < steps.index("2. Choose")


def test_long_sections_are_split_between_paragraphs() -> None:
    body = "".join(f"<p>{'word ' * 60}paragraph {n}.</p>" for n in range(5))
    chunks = passages(HelpArticle(9, "Long", body), max_words=130)
    assert len(chunks) == 3
    assert all(len(c.text.split()) <= 130 for c in chunks)


def test_speech_style_queries_are_cleaned() -> None:
    assert clean_query("um so uh how do I [noise] reset reset my <unk> password you know") == (
        "so how do I reset my password"
    )
    assert clean_query("um uh") == "um uh"  # nothing but fillers: keep what there was
    assert clean_query("like button on facebook") == "like button on facebook"


def test_ranking_and_threshold() -> None:
    index = KnowledgeIndex([RESET, DELETE, FILTERS])
    hits = index.search("um how can I reset a forgotten password", top=3)
    assert hits[0].passage.article_id == 1
    assert hits[0].relevance >= THRESHOLD
    assert len({h.passage.article_id for h in hits}) == len(hits)
    unrelated = index.search("what will the weather be like in Paris tomorrow")
    assert not unrelated or unrelated[0].relevance < THRESHOLD
    assert KnowledgeIndex([]).search("anything") == []


class HashedBagOfWords:
    """A real, deterministic ``ports.Embedder``: hashed bag-of-words vectors."""

    name = "hashed"

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        vectors = []
        for text in texts:
            vector = [0.0] * 64
            for word in text.lower().split():
                vector[int(hashlib.sha256(word.encode()).hexdigest(), 16) % 64] += 1.0
            vectors.append(vector)
        return vectors


class ListedHelpDesk:
    def __init__(self, articles: list[HelpArticle]) -> None:
        self.articles = articles
        self.fail = False

    async def help_articles(self) -> AsyncIterator[HelpArticle]:
        if self.fail:
            raise ConnectionError("Kayako down")
        for article in self.articles:
            yield article


async def test_fusion_sync_update_and_outage() -> None:
    desk = ListedHelpDesk([RESET, DELETE])
    kb = KnowledgeBase(desk, embedder=HashedBagOfWords(), answer_threshold=THRESHOLD)  # type: ignore[arg-type]
    assert await kb.sync() == 2
    hits = await kb.search("reset password")
    assert hits[0].passage.article_id == 1 and hits[0].relevance >= THRESHOLD
    desk.articles.append(FILTERS)
    await kb.on_article_changed(3)
    assert (await kb.search("gmail filters"))[0].passage.article_id == 3
    desk.fail = True
    assert await kb.sync() == 3  # the previous index stays in service
    assert (await kb.search("gmail filters"))[0].passage.article_id == 3


async def test_sync_from_the_mock_kayako_over_http() -> None:
    config = MockConfig()
    async with serve_in_background(create_mock_app(config)) as mock:
        settings = Settings(
            kayako_base_url=f"{mock}/api/v1",
            kayako_email=config.agent_email,
            kayako_password=config.agent_password,  # type: ignore[arg-type]
        )
        async with build_helpdesk(settings) as helpdesk:
            kb = KnowledgeBase(helpdesk, answer_threshold=THRESHOLD)
            assert await kb.sync() == 46  # the demo help center
            hits = await kb.search("how do I reset my password")
    assert "password" in hits[0].passage.title.lower()
    assert hits[0].relevance >= THRESHOLD


def test_kb_cli_searches_the_mock(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import json

    from typer.testing import CliRunner

    from kayako_call_assistant.cli.main import app
    from kayako_call_assistant.servers import serve_in_thread

    config = MockConfig()
    with serve_in_thread(create_mock_app(config)) as mock:
        monkeypatch.setenv("KCA_KAYAKO_BASE_URL", f"{mock}/api/v1")
        monkeypatch.setenv("KCA_KAYAKO_EMAIL", config.agent_email)
        monkeypatch.setenv("KCA_KAYAKO_PASSWORD", config.agent_password)
        result = CliRunner().invoke(app, ["kb", "search", "how do I reset my password", "--json"])
        synced = CliRunner().invoke(app, ["kb", "sync"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    hits = found["hits"]
    assert "password" in hits[0]["title"].lower() and hits[0]["answerable"] is True
    assert found["verdict"] == "answer"
    assert synced.exit_code == 0 and "indexed" in synced.stdout
