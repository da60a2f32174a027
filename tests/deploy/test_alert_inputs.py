"""The series the alert rules read that this branch adds: the model fallback counter (the real SDK against the
fake OpenAI server failing), readiness and draining gauges."""

from __future__ import annotations

import asyncio

import openai
from prometheus_client import REGISTRY

from kayako_call_assistant.domain import DialogueContext, Usage
from kayako_call_assistant.fakes.openai_server import FakeOpenAIScript, create_app
from kayako_call_assistant.llm.fallback import CircuitBreaker, FallbackLanguageEngine
from kayako_call_assistant.llm.local import LocalLanguageEngine
from kayako_call_assistant.llm.openai_engine import OpenAILanguageEngine
from kayako_call_assistant.servers import serve_in_background
from kayako_call_assistant.web.drain import Drain


def _fallbacks(operation: str) -> float:
    return REGISTRY.get_sample_value("kca_model_fallbacks_total", {"operation": operation}) or 0.0


async def test_fallback_turns_are_counted_whether_the_primary_failed_or_was_skipped() -> None:
    script = FakeOpenAIScript()
    async with serve_in_background(create_app(script)) as url:
        client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="test-key", max_retries=0)
        primary = OpenAILanguageEngine(client, model="gpt-4o-mini", helpdesk_name="Acme", tone="warm")  # type: ignore[arg-type]
        engine = FallbackLanguageEngine(primary, LocalLanguageEngine(), CircuitBreaker(1, 300))
        context = DialogueContext(state="listening", helpdesk_name="Acme")
        before = _fallbacks("understand")
        await engine.understand("I need help with my invoice", context, Usage())  # served by the primary
        assert _fallbacks("understand") == before
        script.fail(500)
        await engine.understand("I need help with my invoice", context, Usage())  # primary fails
        assert _fallbacks("understand") == before + 1
        await engine.understand("I need help with my invoice", context, Usage())  # breaker open: skipped
        assert _fallbacks("understand") == before + 2
        await client.close()


async def test_draining_sets_its_gauge_and_ends_when_the_live_calls_end() -> None:
    live = {"CA1": object()}
    drain = Drain(live_calls=lambda: len(live), poll_seconds=0.01)
    task = asyncio.create_task(drain.run(bound_seconds=600))
    await asyncio.sleep(0)  # the drain runs up to its first wait: it has started
    assert drain.draining
    assert REGISTRY.get_sample_value("kca_draining") == 1
    assert not task.done()
    live.clear()  # the last call ended
    assert await asyncio.wait_for(task, 30) is True


async def test_a_drain_bound_cuts_the_wait() -> None:
    drain = Drain(live_calls=lambda: 1, poll_seconds=0.01)
    assert await drain.run(bound_seconds=0.05) is False
