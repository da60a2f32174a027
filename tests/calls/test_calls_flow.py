"""Scripted calls through the state machine: a keyword engine, a word-overlap retriever, an in-memory help
desk and real SQLite stores, so every path is exercised exactly and quickly."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import structlog
from calls_support import KeywordEngine, MemoryHelpDesk, WordRetriever

from conftest import StoresFactory
from kayako_call_assistant.calls.flow import CallFlow
from kayako_call_assistant.calls.policy import CallPolicy
from kayako_call_assistant.calls.service import CallService
from kayako_call_assistant.cli.chat import chat_result, parse_script, run_chat
from kayako_call_assistant.dialogue.entities import speak_case_number, spell_out_digits
from kayako_call_assistant.domain import (
    CallChannel,
    CallOutcome,
    CallStart,
    CaseDraft,
    ContactDetails,
    DialogueContext,
    EndCall,
    FlowAction,
    Person,
    Say,
    Speaker,
    Transfer,
    Understanding,
    Usage,
)
from kayako_call_assistant.storage import SqlStores
from kayako_call_assistant.tickets import OutboxWorker

ARTICLES = {
    1: (
        "Reset your password",
        "Open the login page and choose Forgot password. Follow the link in the email to set a new password.",
    ),
    2: (
        "Password reset email not arriving",
        "Check your spam folder for the reset email. Request the password email again after five minutes.",
    ),
    3: ("Change your billing plan", "Go to Billing in the admin area. Choose a new plan and confirm."),
}
SCRIPTS = Path(__file__).parent / "scripts"
POLICY = CallPolicy(helpdesk_name="Acme Support")
OLD_CASE = CaseDraft(
    idempotency_key="old", subject="Printer jam", contents_html="<p/>", contact=ContactDetails()
)
JANE = Person(7, "Jane Doe", emails=("jane.doe@example.com",), phones=("+14155550100",))


def service_for(stores: SqlStores, helpdesk: MemoryHelpDesk, policy: CallPolicy = POLICY) -> CallService:
    return CallService(
        helpdesk=helpdesk,
        engine=KeywordEngine(),
        retriever=WordRetriever(ARTICLES),
        calls=stores.calls,
        outbox=stores.outbox,
        policy=policy,
    )


async def _lines(items: list[str]) -> AsyncIterator[str]:
    for item in items:
        yield item


async def converse(
    service: CallService, lines: list[str], from_number: str | None = None
) -> tuple[CallFlow, list[FlowAction], str]:
    actions: list[FlowAction] = []
    flow = await run_chat(service, _lines(lines), from_number=from_number, on_action=actions.append)
    spoken = " ".join(action.text for action in actions if isinstance(action, Say))
    return flow, actions, spoken


CONTACT = ["Jane Doe", "jane dot doe at example dot com", "yes"]


async def test_resolved_call_answers_from_the_article_and_closes(stores: SqlStores) -> None:
    helpdesk = MemoryHelpDesk()
    flow, actions, spoken = await converse(
        service_for(stores, helpdesk), ["how do I reset my password", "yes"]
    )
    assert spoken.startswith("Thank you for calling Acme Support.")
    assert "choose Forgot password." in spoken and "Did that solve your problem?" in spoken
    assert isinstance(actions[-1], EndCall) and flow.finished
    stored = await stores.calls.get_call(flow.call.call_id)
    assert stored is not None and stored.outcome is CallOutcome.RESOLVED and stored.ended_at is not None
    turns = await stores.calls.list_turns(flow.call.call_id)
    assert [t.speaker for t in turns] == [Speaker.ASSISTANT, Speaker.CALLER] * 2 + [Speaker.ASSISTANT]
    assert [t.intent for t in turns if t.speaker is Speaker.CALLER] == ["question", "affirm"]
    assert [t.text for t in turns] == [t.text for t in flow.turns]
    assert helpdesk.cases == {}  # resolved calls get no case unless the policy asks for one
    assert stored.usage.model_input_tokens == 2


async def test_resolved_call_gets_a_resolved_case_when_the_policy_asks(stores: SqlStores) -> None:
    helpdesk = MemoryHelpDesk()
    policy = dataclasses.replace(POLICY, case_for_resolved_calls=True)
    flow, _actions, _spoken = await converse(
        service_for(stores, helpdesk, policy),
        ["how do I reset my password", "thanks"],
        from_number="+14155550199",
    )
    (_info, draft, _requester), *_ = helpdesk.cases.values()
    assert draft.tags == ["ai-call", "resolved"] and draft.priority == "Low"
    assert flow.call.outcome is CallOutcome.RESOLVED and flow.call.case_id == 1000


async def test_hand_off_request_collects_contact_reads_email_back_and_files_the_case(
    stores: SqlStores,
) -> None:
    helpdesk = MemoryHelpDesk()
    with structlog.testing.capture_logs() as logs:
        flow, actions, spoken = await converse(
            service_for(stores, helpdesk),
            ["I need to speak to a person about my order", *CONTACT, "yes"],
            from_number="+14155550123",
        )
    assert "get a member of our team" in spoken and "May I have your name" in spoken
    assert "Is that right?" in spoken and f"calling from, {spell_out_digits('14155550123')}?" in spoken
    assert "Your case number is one zero zero, zero." in spoken
    assert f"Your case number is {speak_case_number(1000)}." in spoken
    assert isinstance(actions[-1], EndCall)
    call = flow.call
    assert call.outcome is CallOutcome.ESCALATED and call.escalation_reason == "caller_asked_for_person"
    assert call.contact.name == "Jane Doe" and call.contact.email == "jane.doe@example.com"
    assert call.contact.phone == "+14155550123" and call.case_id == 1000
    stored = await stores.calls.get_call(call.call_id)
    assert stored is not None and stored.case_id == 1000 and stored.contact.email == "jane.doe@example.com"
    (_info, draft, requester_id), *_ = helpdesk.cases.values()
    assert (
        draft.tags == ["ai-call", "escalated"] and draft.priority == "High" and draft.case_type == "Question"
    )
    assert draft.subject == "I need to speak to a person about my order"
    assert (
        "jane.doe@example.com" in draft.contents_html and "I need to speak to a person" in draft.contents_html
    )
    requester = next(p for p in helpdesk.people if p.id == requester_id)
    assert requester.emails == ("jane.doe@example.com",) and requester.phones == ("+14155550123",)
    decisions = [log for log in logs if log["event"] == "call.decision"]
    escalation = next(d for d in decisions if d["state_to"] == "escalating")
    assert escalation["reason"] == "caller_asked_for_person" and escalation["intent"] == "handoff"
    assert escalation["call_id"] == call.call_id and escalation["confidence"] == 0.9


async def test_two_failed_answers_try_the_next_article_then_escalate(stores: SqlStores) -> None:
    helpdesk = MemoryHelpDesk()
    service = service_for(stores, helpdesk)
    flow, _actions, spoken = await converse(
        service,
        [
            "how do I reset my password",
            "no",
            "no",
            *CONTACT,
            "four one five five five five zero one nine nine",
            "yes",
        ],
    )
    assert "choose Forgot password." in spoken and "Let me try another way." in spoken
    assert "Check your spam folder" in spoken
    assert flow.call.escalation_reason == "answers_did_not_help"
    assert [a.id for a in flow.memory.offered] == [1, 2]
    assert flow.call.contact.phone == "+14155550199"
    (_info, draft, _requester), *_ = helpdesk.cases.values()
    assert (
        "#1 Reset your password" in draft.contents_html and "#2 Password reset email" in draft.contents_html
    )


async def test_a_no_with_details_rephrases_the_question(stores: SqlStores) -> None:
    retriever = WordRetriever(ARTICLES)
    service = CallService(
        helpdesk=MemoryHelpDesk(),
        engine=KeywordEngine(),
        retriever=retriever,
        calls=stores.calls,
        outbox=stores.outbox,
        policy=POLICY,
    )
    await converse(service, ["how do I reset my password", "no, the email never arrives in my spam folder"])
    assert retriever.queries[-1] == "how do I reset my password no, the email never arrives in my spam folder"


async def test_nothing_relevant_in_the_help_center_escalates(stores: SqlStores) -> None:
    with structlog.testing.capture_logs() as logs:
        flow, _actions, spoken = await converse(
            service_for(stores, MemoryHelpDesk()), ["my invoice shows the wrong currency", *CONTACT, "no"]
        )
    assert "couldn't find an answer" in spoken
    assert flow.call.escalation_reason == "no_relevant_article" and flow.call.case_id == 1000
    decision = next(d for d in logs if d["event"] == "call.decision" and d["state_to"] == "escalating")
    assert decision["relevance"] == 0.0


async def test_email_is_corrected_after_a_no(stores: SqlStores) -> None:
    flow, _actions, spoken = await converse(
        service_for(stores, MemoryHelpDesk()),
        [
            "agent please",
            "Jon Smith",
            "jon at example dot com",
            "no",
            "j o h n at example dot com",
            "yes",
            "no",
        ],
    )
    assert "Please say your email address again" in spoken
    assert spoken.count("Is that right?") == 2
    assert flow.call.contact.email == "john@example.com" and flow.call.contact.name == "Jon Smith"
    assert flow.call.contact.phone is None and flow.call.case_id == 1000


async def test_silence_reprompts_twice_then_closes_with_a_case_for_a_described_problem(
    stores: SqlStores,
) -> None:
    helpdesk = MemoryHelpDesk()
    flow, actions, spoken = await converse(
        service_for(stores, helpdesk), ["how do I reset my password", "[silence]", "[silence]", "[silence]"]
    )
    assert spoken.count("Are you still there? Did that solve your problem?") == 2
    assert "I'll file your request with the details I have." in spoken
    assert isinstance(actions[-1], EndCall) and flow.call.escalation_reason == "caller_silent"
    assert flow.call.outcome is CallOutcome.ESCALATED and len(helpdesk.cases) == 1


async def test_silence_without_a_problem_closes_without_a_case(stores: SqlStores) -> None:
    helpdesk = MemoryHelpDesk()
    flow, actions, spoken = await converse(service_for(stores, helpdesk), ["[silence]"] * 3)
    assert spoken.count("Are you still there? How can I help you today?") == 2
    assert isinstance(actions[-1], EndCall) and flow.call.outcome is CallOutcome.ABANDONED
    assert helpdesk.cases == {}


async def test_goodbye_repeat_out_of_scope_and_abuse(stores: SqlStores) -> None:
    flow, actions, spoken = await converse(
        service_for(stores, MemoryHelpDesk()), ["what's the weather", "repeat that", "goodbye"]
    )
    assert spoken.count("I can help with questions about Acme Support") == 2  # repeated word for word
    assert isinstance(actions[-1], EndCall) and flow.call.outcome is CallOutcome.ABANDONED
    flow, actions, spoken = await converse(service_for(stores, MemoryHelpDesk()), ["you idiot", "you idiot"])
    assert "can't continue if the language stays abusive" in spoken and isinstance(actions[-1], EndCall)
    assert actions[-1] == EndCall(reason="abuse")


async def test_goodbye_after_an_answer_is_answered_and_a_yes_with_it_resolved(stores: SqlStores) -> None:
    helpdesk = MemoryHelpDesk()
    flow, _actions, _spoken = await converse(
        service_for(stores, helpdesk), ["how do I reset my password", "bye"]
    )
    assert flow.call.outcome is CallOutcome.ANSWERED and flow.call.case_id is None
    flow, _actions, _spoken = await converse(
        service_for(stores, helpdesk), ["how do I reset my password", "yes"]
    )
    assert flow.call.outcome is CallOutcome.RESOLVED
    assert helpdesk.create_calls == 0


async def test_always_human_topics_and_frustration_escalate(stores: SqlStores) -> None:
    flow, _actions, spoken = await converse(
        service_for(stores, MemoryHelpDesk()), ["I have a billing dispute about last month", "goodbye"]
    )
    assert flow.call.escalation_reason == "always_human_topic:billing_dispute"
    assert (
        "needs to handle personally" in spoken and flow.call.case_id == 1000
    )  # goodbye still files the case
    flow, _actions, _spoken = await converse(
        service_for(stores, MemoryHelpDesk()), ["this password reset is ridiculous"]
    )
    assert flow.call.escalation_reason == "caller_frustrated"
    assert flow.call.case_id is not None  # hung up half-way through the details: the case is still filed


async def test_keys_zero_hands_off_and_hash_repeats(stores: SqlStores) -> None:
    flow, _actions, spoken = await converse(service_for(stores, MemoryHelpDesk()), ["[dtmf #]", "[dtmf 0]"])
    assert spoken.count("How can I help you today?") == 2
    assert flow.call.escalation_reason == "caller_pressed_0"
    assert [t.text for t in flow.turns if t.speaker is Speaker.CALLER] == ["[pressed #]", "[pressed 0]"]


async def test_a_caller_known_only_by_number_is_not_greeted_with_the_number_as_a_name(
    stores: SqlStores,
) -> None:
    # An earlier call filed a case for caller ID alone, so Kayako named the user after the number.
    helpdesk = MemoryHelpDesk(people=[Person(id=7, full_name="+14155550199", phones=("+14155550199",))])
    flow, _actions, spoken = await converse(
        service_for(stores, helpdesk), ["talk to a human"], from_number="+14155550199"
    )
    assert spoken.startswith("Thank you for calling Acme Support.") and "+1415" not in spoken
    assert flow.call.contact.name is None and "May I have your name" in spoken


async def test_transfer_when_agents_are_on_duty(stores: SqlStores) -> None:
    policy = dataclasses.replace(POLICY, transfer_enabled=True)
    flow, actions, spoken = await converse(
        service_for(stores, MemoryHelpDesk(), policy),
        ["get me a person", *CONTACT, "yes"],
        from_number="+14155550123",
    )
    assert actions[-1] == Transfer(case_id=1000, reason="caller_asked_for_person")
    assert "transferring you" in spoken and flow.call.outcome is CallOutcome.TRANSFERRED


async def test_kayako_down_during_escalation_loses_nothing_across_a_restart(
    stores_factory: StoresFactory,
) -> None:
    stores = stores_factory()
    helpdesk = MemoryHelpDesk(down=False)
    service = service_for(stores, helpdesk)
    flow = await service.start(CallStart(channel=CallChannel.CHAT, from_number="+14155550123"))
    said = [a async for a in flow.greet()]
    for line in ["representative please", "Jane Doe", "jane dot doe at example dot com"]:
        said += [a async for a in flow.caller_said(line)]
    helpdesk.down = True
    said += [a async for a in flow.caller_said("yes")]
    said += [a async for a in flow.caller_said("yes")]
    spoken = " ".join(a.text for a in said if isinstance(a, Say))
    assert "your case will be created shortly and you'll get an email" in spoken
    await flow.hung_up()
    assert flow.call.case_id is None and flow.call.outcome is CallOutcome.ESCALATED
    entry = await stores.outbox.get(f"call-{flow.call.call_id}")
    assert entry is not None and entry.status == "pending" and entry.attempts == 1
    await stores.close()

    # A new process: new engine, stores and worker on the same database; Kayako is back.
    restarted = stores_factory()
    helpdesk.down = False
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    worker = OutboxWorker(restarted.outbox, helpdesk, restarted.calls, clock=lambda: later)
    assert await worker.deliver_due() == 1
    assert await worker.deliver_due() == 0
    assert len(helpdesk.cases) == 1
    stored = await restarted.calls.get_call(flow.call.call_id)
    assert stored is not None and stored.case_id == 1000 and stored.outcome is CallOutcome.ESCALATED


async def test_barge_in_keeps_only_what_was_heard(stores: SqlStores) -> None:
    flow = await service_for(stores, MemoryHelpDesk()).start(CallStart(channel=CallChannel.MEDIA_STREAM))
    _ = [a async for a in flow.greet()]
    stream = flow.caller_said("how do I reset my password")
    first = await anext(stream)
    assert first == Say("Open the login page and choose Forgot password.")
    await stream.aclose()  # the caller talked over the answer: the transport stops the reply
    await flow.assistant_cut_off("Open the login page")
    turns = await stores.calls.list_turns(flow.call.call_id)
    assert turns[-1].speaker is Speaker.ASSISTANT and turns[-1].interrupted
    assert turns[-1].text == "Open the login page"
    assert flow.state.value == "confirming_resolution"
    stored_state = await stores.calls.load_flow_state(flow.call.call_id)
    assert stored_state is not None and stored_state["state"] == "confirming_resolution"


class _BrokenEngine(KeywordEngine):
    async def understand(self, text: str, context: DialogueContext, usage: Usage) -> Understanding:
        raise RuntimeError("model unreachable")


async def test_the_callers_words_are_stored_even_when_understanding_them_fails(stores: SqlStores) -> None:
    service = CallService(
        helpdesk=MemoryHelpDesk(),
        engine=_BrokenEngine(),
        retriever=WordRetriever(ARTICLES),
        calls=stores.calls,
        outbox=stores.outbox,
        policy=POLICY,
    )
    flow = await service.start(CallStart(channel=CallChannel.MEDIA_STREAM))
    _ = [a async for a in flow.greet()]
    with pytest.raises(RuntimeError):
        _ = [a async for a in flow.caller_said("how do I reset my password")]
    turns = await stores.calls.list_turns(flow.call.call_id)
    assert turns[-1].speaker is Speaker.CALLER and turns[-1].text == "how do I reset my password"


async def test_the_callers_turn_is_stored_with_its_intent_once_the_reply_starts(stores: SqlStores) -> None:
    flow = await service_for(stores, MemoryHelpDesk()).start(CallStart(channel=CallChannel.MEDIA_STREAM))
    _ = [a async for a in flow.greet()]
    stream = flow.caller_said("how do I reset my password")
    await anext(stream)
    await anext(stream)  # the transport asks for the second sentence: the caller's turn is written by now
    turns = await stores.calls.list_turns(flow.call.call_id)
    caller = [t for t in turns if t.speaker is Speaker.CALLER]
    assert [(t.text, t.intent) for t in caller] == [("how do I reset my password", "question")]
    await stream.aclose()


async def test_any_worker_can_continue_a_call_from_its_stored_state(stores: SqlStores) -> None:
    helpdesk = MemoryHelpDesk()
    service = service_for(stores, helpdesk)
    flow = await service.start(
        CallStart(channel=CallChannel.GATHER, external_id="CA1", from_number="+14155550123")
    )
    _ = [a async for a in flow.greet()]
    _ = [a async for a in flow.caller_said("talk to an agent")]
    for line in [*CONTACT, "yes"]:
        resumed = await service_for(stores, helpdesk).resume(flow.call.call_id)
        assert resumed is not None and resumed is not flow
        _ = [a async for a in resumed.caller_said(line)]
    final = await service.resume(flow.call.call_id)
    assert final is not None and final.finished and final.call.case_id == 1000
    assert final.call.contact.email == "jane.doe@example.com"
    assert [t.seq for t in final.turns] == list(range(len(final.turns)))
    assert await service.resume("no-such-call") is None


async def test_chat_script_result_has_the_documented_json_shape(stores: SqlStores) -> None:
    script = parse_script((SCRIPTS / "escalated.txt").read_text(encoding="utf-8") + "\n\n")
    assert script[0].startswith("my invoice") and len(script) == 6
    flow, _actions, _spoken = await converse(service_for(stores, MemoryHelpDesk()), script)
    result = json.loads(json.dumps(chat_result(flow)))
    assert set(result) == {"call_id", "outcome", "case_id", "escalation_reason", "transcript"}
    assert result["outcome"] == "escalated" and result["case_id"] == 1000
    assert result["escalation_reason"] == "caller_asked_for_person"
    assert result["transcript"][1] == {
        "speaker": "caller",
        "text": script[0],
        "at": flow.turns[1].started_at.isoformat(),
    }
    assert len(result["transcript"]) == len(await stores.calls.list_turns(flow.call.call_id))
