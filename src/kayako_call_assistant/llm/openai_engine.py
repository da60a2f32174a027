"""The language engine on any OpenAI-compatible chat endpoint, through the official ``openai`` SDK.

Understanding, summaries and the answer check use structured output (a strict JSON schema); answers stream,
and each sentence is passed on as soon as it is complete so speech can start early. Every provider or parsing
failure becomes ``LanguageModelError``, which the fallback engine answers from the local engine (an
unreadable answer check is None instead: the answer gate's verdict stands).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Sequence

import httpx
import openai
import structlog
from openai.types.chat import ChatCompletionMessageParam
from openai.types.completion_usage import CompletionUsage
from pydantic import BaseModel, Field, ValidationError

from ..dialogue.entities import parse_email, parse_name, parse_phone
from ..dialogue.intents import detect_topic, extract_entities, is_frustrated
from ..dialogue.prompt_files import PromptName, SchemaName, load_prompt, load_schema
from ..dialogue.speech_text import limit_spoken, speakable, split_sentences
from ..domain import CaseSummary, DialogueContext, Entities, Intent, Passage, Turn, Understanding, Usage
from ..settings import Settings
from .errors import LanguageModelError

log = structlog.get_logger(__name__)

_HISTORY_TURNS = 6
_SUBJECT_MAX = 80
_QUERY_MAX_TOKENS = 60
_QUERY_MAX_CHARS = 300
_CONFIRM_MAX_TOKENS = 20  # {"answers": false} is 6 tokens
_BARE_VERDICTS = {"yes": True, "no": False, "true": True, "false": False}


class _UnderstandingOut(BaseModel):
    intent: Intent
    confidence: float = Field(ge=0.0, le=1.0)
    email: str | None = None
    phone: str | None = None
    case_number: int | None = Field(default=None, ge=0)
    name: str | None = None
    frustrated: bool = False
    topic: str | None = None


class _SummaryOut(BaseModel):
    subject: str = Field(min_length=1)
    summary: str


def _record(usage: Usage, reported: CompletionUsage | None) -> None:
    if reported is not None:
        usage.model_input_tokens += reported.prompt_tokens
        usage.model_output_tokens += reported.completion_tokens


def _read_verdict(content: str) -> bool | None:
    """``{"answers": <bool>}`` (or a bare yes/no) as a bool; anything else None."""
    bare = content.strip().strip(".!\"'").lower()
    if bare in _BARE_VERDICTS:
        return _BARE_VERDICTS[bare]
    try:
        out = json.loads(content)
    except json.JSONDecodeError:
        return None
    answers = out.get("answers") if isinstance(out, dict) else None
    return answers if isinstance(answers, bool) else None


def client_from_settings(settings: Settings) -> openai.AsyncOpenAI:
    """The SDK client with the configured endpoint, key, timeout and retries."""
    key = settings.openai_api_key.get_secret_value()
    if not key and not settings.openai_base_url:
        raise ValueError(
            "KCA_OPENAI_API_KEY is required for OpenAI engines (language or speech) on the default endpoint"
        )
    return openai.AsyncOpenAI(
        # A self-hosted OpenAI-compatible server may need no key, but the SDK insists on a non-empty one.
        api_key=key or "unused",
        base_url=settings.openai_base_url or None,
        timeout=settings.llm_timeout_seconds,
        max_retries=settings.llm_max_retries,
    )


class OpenAILanguageEngine:
    """``ports.LanguageEngine`` on a chat-completions endpoint."""

    name = "openai"

    def __init__(
        self,
        client: openai.AsyncOpenAI,
        *,
        model: str,
        helpdesk_name: str,
        tone: str = "friendly and concise",
        max_sentences: int = 3,
        max_words: int = 60,
        max_answer_tokens: int = 200,
    ) -> None:
        self._client = client
        self.model = model
        self.helpdesk_name = helpdesk_name
        self.tone = tone
        self.max_sentences = max_sentences
        self.max_words = max_words
        self.max_answer_tokens = max_answer_tokens

    @classmethod
    def from_settings(cls, settings: Settings) -> OpenAILanguageEngine:
        return cls(
            client_from_settings(settings),
            model=settings.llm_model,
            helpdesk_name=settings.helpdesk_name,
            tone=settings.assistant_tone,
        )

    def _system(self, prompt: PromptName, helpdesk_name: str = "") -> ChatCompletionMessageParam:
        text = load_prompt(prompt, helpdesk_name=helpdesk_name or self.helpdesk_name, tone=self.tone)
        return {"role": "system", "content": text}

    async def _structured(
        self, purpose: str, messages: list[ChatCompletionMessageParam], schema_name: SchemaName, usage: Usage
    ) -> str:
        try:
            response = await self._client.chat.completions.create(
                model=self.model,
                messages=messages,
                temperature=0,
                response_format={
                    "type": "json_schema",
                    "json_schema": {"name": schema_name, "strict": True, "schema": load_schema(schema_name)},
                },
            )
        except openai.OpenAIError as exc:
            raise LanguageModelError(f"{purpose} request failed: {type(exc).__name__}") from exc
        _record(usage, response.usage)
        if not response.choices or response.choices[0].message.content is None:
            raise LanguageModelError(f"{purpose}: the model returned no content")
        return response.choices[0].message.content

    async def understand(self, text: str, context: DialogueContext, usage: Usage) -> Understanding:
        payload = {
            "utterance": text,
            "expecting": context.expecting,
            "state": context.state,
            "recent_turns": [
                {"speaker": t.speaker.value, "text": t.text} for t in context.history[-_HISTORY_TURNS:]
            ],
            "always_human_topics": list(context.always_human_topics),
        }
        messages: list[ChatCompletionMessageParam] = [
            self._system("understand", context.helpdesk_name),
            {"role": "user", "content": json.dumps(payload, ensure_ascii=False)},
        ]
        content = await self._structured("understanding", messages, "understand", usage)
        try:
            out = _UnderstandingOut.model_validate(json.loads(content))
        except (json.JSONDecodeError, ValidationError) as exc:
            raise LanguageModelError(f"understanding: unusable model output ({type(exc).__name__})") from exc
        # The shared parsers read the caller's own words first (they resolve spoken forms and corrections
        # the same way on every engine); the model's values fill in what they did not find.
        parsed = extract_entities(text, context.expecting)
        entities = Entities(
            email=parsed.email or (parse_email(out.email) if out.email else None),
            phone=parsed.phone or (parse_phone(out.phone) if out.phone else None),
            case_number=parsed.case_number if parsed.case_number is not None else out.case_number,
            name=parsed.name or (parse_name(out.name, bare=True) if out.name else None),
        )
        topic = out.topic if out.topic in context.always_human_topics else None
        understanding = Understanding(
            intent=out.intent,
            confidence=out.confidence,
            entities=entities,
            frustrated=out.frustrated or is_frustrated(text, context.history),
            topic=topic or detect_topic(text, context.always_human_topics),
            engine=self.name,
        )
        log.debug(
            "model_understanding",
            intent=understanding.intent.value,
            confidence=understanding.confidence,
            expecting=context.expecting,
            topic=understanding.topic,
            frustrated=understanding.frustrated,
        )
        return understanding

    async def answer(
        self, question: str, passages: Sequence[Passage], context: DialogueContext, usage: Usage
    ) -> AsyncIterator[str]:
        grounding = "\n\n".join(
            f"<passage title={json.dumps(p.title)} heading={json.dumps(p.heading or '')}>\n"
            f"{p.text}\n</passage>"
            for p in passages
        )
        messages: list[ChatCompletionMessageParam] = [
            self._system("answer", context.helpdesk_name),
            {
                "role": "user",
                "content": f"Caller's question: {question}\n\nHelp-center passages:\n{grounding}",
            },
        ]
        try:
            stream = await self._client.chat.completions.create(
                model=self.model,
                messages=messages,
                temperature=0.2,
                max_tokens=self.max_answer_tokens,
                stream=True,
                stream_options={"include_usage": True},
            )
        except openai.OpenAIError as exc:
            raise LanguageModelError(f"answer request failed: {type(exc).__name__}") from exc

        finished = False

        async def deltas() -> AsyncIterator[str]:
            nonlocal finished
            async for chunk in stream:
                _record(usage, chunk.usage)
                for choice in chunk.choices:
                    if choice.delta.content:
                        yield choice.delta.content
                    if choice.finish_reason is not None:
                        finished = True

        spoken_sentences = 0
        spoken_words = 0
        full = False
        try:
            async with contextlib.aclosing(split_sentences(deltas())) as sentences:
                async for sentence in sentences:
                    spoken = speakable(sentence)
                    if full or not spoken:
                        continue  # past the spoken limit: keep reading only for the usage report
                    words = len(spoken.split())
                    if spoken_sentences and spoken_words + words > self.max_words:
                        full = True
                        continue
                    if words > self.max_words:
                        spoken = limit_spoken(spoken, max_sentences=1, max_words=self.max_words)
                    yield spoken
                    spoken_sentences += 1
                    spoken_words += words
                    full = spoken_sentences >= self.max_sentences
        except (openai.OpenAIError, httpx.HTTPError) as exc:
            raise LanguageModelError(f"answer stream failed: {type(exc).__name__}") from exc
        finally:
            await stream.close()
        if not finished:
            raise LanguageModelError("answer stream ended before the model finished")

    async def search_query(self, text: str, context: DialogueContext, usage: Usage) -> str:
        """The model rewrites the turn into a search query using the recent turns (prompts/search_query.md).

        Raises ``LanguageModelError`` when the endpoint fails or returns nothing usable.
        """
        recent = "\n".join(
            f"{t.speaker.value.capitalize()}: {t.text}"
            for t in context.history[-_HISTORY_TURNS:]
            if t.text.strip()
        )
        messages: list[ChatCompletionMessageParam] = [
            self._system("search_query", context.helpdesk_name),
            {"role": "user", "content": f"Recent turns:\n{recent or '(none)'}\n\nCaller's turn: {text}"},
        ]
        try:
            response = await self._client.chat.completions.create(
                model=self.model, messages=messages, temperature=0, max_tokens=_QUERY_MAX_TOKENS
            )
        except openai.OpenAIError as exc:
            raise LanguageModelError(f"search query request failed: {type(exc).__name__}") from exc
        _record(usage, response.usage)
        content = response.choices[0].message.content if response.choices else None
        query = " ".join((content or "").split()).strip().strip('"')
        if not query:
            raise LanguageModelError("search query: the model returned no text")
        return query[:_QUERY_MAX_CHARS]

    async def confirms_answer(
        self, question: str, passage: Passage, context: DialogueContext, usage: Usage
    ) -> bool | None:
        """The model judges whether the passage answers the question (prompts/confirm.md): a strict JSON
        ``{"answers": true|false}`` (a bare "yes"/"no" from an endpoint that ignores the schema is read too).

        A reply that is neither is None (the gate's verdict stands); an endpoint failure raises
        ``LanguageModelError``.
        """
        recent = "\n".join(
            f"{t.speaker.value.capitalize()}: {t.text}"
            for t in context.history[-_HISTORY_TURNS:]
            if t.text.strip()
        )
        messages: list[ChatCompletionMessageParam] = [
            self._system("confirm", context.helpdesk_name),
            {
                "role": "user",
                "content": f"Recent turns:\n{recent or '(none)'}\n\nCaller's question: {question}\n\n"
                f"<passage title={json.dumps(passage.title)} heading={json.dumps(passage.heading or '')}>\n"
                f"{passage.text}\n</passage>",
            },
        ]
        try:
            response = await self._client.chat.completions.create(
                model=self.model,
                messages=messages,
                temperature=0,
                max_tokens=_CONFIRM_MAX_TOKENS,
                response_format={
                    "type": "json_schema",
                    "json_schema": {"name": "confirm", "strict": True, "schema": load_schema("confirm")},
                },
            )
        except openai.OpenAIError as exc:
            raise LanguageModelError(f"answer check request failed: {type(exc).__name__}") from exc
        _record(usage, response.usage)
        content = (response.choices[0].message.content if response.choices else None) or ""
        verdict = _read_verdict(content)
        if verdict is None:
            log.warning("model_answer_check_unreadable", reply_chars=len(content))
        else:
            log.debug("model_answer_check", answers=verdict, article_id=passage.article_id)
        return verdict

    async def summarize(self, transcript: Sequence[Turn], usage: Usage) -> CaseSummary:
        lines = "\n".join(f"{t.speaker.value.capitalize()}: {t.text}" for t in transcript if t.text.strip())
        messages: list[ChatCompletionMessageParam] = [
            self._system("summary"),
            {"role": "user", "content": f"Transcript:\n{lines}"},
        ]
        content = await self._structured("summary", messages, "summary", usage)
        try:
            out = _SummaryOut.model_validate(json.loads(content))
        except (json.JSONDecodeError, ValidationError) as exc:
            raise LanguageModelError(f"summary: unusable model output ({type(exc).__name__})") from exc
        subject = out.subject.strip()
        if len(subject) > _SUBJECT_MAX:
            subject = subject[: _SUBJECT_MAX - 1].rsplit(" ", 1)[0] + "…"
        return CaseSummary(subject=subject, summary=out.summary.strip())
