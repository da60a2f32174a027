"""An OpenAI-compatible HTTP server for tests, demos and benchmarks: real sockets, the real SDK, no network.

``POST /v1/chat/completions`` answers deterministically from the messages (structured output that
validates against the request's JSON schema, an answer check saying yes; answers quoting the ``<passage>``
the prompt grounds them in), with or without SSE streaming and its final usage chunk. A programmable queue of canned responses adds
latency, HTTP errors, malformed JSON and streams cut mid-way. ``POST /v1/embeddings`` returns hashed
bag-of-words vectors; the speech endpoints are in ``openai_audio``; ``GET /v1/models`` lists the models;
``GET /_fake/requests`` shows what was asked.

    uvicorn --factory kayako_call_assistant.fakes.openai_server:create_app --port 8200
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import itertools
import json
import re
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from ..dialogue.entities import parse_case_number, parse_email, parse_phone
from . import openai_audio

_EMBEDDING_DIMENSIONS = 64
_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 429: "rate_limit_error"}


class StreamCut(RuntimeError):
    """Raised inside a streaming body to drop the connection mid-response, as a failing upstream does."""


@dataclass(slots=True)
class CannedResponse:
    """What the next chat completion does instead of the default behaviour."""

    content: str | None = (
        None  # the reply text (for a structured request: the JSON text); None: default reply
    )
    status: int = 200  # anything else: an OpenAI-style error response with this status
    delay_seconds: float = 0.0  # wait before answering (a timeout test sets it above the client's timeout)
    malformed_json: bool = False  # a structured request gets text that is not JSON
    cut_after_chunks: int | None = None  # streaming: drop the connection after this many content chunks


@dataclass(slots=True)
class FakeOpenAIScript:
    """The fake's programmable state, shared with the test that created the app (same event loop)."""

    queue: deque[CannedResponse] = field(default_factory=deque)
    requests: list[dict[str, Any]] = field(default_factory=list)
    models: tuple[str, ...] = ("gpt-4o-mini", "text-embedding-3-small")
    transcripts: deque[str] = field(default_factory=deque)  # what the next transcriptions return
    audio_failures: deque[int] = field(default_factory=deque)  # HTTP statuses of the next audio requests
    # What the next answer checks (requests for ``{"answers": bool}``, prompts/confirm.md) do, ahead of ``queue``.
    answer_checks: deque[CannedResponse] = field(default_factory=deque)

    def push(self, *responses: CannedResponse) -> None:
        self.queue.extend(responses)

    def fail(self, status: int = 500, times: int = 1) -> None:
        self.queue.extend(CannedResponse(status=status) for _ in range(times))

    def chat_requests(self) -> list[dict[str, Any]]:
        return [r["body"] for r in self.requests if r["path"] == "/v1/chat/completions"]


# --- Deterministic replies ---------------------------------------------------------------------------


def _text_of(message: dict[str, Any]) -> str:
    content = message.get("content") or ""
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(content)


def _words(messages: list[dict[str, Any]]) -> int:
    return sum(len(_text_of(m).split()) for m in messages)


def _instance(schema: dict[str, Any]) -> Any:
    """The simplest value that validates against ``schema`` (the subset structured outputs use)."""
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = "null" if "null" in kind else kind[0]
    if kind == "object":
        properties = schema.get("properties", {})
        return {name: _instance(properties[name]) for name in schema.get("required", properties)}
    return {"array": [], "string": "", "number": 0.0, "integer": 0, "boolean": False, "null": None}[kind]


def _fits(value: Any, schema: dict[str, Any]) -> bool:
    kinds = schema.get("type", [])
    kinds = kinds if isinstance(kinds, list) else [kinds]
    checks = {
        "string": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
        "null": value is None,
        "object": isinstance(value, dict),
        "array": isinstance(value, list),
    }
    if "enum" in schema and value not in schema["enum"]:
        return False
    return any(checks.get(kind, False) for kind in kinds) if kinds else True


