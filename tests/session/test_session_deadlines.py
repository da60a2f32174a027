"""Deadlines on the call path against a model endpoint that accepts connections and never answers (a real
TCP server that reads and says nothing): the turn budget, not the client's 30 s timeout, decides when the
local engine answers instead."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import openai
import pytest

from kayako_call_assistant.domain import DialogueContext, Passage, Understanding, Usage
from kayako_call_assistant.llm.fallback import CircuitBreaker, FallbackLanguageEngine
from kayako_call_assistant.llm.local import LocalLanguageEngine
from kayako_call_assistant.llm.openai_engine import OpenAILanguageEngine


@pytest.fixture
async def silent_endpoint() -> AsyncIterator[str]:
    held: list[asyncio.StreamWriter] = []

    async def accept(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # never answered

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_a_model_that_never_answers_is_replaced_by_the_local_engine_within_the_turn_budget(
    silent_endpoint: str,
) -> None:
    client = openai.AsyncOpenAI(base_url=silent_endpoint, api_key="test", timeout=30.0, max_retries=0)
    primary = OpenAILanguageEngine(client, model="gpt-4o-mini", helpdesk_name="Acme")
    engine = FallbackLanguageEngine(
        primary, LocalLanguageEngine(), CircuitBreaker(5, 30), turn_budget_seconds=0.5
    )
    context = DialogueContext(state="listening", helpdesk_name="Acme")
    passage = Passage(1, "Reset your password", "Open Settings and choose Forgot password. Check your email.")

    async def turn() -> tuple[Understanding, list[str]]:
        # One caller turn, in one task as the call session runs it: the understanding starts its budget.
        understanding = await engine.understand("how do I reset my password", context, Usage())
        sentences = [
            s async for s in engine.answer("how do I reset my password", [passage], context, Usage())
        ]
        return understanding, sentences

    try:
        # The guard is far above the budget and below the client's 30 s: only the budget ends it in time.
        understanding, sentences = await asyncio.wait_for(turn(), 15)
    finally:
        await client.close()
    assert understanding.engine == "local"
    assert sentences and "Forgot password" in " ".join(sentences)
    assert engine.breaker.state == "closed"  # two failures, under the threshold of five
