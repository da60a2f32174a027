"""``ports.HelpDesk`` on Kayako: what the call flow and the case outbox need, in domain types."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import AsyncIterator
from typing import Literal

import structlog

from ..domain import CaseDraft, CaseInfo, ContactDetails, HelpArticle, Person
from .errors import KayakoNotFound
from .resources import Case, KayakoApi, User, ref_id

log = structlog.get_logger(__name__)


def idempotency_tag(key: str) -> str:
    """The case tag that marks a draft's idempotency key (hashed: tags must stay short and plain)."""
    return "kca-" + hashlib.sha256(key.encode()).hexdigest()[:20]


class KayakoHelpDesk:
    def __init__(self, api: KayakoApi, *, case_channel: Literal["MAIL", "NOTE"] = "MAIL") -> None:
        self.api = api
        self.case_channel = case_channel

    async def find_person(self, *, email: str | None = None, phone: str | None = None) -> Person | None:
        user: User | None = None
        if email:
            user = await self.api.find_user_by_email(email)
        if user is None and phone:
            user = await self.api.find_user_by_phone(phone)
        log.info("kayako.person_lookup", by_email=bool(email), by_phone=bool(phone), found=user is not None)
        return _person(user) if user is not None else None

    async def create_person(self, contact: ContactDetails) -> Person:
        name = (contact.name or "").strip() or contact.email or contact.phone or "Caller"
        user = await self.api.create_user(name, email=contact.email, phone=contact.phone)
        return _person(user)

    async def open_cases(self, person_id: int) -> list[CaseInfo]:
        return [await self._info(case) for case in await self.api.open_cases(person_id)]

    async def create_case(self, draft: CaseDraft, requester_id: int) -> CaseInfo:
        case = await self.api.create_case(
            subject=draft.subject,
            contents=draft.contents_html,
            requester_id=requester_id,
            marker_tag=idempotency_tag(draft.idempotency_key),
            channel=self.case_channel,
            html=True,
            tags=draft.tags,
            priority=draft.priority,
            case_type=draft.case_type,
        )
        return await self._info(case)

    async def get_case(self, case_id: int) -> CaseInfo | None:
        try:
            return await self._info(await self.api.get_case(case_id))
        except KayakoNotFound:
            return None

    async def add_note(self, case_id: int, html: str) -> None:
        await self.api.add_note(case_id, html)

    def help_articles(self) -> AsyncIterator[HelpArticle]:
        return self._help_articles()

    async def _help_articles(self) -> AsyncIterator[HelpArticle]:
        sections = {s.id: s for s in await self.api.sections()}
        categories = {c.id: c for c in await self.api.categories()}
        async for article in self.api.articles():
            if article.status.upper() != "PUBLISHED":
                continue
            section = sections.get(ref_id(article.section) or -1)
            category = categories.get(ref_id(section.category) or -1) if section is not None else None
            yield HelpArticle(
                id=article.id,
                title=await self.api.text(article.titles),
                body_html=await self.api.text(article.contents),
                section=await self.api.text(section.titles) if section is not None else None,
                category=await self.api.text(category.titles) if category is not None else None,
                url=article.helpcenter_url,
                updated_at=article.updated_at,
                locale=self.api.locale,
            )

    async def _info(self, case: Case) -> CaseInfo:
        status = await self.api.status_of(case)
        updated: dt.datetime | None = case.updated_at or case.created_at
        return CaseInfo(
            id=case.id, subject=case.subject, status=status.label if status else "", updated_at=updated
        )


def _person(user: User) -> Person:
    return Person(
        id=user.id,
        full_name=user.full_name,
        emails=tuple(user.email_addresses),
        phones=tuple(user.phone_numbers),
    )
