"""The conversation rules of a call: an explicit yes, questions the caller heard, small talk, a clarifying
question, and a call that ends right after an answer (keyword engine, in-memory help desk, real SQLite)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

from calls_support import ClarifyingRetriever, KeywordEngine, MemoryHelpDesk, WordRetriever
from test_calls_flow import ARTICLES, POLICY, converse, service_for

from kayako_call_assistant.calls.flow import CallFlow
from kayako_call_assistant.calls.policy import CallPolicy
from kayako_call_assistant.calls.service import CallService
from kayako_call_assistant.domain import CallChannel, CallOutcome, CallStart, FlowAction, Say
from kayako_call_assistant.storage import SqlStores

RESET = "how do I reset my password"


async def _said(actions: AsyncIterator[FlowAction]) -> list[str]:
    return [action.text async for action in actions if isinstance(action, Say)]


async def test_ok_then_tell_me_a_joke_is_not_a_yes(stores: SqlStores) -> None:
    flow, _actions, spoken = await converse(
        service_for(stores, MemoryHelpDesk()), [RESET, "ok then tell me a joke", "yes"]
    )
    assert spoken.count("Sorry, I just need a yes or a no.") == 1
    assert flow.call.outcome is CallOutcome.RESOLVED  # the explicit yes that followed


async def test_two_unclear_replies_are_unresolved(stores: SqlStores) -> None:
    flow, _actions, spoken = await converse(service_for(stores, MemoryHelpDesk()), [RESET, "hmm", "whatever"])
    assert spoken.count("Sorry, I just need a yes or a no.") == 1  # asked once more, not twice
    assert "Let me try another way." in spoken  # then taken as "no": the next article
    assert flow.call.outcome is not CallOutcome.RESOLVED and flow.memory.failed_answers == 1


async def test_a_yes_to_a_question_the_caller_did_not_hear_is_asked_again(stores: SqlStores) -> None:
    service = service_for(stores, MemoryHelpDesk())
    flow = await service.start(CallStart(channel=CallChannel.CHAT))
    await _said(flow.greet())
    answer = await _said(flow.caller_said(RESET))
    assert answer[-1] == "Did that solve your problem?"
    await flow.assistant_cut_off(answer[0][:20])  # barge-in during the answer, before the question
    again = await _said(flow.caller_said("yes"))
    assert again == ["Did that solve your problem?"] and not flow.finished
    await _said(flow.caller_said("yes"))  # now heard in full
    assert flow.call.outcome is CallOutcome.RESOLVED


async def test_a_question_asked_over_an_unheard_answer_is_answered_again_not_counted_as_failed(
    stores: SqlStores,
) -> None:
    service = service_for(stores, MemoryHelpDesk())
    flow = await service.start(CallStart(channel=CallChannel.CHAT))
    await _said(flow.greet())
    answer = await _said(flow.caller_said(RESET))
    await flow.assistant_cut_off(answer[0][:15])  # "sorry, how do I ..." over the answer's first words
    again = await _said(flow.caller_said("sorry, " + RESET))
    assert again[:-1] == answer[:-1]  # the same article, read again from the start
    assert flow.memory.failed_answers == 0 and "Let me try another way." not in again


async def test_a_question_heard_to_its_end_counts(stores: SqlStores) -> None:
    service = service_for(stores, MemoryHelpDesk())
    flow = await service.start(CallStart(channel=CallChannel.CHAT))
    await _said(flow.greet())
    answer = await _said(flow.caller_said(RESET))
    await flow.assistant_cut_off(" ".join(answer))  # the transport reports it all heard
    await _said(flow.caller_said("yes"))
    assert flow.call.outcome is CallOutcome.RESOLVED


async def test_small_talk_gets_the_scope_and_no_case(stores: SqlStores) -> None:
    helpdesk = MemoryHelpDesk()
    flow, _actions, spoken = await converse(
        service_for(stores, helpdesk), ["hello", "tell me a joke", "what's the weather like"]
    )
    assert spoken.count("I can help with questions about Acme Support. What can I help you with?") == 3
    assert "Did that solve" not in spoken  # never an article
    assert flow.call.case_id is None and helpdesk.create_calls == 0
    assert flow.call.outcome is CallOutcome.ABANDONED


def _clarifying_service(stores: SqlStores, helpdesk: MemoryHelpDesk) -> CallService:
    return CallService(
        helpdesk=helpdesk,
        engine=KeywordEngine(),
        retriever=ClarifyingRetriever(ARTICLES),
        calls=stores.calls,
        outbox=stores.outbox,
        policy=POLICY,
    )


async def test_clarifying_question_names_both_articles_and_answers_the_choice(stores: SqlStores) -> None:
    flow, _actions, spoken = await converse(
        _clarifying_service(stores, MemoryHelpDesk()), [RESET, "the second one", "yes"]
    )
    assert "is it about Reset your password, or about Password reset email not arriving?" in spoken
    assert "Check your spam folder" in spoken and "choose Forgot password" not in spoken
    assert flow.call.outcome is CallOutcome.RESOLVED


async def test_clarifying_question_answered_with_title_words_or_neither(stores: SqlStores) -> None:
    flow, _actions, spoken = await converse(
        _clarifying_service(stores, MemoryHelpDesk()), [RESET, "the reset email not arriving", "yes"]
    )
    assert "Check your spam folder" in spoken and flow.call.outcome is CallOutcome.RESOLVED
    helpdesk = MemoryHelpDesk()
    flow, _actions, spoken = await converse(
        _clarifying_service(stores, helpdesk), [RESET, "neither", "Jane Doe", "skip", "skip", "skip"]
    )
    assert flow.call.escalation_reason == "no_relevant_article"
    assert "Check your spam folder" not in spoken and "choose Forgot password" not in spoken


async def test_hang_up_right_after_an_answer_is_answered_without_a_case(stores: SqlStores) -> None:
    helpdesk = MemoryHelpDesk()
    flow, _actions, _spoken = await converse(
        service_for(stores, helpdesk), [RESET], from_number="+14155550100"
    )
    stored = await stores.calls.get_call(flow.call.call_id)
    assert stored is not None and stored.outcome is CallOutcome.ANSWERED
    assert stored.case_id is None and helpdesk.create_calls == 0 and stored.escalation_reason is None


async def test_answered_call_gets_a_low_priority_record_when_the_policy_asks(stores: SqlStores) -> None:
    helpdesk = MemoryHelpDesk()
    policy: CallPolicy = dataclasses.replace(POLICY, case_for_answered_calls=True)
    flow, _actions, _spoken = await converse(
        service_for(stores, helpdesk, policy), [RESET], from_number="+14155550100"
    )
    assert flow.call.outcome is CallOutcome.ANSWERED and flow.call.case_id == 1000
    (_info, draft, _requester), *_ = helpdesk.cases.values()
    assert draft.priority == "Low" and "escalated" not in draft.tags


def test_helpers_are_real() -> None:
    assert isinstance(WordRetriever(ARTICLES), WordRetriever) and CallFlow is not None


async def test_answers_and_case_numbers_are_spoken_for_the_ear(stores: SqlStores) -> None:
    from kayako_call_assistant.llm.local import LocalLanguageEngine

    articles = {
        9: (
            "Export your data",
            "To export your data, go to **Settings** > **Privacy** > Export data (optional) :) "
            "The file is up to 25MB. See https://help.example.com/export for details.",
        )
    }
    helpdesk = MemoryHelpDesk()
    service = CallService(
        helpdesk=helpdesk,
        engine=LocalLanguageEngine(),
        retriever=WordRetriever(articles),
        calls=stores.calls,
        outbox=stores.outbox,
        policy=dataclasses.replace(POLICY, case_number_group_size=2),
    )
    flow, _actions, spoken = await converse(
        service,
        ["how do I export my data", "no", "jane doe", "jane at example dot com", "yes", "I don't know"],
    )
    assert "go to Settings, then Privacy, then Export data" in spoken
    assert not any(mark in spoken for mark in ("**", ">", ":)", "(optional)", "https", "MB"))
    assert "25 megabytes" in spoken
    assert flow.call.case_id == 1000 and "Your case number is ten, oh oh." in spoken
