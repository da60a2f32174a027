"""In-test implementations of the ports for the call-flow and ticket tests (no network, real behaviour)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

from kayako_call_assistant.domain import (
    AnswerVerdict,
    Assessment,
    CaseDraft,
    CaseInfo,
    CaseSummary,
    ContactDetails,
    DialogueContext,
    HelpArticle,
    Intent,
    Passage,
    Person,
    SearchHit,
    Speaker,
    Turn,
    Understanding,
    Usage,
)
from kayako_call_assistant.storage import SqlStores

StoresFactory = Callable[[], SqlStores]


class ValidationRejected(Exception):
    """What a help desk adapter raises for a request Kayako rejects as invalid (HTTP 400)."""

    status = 400


class Unavailable(Exception):
    """What a help desk adapter raises when Kayako cannot be reached."""


@dataclass
class MemoryHelpDesk:
    """A small help desk kept in memory, idempotent on the case key like the real adapter."""

    people: list[Person] = field(default_factory=list)
    articles: list[HelpArticle] = field(default_factory=list)
    cases: dict[str, tuple[CaseInfo, CaseDraft, int]] = field(default_factory=dict)
    down: bool = False
    reject: bool = False
    create_calls: int = 0
    lookups: list[tuple[str | None, str | None]] = field(default_factory=list)

    async def find_person(self, *, email: str | None = None, phone: str | None = None) -> Person | None:
        self._check()
        self.lookups.append((email, phone))
        for person in self.people:
            if (email and email in person.emails) or (phone and phone in person.phones):
                return person
        return None

    async def create_person(self, contact: ContactDetails) -> Person:
        self._check()
        person = Person(
            id=100 + len(self.people),
            full_name=contact.name or "Caller",
            emails=(contact.email,) if contact.email else (),
            phones=(contact.phone,) if contact.phone else (),
        )
        self.people.append(person)
        return person

    async def open_cases(self, person_id: int) -> list[CaseInfo]:
        self._check()
        return [info for info, _draft, requester in self.cases.values() if requester == person_id]

    async def create_case(self, draft: CaseDraft, requester_id: int) -> CaseInfo:
        self._check()
        self.create_calls += 1
        if self.reject:
            raise ValidationRejected("contents: must not be empty")
        if draft.idempotency_key not in self.cases:
            info = CaseInfo(
                id=1000 + len(self.cases), subject=draft.subject, status="New", requester_id=requester_id
            )
            self.cases[draft.idempotency_key] = (info, draft, requester_id)
        return self.cases[draft.idempotency_key][0]

    async def get_case(self, case_id: int) -> CaseInfo | None:
        self._check()
        return next((info for info, _d, _r in self.cases.values() if info.id == case_id), None)

    async def add_note(self, case_id: int, html: str) -> None:
        self._check()

    async def help_articles(self) -> AsyncIterator[HelpArticle]:
        self._check()
        for article in self.articles:
            yield article

    def _check(self) -> None:
        if self.down:
            raise Unavailable("help desk unreachable")


class KeywordEngine:
    """A language engine reading a few fixed phrasings, so flow tests control every intent exactly."""

    name = "keywords"

    HANDOFF = ("person", "human", "agent", "representative")
    FRUSTRATED = ("ridiculous", "useless")

    def __init__(self, confirms: bool | None = None) -> None:
        self.contexts: list[DialogueContext] = []
        self.confirms = confirms  # what ``confirms_answer`` says (None: cannot judge, like the local engine)
        self.checked: list[tuple[str, int]] = []  # (question, article id) of every answer check

    async def understand(self, text: str, context: DialogueContext, usage: Usage) -> Understanding:
        self.contexts.append(context)
        usage.model_input_tokens += 1
        lowered = text.lower().strip(" .!?")
        words = set(lowered.replace(",", " ").split())
        topic = next((t for t in context.always_human_topics if t.split("_")[0] in words), None)
        intent = Intent.QUESTION
        if words & set(self.HANDOFF):
            intent = Intent.HANDOFF
        elif lowered in ("yes", "yes it did", "yeah", "correct", "that's right"):
            intent = Intent.AFFIRM
        elif lowered.startswith("no"):
            intent = Intent.DENY
        elif lowered in ("goodbye", "bye"):
            intent = Intent.GOODBYE
        elif lowered in ("repeat that", "say that again"):
            intent = Intent.REPEAT
        elif lowered in ("thanks", "thank you"):
            intent = Intent.THANKS
        elif "status" in words:
            intent = Intent.CASE_STATUS
        elif "idiot" in words:
            intent = Intent.ABUSE
        elif "weather" in words:
            intent = Intent.OUT_OF_SCOPE
        elif context.expecting in ("name", "email", "phone"):
            intent = Intent.INFORM
        return Understanding(
            intent=intent,
            confidence=0.9,
            frustrated=bool(words & set(self.FRUSTRATED)),
            topic=topic,
            engine=self.name,
        )

    async def answer(
        self, question: str, passages: Sequence[Passage], context: DialogueContext, usage: Usage
    ) -> AsyncIterator[str]:
        for passage in passages:
            for sentence in passage.text.split(". "):
                yield sentence.rstrip(".") + "."

    async def search_query(self, text: str, context: DialogueContext, usage: Usage) -> str:
        return text

    async def confirms_answer(
        self, question: str, passage: Passage, context: DialogueContext, usage: Usage
    ) -> bool | None:
        self.checked.append((question, passage.article_id))
        return self.confirms

    async def summarize(self, transcript: Sequence[Turn], usage: Usage) -> CaseSummary:
        first = next((t.text for t in transcript if t.speaker is Speaker.CALLER), "Phone call")
        return CaseSummary(
            subject=first[:80], summary=" ".join(t.text for t in transcript if t.speaker is Speaker.CALLER)
        )


class WordRetriever:
    """Ranks articles by the share of the query's words they contain."""

    answer_threshold = 0.5

    def __init__(self, articles: dict[int, tuple[str, str]]) -> None:
        self.articles = articles  # id -> (title, text)
        self.queries: list[str] = []

    async def search(self, query: str, top: int = 3) -> list[SearchHit]:
        self.queries.append(query)
        words = {w for w in query.lower().replace("?", "").split() if len(w) > 3}
        hits = []
        for article_id, (title, text) in self.articles.items():
            found = {w for w in words if w in f"{title} {text}".lower()}
            if found:
                share = len(found) / len(words)
                hits.append(SearchHit(Passage(article_id, title, text), score=share, relevance=share))
        return sorted(hits, key=lambda hit: -hit.score)[:top]

    async def assess(self, query: str, *, exclude: frozenset[int] = frozenset(), top: int = 3) -> Assessment:
        hits = [
            h for h in await self.search(query, top + len(exclude)) if h.passage.article_id not in exclude
        ]
        best = hits[0].relevance if hits else 0.0
        verdict = AnswerVerdict.ANSWER if hits and best >= self.answer_threshold else AnswerVerdict.NONE
        headroom = best - self.answer_threshold if verdict is AnswerVerdict.ANSWER else None
        return Assessment(verdict, hits[:top], confidence=best, reason="word_share", headroom=headroom)


class ClarifyingRetriever(WordRetriever):
    """A gate that asks which article is meant when the best two share the query's words equally."""

    async def assess(self, query: str, *, exclude: frozenset[int] = frozenset(), top: int = 3) -> Assessment:
        found = await super().assess(query, exclude=exclude, top=top)
        hits = found.hits
        if len(hits) >= 2 and hits[0].relevance >= self.answer_threshold and hits[0].score == hits[1].score:
            return Assessment(AnswerVerdict.CLARIFY, hits, confidence=0.5, reason="ambiguous_top_two")
        return found
