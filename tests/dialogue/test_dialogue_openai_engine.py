"""The OpenAI-compatible engine through the real SDK against the fake server on a real port: structured
output, streaming, usage, and the fallback to the local engine (timeouts, errors, breaker, cut streams)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import openai
import pytest

from kayako_call_assistant.domain import DialogueContext, Intent, Passage, Speaker, Turn, Usage, utcnow
from kayako_call_assistant.fakes.openai_server import CannedResponse, FakeOpenAIScript, create_app
from kayako_call_assistant.llm.engines import embedder_from_settings, language_engine_from_settings
from kayako_call_assistant.llm.errors import LanguageModelError
from kayako_call_assistant.llm.fallback import CircuitBreaker, FallbackLanguageEngine
from kayako_call_assistant.llm.local import LocalLanguageEngine
from kayako_call_assistant.llm.local_embedder import LocalEmbedder
from kayako_call_assistant.llm.openai_embeddings import OpenAIEmbedder
from kayako_call_assistant.llm.openai_engine import OpenAILanguageEngine
from kayako_call_assistant.servers import serve_in_background
from kayako_call_assistant.settings import Settings

TOPICS = ("billing_dispute", "security_incident", "legal")
PASSAGE = Passage(
    article_id=3,
    title="Reset your password",
    text="To reset your password, open the sign-in page. Then click Forgot password. "
    "Finally, follow the link in the email we send you.",
)


@dataclass
class Fake:
    url: str
    script: FakeOpenAIScript

    def client(self, *, timeout: float = 5.0, max_retries: int = 0) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(
            base_url=f"{self.url}/v1", api_key="test-key", timeout=timeout, max_retries=max_retries
        )

    def engine(self, **client_options: float) -> OpenAILanguageEngine:
        return OpenAILanguageEngine(
            self.client(**client_options),  # type: ignore[arg-type]
            model="gpt-4o-mini",
            helpdesk_name="Acme Support",
            tone="warm",
        )


@pytest.fixture
async def fake() -> AsyncIterator[Fake]:
    script = FakeOpenAIScript()
    async with serve_in_background(create_app(script)) as url:
        yield Fake(url, script)


def ctx(expecting: str | None = None) -> DialogueContext:
    return DialogueContext(
        state="listening", expecting=expecting, helpdesk_name="Acme", always_human_topics=TOPICS
    )


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_understanding_uses_a_strict_json_schema_and_records_usage(fake: Fake) -> None:
    usage = Usage()
    understanding = await fake.engine().understand(
        "I want to dispute a charge, get me a person", ctx(), usage
    )
    assert (understanding.intent, understanding.topic, understanding.engine) == (
        Intent.HANDOFF,
        "billing_dispute",
        "openai",
    )
    request = fake.script.chat_requests()[-1]
    assert request["model"] == "gpt-4o-mini"
    assert request["response_format"]["type"] == "json_schema"
    assert request["response_format"]["json_schema"]["strict"] is True
    assert "intent" in request["response_format"]["json_schema"]["schema"]["properties"]
    assert "Acme" in request["messages"][0]["content"]
    assert json.loads(request["messages"][1]["content"])["utterance"].startswith("I want to dispute")
    assert usage.model_input_tokens > 0 and usage.model_output_tokens > 0


async def test_model_entities_are_normalised_by_the_shared_parsers(fake: Fake) -> None:
    reply = {
        "intent": "inform",
        "confidence": 0.8,
        "email": "JOHN.SMITH@GMAIL.COM",
        "phone": "415 555 0123",
        "case_number": 77,
        "name": "jon",
        "frustrated": False,
        "topic": "not_a_configured_topic",
    }
    fake.script.push(CannedResponse(content=json.dumps(reply)))
    understanding = await fake.engine().understand("here you go", ctx("email"), Usage())
    entities = understanding.entities
    assert (entities.email, entities.phone, entities.case_number, entities.name) == (
        "john.smith@gmail.com",
        "+14155550123",
        77,
        "Jon",
    )
    assert understanding.topic is None


async def test_the_callers_own_words_win_over_the_model_for_entities(fake: Fake) -> None:
    reply = dict.fromkeys(("phone", "case_number", "name", "topic"))
    reply |= {"intent": "inform", "confidence": 0.9, "email": "john@gmail.com", "frustrated": False}
    fake.script.push(CannedResponse(content=json.dumps(reply)))
    said = "j o h n at gmail dot com, actually make that j o n"
    understanding = await fake.engine().understand(said, ctx("email"), Usage())
    assert understanding.entities.email == "jon@gmail.com"


async def test_answer_streams_sentences_within_the_spoken_limits(fake: Fake) -> None:
    long_reply = (
        "First, open the **sign-in** page at https://acme.example/login. Then click Forgot password. "
        "Finally, follow the link we email you. A fourth sentence that must not be spoken. And a fifth."
    )
    fake.script.push(CannedResponse(content=long_reply))
    usage = Usage()
    sentences = [s async for s in fake.engine().answer("how do I reset my password", [PASSAGE], ctx(), usage)]
    assert sentences == [
        "First, open the sign-in page.",
        "Then click Forgot password.",
        "Finally, follow the link we email you.",
    ]
    request = fake.script.chat_requests()[-1]
    assert request["stream"] is True and request["stream_options"] == {"include_usage": True}
    assert PASSAGE.text in request["messages"][1]["content"]
    # The usage chunk comes after every token: the whole reply was counted, not only what was spoken.
    assert usage.model_output_tokens == len(long_reply.split())


async def test_default_fake_answer_is_grounded_in_the_passage(fake: Fake) -> None:
    sentences = [s async for s in fake.engine().answer("reset password", [PASSAGE], ctx(), Usage())]
    assert sentences == ["To reset your password, open the sign-in page.", "Then click Forgot password."]


async def test_summary_uses_structured_output(fake: Fake) -> None:
    transcript = [
        Turn(Speaker.ASSISTANT, "How can I help?", utcnow()),
        Turn(Speaker.CALLER, "hi", utcnow()),
        Turn(Speaker.CALLER, "my exports fail with an error", utcnow()),
    ]
    usage = Usage()
    summary = await fake.engine().summarize(transcript, usage)
    assert summary.subject == "my exports fail with an error"
    request = fake.script.chat_requests()[-1]
    assert request["response_format"]["json_schema"]["name"] == "summary"
    assert "Caller: my exports fail with an error" in request["messages"][1]["content"]
    assert usage.model_output_tokens > 0


def _fallback(fake: Fake, breaker: CircuitBreaker, **client_options: float) -> FallbackLanguageEngine:
    return FallbackLanguageEngine(fake.engine(**client_options), LocalLanguageEngine(), breaker)


async def test_malformed_json_falls_back_to_the_local_engine(fake: Fake) -> None:
    fake.script.push(CannedResponse(malformed_json=True))
    engine = _fallback(fake, CircuitBreaker(3, 30))
    understanding = await engine.understand("can I talk to a real person", ctx(), Usage())
    assert (understanding.intent, understanding.engine) == (Intent.HANDOFF, "local")
    assert len(fake.script.chat_requests()) == 1


async def test_timeout_falls_back_to_the_local_engine(fake: Fake) -> None:
    fake.script.push(CannedResponse(delay_seconds=5.0))
    engine = _fallback(fake, CircuitBreaker(3, 30), timeout=0.2)
    understanding = await engine.understand("yes please", ctx("yes_no"), Usage())
    assert (understanding.intent, understanding.engine) == (Intent.AFFIRM, "local")


async def test_sdk_retries_a_server_error_before_falling_back(fake: Fake) -> None:
    fake.script.fail(500, times=1)
    engine = _fallback(fake, CircuitBreaker(3, 30), max_retries=1)
    understanding = await engine.understand("hello", ctx(), Usage())
    assert understanding.engine == "openai"
    assert len(fake.script.chat_requests()) == 2


async def test_rate_limit_is_a_model_failure(fake: Fake) -> None:
    fake.script.fail(429, times=1)
    engine = _fallback(fake, CircuitBreaker(3, 30))
    answer = [s async for s in engine.answer("reset password", [PASSAGE], ctx(), Usage())]
    assert answer[0] == "To reset your password, open the sign-in page."  # the local, extractive answer
    assert engine.breaker.state == "closed"


async def test_breaker_opens_after_consecutive_failures_and_recovers_half_open(fake: Fake) -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=2, reset_seconds=30, clock=clock)
    engine = _fallback(fake, breaker)
    fake.script.fail(500, times=3)

    for _ in range(2):
        assert (await engine.understand("hello", ctx(), Usage())).engine == "local"
    assert breaker.state == "open"
    assert (await engine.understand("hello", ctx(), Usage())).engine == "local"
    assert len(fake.script.chat_requests()) == 2  # open: the model was not asked

    clock.now += 30
    assert breaker.state == "half_open"
    assert (await engine.understand("hello", ctx(), Usage())).engine == "local"  # the trial failed (3rd 500)
    assert breaker.state == "open" and len(fake.script.chat_requests()) == 3

    clock.now += 30
    assert (await engine.understand("hello", ctx(), Usage())).engine == "openai"  # the trial succeeded
    assert breaker.state == "closed"
    assert (await engine.understand("hello", ctx(), Usage())).engine == "openai"


def test_half_open_lets_one_trial_through() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, reset_seconds=5, clock=clock)
    breaker.record_failure()
    assert not breaker.allow()
    clock.now += 5
    assert breaker.allow()
    assert not breaker.allow()  # a second request while the trial runs is refused
    breaker.release()
    assert breaker.allow()


async def test_stream_cut_mid_answer_keeps_what_was_said_and_continues_locally(fake: Fake) -> None:
    reply = "To reset your password, open the sign-in page. Then click the other button. Finally, wait."
    fake.script.push(CannedResponse(content=reply, cut_after_chunks=10))
    usage = Usage()
    engine = _fallback(fake, CircuitBreaker(3, 30))
    answer = [s async for s in engine.answer("how do I reset my password", [PASSAGE], ctx(), usage)]
    # The model's first sentence was heard; the rest comes from the local engine's answer, in order.
    local = [
        s async for s in LocalLanguageEngine().answer("how do I reset my password", [PASSAGE], ctx(), Usage())
    ]
    assert local[:2] == ["To reset your password, open the sign-in page.", "Then click Forgot password."]
    assert answer == ["To reset your password, open the sign-in page.", *local[1:]]
    assert engine.breaker.state == "closed"


async def test_embeddings_are_deterministic_hashed_vectors(fake: Fake) -> None:
    embedder = OpenAIEmbedder(fake.client(), model="text-embedding-3-small", batch_size=2)
    vectors = await embedder.embed(["reset my password", "invoice download", "reset my password"])
    assert len(vectors) == 3 and all(len(v) == 64 for v in vectors)
    assert vectors[0] == pytest.approx(vectors[2])
    assert vectors[0] != pytest.approx(vectors[1])
    assert sum(x * x for x in vectors[0]) == pytest.approx(1.0, rel=1e-5)
    embedding_requests = [r for r in fake.script.requests if r["path"] == "/v1/embeddings"]
    assert len(embedding_requests) == 2  # batched


async def test_fake_lists_models_records_requests_and_honours_any_schema(fake: Fake) -> None:
    schema = {
        "type": "object",
        "properties": {"level": {"type": "integer"}, "tags": {"type": "array", "items": {"type": "string"}},
                       "kind": {"type": "string", "enum": ["a", "b"]}},
        "required": ["level", "tags", "kind"],
        "additionalProperties": False,
    }  # fmt: skip
    response = await fake.client().chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "anything"}],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "custom", "strict": True, "schema": schema},
        },
    )
    assert json.loads(response.choices[0].message.content or "") == {"level": 0, "tags": [], "kind": "a"}
    async with httpx.AsyncClient(base_url=fake.url) as http:
        models = (await http.get("/v1/models")).json()
        assert {m["id"] for m in models["data"]} >= {"gpt-4o-mini", "text-embedding-3-small"}
        recorded = (await http.get("/_fake/requests")).json()
        assert recorded[-1]["body"]["response_format"]["json_schema"]["name"] == "custom"
        queued = await http.post("/_fake/script", json={"status": 503})
        assert queued.json()["pending"] == 1
    with pytest.raises(openai.InternalServerError):
        await fake.client().chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])


def test_engines_from_settings() -> None:
    assert isinstance(language_engine_from_settings(Settings(llm_engine="local")), LocalLanguageEngine)
    assert isinstance(embedder_from_settings(Settings(llm_engine="local")), LocalEmbedder)
    configured = Settings(
        llm_engine="openai", openai_base_url="http://127.0.0.1:9/v1", breaker_failure_threshold=5
    )
    engine = language_engine_from_settings(configured)
    assert isinstance(engine, FallbackLanguageEngine) and engine.breaker.failure_threshold == 5
    assert isinstance(embedder_from_settings(configured), LocalEmbedder)  # the default: no network
    openai_embeddings = configured.model_copy(update={"kb_embedder": "openai"})
    assert isinstance(embedder_from_settings(openai_embeddings), OpenAIEmbedder)
    with pytest.raises(ValueError, match="KCA_OPENAI_API_KEY"):
        language_engine_from_settings(Settings(llm_engine="openai", openai_base_url=""))


async def test_a_half_open_trial_that_the_caller_interrupts_still_closes_the_breaker(fake: Fake) -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, reset_seconds=10, clock=clock)
    engine = _fallback(fake, breaker)
    fake.script.fail(500)
    assert (await engine.understand("hello", ctx(), Usage())).engine == "local"
    clock.now += 10
    fake.script.push(CannedResponse(content="First sentence here. Second sentence here. Third one."))
    answer = engine.answer("anything", [PASSAGE], ctx(), Usage())
    assert await anext(answer) == "First sentence here."
    await answer.aclose()  # barge-in: the caller spoke over the answer
    assert breaker.state == "closed"


async def test_an_interrupted_trial_with_nothing_heard_frees_the_half_open_slot(fake: Fake) -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, reset_seconds=10, clock=clock)
    engine = _fallback(fake, breaker)
    fake.script.fail(500)
    assert (await engine.understand("hello", ctx(), Usage())).engine == "local"
    clock.now += 10
    fake.script.push(
        CannedResponse(content="One two three four five six seven eight nine ten.", delay_seconds=0.2)
    )
    answer = engine.answer("anything", [PASSAGE], ctx(), Usage())
    task = asyncio.ensure_future(anext(answer))
    await asyncio.sleep(0.05)  # the trial request is in flight
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await answer.aclose()
    assert breaker.state == "half_open"
    assert (await engine.understand("hello", ctx(), Usage())).engine == "openai"
    assert breaker.state == "closed"


async def test_search_query_is_rewritten_by_the_model_with_the_recent_turns(fake: Fake) -> None:
    usage = Usage()
    history = [
        Turn(Speaker.CALLER, "my export to google drive keeps failing", utcnow(), seq=0),
        Turn(Speaker.ASSISTANT, "Sorry to hear that. What happens?", utcnow(), seq=1),
    ]
    context = DialogueContext(state="listening", expecting=None, helpdesk_name="Acme", history=history)
    fake.script.push(CannedResponse(content='  "google drive export fails with a quota error"\n'))
    query = await fake.engine().search_query("um it says quota exceeded", context, usage)
    assert query == "google drive export fails with a quota error"
    request = fake.script.chat_requests()[-1]
    assert request["temperature"] == 0
    system, user = request["messages"][0]["content"], request["messages"][1]["content"]
    assert "search query" in system and "Acme" in system
    assert "Caller: my export to google drive keeps failing" in user
    assert user.endswith("Caller's turn: um it says quota exceeded")
    assert usage.model_input_tokens > 0


async def test_search_query_falls_back_to_the_callers_cleaned_words(fake: Fake) -> None:
    engine = FallbackLanguageEngine(
        fake.engine(), LocalLanguageEngine(), CircuitBreaker(failure_threshold=3, reset_seconds=30)
    )
    fake.script.fail(500)
    query = await engine.search_query("um so uh how do I reset reset my password", ctx(), Usage())
    assert query == "so how do I reset my password"
    fake.script.push(CannedResponse(content="   "))  # nothing usable is a failure too
    assert await engine.search_query("uh my invoice is wrong", ctx(), Usage()) == "my invoice is wrong"


async def test_answer_check_asks_a_strict_yes_or_no_and_counts_its_tokens(fake: Fake) -> None:
    usage = Usage()
    history = [Turn(Speaker.CALLER, "I forgot how to get into my account", utcnow(), seq=0)]
    context = DialogueContext(state="answering", helpdesk_name="Acme", history=history)
    assert await fake.engine().confirms_answer("how do I reset my password", PASSAGE, context, usage) is True
    request = fake.script.chat_requests()[-1]
    schema = request["response_format"]["json_schema"]
    assert schema["strict"] is True and schema["schema"]["required"] == ["answers"]
    assert request["temperature"] == 0 and request["max_tokens"] <= 20
    system, user = request["messages"][0]["content"], request["messages"][1]["content"]
    assert "answers a caller's question" in system and "Acme" in system
    assert "Caller: I forgot how to get into my account" in user
    assert "Caller's question: how do I reset my password" in user and "Forgot password" in user
    assert usage.model_input_tokens > 0 and usage.model_output_tokens > 0


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ('{"answers": false}', False),
        ('{"answers": true}', True),
        ("No.", False),  # an endpoint that ignores the schema and says it plainly
        ("Yes", True),
        ('{"answers": "probably"}', None),
        ('{"verdict": true}', None),
        ("It depends on the router.", None),
        ("", None),
    ],
)
async def test_answer_check_reads_yes_no_and_nothing_else(
    fake: Fake, reply: str, expected: bool | None
) -> None:
    fake.script.answer_checks.append(CannedResponse(content=reply))
    assert await fake.engine().confirms_answer("reset my password", PASSAGE, ctx(), Usage()) is expected


async def test_answer_check_failure_is_a_model_error_and_the_fallback_cannot_judge(fake: Fake) -> None:
    fake.script.answer_checks.append(CannedResponse(status=500))
    with pytest.raises(LanguageModelError):
        await fake.engine().confirms_answer("reset my password", PASSAGE, ctx(), Usage())
    breaker = CircuitBreaker(failure_threshold=1, reset_seconds=30)
    engine = _fallback(fake, breaker)
    fake.script.answer_checks.append(CannedResponse(status=500))
    assert await engine.confirms_answer("reset my password", PASSAGE, ctx(), Usage()) is None
    assert breaker.state == "open"  # counted like any other model failure
    asked = len(fake.script.chat_requests())
    assert await engine.confirms_answer("reset my password", PASSAGE, ctx(), Usage()) is None
    assert len(fake.script.chat_requests()) == asked  # breaker open: the model is not asked
    assert await LocalLanguageEngine().confirms_answer("reset my password", PASSAGE, ctx(), Usage()) is None


async def test_answer_check_through_the_fallback_returns_the_models_judgement(fake: Fake) -> None:
    engine = _fallback(fake, CircuitBreaker(3, 30))
    fake.script.answer_checks.append(CannedResponse(content='{"answers": false}'))
    assert await engine.confirms_answer("where is my parcel", PASSAGE, ctx(), Usage()) is False
    assert (
        await engine.confirms_answer("reset my password", PASSAGE, ctx(), Usage()) is True
    )  # fake's default
