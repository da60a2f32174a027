"""Caller verification before private data: caller ID is trusted only with full STIR/SHAKEN attestation (or
as configured); otherwise the caller proves who they are with the email on the case or on file. Case status
and open-case subjects go only to a verified caller who is the case's requester; both ways are tested."""

from __future__ import annotations

import dataclasses

from calls_support import MemoryHelpDesk
from test_calls_flow import OLD_CASE, POLICY, service_for

from kayako_call_assistant.calls.flow import CallFlow
from kayako_call_assistant.calls.policy import CallPolicy
from kayako_call_assistant.calls.service import CallService
from kayako_call_assistant.dialogue.entities import speak_case_number
from kayako_call_assistant.domain import CallChannel, CallStart, CaseDraft, ContactDetails, Person, Say
from kayako_call_assistant.storage import SqlStores

JANE = Person(7, "Jane Doe", emails=("jane.doe@example.com",), phones=("+14155550100",))
BOB = Person(8, "Bob Roe", emails=("bob.roe@example.com",), phones=("+14155550111",))
BOB_CASE = CaseDraft(
    idempotency_key="bob", subject="Refund for Bob", contents_html="<p/>", contact=ContactDetails()
)
JANES_CASE = speak_case_number(1000)
JANE_EMAIL = "jane dot doe at example dot com"


async def _helpdesk() -> MemoryHelpDesk:
    helpdesk = MemoryHelpDesk(people=[JANE, BOB])
    await helpdesk.create_case(OLD_CASE, requester_id=JANE.id)  # case 1000, "Printer jam"
    await helpdesk.create_case(BOB_CASE, requester_id=BOB.id)  # case 1001
    return helpdesk


async def call(
    service: CallService, lines: list[str], *, from_number: str | None = None, attestation: str | None = None
) -> tuple[CallFlow, str]:
    start = CallStart(channel=CallChannel.CHAT, from_number=from_number, caller_attestation=attestation)
    flow = await service.start(start)
    said = [action.text async for action in flow.greet() if isinstance(action, Say)]
    for line in lines:
        if flow.finished:
            break
        said += [action.text async for action in flow.caller_said(line) if isinstance(action, Say)]
    await flow.hung_up()
    return flow, " ".join(said)


async def test_fully_attested_caller_id_is_greeted_by_name_with_the_open_case(stores: SqlStores) -> None:
    helpdesk = await _helpdesk()
    flow, spoken = await call(
        service_for(stores, helpdesk),
        ["talk to a human", "yes", "yes"],
        from_number=JANE.phones[0],
        attestation="A",
    )
    assert spoken.startswith(
        "Hi Jane, thanks for calling Acme Support. I see your case about Printer jam is still new."
    )
    assert "May I have your name" not in spoken and "the best email for you?" in spoken
    assert flow.call.contact.email == "jane.doe@example.com"


async def test_unattested_caller_id_names_nobody_and_reveals_nothing(stores: SqlStores) -> None:
    helpdesk = await _helpdesk()
    for attestation in (None, "B", "C"):
        flow, spoken = await call(
            service_for(stores, helpdesk),
            ["talk to a human"],
            from_number=JANE.phones[0],
            attestation=attestation,
        )
        assert spoken.startswith("Thank you for calling Acme Support. I'm the virtual assistant.")
        assert "Jane" not in spoken and "Printer jam" not in spoken
        assert "jane" not in spoken.lower()  # the email on file is not read back to a spoofable number
        assert "May I have your name" in spoken and flow.memory.verified_person_id is None


async def test_the_trust_rule_is_configurable(stores: SqlStores) -> None:
    helpdesk = await _helpdesk()
    lenient: CallPolicy = dataclasses.replace(POLICY, caller_id_trust="any_attestation")
    _flow, spoken = await call(
        service_for(stores, helpdesk, lenient), [], from_number=JANE.phones[0], attestation="B"
    )
    assert spoken.startswith("Hi Jane")
    strict: CallPolicy = dataclasses.replace(POLICY, caller_id_trust="never")
    _flow, spoken = await call(
        service_for(stores, helpdesk, strict), [], from_number=JANE.phones[0], attestation="A"
    )
    assert "Jane" not in spoken and "Printer jam" not in spoken


async def test_unverified_caller_asking_for_a_case_gets_no_private_data(stores: SqlStores) -> None:
    helpdesk = await _helpdesk()
    flow, spoken = await call(
        service_for(stores, helpdesk),
        ["what is the status of case 1000", "bob dot roe at example dot com", "someone at example dot com"],
    )
    assert "email address on the case" in spoken and "couldn't verify that" in spoken
    assert "can't share the details of that case" in spoken
    assert "Printer jam" not in spoken and " new" not in spoken and flow.memory.verified_person_id is None


async def test_case_number_plus_the_email_on_the_case_verifies_the_requester(stores: SqlStores) -> None:
    helpdesk = await _helpdesk()
    flow, spoken = await call(service_for(stores, helpdesk), ["what is the status of case 1000", JANE_EMAIL])
    assert f"Case {JANES_CASE}, about Printer jam, is new." in spoken
    assert flow.memory.verified_person_id == JANE.id and flow.call.contact.email == "jane.doe@example.com"


async def test_email_on_file_for_the_caller_id_verifies_but_only_for_their_own_cases(
    stores: SqlStores,
) -> None:
    helpdesk = await _helpdesk()
    _flow, spoken = await call(
        service_for(stores, helpdesk),
        ["what is the status of case 1001", JANE_EMAIL, "and what is the status of case 1000"],
        from_number=JANE.phones[0],
    )
    # Verified as Jane by the email on file for her number; Bob's case stays Bob's.
    assert f"I couldn't find case {speak_case_number(1001)} on your account." in spoken
    assert "Refund for Bob" not in spoken
    assert f"Case {JANES_CASE}, about Printer jam, is new." in spoken


async def test_trusted_caller_hears_only_their_own_cases(stores: SqlStores) -> None:
    helpdesk = await _helpdesk()
    _flow, spoken = await call(
        service_for(stores, helpdesk),
        [
            "what is the status of case 1001",
            "what is the status of case 42",
            "what is the status of case 1000",
        ],
        from_number=JANE.phones[0],
        attestation="A",
    )
    assert "email address on the case" not in spoken  # trusted caller ID: no second factor asked
    assert f"I couldn't find case {speak_case_number(1001)} on your account." in spoken
    assert f"I couldn't find case {speak_case_number(42)} on your account." in spoken  # same words: no leak
    assert "Refund for Bob" not in spoken and f"Case {JANES_CASE}, about Printer jam, is new." in spoken


async def test_unknown_requester_fails_closed(stores: SqlStores) -> None:
    helpdesk = await _helpdesk()
    key = next(key for key, (info, _d, _r) in helpdesk.cases.items() if info.id == 1000)
    info, draft, requester = helpdesk.cases[key]
    helpdesk.cases[key] = (dataclasses.replace(info, requester_id=None), draft, requester)
    _flow, spoken = await call(
        service_for(stores, helpdesk),
        ["what is the status of case 1000"],
        from_number=JANE.phones[0],
        attestation="A",
    )
    assert "Printer jam" not in spoken.split("How can I help you today?")[1]


async def test_declining_verification_is_polite_and_the_caller_can_go_on(stores: SqlStores) -> None:
    helpdesk = await _helpdesk()
    flow, spoken = await call(service_for(stores, helpdesk), ["what is the status of case 1000", "no"])
    assert "can't share the details of that case" in spoken and "anything else" in spoken
    assert flow.call.case_id is None and flow.call.outcome.value == "abandoned"
