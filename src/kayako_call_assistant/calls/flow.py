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

from ..dialogue.choice import NEITHER, choose
from ..dialogue.entities import (
    parse_case_number,
    parse_email,
    parse_name,
    parse_phone,
    speak_case_number,
    speak_email,
    spell_out_digits,
    words_to_digits,
)
from ..dialogue.intents import explicit_yes, is_noncommittal, is_small_talk
from ..dialogue.speech_text import speakable
from ..domain import (
    AnswerVerdict,
    Assessment,
    CallOutcome,
    CallRecord,
    CaseInfo,
    DialogueContext,
    EndCall,
    Entities,
    FlowAction,
    Intent,
    Passage,
    Say,
    Speaker,
    Transfer,
    Turn,
    Understanding,
)
from ..knowledge.gate import wants_confirmation
from ..ports import CallStore, HelpDesk, LanguageEngine, OutboxEntry, OutboxStore, Retriever
from ..tickets.case_builder import CaseBuilder, CaseRequest, OfferedArticle, idempotency_key_for
from ..tickets.outbox import OutboxWorker
from . import phrases
from .policy import CallPolicy
from .states import CONTACT_STATES, EXPECTING, CallState

log = structlog.get_logger(__name__)

_HISTORY_TURNS = 12  # turns of context given to the language engine
_OPEN_STATES = frozenset(
    {
        CallState.GREETING,
        CallState.LISTENING,
        CallState.CONFIRMING_RESOLUTION,
        CallState.CLARIFYING,
        CallState.VERIFYING,
    }
)
_VERIFY_TRIES = 2  # emails heard before the case details are refused


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
    email_from_caller: bool = False  # the pending email was said by the caller (else: known from Kayako)
    pending_phone: str | None = None  # a number the caller said outside the phone question, to confirm
    case_number: int | None = None  # a case number the caller mentioned
    name_asks: int = 0  # the name is asked at most twice and never blocks the case
    verified_person_id: int | None = None  # the Kayako user this caller is proven to be (trusted ID or 2FA)
    verify_case: int | None = None  # the case whose details wait for the caller's verification
    verify_tries: int = 0
    person_id: int | None = None
    case_key: str | None = None  # set once the case is stored in the outbox
    confirm_asks: int = 0  # "did that solve it?" asked again after an answer that was not a clear yes or no
    prompt_seq: int | None = None  # the assistant turn that asked ``last_prompt``
    prompt_heard: bool = True  # False when the caller cut that turn off before the question was said
    clarify: list[dict[str, Any]] = field(default_factory=list)  # the two passages a question may be about
    clarify_asks: int = 0

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
            "email_from_caller": self.email_from_caller,
            "pending_phone": self.pending_phone,
            "case_number": self.case_number,
            "name_asks": self.name_asks,
            "verified_person_id": self.verified_person_id,
            "verify_case": self.verify_case,
            "verify_tries": self.verify_tries,
            "person_id": self.person_id,
            "case_key": self.case_key,
            "confirm_asks": self.confirm_asks,
            "prompt_seq": self.prompt_seq,
            "prompt_heard": self.prompt_heard,
            "clarify": list(self.clarify),
            "clarify_asks": self.clarify_asks,
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
            email_from_caller=bool(data.get("email_from_caller", False)),
            pending_phone=data.get("pending_phone"),
            case_number=data.get("case_number"),
            name_asks=int(data.get("name_asks", 0)),
            verified_person_id=data.get("verified_person_id"),
            verify_case=data.get("verify_case"),
            verify_tries=int(data.get("verify_tries", 0)),
            person_id=data.get("person_id"),
            case_key=data.get("case_key"),
            confirm_asks=int(data.get("confirm_asks", 0)),
            prompt_seq=data.get("prompt_seq"),
            prompt_heard=bool(data.get("prompt_heard", True)),
            clarify=list(data.get("clarify", [])),
            clarify_asks=int(data.get("clarify_asks", 0)),
        )


def _spoken_subject(subject: str) -> str:
    """A case subject inside a spoken sentence: plain text, without its own full stop."""
    return speakable(subject).rstrip(".!?")