def _understanding(utterance: str, topics: list[str]) -> dict[str, Any]:
    """Keyword rules, deliberately simple: enough for a call to go somewhere sensible in a demo."""
    text = utterance.lower()
    email, phone, case_number = parse_email(utterance), parse_phone(utterance), parse_case_number(utterance)
    rules = (
        ("handoff", r"\b(?:human|person|agent|representative|operator|someone)\b"),
        ("affirm", r"^(?:yes|yeah|yep|correct|right|sure)\b"),
        ("deny", r"^(?:no|nope|nah)\b"),
        ("goodbye", r"\b(?:bye|goodbye)\b"),
        ("thanks", r"\bthank"),
        ("greeting", r"^(?:hi|hello|hey)\b"),
        ("repeat", r"\b(?:repeat|again|pardon)\b"),
        ("case_status", r"\bstatus\b.*\b(?:case|ticket)\b|\b(?:case|ticket)\b.*\bstatus\b"),
        ("dont_know", r"\b(?:don't know|not sure)\b"),
    )
    intent = next((name for name, pattern in rules if re.search(pattern, text)), None)
    if intent is None:
        intent = "inform" if email or phone else "question"
    topic_words = {
        "billing_dispute": r"\b(?:dispute|charged twice|overcharged|chargeback)\b",
        "security_incident": r"\b(?:hacked|breach|phishing)\b",
        "legal": r"\b(?:lawyer|lawsuit|sue|legal)\b",
    }
    topic = next((t for t in topics if t in topic_words and re.search(topic_words[t], text)), None)
    return {
        "intent": intent,
        "confidence": 0.9,
        "email": email,
        "phone": phone,
        "case_number": case_number,
        "name": None,
        "frustrated": bool(re.search(r"\b(?:ridiculous|useless|stupid|fed up)\b", text)),
        "topic": topic,
    }


def _structured(messages: list[dict[str, Any]], schema: dict[str, Any]) -> dict[str, Any]:
    user = next((_text_of(m) for m in reversed(messages) if m.get("role") == "user"), "")
    properties = schema.get("properties", {})
    proposal: dict[str, Any] = {}
    if "intent" in properties:
        try:
            payload = json.loads(user)
        except json.JSONDecodeError:
            payload = {"utterance": user}
        proposal = _understanding(
            str(payload.get("utterance", "")), list(payload.get("always_human_topics", []))
        )
    elif "subject" in properties and "summary" in properties:
        said = [
            line.split(":", 1)[1].strip() for line in user.splitlines() if line.lower().startswith("caller:")
        ]
        first = next((s for s in said if len(s.split()) >= 3), said[0] if said else "Phone call")
        proposal = {
            "subject": first[:80],
            "summary": " ".join(said) or "The caller did not describe an issue.",
        }
    elif "answers" in properties:  # the answer check (prompts/confirm.md): agree with the gate
        proposal = {"answers": True}
    result = _instance(schema)
    if isinstance(result, dict):
        for name, value in proposal.items():
            if name in properties and _fits(value, properties[name]):
                result[name] = value
    return result if isinstance(result, dict) else {"value": result}


def _is_answer_check(body: dict[str, Any]) -> bool:
    json_schema = (body.get("response_format") or {}).get("json_schema") or {}
    return "answers" in ((json_schema.get("schema") or {}).get("properties") or {})


def _search_query(messages: list[dict[str, Any]]) -> str | None:
    """A query-rewrite request (prompts/search_query.md): the caller's turn back, as a literal model would."""
    user = next((_text_of(m) for m in reversed(messages) if m.get("role") == "user"), "")
    turn = re.search(r"Caller's turn: (.*)\Z", user, re.DOTALL)
    return " ".join(turn.group(1).split()) if turn else None


def _grounded_answer(messages: list[dict[str, Any]]) -> str:
    user = next((_text_of(m) for m in reversed(messages) if m.get("role") == "user"), "")
    passage = re.search(r"<passage[^>]*>(.*?)</passage>", user, re.DOTALL)
    if passage is None:
        return "I could not find that in the help center."
    text = re.sub(r"\s+", " ", passage.group(1)).strip()
    sentences = re.findall(r"[^.!?]+[.!?]+", text) or [text]
    return " ".join(s.strip() for s in sentences[:2])


# --- HTTP --------------------------------------------------------------------------------------------


def _error(status: int) -> JSONResponse:
    body = {
        "error": {
            "message": f"fake upstream error {status}",
            "type": _ERROR_TYPES.get(status, "server_error"),
            "param": None,
            "code": None,
        }
    }
    # The SDK honours retry-after-ms: retries in tests stay fast.
    return JSONResponse(body, status_code=status, headers={"retry-after-ms": "10"})


