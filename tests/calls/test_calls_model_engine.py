"""Whole calls on the model engine: the real OpenAI SDK against the fake OpenAI-compatible server on a port
(structured output for understanding and summaries, streamed answers)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from calls_support import MemoryHelpDesk, WordRetriever

from kayako_call_assistant.calls.policy import CallPolicy
from kayako_call_assistant.calls.service import CallService
from kayako_call_assistant.cli.chat import run_chat
from kayako_call_assistant.domain import CallOutcome, EndCall, FlowAction, Say
from kayako_call_assistant.fakes.openai_server import FakeOpenAIScript, create_app
from kayako_call_assistant.llm.engines import language_engine_from_settings
from kayako_call_assistant.servers import serve_in_background
from kayako_call_assistant.settings import Settings
from kayako_call_assistant.storage import SqlStores

ARTICLES = {
    1: (
        "Reset your password",
        "Open the login page and choose Forgot password. Follow the link in the email to set a new password.",
    ),
}


@pytest.fixture
async def openai_fake() -> AsyncIterator[tuple[str, FakeOpenAIScript]]:
    script = FakeOpenAIScript()
    async with serve_in_background(create_app(script)) as url:
        yield url, script


async def _lines(items: list[str]) -> AsyncIterator[str]:
    for item in items:
        yield item


def _service(stores: SqlStores, helpdesk: MemoryHelpDesk, url: str) -> CallService:
    settings = Settings(
        llm_engine="openai", openai_base_url=f"{url}/v1", openai_api_key="sk-test", llm_max_retries=0
    )
    return CallService(
        helpdesk=helpdesk,
        engine=language_engine_from_settings(settings),
        retriever=WordRetriever(ARTICLES),
        calls=stores.calls,
        outbox=stores.outbox,
        policy=CallPolicy(helpdesk_name="Acme Support"),
    )


async def test_resolved_call_on_the_model_engine_streams_the_grounded_answer(
    stores: SqlStores, openai_fake: tuple[str, FakeOpenAIScript]
) -> None:
    url, script = openai_fake
    actions: list[FlowAction] = []
    flow = await run_chat(
        _service(stores, MemoryHelpDesk(), url),
        _lines(["how do I reset my password", "yes"]),
        on_action=actions.append,
    )
    says = [a.text for a in actions if isinstance(a, Say)]
    assert "Open the login page and choose Forgot password." in says
    assert "Follow the link in the email to set a new password." in says  # one Say per streamed sentence
    assert isinstance(actions[-1], EndCall) and flow.call.outcome is CallOutcome.RESOLVED
    requests = script.chat_requests()
    structured = [r for r in requests if (r.get("response_format") or {}).get("type") == "json_schema"]
    streamed = [r for r in requests if r.get("stream")]
    assert len(structured) == 2 and len(streamed) == 1
    assert "Forgot password" in str(streamed[0]["messages"])  # the answer is grounded in the passage
    stored = await stores.calls.get_call(flow.call.call_id)
    assert stored is not None and stored.usage.model_input_tokens > 0 and stored.usage.model_output_tokens > 0


async def test_escalated_call_on_the_model_engine_files_a_summarized_case(
    stores: SqlStores, openai_fake: tuple[str, FakeOpenAIScript]
) -> None:
    url, script = openai_fake
    helpdesk = MemoryHelpDesk()
    flow = await run_chat(
        _service(stores, helpdesk, url),
        _lines(
            [
                "my order arrived broken, I want to speak to a person",
                "Jane Doe",
                "jane@example.com",
                "yes",
                "no",
            ]
        ),
    )
    assert (
        flow.call.outcome is CallOutcome.ESCALATED
        and flow.call.escalation_reason == "caller_asked_for_person"
    )
    assert flow.call.contact.email == "jane@example.com" and flow.call.case_id == 1000
    (_info, draft, _requester), *_ = helpdesk.cases.values()
    assert draft.subject == "my order arrived broken, I want to speak to a person"
    assert "my order arrived broken" in draft.contents_html
    summaries = [r for r in script.chat_requests() if "summary" in str(r.get("response_format"))]
    assert summaries, "the case summary comes from the model"


async def test_model_outage_mid_call_falls_back_to_the_local_engine(
    stores: SqlStores, openai_fake: tuple[str, FakeOpenAIScript]
) -> None:
    url, script = openai_fake
    script.fail(status=500, times=10)
    flow = await run_chat(
        _service(stores, MemoryHelpDesk(), url), _lines(["how do I reset my password", "yes"])
    )
    assert flow.call.outcome is CallOutcome.RESOLVED
    assert any("Forgot password" in t.text for t in flow.turns)