def _digits(number: str) -> str:
    return "".join(ch for ch in number if ch.isdigit())


def _words(text: str) -> list[str]:
    return "".join(ch.lower() if ch.isalnum() else " " for ch in text).split()


def _was_heard(prompt: str, heard: str) -> bool:
    """Whether the question ``prompt`` was said to its end within what the caller heard."""
    asked, said = _words(prompt), _words(heard)
    return bool(asked) and len(said) >= len(asked) and said[-len(asked) :] == asked


def _read_back_phone(phone: str) -> str:
    return f"I have {spell_out_digits(_digits(phone))}. Is that right?"


def _read_back_email(email: str, *, ask: bool = True) -> str:
    return f"I have {speak_email(email)}." + (" Is that right?" if ask else "")


def _passage_json(passage: Passage) -> dict[str, Any]:
    return {
        "article_id": passage.article_id,
        "title": passage.title,
        "text": passage.text,
        "heading": passage.heading,
    }


def _passage_from_json(data: dict[str, Any]) -> Passage:
    return Passage(int(data["article_id"]), str(data["title"]), str(data["text"]), data.get("heading"))


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
        self._unsaved: dict[int, Turn] = {}  # turns changed since they were written (reply latency)

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

    def reply_started(self, latency_seconds: float) -> None:
        seq = self.memory.last_assistant_seq
        turn = next((t for t in reversed(self.turns) if t.seq == seq), None)
        if turn is not None and turn.latency_seconds is None:
            turn.latency_seconds = round(max(0.0, latency_seconds), 3)
            # Written with the next save (no extra write on the audio path): the store replaces the turn.
            self._unsaved[turn.seq] = turn

    async def assistant_cut_off(self, heard_text: str) -> None:
        seq = self.memory.last_assistant_seq
        turn = next((t for t in reversed(self.turns) if t.seq == seq), None)
        if turn is None:
            log.warning("call.cut_off_without_reply", call_id=self._call.call_id)
            return
        turn.text = heard_text.strip()
        turn.interrupted = True
        if self.memory.prompt_seq == seq and self.memory.last_prompt:
            # A question counts only if the caller heard it: "yes" to a question never said is no answer.
            self.memory.prompt_heard = _was_heard(self.memory.last_prompt, turn.text)
        # The store replaces a turn written again with the same seq: the transcript keeps only what was heard.
        await self._save([turn])
        log.info("call.cut_off", call_id=self._call.call_id, seq=seq, heard_chars=len(turn.text))

    async def hung_up(self, *, transport_failure: bool = False) -> None:
        memory = self.memory
        answer_heard = (
            memory.state is CallState.CONFIRMING_RESOLUTION and memory.prompt_heard and not transport_failure
        )
        if answer_heard and memory.case_key is None:
            # The caller heard an answer to its end and left without a yes or a no: answered, not a failure.
            # Cut off half-way through the answer, the issue stays unresolved (below: a case is filed).
            await self._answered(phrases.CALLER_HUNG_UP)
        elif memory.state is not CallState.CLOSED:
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
                        if action.text == self.memory.last_prompt:
                            self.memory.prompt_seq, self.memory.prompt_heard = turn.seq, True
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
        if self._unsaved:
            pending = {turn.seq: turn for turn in (*self._unsaved.values(), *turns)}
            turns = sorted(pending.values(), key=lambda turn: turn.seq)
            self._unsaved = {}
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

    def _caller_id_trusted(self) -> bool:
        """Whether caller ID alone identifies the caller, by the configured rule on its STIR/SHAKEN level."""
        attestation = (self._call.caller_attestation or "").upper()
        rule = self._policy.caller_id_trust
        if rule == "full_attestation":
            return attestation == "A"
        if rule == "any_attestation":
            return attestation in ("A", "B")
        return False

    def _case_number(self, number: int) -> str:
        return speak_case_number(number, self._policy.case_number_group_size)

    def _has_unresolved_issue(self) -> bool:
        return bool(self.memory.issue) and self._call.outcome is CallOutcome.IN_PROGRESS

    # --- greeting ------------------------------------------------------------------------------------

    async def _greet(self) -> AsyncGenerator[FlowAction, None]:
        name = self._policy.helpdesk_name
        greeting = f"Thank you for calling {name}. I'm the virtual assistant."
        number = self._call.from_number
        trusted = self._caller_id_trusted()
        if number and not trusted:
            # Caller ID can be spoofed: without full attestation it names nobody and reveals nothing.
            log.info(
                "call.caller_id_untrusted",
                call_id=self._call.call_id,
                attestation=self._call.caller_attestation,
                rule=self._policy.caller_id_trust,
            )
        if number and trusted:
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
                self.memory.verified_person_id = person.id
                self.memory.pending_email = person.emails[0] if person.emails else None
                # A user filed earlier from caller ID alone is named by their number or email: not a name.
                first = person.first_name
                if any(ch.isalpha() for ch in first) and "@" not in first:
                    self._call.contact.name = person.full_name
                    greeting = f"Hi {first}, thanks for calling {name}."
                cases = [case for case in cases if case.requester_id in (None, person.id)]
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
        if state not in CONTACT_STATES:
            # A detail offered at any point is kept (the latest one wins) and read back when it is needed.
            self._keep_details(self._details_in(text, u, strict_name=True))
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
        elif state is CallState.CLARIFYING:
            handler = self._clarifying(text, u)
        elif state is CallState.VERIFYING:
            handler = self._verifying(text, u)
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
        if u.intent in (Intent.QUESTION, Intent.INFORM) and not is_small_talk(text):
            self.memory.issue.append(text)
            async for action in self._answer(text, u, retry=False):
                yield action
        elif u.intent is Intent.CASE_STATUS:
            async for action in self._case_status(text, u):
                yield action
        elif u.intent in (Intent.OUT_OF_SCOPE, Intent.GREETING) or is_small_talk(text):
            # Greetings, jokes, weather, chit-chat: a friendly scope statement, never an article.
            self._go(CallState.LISTENING, "small_talk", u)
            yield self._prompt(phrases.scope(self._policy.helpdesk_name))
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
                await self._deps.engine.search_query(question, self._context(), self._call.usage),
                exclude=offered,
                top=self._policy.answer_search_top,
            )
        except Exception:
            log.exception("call.search_failed", call_id=self._call.call_id)
            async for action in self._escalate(phrases.HELP_CENTER_UNAVAILABLE, u):
                yield action
            return
        fresh = assessment.hits
        relevance = assessment.confidence
        verdict = assessment.verdict if fresh else AnswerVerdict.NONE
        reason = assessment.reason
        if verdict is AnswerVerdict.CLARIFY and retry:
            # Two articles close together, both good enough: after a failed answer there is no second
            # "which one" question; the best of the ones not offered yet is the next answer.
            verdict, reason = AnswerVerdict.ANSWER, "retry_best_of_close_two"
        if verdict is AnswerVerdict.ANSWER and await self._model_says_unanswered(question, assessment):
            verdict, reason = AnswerVerdict.NONE, "model_says_unanswered"
        if verdict is AnswerVerdict.CLARIFY and len(fresh) >= 2 and not retry:
            first, second = fresh[0].passage, fresh[1].passage
            self.memory.clarify = [_passage_json(first), _passage_json(second)]
            self.memory.clarify_asks = 0
            self.memory.question = question
            self._go(CallState.CLARIFYING, assessment.reason, u, relevance=relevance)
            yield self._prompt(phrases.clarify(_spoken_subject(first.title), _spoken_subject(second.title)))
            return
        if verdict is not AnswerVerdict.ANSWER:
            if not retry and (u.intent is Intent.OUT_OF_SCOPE or is_small_talk(question)):
                # Nothing in the help center and nothing a help desk does: no case for "tell me a joke".
                if self.memory.issue and self.memory.issue[-1] == question:
                    self.memory.issue.pop()
                self._go(CallState.LISTENING, f"small_talk_{reason}", u, relevance=relevance)
                yield self._prompt(phrases.scope(self._policy.helpdesk_name))
                return
            async for action in self._escalate(phrases.NO_RELEVANT_ARTICLE, u, relevance=relevance):
                yield action
            return
        best = fresh[0]
        article_id = best.passage.article_id
        passages = [hit.passage for hit in fresh if hit.passage.article_id == article_id]
        async for action in self._speak_answer(question, passages, u, retry=retry, relevance=relevance):
            yield action

    async def _model_says_unanswered(self, question: str, assessment: Assessment) -> bool:
        """The language engine's check of an ANSWER when the policy asks for it (``KCA_KB_CONFIRM``): True
        only when the engine judges that the best passage does not answer the question. An engine that
        cannot judge (None), or fails, leaves the gate's verdict standing."""
        policy = self._policy
        if not wants_confirmation(assessment, policy.answer_confirm, policy.answer_confirm_band):
            return False
        passage = assessment.hits[0].passage
        try:
            confirmed = await self._deps.engine.confirms_answer(
                question, passage, self._context(), self._call.usage
            )
        except Exception:
            log.exception("call.answer_check_failed", call_id=self._call.call_id)
            return False
        log.info(
            "call.answer_checked",
            call_id=self._call.call_id,
            article_id=passage.article_id,
            gate_reason=assessment.reason,
            headroom=assessment.headroom,
            confirmed=confirmed,
        )
        return confirmed is False

    async def _speak_answer(
        self,
        question: str,
        passages: list[Passage],
        u: Understanding,
        *,
        retry: bool,
        relevance: float | None = None,
    ) -> AsyncGenerator[FlowAction, None]:
        best = passages[0]
        self.memory.offered.append(OfferedArticle(id=best.article_id, title=best.title))
        self.memory.question = question
        self.memory.confirm_asks = 0
        self._go(CallState.CONFIRMING_RESOLUTION, "answered_from_article", u, relevance=relevance)
        if retry:
            yield Say(phrases.TRY_AGAIN)
        async for sentence in self._deps.engine.answer(question, passages, self._context(), self._call.usage):
            if sentence.strip():
                yield Say(sentence.strip())
        yield self._prompt(phrases.DID_THAT_SOLVE_IT)

    async def _clarifying(self, text: str, u: Understanding) -> AsyncGenerator[FlowAction, None]:
        memory = self.memory
        options = [_passage_from_json(item) for item in memory.clarify]
        picked = choose(text, [option.title for option in options])
        if picked is None and u.intent is Intent.DENY:
            picked = NEITHER
        question = memory.question or " ".join(memory.issue)
        if picked == NEITHER:
            memory.clarify = []
            async for action in self._escalate(phrases.NO_RELEVANT_ARTICLE, u):
                yield action
        elif picked is not None:
            memory.clarify = []
            self._go(CallState.ANSWERING, "clarified", u)
            async for action in self._speak_answer(question, [options[picked]], u, retry=False):
                yield action
        elif memory.clarify_asks < 1 and u.intent not in (Intent.QUESTION, Intent.INFORM):
            memory.clarify_asks += 1
            self._go(CallState.CLARIFYING, "clarify_again", u)
            yield self._prompt(phrases.CLARIFY_AGAIN)
        else:
            # Still not one of the two: a person reads the question rather than a guess.
            memory.clarify = []
            memory.issue.append(text)
            async for action in self._escalate(phrases.NO_RELEVANT_ARTICLE, u):
                yield action

    async def _confirming_resolution(self, text: str, u: Understanding) -> AsyncGenerator[FlowAction, None]:
        memory = self.memory
        said_yes = u.intent in (Intent.AFFIRM, Intent.THANKS) and explicit_yes(text)
        if said_yes and not memory.prompt_heard:
            # The caller spoke over the answer before "did that solve it?" was said: ask it now.
            self._go(memory.state, "confirmation_not_heard", u)
            yield self._prompt(phrases.DID_THAT_SOLVE_IT)
            return
        if said_yes:
            async for action in self._resolved(u):
                yield action
            return
        substantive = (
            u.intent in (Intent.QUESTION, Intent.INFORM)
            and not is_small_talk(text)
            and not is_noncommittal(text)
        )
        if substantive and not memory.prompt_heard:
            # The caller spoke over the answer with words of their own ("sorry, how do I ..."): they did not
            # hear it, so it has not failed. Answer what they said now; the unheard article may come again.
            if memory.offered:
                memory.offered.pop()
            self._go(memory.state, "answer_not_heard", u)
            async for action in self._answer(text, u, retry=False):
                yield action
            return
        if u.intent is not Intent.DENY and not substantive and memory.confirm_asks < 1:
            # "ok then tell me a joke", "hmm", "whatever": not a yes. Ask once more.
            memory.confirm_asks += 1
            self._go(memory.state, "resolution_unclear", u)
            yield self._prompt(phrases.RESOLUTION_AGAIN)
            return
        if u.intent is not Intent.DENY and not substantive:
            log.info("call.resolution_unconfirmed", call_id=self._call.call_id, asks=memory.confirm_asks)
            text = "no"  # asked twice without a clear answer: unresolved, as a bare "no"
        self.memory.failed_answers += 1
        if self.memory.failed_answers >= self._policy.max_failed_answers:
            async for action in self._escalate(phrases.ANSWERS_DID_NOT_HELP, u):
                yield action
            return
        # "No, it still says my token expired": the extra words rephrase the question; a bare "no" asks for
        # the next best article on the same question.
        original = self.memory.question or " ".join(self.memory.issue)
        if text == "no" or (u.intent is Intent.DENY and len(text.split()) <= 3):
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

    async def _answered(self, reason: str) -> None:
        """The call ended right after an answer, without a yes or a no: ``answered``; by default no case."""
        self._call.outcome = CallOutcome.ANSWERED
        self._go(CallState.CLOSED, reason)
        if self._policy.case_for_answered_calls:
            self._call.escalation_reason = None
            request_reason = phrases.CALLER_LEFT_AFTER_ANSWER
            entry = await self._store_case(resolved=True, reason=request_reason)
            await self._deliver_now(entry)

    async def _case_status(self, text: str, u: Understanding) -> AsyncGenerator[FlowAction, None]:
        """A case's status and subject, told only to a verified caller who is the case's requester."""
        memory = self.memory
        number = u.entities.case_number or parse_case_number(text) or memory.case_number
        if number is None:
            yield self._prompt(phrases.ASK_CASE_NUMBER)
            return
        memory.case_number = number
        if memory.verified_person_id is None:
            memory.verify_case, memory.verify_tries = number, 0
            self._go(CallState.VERIFYING, "verify_for_case_status", u)
            yield self._prompt(phrases.VERIFY_EMAIL)
            return
        async for action in self._tell_case(number, u):
            yield action

    async def _tell_case(self, number: int, u: Understanding | None) -> AsyncGenerator[FlowAction, None]:
        spoken = self._case_number(number)
        case: CaseInfo | None
        try:
            async with asyncio.timeout(self._policy.caller_lookup_timeout_seconds):
                case = await self._deps.helpdesk.get_case(number)
        except Exception as error:
            log.warning("call.case_lookup_failed", call_id=self._call.call_id, error=type(error).__name__)
            self._go(CallState.LISTENING, "case_lookup_failed", u)
            yield Say(phrases.CASE_LOOKUP_FAILED)
        else:
            mine = case is not None and case.requester_id == self.memory.verified_person_id
            self._go(CallState.LISTENING, "case_status_given" if mine else "case_not_on_account", u)
            if case is None or not mine:
                yield Say(phrases.case_not_on_account(spoken))
            else:
                yield Say(f"Case {spoken}, about {_spoken_subject(case.subject)}, is {case.status.lower()}.")
        yield self._prompt(phrases.ANYTHING_ELSE)

    async def _verifying(self, text: str, u: Understanding) -> AsyncGenerator[FlowAction, None]:
        """The second factor: the email on the case (case number plus email), or the email on file of the
        caller's number. Nothing said here tells whether the case exists or whose it is."""
        memory = self.memory
        email = u.entities.email or parse_email(text)
        if email is None and u.intent in (Intent.DENY, Intent.DONT_KNOW):
            self._go(CallState.LISTENING, "verification_declined", u)
            yield Say(phrases.CANT_SHARE_CASE)
            yield self._prompt(phrases.ANYTHING_ELSE)
            return
        person = None
        case: CaseInfo | None = None
        if email is not None:
            try:
                async with asyncio.timeout(self._policy.caller_lookup_timeout_seconds):
                    person = await self._deps.helpdesk.find_person(email=email)
                    if person is not None and memory.verify_case is not None:
                        case = await self._deps.helpdesk.get_case(memory.verify_case)
            except Exception as error:
                log.warning(
                    "call.verification_lookup_failed", call_id=self._call.call_id, error=type(error).__name__
                )
                self._go(CallState.LISTENING, "verification_lookup_failed", u)
                yield Say(phrases.CASE_LOOKUP_FAILED)
                yield self._prompt(phrases.ANYTHING_ELSE)
                return
        method = None
        if person is not None and case is not None and case.requester_id == person.id:
            method = "case_number_and_email"
        elif person is not None and self._call.from_number and self._call.from_number in person.phones:
            method = "email_on_file_for_caller_id"
        if person is None or method is None:
            memory.verify_tries += 1
            log.info("call.verification_failed", call_id=self._call.call_id, tries=memory.verify_tries)
            if memory.verify_tries < _VERIFY_TRIES:
                self._go(CallState.VERIFYING, "verification_retry", u)
                yield self._prompt(phrases.VERIFY_EMAIL_AGAIN)
                return
            self._go(CallState.LISTENING, "verification_failed", u)
            yield Say(phrases.CANT_SHARE_CASE)
            yield self._prompt(phrases.ANYTHING_ELSE)
            return
        memory.verified_person_id = person.id
        if not self._call.contact.email and email:
            self._call.contact.email = email  # it matches the help desk's record: no read-back needed
        log.info("call.caller_verified", call_id=self._call.call_id, method=method)
        number = memory.verify_case
        memory.verify_case = None
        if number is None:
            self._go(CallState.LISTENING, "caller_verified", u)
            yield self._prompt(phrases.ANYTHING_ELSE)
            return
        async for action in self._tell_case(number, u):
            yield action

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
        email_open = "email" not in memory.skipped and memory.pending_email not in (None, contact.email)
        if email_open and memory.pending_email and memory.email_from_caller:
            # What the caller offered is read back before anything new is asked.
            self._go(CallState.CONFIRMING_EMAIL, "confirm_offered_email")
            yield self._prompt(f"{intro}{_read_back_email(memory.pending_email)}")
        elif not contact.name and "name" not in memory.skipped and memory.name_asks < 2:
            memory.name_asks += 1
            self._go(CallState.COLLECTING_NAME, "need_name")
            yield self._prompt(
                intro + (phrases.ASK_NAME if memory.name_asks == 1 else phrases.ASK_NAME_LATER)
            )
        elif not contact.email and "email" not in memory.skipped:
            if memory.pending_email:
                self._go(CallState.CONFIRMING_EMAIL, "confirm_known_email")
                yield self._prompt(f"{intro}Is {speak_email(memory.pending_email)} the best email for you?")
            else:
                self._go(CallState.COLLECTING_EMAIL, "need_email")
                yield self._prompt(intro + phrases.ASK_EMAIL)
        elif not contact.phone and "phone" not in memory.skipped:
            offered = memory.pending_phone
            if offered or self._call.from_number:
                self._go(
                    CallState.CONFIRMING_PHONE, "confirm_offered_phone" if offered else "confirm_caller_id"
                )
                spoken = spell_out_digits(_digits(offered or self._call.from_number or ""))
                question = (
                    f"Can we reach you at {spoken}?"
                    if offered
                    else f"Can we reach you at the number you're calling from, {spoken}?"
                )
                yield self._prompt(f"{intro}{question}")
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

    def _details_in(self, text: str, u: Understanding, *, strict_name: bool) -> Entities:
        """Every contact detail in the caller's words, from the engine or the shared parsers.

        ``strict_name``: only an explicit "my name is …" counts (outside the name question, "it's Tuesday"
        is not a name)."""
        found = Entities()
        found.email = u.entities.email or parse_email(text)
        digits = sum(ch.isdigit() for ch in words_to_digits(text))
        found.phone = u.entities.phone or (parse_phone(text) if digits >= 7 else None)
        if found.email and found.phone and _digits(found.phone) in _digits(found.email):
            found.phone = None  # the digits were part of the email address
        found.name = u.entities.name if not strict_name else None
        if found.name is None and (not strict_name or "name" in text.lower()):
            found.name = parse_name(text) if not found.email else None
        if found.name and strict_name and "name" not in text.lower():
            found.name = None
        found.case_number = u.entities.case_number
        return found

    def _keep_details(self, found: Entities, *, except_: str = "") -> None:
        """Keep what the caller offered (a detail given twice keeps the latest); emails and numbers wait for
        their read-back."""
        memory, contact = self.memory, self._call.contact
        if found.email and except_ != "email" and found.email != contact.email:
            memory.pending_email, memory.email_from_caller = found.email, True
            if "email" in memory.skipped:
                memory.skipped.remove("email")
        if found.phone and except_ != "phone" and found.phone != contact.phone:
            memory.pending_phone = found.phone
            contact.phone = None if contact.phone == self._call.from_number else contact.phone
            if "phone" in memory.skipped:
                memory.skipped.remove("phone")
        if found.name and except_ != "name":
            contact.name = found.name
        if found.case_number:
            memory.case_number = found.case_number
        if found.email or found.phone or found.name:
            log.info(
                "call.details_offered",
                call_id=self._call.call_id,
                email=found.email is not None,
                phone=found.phone is not None,
                name=found.name is not None,
            )

    async def _collect_contact(self, text: str, u: Understanding) -> AsyncGenerator[FlowAction, None]:
        state, memory, contact = self.memory.state, self.memory, self._call.contact
        again: Say | None = None
        if u.intent is Intent.HANDOFF:
            yield Say(phrases.DETAILS_ALREADY)
            yield self._prompt(memory.last_prompt)
            return
        found = self._details_in(text, u, strict_name=state is not CallState.COLLECTING_NAME)
        if state is CallState.COLLECTING_NAME:
            other = found.email or found.phone
            plain = u.intent not in (Intent.AFFIRM, Intent.DENY, Intent.DONT_KNOW) and not other
            name = found.name or (parse_name(text, bare=plain) if not other else None)
            self._keep_details(found, except_="name")
            if name:
                contact.name = name
            elif u.intent in (Intent.DENY, Intent.DONT_KNOW):
                memory.skipped.append("name")
            # Anything else (another detail, or words that are not a name): the name is asked once more
            # later at most, and never holds the case up.
        elif state is CallState.COLLECTING_EMAIL:
            self._keep_details(found)
            if found.email:
                self._go(CallState.CONFIRMING_EMAIL, "email_heard", u)
                yield self._prompt(_read_back_email(found.email))
                return
            if u.intent in (Intent.DENY, Intent.DONT_KNOW):
                memory.skipped.append("email")
                yield Say(phrases.NO_PROBLEM)
            elif not (found.phone or found.name):
                again = self._give_up_or_retry("email", phrases.ASK_EMAIL_AGAIN)
        elif state is CallState.CONFIRMING_EMAIL:
            pending = memory.pending_email
            if found.email and found.email != pending:
                # A correction in the same breath ("no, it's jon with no h at …"): read the new one back.
                self._keep_details(found)
                again = self._give_up_or_retry("email", _read_back_email(found.email))
                if again is not None:
                    yield again
                    return
            elif u.intent is Intent.AFFIRM or (u.intent is not Intent.DENY and explicit_yes(text)):
                # "That's correct" answers the read-back; a name or number in the same breath is kept too.
                contact.email, memory.pending_email = pending, None
                self._keep_details(found, except_="email")
                self._go(state, "email_confirmed", u)
            elif u.intent is Intent.DENY:
                memory.pending_email = None
                again = self._give_up_or_retry("email", phrases.EMAIL_WRONG)
                if again is not None:
                    self._go(CallState.COLLECTING_EMAIL, "email_rejected", u)
            else:
                self._keep_details(found, except_="email")
                yield self._prompt(f"{_read_back_email(pending or '', ask=False)} {phrases.CONFIRM_YES_NO}")
                return
        elif state is CallState.CONFIRMING_PHONE:
            offered = memory.pending_phone or self._call.from_number
            if found.phone and found.phone != offered:
                # Another number, or a correction: read it back too.
                memory.pending_phone = found.phone
                self._keep_details(found, except_="phone")
                again = self._give_up_or_retry("phone", _read_back_phone(found.phone))
                if again is not None:
                    yield again
                    return
            elif u.intent is Intent.AFFIRM or (u.intent is not Intent.DENY and explicit_yes(text)):
                contact.phone, memory.pending_phone = offered, None
                self._keep_details(found, except_="phone")
                self._go(state, "phone_confirmed", u)
            elif u.intent is Intent.DENY:
                memory.pending_phone = None
                self._go(CallState.COLLECTING_PHONE, "phone_rejected", u)
                yield self._prompt(phrases.ASK_PHONE)
                return
            else:
                self._keep_details(found, except_="phone")
                yield self._prompt(phrases.CONFIRM_YES_NO)
                return
        elif state is CallState.COLLECTING_PHONE:
            self._keep_details(found, except_="phone")
            if found.phone:
                memory.pending_phone = found.phone
                self._go(CallState.CONFIRMING_PHONE, "phone_heard", u)
                yield self._prompt(_read_back_phone(found.phone))
                return
            if u.intent in (Intent.DENY, Intent.DONT_KNOW):
                memory.skipped.append("phone")
                yield Say(phrases.NO_PROBLEM)
            elif not (found.email or found.name):
                again = self._give_up_or_retry("phone", phrases.ASK_PHONE_AGAIN)
        if again is not None:
            yield again
            return
        memory.attempts = 0
        async for action in self._next_contact_step():
            yield action

    async def _store_case(self, *, resolved: bool, reason: str | None = None) -> OutboxEntry:
        """Build the case and store it in the outbox: from here on nothing can lose it."""
        key = idempotency_key_for(self._call.call_id)
        contact = self._call.contact
        if not contact.phone and self.memory.pending_phone:
            contact.phone = self.memory.pending_phone  # said but not yet confirmed: better than nothing
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
            reason=reason or self._call.escalation_reason,
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
            yield Say(f"Your case number is {self._case_number(self._call.case_id)}.")
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
        case_id = self._call.case_id
        case = f" Your case number is {self._case_number(case_id)}." if case_id else ""
        yield Say(f"{phrases.TRANSFER_FAILED}{case} {phrases.goodbye(self._policy.helpdesk_name)}")
        yield EndCall(reason=phrases.TRANSFER_FAILED_REASON)

    # --- repeat, goodbye, silence, abuse, keys -----------------------------------------------------

    async def _repeat(self) -> AsyncGenerator[FlowAction, None]:
        self._go(self.memory.state, "repeat")
        yield Say(self.memory.last_reply or self.memory.last_prompt or phrases.HOW_CAN_I_HELP)

    async def _goodbye(self, u: Understanding | None) -> AsyncGenerator[FlowAction, None]:
        state = self.memory.state
        if state is CallState.CONFIRMING_RESOLUTION:
            text = self.turns[-1].text if self.turns and self.turns[-1].speaker is Speaker.CALLER else ""
            if explicit_yes(text) and self.memory.prompt_heard:
                # "Yes, thanks, bye" right after the question: the answer helped.
                async for action in self._resolved(u):
                    yield action
                return
            # "OK, bye" after an answer: it was answered, not confirmed.
            await self._answered(phrases.CALLER_SAID_GOODBYE)
            yield Say(phrases.goodbye(self._policy.helpdesk_name))
            yield EndCall(reason=phrases.CALLER_SAID_GOODBYE)
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