async def _wait(request: Request, seconds: float) -> None:
    # The body has been read, so the next ASGI message is the client's disconnect: waiting on it ends the
    # delay early when a client times out, and a timed-out request does not hold the server's shutdown.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(request.receive(), timeout=seconds)


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _hashed_embedding(text: str, dimensions: int) -> list[float]:
    vector = np.zeros(dimensions, dtype=np.float32)
    for word in re.findall(r"\w+", text.lower()):
        digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
        index = int.from_bytes(digest[:4], "little") % dimensions
        vector[index] += 1.0 if digest[4] & 1 else -1.0
    norm = float(np.linalg.norm(vector))
    return [float(v) for v in (vector / norm if norm else vector)]


def create_app(script: FakeOpenAIScript | None = None) -> FastAPI:
    """The fake OpenAI server; pass a ``script`` to queue canned responses and read recorded requests."""
    state = script or FakeOpenAIScript()
    app = FastAPI(title="Fake OpenAI")
    app.state.script = state
    ids = itertools.count(1)

    app.include_router(openai_audio.router)

    @app.post("/v1/chat/completions", response_model=None)
    async def chat_completions(request: Request) -> Response:
        body = await request.json()
        state.requests.append({"path": "/v1/chat/completions", "body": body})
        if state.answer_checks and _is_answer_check(body):
            canned = state.answer_checks.popleft()
        else:
            canned = state.queue.popleft() if state.queue else CannedResponse()
        if canned.delay_seconds:
            await _wait(request, canned.delay_seconds)
        if canned.status != 200:
            return _error(canned.status)
        messages: list[dict[str, Any]] = body.get("messages", [])
        response_format = body.get("response_format") or {}
        structured = response_format.get("type") == "json_schema"
        if canned.malformed_json:
            content = '{"intent": "question", "confidence": '
        elif canned.content is not None:
            content = canned.content
        elif structured:
            content = json.dumps(_structured(messages, response_format["json_schema"].get("schema", {})))
        else:
            content = _search_query(messages) or _grounded_answer(messages)
        model = body.get("model", state.models[0])
        completion_id = f"chatcmpl-fake-{next(ids)}"
        usage = _usage(_words(messages), len(content.split()))
        if not body.get("stream"):
            return JSONResponse(
                {
                    "id": completion_id,
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": content},
                            "finish_reason": "stop",
                            "logprobs": None,
                        }
                    ],
                    "usage": usage,
                }
            )
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        async def events() -> AsyncIterator[bytes]:
            def chunk(choices: list[dict[str, Any]], **extra: Any) -> bytes:
                data = {
                    "id": completion_id,
                    "object": "chat.completion.chunk",
                    "created": int(time.time()),
                    "model": model,
                    "choices": choices,
                    **extra,
                }
                return f"data: {json.dumps(data)}\n\n".encode()

            yield chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
            for sent, piece in enumerate(re.findall(r"\S+\s*", content)):
                if canned.cut_after_chunks is not None and sent >= canned.cut_after_chunks:
                    raise StreamCut("stream cut by the script")
                yield chunk([{"index": 0, "delta": {"content": piece}, "finish_reason": None}])
                await asyncio.sleep(0)
            yield chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}])
            if include_usage:
                yield chunk([], usage=usage)
            yield b"data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    @app.post("/v1/embeddings")
    async def embeddings(request: Request) -> JSONResponse:
        body = await request.json()
        state.requests.append({"path": "/v1/embeddings", "body": body})
        inputs = body.get("input", [])
        texts = [inputs] if isinstance(inputs, str) else [str(t) for t in inputs]
        dimensions = int(body.get("dimensions") or _EMBEDDING_DIMENSIONS)
        data = []
        for index, text in enumerate(texts):
            vector = _hashed_embedding(text, dimensions)
            encoded: Any = vector
            if body.get("encoding_format") == "base64":
                encoded = base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode()
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        tokens = sum(len(t.split()) for t in texts)
        return JSONResponse(
            {
                "object": "list",
                "data": data,
                "model": body.get("model", ""),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {
            "object": "list",
            "data": [{"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in state.models],
        }

    @app.get("/_fake/requests")
    async def recorded() -> list[dict[str, Any]]:
        return state.requests

    @app.delete("/_fake/requests")
    async def forget() -> dict[str, int]:
        count = len(state.requests)
        state.requests.clear()
        return {"cleared": count}

    @app.post("/_fake/script")
    async def queue(response: dict[str, Any]) -> dict[str, Any]:
        """Queue a canned response over HTTP (for a demo or benchmark running the fake in another process)."""
        canned = CannedResponse(
            **{k: v for k, v in response.items() if k in CannedResponse.__dataclass_fields__}
        )
        state.push(canned)
        return {"queued": asdict(canned), "pending": len(state.queue)}

    return app
