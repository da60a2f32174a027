"""``ports.HelpDesk`` on Kayako: what the call flow and the case outbox need, in domain types."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import AsyncIterator
from typing import Literal

import structlog

from ..domain import CaseDraft, CaseInfo, ContactDetails, HelpArticle, Person, append_delivery_notes
from .errors import KayakoNotFound, KayakoValidationError
from .resources import Case, KayakoApi, User, ref_id

log = structlog.get_logger(__name__)


def idempotency_tag(key: str) -> str:
    """The marker of a draft's idempotency key, sent as the case's ``legacy_id`` and as a tag (hashed:
    both must stay short and plain)."""
    return "kca-" + hashlib.sha256(key.encode()).hexdigest()[:20]


class KayakoHelpDesk:
    def __init__(
        self,
        api: KayakoApi,
        *,
        case_channel: Literal["MAIL", "NOTE"] = "MAIL",
        channel_id: int | None = None,
    ) -> None:
        """``case_channel`` NOTE files internal cases (no mailbox, the requester is not emailed); MAIL
        files them on ``channel_id``, or when that is None on the instance's first MAIL channel."""
        self.api = api
        self.case_channel = case_channel
        self.channel_id = channel_id

    async def _channel_id(self) -> int | None:
        if self.case_channel == "NOTE":
            return None
        if self.channel_id is not None:
            return self.channel_id
        return await self.api.new_case_channel_id(self.case_channel)

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
        """Open the case on the configured channel. A configured ``channel_id`` the instance refuses is
        repaired here (the instance's own MAIL channel is used, and the case body says so): channels are
        Kayako's business, the core cannot know them."""
        channel_id = await self._channel_id()
        contents = draft.contents_html
        try:
            case = await self._create(draft, requester_id, contents, channel_id)
        except KayakoValidationError as error:
            if error.parameter != "channel_id" or self.case_channel == "NOTE":
                raise
            default = await self.api.new_case_channel_id(self.case_channel)
            if default == channel_id:
                raise
            log.warning("kayako.case_channel_repaired", refused=channel_id, used=default, code=error.code)
            note = (
                f"Channel {channel_id} was refused by Kayako ({error.code}); "
                f"filed on the instance's {self.case_channel} channel {default}."
            )
            contents = append_delivery_notes(contents, [note])
            case = await self._create(draft, requester_id, contents, default)
        return await self._info(case)

    async def _create(
        self, draft: CaseDraft, requester_id: int, contents: str, channel_id: int | None
    ) -> Case:
        return await self.api.create_case(
            subject=draft.subject,
            contents=contents,
            requester_id=requester_id,
            marker=idempotency_tag(draft.idempotency_key),
            channel=self.case_channel,
            channel_id=channel_id,
            html=True,
            tags=draft.tags,
            priority=draft.priority,
            case_type=draft.case_type,
        )

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
            id=case.id,
            subject=case.subject,
            status=status.label if status else "",
            updated_at=updated,
            requester_id=ref_id(case.requester),  # whose case it is: the call tells status only to them
        )


def _person(user: User) -> Person:
    return Person(
        id=user.id,
        full_name=user.full_name,
        emails=tuple(user.email_addresses),
        phones=tuple(user.phone_numbers),
    )
