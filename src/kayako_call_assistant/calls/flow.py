"""One call's state machine: what the caller says in, what the assistant says and does out.

Every public method is an async iterator of actions (``Say`` per sentence, then ``Transfer`` or ``EndCall``)
so a transport can start speaking the first sentence while the rest is still being produced. A transport
may stop iterating at any moment (barge-in): the state is always advanced before the words that depend on
it are yielded, and the reply's turn and the flow state are saved however the iteration ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog

from ..dialogue.entities import (
    parse_case_number,
    parse_email,
    parse_name,
    parse_phone,
    speak_email,
    spell_out_digits,
)
from ..dialogue.speech_text import speakable
from ..domain import (
    AnswerVerdict,
    CallOutcome,
    CallRecord,
    CaseInfo,
    DialogueContext,
    EndCall,
    FlowAction,
    Intent,
    Say,
    Speaker,
    Transfer,
    Turn,
    Understanding,
)
from ..ports import CallStore, HelpDesk, LanguageEngine, OutboxEntry, OutboxStore, Retriever
from ..tickets.case_builder import CaseBuilder, CaseRequest, OfferedArticle, idempotency_key_for
from ..tickets.outbox import OutboxWorker
from . import phrases
from .policy import CallPolicy
from .states import CONTACT_STATES, EXPECTING, CallState

log = structlog.get_logger(__name__)

_HISTORY_TURNS = 12  # turns of context given to the language engine
_OPEN_STATES = frozenset({CallState.GREETING, CallState.LISTENING, CallState.CONFIRMING_RESOLUTION})


@dataclass(slots=True)
class FlowDeps:
    """The outside world one call talks to (shared by every call of a ``CallService``)."""

    helpdesk: HelpDesk
    engine: LanguageEngine
    retriever: Retriever
    calls: CallStore
    outbox: OutboxStore
    delivery: OutboxWorker
    cases: CaseBuilder
    policy: CallPolicy
    clock: Callable[[], dt.datetime]


@dataclass(slots=True)
class FlowMemory:
    """Everything the flow must remember between turns; plain JSON so any worker can serve the next turn."""

    state: CallState = CallState.GREETING
    next_seq: int = 0
    last_assistant_seq: int | None = None
    last_reply: str = ""
    last_prompt: str = ""  # the question to ask again after a silence
    issue: list[str] = field(default_factory=list)  # the caller's descriptions of the problem
    question: str | None = None  # what the last answer answered
    offered: list[OfferedArticle] = field(default_factory=list)
    failed_answers: int = 0
    silences: int = 0
    abuse_warnings: int = 0
    attempts: int = 0  # tries at the contact detail being collected
    skipped: list[str] = field(default_factory=list)  # contact details the caller would not or could not give
    pending_email: str | None = None  # heard (or known from Kayako) but not yet confirmed
    person_id: int | None = None
    case_key: str | None = None  # set once the case is stored in the outbox

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "next_seq": self.next_seq,
            "last_assistant_seq": self.last_assistant_seq,
            "last_reply": self.last_reply,
            "last_prompt": self.last_prompt,
            "issue": list(self.issue),
            "question": self.question,
            "offered": [article.to_json() for article in self.offered],
            "failed_answers": self.failed_answers,
            "silences": self.silences,
            "abuse_warnings": self.abuse_warnings,
            "attempts": self.attempts,
            "skipped": list(self.skipped),
            "pending_email": self.pending_email,
            "person_id": self.person_id,
            "case_key": self.case_key,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FlowMemory:
        return cls(
            state=CallState(data["state"]),
            next_seq=int(data["next_seq"]),
            last_assistant_seq=data.get("last_assistant_seq"),
            last_reply=data.get("last_reply", ""),
            last_prompt=data.get("last_prompt", ""),
            issue=list(data.get("issue", [])),
            question=data.get("question"),
            offered=[OfferedArticle.from_json(item) for item in data.get("offered", [])],
            failed_answers=int(data.get("failed_answers", 0)),
            silences=int(data.get("silences", 0)),
            abuse_warnings=int(data.get("abuse_warnings", 0)),
            attempts=int(data.get("attempts", 0)),
            skipped=list(data.get("skipped", [])),
            pending_email=data.get("pending_email"),
            person_id=data.get("person_id"),
            case_key=data.get("case_key"),
        )


def _spoken_subject(subject: str) -> str:
    """A case subject inside a spoken sentence: plain text, without its own full stop."""
    return speakable(subject).rstrip(".!?")


def _digits(number: str) -> str:
    return "".join(ch for ch in number if ch.isdigit())


class CallFlow:
    """Implements ``ports.CallHandler`` for one call."""

    def __init__(
        self,
        *,
        call: CallRecord,
        deps: FlowDeps,
        memory: FlowMemory | None = None,
        turns: list[Turn] | None = None,
    ) -> None:
        self._call = call
        self._deps = deps
        self._policy = deps.policy
        self.memory = memory or FlowMemory()
        self.turns: list[Turn] = list(turns or [])

    # --- ports.CallHandler ---------------------------------------------------------------------------

    @property
    def call(self) -> CallRecord:
        return self._call

    @property
    def finished(self) -> bool:
        return self.memory.state is CallState.CLOSED

    @property
    def state(self) -> CallState:
        return self.memory.state

    @property
    def expects(self) -> str | None:
        return EXPECTING.get(self.memory.state)

    def greet(self) -> AsyncIterator[FlowAction]:
        return self._reply(self._greet())

    def caller_said(self, text: str) -> AsyncIterator[FlowAction]:
        return self._reply(self._caller_said(text))

    def caller_silent(self) -> AsyncIterator[FlowAction]:
        return self._reply(self._caller_silent())

    def caller_pressed(self, digit: str) -> AsyncIterator[FlowAction]:
        return self._reply(self._caller_pressed(digit))

    def transfer_failed(self) -> AsyncIterator[FlowAction]:
        return self._reply(self._transfer_failed())

    async def assistant_cut_off(self, heard_text: str) -> None:
        seq = self.memory.last_assistant_seq
        turn = next((t for t in reversed(self.turns) if t.seq == seq), None)
        if turn is None:
            log.warning("call.cut_off_without_reply", call_id=self._call.call_id)
            return
        turn.text = heard_text.strip()
        turn.interrupted = True
        # The store replaces a turn written again with the same seq: the transcript keeps only what was heard.
        await self._save([turn])
        log.info("call.cut_off", call_id=self._call.call_id, seq=seq, heard_chars=len(turn.text))

    async def hung_up(self) -> None:
        memory = self.memory
        if memory.state is not CallState.CLOSED:
            handing_off = memory.state in CONTACT_STATES or memory.state is CallState.ESCALATING
            if memory.case_key is None and (handing_off or self._has_unresolved_issue()):
                reason = self._call.escalation_reason or phrases.CALLER_HUNG_UP
                self._go(CallState.CLOSED, reason)
                self._call.escalation_reason = reason
                await self._deliver_now(await self._store_case(resolved=False))
            else:
                self._go(CallState.CLOSED, phrases.CALLER_HUNG_UP)
        if self._call.outcome is CallOutcome.IN_PROGRESS:
            self._call.outcome = CallOutcome.ABANDONED
        self._call.ended_at = self._deps.clock()
        await self._save()
        log.info(
            "call.finished",
            call_id=self._call.call_id,
            outcome=str(self._call.outcome),
            escalation_reason=self._call.escalation_reason,
            case_id=self._call.case_id,
        )

    # --- state ---------------------------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        return self.memory.to_json()

    @classmethod
    def from_state(
        cls, state: dict[str, Any], *, call: CallRecord, deps: FlowDeps, turns: list[Turn]
    ) -> CallFlow:
        return cls(call=call, deps=deps, memory=FlowMemory.from_json(state), turns=turns)

    # --- plumbing ------------------------------------------------------------------------------------

    async def _reply(self, actions: AsyncGenerator[FlowAction, None]) -> AsyncIterator[FlowAction]:
        """Pass the actions on; when they end, write the assistant's turn with the call and its state.

        Nothing is written before the first sentence reaches the transport, and a turn costs the database
        one transaction for the reply (and one for the caller's words): with many calls on one database,
        a call that waits on its own writes is a call whose next answer is late."""
        said: list[str] = []
        turn: Turn | None = None
        try:
            async with contextlib.aclosing(actions) as stream:
                async for action in stream:
                    if isinstance(action, Say):
                        said.append(action.text)
                        if turn is None:
                            turn = self._new_turn(Speaker.ASSISTANT, action.text)
                            self.memory.last_assistant_seq = turn.seq
                    yield action
        finally:
            if turn is not None:
                turn.text = " ".join(said)
                turn.ended_at = self._deps.clock()
                self.memory.last_reply = turn.text
            await self._save([turn] if turn is not None else [])

    async def _record(self, speaker: Speaker, text: str, intent: str | None = None) -> Turn:
        turn = self._new_turn(speaker, text, intent)
        await self._deps.calls.add_turn(self._call.call_id, turn)
        return turn

    def _new_turn(self, speaker: Speaker, text: str, intent: str | None = None) -> Turn:
        """A turn in this call's transcript, not yet stored."""
        now = self._deps.clock()
        # A caller turn arrives complete (the transport hands it over when the utterance ended); an
        # assistant turn ends when its last sentence has been said.
        ended = now if speaker is Speaker.CALLER else None
        turn = Turn(
            speaker=speaker,
            text=text,
            started_at=now,
            ended_at=ended,
            intent=intent,
            seq=self.memory.next_seq,
        )
        self.memory.next_seq += 1
        self.turns.append(turn)
        return turn

    async def _save(self, turns: Sequence[Turn] = ()) -> None:
        if self.memory.case_key is not None and self._call.case_id is None:
            # The outbox worker may have delivered the case since: never write the call back without it.
            entry = await self._deps.outbox.get(self.memory.case_key)
            if entry is not None and entry.case_id is not None:
                self._call.case_id = entry.case_id
        await self._deps.calls.save_progress(self._call, turns, self.to_state())

    def _go(
        self,
        to: CallState,
        reason: str,
        understanding: Understanding | None = None,
        relevance: float | None = None,
    ) -> None:
        log.info(
            "call.decision",
            call_id=self._call.call_id,
            state_from=self.memory.state.value,
            state_to=to.value,
            reason=reason,
            intent=understanding.intent.value if understanding else None,
            confidence=understanding.confidence if understanding else None,
            relevance=relevance,
        )
        self.memory.state = to

    def _prompt(self, text: str) -> Say:
        self.memory.last_prompt = text
        return Say(text)

    def _context(self) -> DialogueContext:
        return DialogueContext(
            state=self.memory.state.value,
            expecting=EXPECTING.get(self.memory.state),
            helpdesk_name=self._policy.helpdesk_name,
            history=self.turns[-_HISTORY_TURNS:],
            always_human_topics=self._policy.always_human_topics,
        )

    def _has_unresolved_issue(self) -> bool:
        return bool(self.memory.issue) and self._call.outcome is CallOutcome.IN_PROGRESS

    # --- greeting ------------------------------------------------------------------------------------

    async def _greet(self) -> AsyncGenerator[FlowAction, None]:
        name = self._policy.helpdesk_name
        greeting = f"Thank you for calling {name}. I'm the virtual assistant."
        number = self._call.from_number
        if number:
            try:
                async with asyncio.timeout(self._policy.caller_lookup_timeout_seconds):
                    person = await self._deps.helpdesk.find_person(phone=number)
                    cases = await self._deps.helpdesk.open_cases(person.id) if person else []
            except Exception as error:
                log.warning(
                    "call.caller_lookup_failed", call_id=self._call.call_id, error=type(error).__name__
                )
                person, cases = None, []
            if person is not None:
                self.memory.person_id = person.id
                self.memory.pending_email = person.emails[0] if person.emails else None
                # A user filed earlier from caller ID alone is named by their number or email: not a name.
                first = person.first_name
                if any(ch.isalpha() for ch in first) and "@" not in first:
                    self._call.contact.name = person.full_name
                    greeting = f"Hi {first}, thanks for calling {name}."
                if cases:
                    latest = cases[0]
                    about, status = _spoken_subject(latest.subject), latest.status.lower()
                    greeting += f" I see your case about {about} is still {status}."
            log.info(
                "call.caller_identified",
                call_id=self._call.call_id,
                known=person is not None,
                open_cases=len(cases),
            )
        self._go(CallState.LISTENING, "greeted")
        yield Say(greeting)
        yield self._prompt(phrases.HOW_CAN_I_HELP)

    # --- the caller speaks ---------------------------------------------------------------------------

    async def _caller_said(self, text: str) -> AsyncGenerator[FlowAction, None]:
        text = " ".join(text.split())
        if self.finished:
            log.warning("call.input_after_close", call_id=self._call.call_id)
            return
        if not text:
            async for action in self._caller_silent():
                yield action
            return
        # The caller's words are stored once, with their intent, as soon as the reply has started (or the
        # turn ends without one): the caller does not wait on the database before hearing anything.
        turn = self._new_turn(Speaker.CALLER, text)
        stored = False
        try:
            self.memory.silences = 0
            understanding = await self._deps.engine.understand(text, self._context(), self._call.usage)
            turn.intent = understanding.intent.value
            async with contextlib.aclosing(self._route(text, understanding)) as actions:
                async for action in actions:
                    yield action
                    if not stored:
                        stored = True
                        await self._deps.calls.add_turn(self._call.call_id, turn)
        finally:
            if not stored:
                await self._deps.calls.add_turn(self._call.call_id, turn)

    async def _route(self, text: str, u: Understanding) -> AsyncGenerator[FlowAction, None]:
        state = self.memory.state
        if state is CallState.GREETING:
            state = CallState.LISTENING
            self.memory.state = state
        if u.intent is Intent.ABUSE:
            handler = self._abuse(u)
        elif u.intent is Intent.HANDOFF and state in _OPEN_STATES:
            self._note_issue(text, u)
            handler = self._escalate(phrases.ASKED_FOR_PERSON, u)
        elif state in _OPEN_STATES and u.topic and u.topic in self._policy.always_human_topics:
            self.memory.issue.append(text)
            handler = self._escalate(f"{phrases.ALWAYS_HUMAN_TOPIC}:{u.topic}", u)
        elif state in _OPEN_STATES and u.frustrated:
            self._note_issue(text, u)
            handler = self._escalate(phrases.FRUSTRATED, u)
        elif u.intent is Intent.REPEAT:
            handler = self._repeat()
        elif u.intent is Intent.GOODBYE:
            handler = self._goodbye(u)
        elif state is CallState.CONFIRMING_RESOLUTION:
            handler = self._confirming_resolution(text, u)
        elif state in CONTACT_STATES:
            handler = self._collect_contact(text, u)
        elif state is CallState.ESCALATING:
            # The last reply was cut short while filing the case: finish it (the outbox makes this safe).
            handler = self._next_contact_step()
        else:
            handler = self._listening(text, u)
        async with contextlib.aclosing(handler) as actions:
            async for action in actions:
                yield action

    def _note_issue(self, text: str, u: Understanding) -> None:
        # A hand-off request may carry the problem too ("I need a person, my invoice is wrong").
        if u.intent in (Intent.QUESTION, Intent.INFORM) or len(text.split()) > 6:
            self.memory.issue.append(text)

    async def _listening(self, text: str, u: Understanding) -> AsyncGenerator[FlowAction, None]:
        if u.intent in (Intent.QUESTION, Intent.INFORM):
            self.memory.issue.append(text)
            async for action in self._answer(text, u, retry=False):
                yield action
        elif u.intent is Intent.CASE_STATUS:
            async for action in self._case_status(text, u):
                yield action
        elif u.intent is Intent.OUT_OF_SCOPE:
            self._go(CallState.LISTENING, "out_of_scope", u)
            yield Say(phrases.OUT_OF_SCOPE)
            yield self._prompt(phrases.DESCRIBE_ISSUE)
        elif u.intent is Intent.THANKS:
            yield Say(phrases.YOURE_WELCOME)
            yield self._prompt(phrases.ANYTHING_ELSE)
        elif u.intent is Intent.DENY:
            async for action in self._goodbye(u):
                yield action
        elif u.intent is Intent.AFFIRM:
            yield self._prompt(phrases.GO_AHEAD)
        else:  # greeting, "I don't know", a hand-off word while already handing off
            self._go(CallState.LISTENING, "no_issue_yet", u)
            yield self._prompt(phrases.DESCRIBE_ISSUE)

    # --- answering -----------------------------------------------------------------------------------

    async def _answer(
        self, question: str, u: Understanding, *, retry: bool
    ) -> AsyncGenerator[FlowAction, None]:
        self._go(CallState.ANSWERING, "retry_answer" if retry else "question", u)
        try:
            offered = frozenset(article.id for article in self.memory.offered)
            assessment = await self._deps.retriever.assess(
                question, exclude=offered, top=self._policy.answer_search_top
            )
        except Exception:
            log.exception("call.search_failed", call_id=self._call.call_id)
            async for action in self._escalate(phrases.HELP_CENTER_UNAVAILABLE, u):
                yield action
            return
        fresh = assessment.hits
        relevance = assessment.confidence
        if assessment.verdict is not AnswerVerdict.ANSWER or not fresh:
            async for action in self._escalate(phrases.NO_RELEVANT_ARTICLE, u, relevance=relevance):
                yield action
            return
        best = fresh[0]
        article_id = best.passage.article_id
        passages = [hit.passage for hit in fresh if hit.passage.article_id == article_id]
        self.memory.offered.append(OfferedArticle(id=article_id, title=best.passage.title))
        self.memory.question = question
        self._go(CallState.CONFIRMING_RESOLUTION, "answered_from_article", u, relevance=relevance)
        if retry:
            yield Say(phrases.TRY_AGAIN)
        async for sentence in self._deps.engine.answer(question, passages, self._context(), self._call.usage):
            if sentence.strip():
                yield Say(sentence.strip())
        yield self._prompt(phrases.DID_THAT_SOLVE_IT)

    async def _confirming_resolution(self, text: str, u: Understanding) -> AsyncGenerator[FlowAction, None]:
        if u.intent in (Intent.AFFIRM, Intent.THANKS):
            async for action in self._resolved(u):
                yield action
            return
        if u.intent not in (Intent.DENY, Intent.QUESTION, Intent.INFORM):
            yield self._prompt(phrases.YES_OR_NO)
            return
        self.memory.failed_answers += 1
        if self.memory.failed_answers >= self._policy.max_failed_answers:
            async for action in self._escalate(phrases.ANSWERS_DID_NOT_HELP, u):
                yield action
            return
        # "No, it still says my token expired": the extra words rephrase the question; a bare "no" asks for
        # the next best article on the same question.
        original = self.memory.question or " ".join(self.memory.issue)
        if u.intent is Intent.DENY and len(text.split()) <= 3:
            query = original
        else:
            self.memory.issue.append(text)
            query = f"{original} {text}"
        async for action in self._answer(query, u, retry=True):
            yield action

    async def _resolved(self, u: Understanding | None) -> AsyncGenerator[FlowAction, None]:
        self._call.outcome = CallOutcome.RESOLVED
        self._go(CallState.CLOSED, "caller_confirmed_resolution", u)
        yield Say(phrases.GLAD_IT_HELPED)
        yield Say(phrases.goodbye(self._policy.helpdesk_name))
        if self._policy.case_for_resolved_calls:
            entry = await self._store_case(resolved=True)
            await self._deliver_now(entry)
        yield EndCall(reason="resolved")

    async def _case_status(self, text: str, u: Understanding) -> AsyncGenerator[FlowAction, None]:
        number = u.entities.case_number or parse_case_number(text)
        if number is None:
            yield self._prompt(phrases.ASK_CASE_NUMBER)
            return
        spoken = spell_out_digits(number)
        case: CaseInfo | None
        try:
            async with asyncio.timeout(self._policy.caller_lookup_timeout_seconds):
                case = await self._deps.helpdesk.get_case(number)
        except Exception as error:
            log.warning("call.case_lookup_failed", call_id=self._call.call_id, error=type(error).__name__)
            yield Say(phrases.CASE_LOOKUP_FAILED)
        else:
            self._go(CallState.LISTENING, "case_status_given" if case else "case_not_found", u)
            if case is None:
                yield Say(f"I couldn't find case {spoken}.")
            else:
                yield Say(f"Case {spoken}, about {_spoken_subject(case.subject)}, is {case.status.lower()}.")
        yield self._prompt(phrases.ANYTHING_ELSE)

    # --- escalation and contact details ------------------------------------------------------------

    async def _escalate(
        self, reason: str, u: Understanding | None = None, *, relevance: float | None = None
    ) -> AsyncGenerator[FlowAction, None]:
        self._call.escalation_reason = reason
        self._go(CallState.ESCALATING, reason, u, relevance=relevance)
        yield Say(phrases.ESCALATION_INTROS[reason.split(":", maxsplit=1)[0]])
        self.memory.attempts = 0
        async for action in self._next_contact_step(first=True):
            yield action

    async def _next_contact_step(self, *, first: bool = False) -> AsyncGenerator[FlowAction, None]:
        memory, contact = self.memory, self._call.contact
        policy = self._policy
        quick_transfer = policy.transfer_enabled and not policy.collect_details_before_transfer
        if first and quick_transfer and self._call.from_number:
            contact.phone = self._call.from_number
            async for action in self._file_case(transfer=True, why="transfer_without_details"):
                yield action
            return
        intro = f"{phrases.DETAILS_INTRO} " if first else ""
        if not contact.name and "name" not in memory.skipped:
            self._go(CallState.COLLECTING_NAME, "need_name")
            yield self._prompt(intro + phrases.ASK_NAME)
        elif not contact.email and "email" not in memory.skipped:
            if memory.pending_email:
                self._go(CallState.CONFIRMING_EMAIL, "confirm_known_email")
                yield self._prompt(f"{intro}Is {speak_email(memory.pending_email)} the best email for you?")
            else:
                self._go(CallState.COLLECTING_EMAIL, "need_email")
                yield self._prompt(intro + phrases.ASK_EMAIL)
        elif not contact.phone and "phone" not in memory.skipped:
            if self._call.from_number:
                self._go(CallState.CONFIRMING_PHONE, "confirm_caller_id")
                spoken = spell_out_digits(_digits(self._call.from_number))
                yield self._prompt(f"{intro}Can we reach you at the number you're calling from, {spoken}?")
            else:
                self._go(CallState.COLLECTING_PHONE, "need_phone")
                yield self._prompt(intro + phrases.ASK_PHONE)
        else:
            async for action in self._file_case(transfer=self._policy.transfer_enabled):
                yield action

    def _give_up_or_retry(self, detail: str, again: str) -> Say | None:
        """Count a failed try at ``detail``; the re-ask, or None when the caller has had enough tries."""
        self.memory.attempts += 1
        if self.memory.attempts >= self._policy.max_contact_attempts:
            self.memory.skipped.append(detail)
            log.info(
                "call.contact_skipped",
                call_id=self._call.call_id,
                detail=detail,
                attempts=self.memory.attempts,
            )
            return None
        return self._prompt(again)

    async def _collect_contact(self, text: str, u: Understanding) -> AsyncGenerator[FlowAction, None]:
        state, memory, contact = self.memory.state, self.memory, self._call.contact
        again: Say | None = None
        if u.intent is Intent.HANDOFF:
            yield Say(phrases.DETAILS_ALREADY)
            yield self._prompt(memory.last_prompt)
            return
        if state is CallState.COLLECTING_NAME:
            plain = u.intent not in (Intent.AFFIRM, Intent.DENY, Intent.DONT_KNOW)
            name = u.entities.name or parse_name(text, bare=plain)
            if name:
                contact.name = name
            elif u.intent in (Intent.DENY, Intent.DONT_KNOW):
                memory.skipped.append("name")
            else:
                again = self._give_up_or_retry("name", phrases.ASK_NAME_AGAIN)
        elif state is CallState.COLLECTING_EMAIL:
            email = u.entities.email or parse_email(text)
            if email:
                memory.pending_email = email
                self._go(CallState.CONFIRMING_EMAIL, "email_heard", u)
                yield self._prompt(f"I have {speak_email(email)}. Is that right?")
                return
            if u.intent in (Intent.DENY, Intent.DONT_KNOW):
                memory.skipped.append("email")
                yield Say(phrases.NO_PROBLEM)
            else:
                again = self._give_up_or_retry("email", phrases.ASK_EMAIL_AGAIN)
        elif state is CallState.CONFIRMING_EMAIL:
            email = u.entities.email or parse_email(text)
            if u.intent is Intent.AFFIRM and (email is None or email == memory.pending_email):
                contact.email = memory.pending_email
                memory.pending_email = None
                self._go(state, "email_confirmed", u)
            elif email and email != memory.pending_email:
                # A correction in the same breath ("no, it's jon with no h at …"): read the new one back.
                memory.pending_email = email
                again = self._give_up_or_retry("email", f"I have {speak_email(email)}. Is that right?")
                if again is not None:
                    yield again
                    return
            elif u.intent is Intent.DENY:
                memory.pending_email = None
                again = self._give_up_or_retry("email", phrases.EMAIL_WRONG)
                if again is not None:
                    self._go(CallState.COLLECTING_EMAIL, "email_rejected", u)
            else:
                yield self._prompt(
                    f"I have {speak_email(memory.pending_email or '')}. {phrases.CONFIRM_YES_NO}"
                )
                return
        elif state is CallState.CONFIRMING_PHONE:
            phone = u.entities.phone or parse_phone(text)
            if u.intent is Intent.AFFIRM and phone is None:
                contact.phone = self._call.from_number
                self._go(state, "caller_id_confirmed", u)
            elif phone:
                contact.phone = phone
                yield Say(f"Thanks, I have {spell_out_digits(_digits(phone))}.")
            elif u.intent is Intent.DENY:
                self._go(CallState.COLLECTING_PHONE, "caller_id_rejected", u)
                yield self._prompt(phrases.ASK_PHONE)
                return
            else:
                yield self._prompt(phrases.CONFIRM_YES_NO)
                return
        elif state is CallState.COLLECTING_PHONE:
            phone = u.entities.phone or parse_phone(text)
            if phone:
                contact.phone = phone
                yield Say(f"Thanks, I have {spell_out_digits(_digits(phone))}.")
            elif u.intent in (Intent.DENY, Intent.DONT_KNOW):
                memory.skipped.append("phone")
                yield Say(phrases.NO_PROBLEM)
            else:
                again = self._give_up_or_retry("phone", phrases.ASK_PHONE_AGAIN)
        if again is not None:
            yield again
            return
        memory.attempts = 0
        async for action in self._next_contact_step():
            yield action

    async def _store_case(self, *, resolved: bool) -> OutboxEntry:
        """Build the case and store it in the outbox: from here on nothing can lose it."""
        key = idempotency_key_for(self._call.call_id)
        contact = self._call.contact
        if not contact.phone and not contact.email and self._call.from_number:
            contact.phone = self._call.from_number  # the caller ID is better than no way to reach them
        request = CaseRequest(
            call_id=self._call.call_id,
            idempotency_key=key,
            channel=self._call.channel,
            started_at=self._call.started_at,
            contact=contact,
            turns=list(self.turns),
            resolved=resolved,
            reason=self._call.escalation_reason,
            caller_number=self._call.from_number,
            articles=list(self.memory.offered),
        )
        draft = await self._deps.cases.build(request, self._call.usage)
        # Not due before the immediate attempt has had its chance, so the worker does not race it.
        due = self._deps.clock() + dt.timedelta(seconds=2 * self._policy.case_delivery_budget_seconds + 1)
        entry = await self._deps.outbox.enqueue(
            OutboxEntry(
                idempotency_key=key, call_id=self._call.call_id, payload=draft.to_json(), next_attempt_at=due
            )
        )
        self.memory.case_key = key
        if not resolved:
            self._call.outcome = CallOutcome.ESCALATED
        await self._save()
        log.info("call.case_stored", call_id=self._call.call_id, idempotency_key=key, resolved=resolved)
        return entry

    async def _deliver_now(self, entry: OutboxEntry) -> CaseInfo | None:
        """Try Kayako within the caller's patience; otherwise the outbox worker delivers it later."""
        if entry.case_id is not None:
            self._call.case_id = entry.case_id
            return None
        try:
            async with asyncio.timeout(self._policy.case_delivery_budget_seconds):
                case = await self._deps.delivery.attempt(entry)
        except TimeoutError:
            log.warning("call.case_delivery_deferred", call_id=self._call.call_id, reason="timeout")
            return None
        if case is None:
            log.warning("call.case_delivery_deferred", call_id=self._call.call_id, reason="kayako_error")
            return None
        self._call.case_id = case.id
        self._call.case_status = case.status
        return case

    async def _file_case(
        self, *, transfer: bool, why: str = "contact_collected"
    ) -> AsyncGenerator[FlowAction, None]:
        reason = self._call.escalation_reason or phrases.ASKED_FOR_PERSON
        self._go(CallState.ESCALATING, why)
        yield Say(phrases.OPENING_CASE)
        entry = await self._store_case(resolved=False)
        await self._deliver_now(entry)
        if self._call.case_id is not None:
            yield Say(f"Your case number is {spell_out_digits(self._call.case_id)}.")
        elif self._call.contact.email:
            yield Say(phrases.CASE_LATER_EMAIL)
        else:
            yield Say(phrases.CASE_LATER_NO_EMAIL)
        if transfer:
            self._call.outcome = CallOutcome.TRANSFERRED
            self._go(CallState.CLOSED, "transfer_to_agent")
            yield Say(phrases.TRANSFERRING)
            yield Transfer(case_id=self._call.case_id, reason=reason)
        else:
            self._go(CallState.CLOSED, "case_filed_no_agents")
            yield Say(f"{phrases.TEAM_WILL_FOLLOW_UP} {phrases.goodbye(self._policy.helpdesk_name)}")
            yield EndCall(reason=reason)

    async def _transfer_failed(self) -> AsyncGenerator[FlowAction, None]:
        # The case is already filed (a transfer follows it); the caller is promised a call back instead.
        self._call.outcome = CallOutcome.ESCALATED
        self._go(CallState.CLOSED, phrases.TRANSFER_FAILED_REASON)
        case = f" Your case number is {spell_out_digits(self._call.case_id)}." if self._call.case_id else ""
        yield Say(f"{phrases.TRANSFER_FAILED}{case} {phrases.goodbye(self._policy.helpdesk_name)}")
        yield EndCall(reason=phrases.TRANSFER_FAILED_REASON)

    # --- repeat, goodbye, silence, abuse, keys -----------------------------------------------------

    async def _repeat(self) -> AsyncGenerator[FlowAction, None]:
        self._go(self.memory.state, "repeat")
        yield Say(self.memory.last_reply or self.memory.last_prompt or phrases.HOW_CAN_I_HELP)

    async def _goodbye(self, u: Understanding | None) -> AsyncGenerator[FlowAction, None]:
        state = self.memory.state
        if state is CallState.CONFIRMING_RESOLUTION:
            # "Thanks, bye" right after an answer is taken as the answer having helped.
            async for action in self._resolved(u):
                yield action
            return
        if state in CONTACT_STATES:
            # Leaving half-way through the hand-off: the case is still filed with what is known.
            self._go(CallState.ESCALATING, phrases.CALLER_SAID_GOODBYE, u)
            async for action in self._file_case(transfer=False):
                yield action
            return
        if self._call.outcome is CallOutcome.IN_PROGRESS:
            self._call.outcome = CallOutcome.ABANDONED
        self._go(CallState.CLOSED, phrases.CALLER_SAID_GOODBYE, u)
        yield Say(phrases.goodbye(self._policy.helpdesk_name))
        yield EndCall(reason=phrases.CALLER_SAID_GOODBYE)

    async def _caller_silent(self) -> AsyncGenerator[FlowAction, None]:
        if self.finished:
            return
        memory = self.memory
        memory.silences += 1
        if memory.silences <= self._policy.max_silence_reprompts:
            self._go(memory.state, f"silence_reprompt_{memory.silences}")
            yield Say(f"{phrases.STILL_THERE} {memory.last_prompt or phrases.HOW_CAN_I_HELP}")
            return
        if memory.state in CONTACT_STATES or self._has_unresolved_issue():
            if self._call.escalation_reason is None:
                self._call.escalation_reason = phrases.CALLER_SILENT
            self._go(CallState.ESCALATING, phrases.CALLER_SILENT)
            yield Say(phrases.SILENT_WITH_CASE)
            async for action in self._file_case(transfer=False):
                yield action
            return
        self._call.outcome = CallOutcome.ABANDONED
        self._go(CallState.CLOSED, phrases.CALLER_SILENT)
        yield Say(f"{phrases.SILENT_GOODBYE} {phrases.goodbye(self._policy.helpdesk_name)}")
        yield EndCall(reason=phrases.CALLER_SILENT)

    async def _abuse(self, u: Understanding) -> AsyncGenerator[FlowAction, None]:
        memory = self.memory
        if memory.abuse_warnings < self._policy.max_abuse_warnings:
            memory.abuse_warnings += 1
            self._go(memory.state, "abuse_warning", u)
            yield Say(phrases.ABUSE_WARNING)
            yield self._prompt(memory.last_prompt or phrases.HOW_CAN_I_HELP)
            return
        if self._call.outcome is CallOutcome.IN_PROGRESS:
            self._call.outcome = CallOutcome.ABANDONED
        self._go(CallState.CLOSED, "abuse", u)
        yield Say(f"{phrases.ABUSE_END} {phrases.goodbye(self._policy.helpdesk_name)}")
        yield EndCall(reason="abuse")

    async def _caller_pressed(self, digit: str) -> AsyncGenerator[FlowAction, None]:
        if self.finished:
            return
        if digit not in ("0", "#"):
            log.info("call.key_ignored", call_id=self._call.call_id, digit=digit)
            return
        intent = Intent.HANDOFF if digit == "0" else Intent.REPEAT
        await self._record(Speaker.CALLER, f"[pressed {digit}]", intent=intent.value)
        self.memory.silences = 0
        pressed = Understanding(intent=intent, confidence=1.0, engine="dtmf")
        if digit == "#":
            handler = self._repeat()
        elif self.memory.state in _OPEN_STATES:
            handler = self._escalate(phrases.PRESSED_ZERO, pressed)
        else:
            handler = self._collect_contact("", pressed)
        async with contextlib.aclosing(handler) as actions:
            async for action in actions:
                yield action
