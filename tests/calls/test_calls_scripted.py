"""Scripted calls on the real parts: the mock Kayako over HTTP, the Kayako client, the knowledge base, SQLite,
and the local language engine or the model engine (the `openai` SDK against the fake OpenAI server)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from kayako_call_assistant.calls.flow import CallFlow
from kayako_call_assistant.cli.chat import SILENCE, run_chat
from kayako_call_assistant.domain import CallOutcome, Speaker
from kayako_call_assistant.fakes.openai_server import create_app as create_openai_app
from kayako_call_assistant.kayako_mock.app import create_app as create_mock_app
from kayako_call_assistant.kayako_mock.config import MockConfig
from kayako_call_assistant.servers import serve_in_background
from kayako_call_assistant.settings import Settings
from kayako_call_assistant.wiring import Runtime, call_runtime

CONTACT = [
    "Sam Lee",
    "sam dot lee at example dot com",
    "yes",
    "four one five five five five zero one nine nine",
    "yes",
]
SCRIPTS = {
    "resolved": ["how do I reset my password", "yes, that worked, thanks"],
    "handoff": ["I want to talk to a real person", *CONTACT],
    "two_failures": ["how do I forward emails in gmail", "no", "no", *CONTACT],
    "no_article": ["my printer is jammed and shows error e forty seven", *CONTACT],
    "email_correction": [
        "let me speak to an agent", "John Smith", "john dot smith at gmail dot com", "no",
        "j o n dot smith at gmail dot com", "yes", "four one five five five five zero one two three", "yes",
    ],
    "silence": [SILENCE, SILENCE, SILENCE],
    "silence_after_problem": ["my printer is jammed and shows error e forty seven", SILENCE, SILENCE, SILENCE],
    "goodbye": ["goodbye"],
    "not_a_yes": ["how do I reset my password", "ok then tell me a joke", "whatever"],
    "small_talk": ["hello", "tell me a joke", "what's the weather like", "goodbye"],
    "answered_then_hang_up": ["how do I reset my password"],
    "email_for_name": [
        "let me speak to an agent", "sure it's j o n dot b r e w e r at gmail dot com", "that's correct",
        "Jon Brewer", "four one five five five five zero one two three", "yes",
    ],
    "details_up_front": [
        "my email is sam dot lee at example dot com and I need to speak to a person",
        "no wait, it's sam dot li at example dot com", "yes", "no thanks",
        "four one five five five five zero one nine nine", "yes",
    ],
}  # fmt: skip


async def _lines(lines: list[str]) -> AsyncIterator[str]:
    for line in lines:
        yield line


@pytest.fixture(params=["local", "openai"])
async def runtime(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[Runtime, str]]:
    config = MockConfig(
        strict=True, help_center="stackfaq"
    )  # the scripts ask StackFAQ's questions (Gmail, ...)
    async with (
        serve_in_background(create_mock_app(config)) as mock,
        serve_in_background(create_openai_app()) as ai,
    ):
        overrides: dict[str, object] = {}
        if request.param == "openai":
            overrides = {"llm_engine": "openai", "openai_base_url": f"{ai}/v1", "openai_api_key": "sk-test"}
        settings = Settings(
            kayako_base_url=f"{mock}/api/v1",
            kayako_email=config.agent_email,
            kayako_password=config.agent_password,  # type: ignore[arg-type]
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'scripted.db'}",
            data_dir=tmp_path,
            **overrides,  # type: ignore[arg-type]
        )
        async with call_runtime(settings) as assembled:
            yield assembled, mock


async def _call(runtime: Runtime, name: str) -> CallFlow:
    return await run_chat(runtime.call_service, _lines(SCRIPTS[name]))


async def _case_text(mock: str, case_id: int) -> str:
    config = MockConfig(strict=True)
    async with httpx.AsyncClient(auth=(config.agent_email, config.agent_password)) as client:
        posts = (await client.get(f"{mock}/api/v1/cases/{case_id}/posts")).json()["data"]
        case = (await client.get(f"{mock}/api/v1/cases/{case_id}", params={"fields": "+tags"})).json()["data"]
    return " ".join(str(p.get("contents", "")) for p in posts) + " tags:" + str(case.get("tags"))


async def test_resolved(runtime: tuple[Runtime, str]) -> None:
    flow = await _call(runtime[0], "resolved")
    assert flow.call.outcome is CallOutcome.RESOLVED
    answer = flow.turns[2].text.lower()
    assert "password" in answer and "did that solve" in answer
    assert flow.call.case_id is None


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("handoff", "caller_asked_for_person"),
        ("two_failures", "answers_did_not_help"),
        ("no_article", "no_relevant_article"),
    ],
)
async def test_escalations_file_a_case_with_the_transcript(
    runtime: tuple[Runtime, str], name: str, reason: str
) -> None:
    assembled, mock = runtime
    flow = await _call(assembled, name)
    assert flow.call.outcome is CallOutcome.ESCALATED, [t.text for t in flow.turns]
    assert flow.call.escalation_reason == reason
    assert flow.call.contact.email == "sam.lee@example.com"
    assert flow.call.contact.phone == "+14155550199"
    case_id = flow.call.case_id
    assert case_id is not None
    spoken = " ".join(t.text for t in flow.turns if t.speaker is Speaker.ASSISTANT)
    assert "eight zero zero" in spoken  # the case number is spoken digit by digit
    text = await _case_text(mock, case_id)
    assert SCRIPTS[name][0] in text  # the whole transcript is in the case
    assert "ai-call" in text and "escalated" in text


async def test_two_failed_answers_offer_a_second_article_first(runtime: tuple[Runtime, str]) -> None:
    flow = await _call(runtime[0], "two_failures")
    assistant = [t.text for t in flow.turns if t.speaker is Speaker.ASSISTANT]
    assert sum("did that solve" in text.lower() for text in assistant) == 2  # two answers, then a person


async def test_email_is_read_back_and_corrected(runtime: tuple[Runtime, str]) -> None:
    assembled, mock = runtime
    flow = await _call(assembled, "email_correction")
    assert flow.call.contact.email == "jon.smith@gmail.com"
    read_backs = [
        t.text for t in flow.turns if t.speaker is Speaker.ASSISTANT and "is that right" in t.text.lower()
    ]
    assert any("j o h n" in text for text in read_backs) and any("j o n" in text for text in read_backs)
    assert flow.call.case_id is not None
    assert "jon.smith@gmail.com" in await _case_text(mock, flow.call.case_id)


async def test_silence_and_goodbye(runtime: tuple[Runtime, str]) -> None:
    assembled, _ = runtime
    silent = await _call(assembled, "silence")
    assert silent.finished and silent.call.outcome is CallOutcome.ABANDONED and silent.call.case_id is None
    assert sum(t.speaker is Speaker.ASSISTANT for t in silent.turns) == 4  # greeting, two reprompts, goodbye
    described = await _call(assembled, "silence_after_problem")
    assert described.finished and described.call.case_id is not None  # the described problem is not lost
    goodbye = await _call(assembled, "goodbye")
    assert goodbye.finished and goodbye.call.case_id is None
    assert "goodbye" in goodbye.turns[-1].text.lower()


async def test_an_email_given_for_the_name_is_taken_read_back_and_kept(runtime: tuple[Runtime, str]) -> None:
    assembled, mock = runtime
    flow = await _call(assembled, "email_for_name")
    said = [t.text for t in flow.turns if t.speaker is Speaker.ASSISTANT]
    assert not any("didn't catch your name" in text for text in said)
    assert any("I have j o n dot brewer at gmail dot com. Is that right?" in text for text in said)
    assert flow.call.contact.email == "jon.brewer@gmail.com"
    assert flow.call.contact.name == "Jon Brewer"
    assert flow.call.contact.phone == "+14155550123"
    assert flow.call.case_id is not None and flow.call.outcome is CallOutcome.ESCALATED
    assert "jon.brewer@gmail.com" in await _case_text(mock, flow.call.case_id)


async def test_details_offered_before_they_are_asked_keep_the_latest(runtime: tuple[Runtime, str]) -> None:
    assembled, mock = runtime
    flow = await _call(assembled, "details_up_front")
    said = [t.text for t in flow.turns if t.speaker is Speaker.ASSISTANT]
    assert not any("What email address" in text for text in said)  # never asked: it was offered
    assert flow.call.contact.email == "sam.li@example.com"
    assert flow.call.contact.name is None  # the name was declined and did not block the case
    assert flow.call.case_id is not None
    assert "sam.li@example.com" in await _case_text(mock, flow.call.case_id)


async def test_a_stranger_asking_for_a_case_hears_nothing_about_it(runtime: tuple[Runtime, str]) -> None:
    assembled, mock = runtime
    owner = await _call(assembled, "handoff")
    case_id = owner.call.case_id
    assert case_id is not None
    config = MockConfig()
    async with httpx.AsyncClient(auth=(config.agent_email, config.agent_password)) as client:
        subject = (await client.get(f"{mock}/api/v1/cases/{case_id}")).json()["data"]["subject"]
    lines = [f"what's the status of case {case_id}", "mallory at example dot com", "eve at example dot com"]
    stranger = await run_chat(assembled.call_service, _lines(lines))
    spoken = " ".join(t.text for t in stranger.turns if t.speaker is Speaker.ASSISTANT)
    assert "email address on the case" in spoken and "can't share the details of that case" in spoken
    assert subject.lower() not in spoken.lower() and stranger.memory.verified_person_id is None


async def test_only_an_explicit_yes_resolves(runtime: tuple[Runtime, str]) -> None:
    flow = await _call(runtime[0], "not_a_yes")
    spoken = " ".join(t.text for t in flow.turns if t.speaker is Speaker.ASSISTANT)
    assert spoken.count("I just need a yes or a no") == 1  # asked once more, then unresolved
    assert flow.call.outcome is not CallOutcome.RESOLVED
    assert flow.memory.failed_answers == 1


async def test_small_talk_is_answered_with_the_scope_never_an_article(runtime: tuple[Runtime, str]) -> None:
    flow = await _call(runtime[0], "small_talk")
    assistant = [t.text for t in flow.turns if t.speaker is Speaker.ASSISTANT]
    assert sum("I can help with questions about" in text for text in assistant) == 3
    assert not any("did that solve" in text.lower() for text in assistant)
    assert flow.call.case_id is None and flow.call.outcome is CallOutcome.ABANDONED


async def test_hanging_up_after_an_answer_is_answered_without_a_case(runtime: tuple[Runtime, str]) -> None:
    flow = await _call(runtime[0], "answered_then_hang_up")
    assert flow.call.outcome is CallOutcome.ANSWERED
    assert flow.call.case_id is None and flow.call.escalation_reason is None
    stored = await runtime[0].calls.get_call(flow.call.call_id)
    assert stored is not None and stored.outcome is CallOutcome.ANSWERED


async def test_kayako_down_during_escalation_one_case_after_recovery_across_a_restart(tmp_path: Path) -> None:
    config = MockConfig(strict=True)
    async with (
        serve_in_background(create_mock_app(config)) as mock,
        httpx.AsyncClient(base_url=mock) as admin,
    ):
        settings = Settings(
            kayako_base_url=f"{mock}/api/v1",
            kayako_email=config.agent_email,
            kayako_password=config.agent_password,  # type: ignore[arg-type]
            kayako_max_retries=0,
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'restart.db'}",
            data_dir=tmp_path,
            case_delivery_budget_seconds=0.5,
            outbox_base_delay_seconds=0.01,
            outbox_max_delay_seconds=0.02,
        )
        async with call_runtime(settings) as first:
            assert (await admin.put("/_mock/faults", json={"down": True})).status_code == 200
            flow = await run_chat(first.call_service, _lines(SCRIPTS["handoff"]))
            assert flow.call.outcome is CallOutcome.ESCALATED and flow.call.case_id is None
            said = " ".join(t.text for t in flow.turns if t.speaker is Speaker.ASSISTANT).lower()
            assert "case" in said  # the caller is told a case will be created
            entry = await first.stores.outbox.get(f"call-{flow.call.call_id}")
            assert entry is not None and entry.status == "pending"  # stored before Kayako was called
        # "Restart": a new runtime on the same database; Kayako comes back.
        assert (await admin.post("/_mock/reset-faults")).status_code == 200
        async with call_runtime(settings) as second:
            for _ in range(3):  # more rounds than needed: a retry must not create a second case
                await second.outbox_worker.deliver_due()
            call = await second.calls.get_call(flow.call.call_id)
            assert call is not None and call.case_id is not None
            cases = await second.kayako.request("GET", "/cases", params={"limit": 100})
        subjects = [c for c in cases["data"] if c["id"] == call.case_id]
        assert len(subjects) == 1
        text = await _case_text(mock, call.case_id)
        assert text.count("I want to talk to a real person") >= 1
        tag = next(t for t in text.split("tags:")[1].split("'") if t.startswith("kca-"))
        async with httpx.AsyncClient(auth=(config.agent_email, config.agent_password)) as client:
            every = (await client.get(f"{mock}/api/v1/cases", params={"limit": 1000})).json()["data"]
        assert [c["id"] for c in every if c["legacy_id"] == tag] == [call.case_id]  # exactly one case
