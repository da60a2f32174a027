"""Whole calls where the model engine checks the gate's answer before it is read (``KCA_KB_CONFIRM``): the
real OpenAI SDK against the fake OpenAI-compatible server on a port, the fallback engine as wired from
settings. A "no" hands the call off as when nothing matched; a "yes", an unreadable reply or a model error
leave the gate's verdict standing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from calls_support import MemoryHelpDesk, WordRetriever
from prometheus_client import REGISTRY

from kayako_call_assistant.calls.service import CallService
from kayako_call_assistant.cli.chat import run_chat
from kayako_call_assistant.domain import CallOutcome
from kayako_call_assistant.fakes.openai_server import CannedResponse, FakeOpenAIScript, create_app
from kayako_call_assistant.llm.engines import language_engine_from_settings
from kayako_call_assistant.servers import serve_in_background
from kayako_call_assistant.settings import Settings
from kayako_call_assistant.storage import SqlStores
from kayako_call_assistant.wiring import policy_from_settings

ARTICLES = {
    1: (
        "Reset your password",
        "Open the login page and choose Forgot password. Follow the link in the email to set a new password.",
    ),
}
# WordRetriever: the share of the question's long words an article contains, against a threshold of 0.5.
UNCERTAIN = "can I reset the password on my router firmware"  # 2 of 4 words: exactly at the threshold
CERTAIN = "how do I reset my password"  # 2 of 2: 0.5 above it
CONTACT = ["Jane Doe", "jane@example.com", "yes", "no"]
ANSWER_SENTENCE = "Open the login page and choose Forgot password."


@pytest.fixture
async def openai_fake() -> AsyncIterator[tuple[str, FakeOpenAIScript]]:
    script = FakeOpenAIScript()
    async with serve_in_background(create_app(script)) as url:
        yield url, script


async def _lines(items: list[str]) -> AsyncIterator[str]:
    for item in items:
        yield item


def _service(
    stores: SqlStores, url: str, *, helpdesk: MemoryHelpDesk | None = None, **settings: Any
) -> CallService:
    configured = Settings(
        llm_engine=settings.pop("llm_engine", "openai"),
        openai_base_url=f"{url}/v1",
        openai_api_key="sk-test",
        llm_max_retries=0,
        helpdesk_name="Acme Support",
        **settings,
    )
    return CallService(
        helpdesk=helpdesk or MemoryHelpDesk(),
        engine=language_engine_from_settings(configured),
        retriever=WordRetriever(ARTICLES),
        calls=stores.calls,
        outbox=stores.outbox,
        policy=policy_from_settings(configured),
    )


def _checks(script: FakeOpenAIScript) -> list[dict[str, Any]]:
    return [
        r for r in script.chat_requests() if '"answers"' in str(r.get("response_format")).replace("'", '"')
    ]


def _said(flow: Any) -> str:
    return " ".join(turn.text for turn in flow.turns)


async def test_the_model_saying_no_hands_an_uncertain_answer_off(
    stores: SqlStores, openai_fake: tuple[str, FakeOpenAIScript]
) -> None:
    url, script = openai_fake
    script.answer_checks.append(CannedResponse(content='{"answers": false}'))
    helpdesk = MemoryHelpDesk()
    flow = await run_chat(_service(stores, url, helpdesk=helpdesk), _lines([UNCERTAIN, *CONTACT]))
    assert flow.call.outcome is CallOutcome.ESCALATED
    assert flow.call.escalation_reason == "no_relevant_article"  # as when the search found nothing
    assert ANSWER_SENTENCE not in _said(flow) and flow.call.case_id is not None
    (check,) = _checks(script)
    user = check["messages"][1]["content"]
    assert f"Caller's question: {UNCERTAIN}" in user and "Forgot password" in user
    assert not [r for r in script.chat_requests() if r.get("stream")]  # no answer was generated
    (_info, draft, _requester), *_ = helpdesk.cases.values()
    assert "router firmware" in draft.contents_html  # the question goes to a person


async def test_the_model_saying_yes_lets_the_uncertain_answer_be_read(
    stores: SqlStores, openai_fake: tuple[str, FakeOpenAIScript]
) -> None:
    url, script = openai_fake
    script.answer_checks.append(CannedResponse(content='{"answers": true}'))
    flow = await run_chat(_service(stores, url), _lines([UNCERTAIN, "yes"]))
    assert flow.call.outcome is CallOutcome.RESOLVED
    assert ANSWER_SENTENCE in _said(flow)
    assert len(_checks(script)) == 1
    stored = await stores.calls.get_call(flow.call.call_id)
    assert stored is not None and stored.usage.model_input_tokens > 0


async def test_a_certain_answer_is_read_without_asking_the_model(
    stores: SqlStores, openai_fake: tuple[str, FakeOpenAIScript]
) -> None:
    url, script = openai_fake
    script.answer_checks.append(CannedResponse(content='{"answers": false}'))  # would hand off if asked
    flow = await run_chat(_service(stores, url), _lines([CERTAIN, "yes"]))
    assert flow.call.outcome is CallOutcome.RESOLVED and ANSWER_SENTENCE in _said(flow)
    assert _checks(script) == [] and len(script.answer_checks) == 1


async def test_always_checks_even_a_certain_answer(
    stores: SqlStores, openai_fake: tuple[str, FakeOpenAIScript]
) -> None:
    url, script = openai_fake
    script.answer_checks.append(CannedResponse(content='{"answers": false}'))
    flow = await run_chat(_service(stores, url, kb_confirm="always"), _lines([CERTAIN, *CONTACT]))
    assert flow.call.outcome is CallOutcome.ESCALATED
    assert flow.call.escalation_reason == "no_relevant_article"
    assert len(_checks(script)) == 1 and ANSWER_SENTENCE not in _said(flow)


async def test_off_never_checks(stores: SqlStores, openai_fake: tuple[str, FakeOpenAIScript]) -> None:
    url, script = openai_fake
    script.answer_checks.append(CannedResponse(content='{"answers": false}'))
    flow = await run_chat(_service(stores, url, kb_confirm="off"), _lines([UNCERTAIN, "yes"]))
    assert flow.call.outcome is CallOutcome.RESOLVED and ANSWER_SENTENCE in _said(flow)
    assert _checks(script) == []


async def test_a_narrow_band_makes_the_near_answer_certain(
    stores: SqlStores, openai_fake: tuple[str, FakeOpenAIScript]
) -> None:
    url, script = openai_fake
    question = "reset my password for the router"  # reset, password of 3 words: 0.17 above
    flow = await run_chat(_service(stores, url, kb_confirm_band=0.1), _lines([question, "yes"]))
    assert flow.call.outcome is CallOutcome.RESOLVED and _checks(script) == []
    flow = await run_chat(_service(stores, url, kb_confirm_band=0.2), _lines([question, "yes"]))
    assert flow.call.outcome is CallOutcome.RESOLVED and len(_checks(script)) == 1  # the fake says yes


async def test_an_unreadable_reply_keeps_the_gates_answer(
    stores: SqlStores, openai_fake: tuple[str, FakeOpenAIScript]
) -> None:
    url, script = openai_fake
    script.answer_checks.append(CannedResponse(content="It depends on which router you have."))
    flow = await run_chat(_service(stores, url), _lines([UNCERTAIN, "yes"]))
    assert flow.call.outcome is CallOutcome.RESOLVED and ANSWER_SENTENCE in _said(flow)
    assert len(_checks(script)) == 1


async def test_a_model_error_on_the_check_keeps_the_gates_answer(
    stores: SqlStores, openai_fake: tuple[str, FakeOpenAIScript]
) -> None:
    url, script = openai_fake
    labels = {"operation": "confirms_answer"}
    before = REGISTRY.get_sample_value("kca_model_fallbacks_total", labels) or 0.0
    script.answer_checks.append(CannedResponse(status=500))
    flow = await run_chat(_service(stores, url), _lines([UNCERTAIN, "yes"]))
    assert flow.call.outcome is CallOutcome.RESOLVED and ANSWER_SENTENCE in _said(flow)
    assert len(_checks(script)) == 1
    assert REGISTRY.get_sample_value("kca_model_fallbacks_total", labels) == before + 1


async def test_the_local_engine_cannot_judge_and_the_call_is_answered_as_before(
    stores: SqlStores, openai_fake: tuple[str, FakeOpenAIScript]
) -> None:
    url, script = openai_fake
    flow = await run_chat(
        _service(stores, url, llm_engine="local", kb_confirm="always"), _lines([UNCERTAIN, "yes"])
    )
    assert flow.call.outcome is CallOutcome.RESOLVED
    assert "Forgot password" in _said(flow)
    assert script.chat_requests() == []
