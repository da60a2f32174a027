"""Typed Kayako resources and the API operations on them.

Models are tolerant: nested resources may arrive as references (``{"id": 5, "resource_type": "user"}``) or
expanded (``include=…``), ids as numbers or numeric strings, and unknown fields are ignored. Status, priority,
type, channel and role ids are always looked up on the instance by label or type (cached), never hard-coded.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

import structlog
from pydantic import BaseModel, ConfigDict, Field

from .client import KayakoClient
from .errors import KayakoNotFound, KayakoValidationError
from .pagination import paginate

log = structlog.get_logger(__name__)

CLOSED_STATUS_TYPES = frozenset({"COMPLETED", "CLOSED"})


class KayakoModel(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


def ref_id(value: Any) -> int | None:
    """The id of a nested resource given as a reference, an expanded object or a bare id."""
    if isinstance(value, dict):
        value = value.get("id")
    if isinstance(value, bool) or value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def localized(fields: list[Any], locale: str) -> str | None:
    """The translation for ``locale`` (case-insensitive), else for its language, else the first one."""
    entries = [f for f in fields if isinstance(f, dict) and isinstance(f.get("translation"), str)]
    if not entries:
        return None
    wanted = locale.lower()
    for entry in entries:
        if str(entry.get("locale", "")).lower() == wanted:
            return str(entry["translation"])
    language = wanted.split("-")[0]
    for entry in entries:
        if str(entry.get("locale", "")).lower().split("-")[0] == language:
            return str(entry["translation"])
    return str(entries[0]["translation"])


class CaseStatus(KayakoModel):
    id: int
    label: str
    type: str = "CUSTOM"


class CasePriority(KayakoModel):
    id: int
    label: str
    level: int | None = None


class CaseType(KayakoModel):
    id: int
    label: str
    type: str = "CUSTOM"


class Channel(KayakoModel):
    id: int | None = None
    uuid: str | None = None
    type: str


class Role(KayakoModel):
    id: int
    title: str = ""
    type: str


class IdentityEmail(KayakoModel):
    id: int
    email: str
    is_primary: bool = False
    user: Any = None


class IdentityPhone(KayakoModel):
    id: int
    number: str
    is_primary: bool = False
    user: Any = None


class User(KayakoModel):
    id: int
    full_name: str = ""
    role: Any = None
    emails: list[Any] = Field(default_factory=list)
    phones: list[Any] = Field(default_factory=list)
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None

    @property
    def email_addresses(self) -> list[str]:
        return [str(e["email"]) for e in self.emails if isinstance(e, dict) and e.get("email")]

    @property
    def phone_numbers(self) -> list[str]:
        return [str(p["number"]) for p in self.phones if isinstance(p, dict) and p.get("number")]


class Case(KayakoModel):
    id: int
    legacy_id: str | None = None
    subject: str = ""
    status: Any = None
    priority: Any = None
    type: Any = None
    requester: Any = None
    tags: list[Any] = Field(default_factory=list)
    state: str | None = None
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None

    @property
    def tag_names(self) -> list[str]:
        return [str(t.get("name")) if isinstance(t, dict) else str(t) for t in self.tags]


class Post(KayakoModel):
    id: int
    client_id: str | None = None
    subject: str | None = None
    contents: str = ""
    creator: Any = None
    source: str | None = None
    original: Any = None
    created_at: dt.datetime | None = None

    @property
    def is_note(self) -> bool:
        return isinstance(self.original, dict) and self.original.get("resource_type") == "note"


class Article(KayakoModel):
    id: int
    titles: list[Any] = Field(default_factory=list)
    contents: list[Any] = Field(default_factory=list)
    slugs: list[Any] = Field(default_factory=list)
    section: Any = None
    status: str = "PUBLISHED"
    helpcenter_url: str | None = None
    tags: list[Any] = Field(default_factory=list)
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None


class Section(KayakoModel):
    id: int
    titles: list[Any] = Field(default_factory=list)
    category: Any = None


class Category(KayakoModel):
    id: int
    titles: list[Any] = Field(default_factory=list)


class SearchResult(KayakoModel):
    id: int | None = None
    title: str = ""
    snippet: str | None = None
    relevance: float | None = None
    resource: str = ""
    data: Any = None


class HelpCenterResult(KayakoModel):
    title: str = ""
    contents: str | None = None
    link: str | None = None
    original: Any = None

    @property
    def article_id(self) -> int | None:
        return ref_id(self.original)


class KayakoApi:
    """Resource operations over a ``KayakoClient``; ``locale`` picks help-center translations."""

    def __init__(self, client: KayakoClient, locale: str = "en-us") -> None:
        self.client = client
        self.locale = locale

    # --- session ------------------------------------------------------------------------------------

    async def me(self) -> User:
        return User.model_validate(await self.client.get("me"))

    # --- configuration looked up by name --------------------------------------------------------------

    async def statuses(self) -> list[CaseStatus]:
        return [
            CaseStatus.model_validate(s)
            async for s in paginate(self.client, "cases/statuses", cache_kind="statuses")
        ]

    async def priorities(self) -> list[CasePriority]:
        return [
            CasePriority.model_validate(p)
            async for p in paginate(self.client, "cases/priorities", cache_kind="priorities")
        ]

    async def case_types(self) -> list[CaseType]:
        return [
            CaseType.model_validate(t) async for t in paginate(self.client, "cases/types", cache_kind="types")
        ]

    async def channels(self) -> list[Channel]:
        return [
            Channel.model_validate(c)
            async for c in paginate(self.client, "cases/channels", cache_kind="channels")
        ]

    async def roles(self) -> list[Role]:
        return [Role.model_validate(r) async for r in paginate(self.client, "roles", cache_kind="roles")]

    async def status_id(self, label: str) -> int:
        return _by_label(await self.statuses(), label, "status")

    async def priority_id(self, label: str) -> int:
        return _by_label(await self.priorities(), label, "priority")

    async def type_id(self, label: str) -> int:
        return _by_label(await self.case_types(), label, "type")

    async def role_id(self, role_type: str) -> int:
        for role in await self.roles():
            if role.type.upper() == role_type.upper():
                return role.id
        raise KayakoNotFound(404, "RESOURCE_NOT_FOUND", f"no role of type {role_type} on the instance")

    async def status_of(self, case: Case) -> CaseStatus | None:
        """The case's status, expanded from the cached list when the case holds only a reference."""
        if isinstance(case.status, dict) and "label" in case.status:
            return CaseStatus.model_validate(case.status)
        wanted = ref_id(case.status)
        return next((s for s in await self.statuses() if s.id == wanted), None)

    # --- cases ------------------------------------------------------------------------------------

    async def get_case(self, case_id: int) -> Case:
        return Case.model_validate(await self.client.get(f"cases/{case_id}", {"fields": "+tags"}))

    async def cases_with_legacy_id(self, legacy_id: str, *, max_items: int = 100) -> list[Case]:
        """Cases whose ``legacy_id`` is ``legacy_id``, via the documented ``legacy_ids`` filter of
        ``GET /cases``. Verified item by item: an instance that ignored the filter returns its newest
        cases, among which a case created moments ago is still found, and nobody else's case is taken."""
        items = paginate(
            self.client, "cases", {"legacy_ids": legacy_id, "fields": "+tags"}, max_items=max_items
        )
        return [case async for case in _cases(items) if case.legacy_id == legacy_id]

    async def user_cases(self, user_id: int, *, max_items: int = 200) -> list[Case]:
        """A requester's cases, most recently updated first."""
        cases = [
            Case.model_validate(c)
            async for c in paginate(self.client, f"users/{user_id}/cases", max_items=max_items)
        ]
        floor = dt.datetime.min.replace(tzinfo=dt.UTC)
        return sorted(cases, key=lambda c: c.updated_at or c.created_at or floor, reverse=True)

    async def open_cases(self, user_id: int) -> list[Case]:
        """The requester's cases whose status type is neither COMPLETED nor CLOSED."""
        result = []
        for case in await self.user_cases(user_id):
            status = await self.status_of(case)
            if case.state == "TRASH" or (status is not None and status.type.upper() in CLOSED_STATUS_TYPES):
                continue
            result.append(case)
        return result

    async def new_case_channel_id(self, channel_type: str) -> int:
        """The id of the instance's first channel of ``channel_type`` (MAIL, TWITTER, FACEBOOK) offered
        for new cases by ``GET /cases/channels``; cached with the other configuration lists."""
        wanted = channel_type.upper()
        for channel in await self.channels():
            if channel.type.upper() == wanted and channel.id is not None:
                return channel.id
        raise KayakoNotFound(404, "RESOURCE_NOT_FOUND", f"no {wanted} channel for new cases on the instance")

    async def case_by_marker(self, marker: str) -> Case | None:
        """The case created with ``legacy_id=marker``, if there is one."""
        found = await self.cases_with_legacy_id(marker)
        return found[0] if found else None

    async def create_case(
        self,
        *,
        subject: str,
        contents: str,
        requester_id: int,
        marker: str,
        channel: str = "MAIL",
        channel_id: int | None = None,
        html: bool = True,
        tags: list[str] | None = None,
        priority: str | None = None,
        case_type: str | None = None,
    ) -> Case:
        """Create a case marked ``marker`` (sent as ``legacy_id`` and as a tag); if a case with that marker
        exists already, return it instead.

        The marker is found again only through lookups the reference documents (``legacy_ids`` on
        ``GET /cases``); the tag is for people, never relied upon (an instance may ignore tag filters).
        ``channel_id`` is sent unless ``channel`` is NOTE (a NOTE case has no mailbox).
        """
        existing = await self.case_by_marker(marker)
        if existing is not None:
            log.info("kayako.case_exists", case_id=existing.id, marker=marker)
            return existing
        all_tags = [marker, *(t for t in tags or [] if t != marker)]
        body: dict[str, Any] = {
            "subject": subject,
            "contents": contents,
            "channel": channel,
            "requester_id": requester_id,
            "legacy_id": marker,
            "tags": ",".join(all_tags),
            "channel_options": {"html": html},
        }
        if channel.upper() != "NOTE" and channel_id is not None:
            body["channel_id"] = channel_id
        if priority:
            body["priority_id"] = await self._optional_id(self.priority_id, priority, "priority")
        if case_type:
            body["type_id"] = await self._optional_id(self.type_id, case_type, "type")
        body = {k: v for k, v in body.items() if v is not None}

        async def find() -> dict[str, Any] | None:
            case = await self.case_by_marker(marker)
            return case.model_dump() if case is not None else None

        created = await self.client.create_once("cases", body, find_existing=find, what="case")
        case = Case.model_validate(created)
        log.info(
            "kayako.case_created", case_id=case.id, marker=marker, channel=channel, channel_id=channel_id
        )
        return case

    @staticmethod
    async def _optional_id(lookup: Any, label: str, what: str) -> int | None:
        try:
            value: int = await lookup(label)
            return value
        except KayakoNotFound:
            log.warning("kayako.label_unknown", kind=what, label=label)
            return None

    async def update_case(
        self,
        case_id: int,
        *,
        status: str | None = None,
        priority: str | None = None,
        tags: list[str] | None = None,
    ) -> Case:
        """Change a case's status or priority (by label) and/or replace its tags."""
        body: dict[str, Any] = {}
        if status:
            body["status_id"] = await self.status_id(status)
        if priority:
            body["priority_id"] = await self.priority_id(priority)
        if tags is not None:
            body["tags"] = ",".join(tags)
        if not body:
            raise KayakoValidationError(400, "REQUEST_FIELDS_EMPTY", "nothing to update")
        return Case.model_validate(await self.client.put(f"cases/{case_id}", body))

    async def posts(self, case_id: int, *, max_items: int = 100) -> list[Post]:
        """A case's posts, newest first (Kayako's order)."""
        return [
            Post.model_validate(p)
            async for p in paginate(self.client, f"cases/{case_id}/posts", max_items=max_items)
        ]

    async def reply(
        self, case_id: int, contents: str, *, channel: str = "MAIL", html: bool = True
    ) -> int | None:
        """Add a post (``channel="NOTE"``: an internal note); returns the new post id. Never posted twice."""
        client_id = uuid.uuid4().hex
        body = {
            "contents": contents,
            "channel": channel,
            "channel_options": {"html": html},
            "client_id": client_id,
        }

        async def find() -> dict[str, Any] | None:
            for post in await self.posts(case_id, max_items=50):
                if post.client_id == client_id:
                    return {"posts": [{"id": post.id, "resource_type": "post"}]}
            return None

        created = await self.client.create_once(
            f"cases/{case_id}/reply", body, find_existing=find, what=channel.lower()
        )
        posts = created.get("posts") or []
        return ref_id(posts[0]) if posts else None

    async def add_note(self, case_id: int, html: str) -> int | None:
        return await self.reply(case_id, html, channel="NOTE")

    # --- users and identities -------------------------------------------------------------------------

    async def get_user(self, user_id: int) -> User:
        params = {"include": "identity_email,identity_phone,role"}
        return await self._expanded_user(await self.client.get(f"users/{user_id}", params))

    async def _expanded_user(self, data: Any) -> User:
        user = User.model_validate(data)
        if any(not isinstance(e, dict) or "email" not in e for e in user.emails):
            user.emails = [e.model_dump() for e in await self.email_identities(user.id)]
        if any(not isinstance(p, dict) or "number" not in p for p in user.phones):
            user.phones = [p.model_dump() for p in await self.phone_identities(user.id)]
        return user

    async def email_identities(self, user_id: int) -> list[IdentityEmail]:
        items = paginate(self.client, "identities/emails", {"user_id": user_id})
        return [IdentityEmail.model_validate(i) async for i in items]

    async def phone_identities(self, user_id: int) -> list[IdentityPhone]:
        items = paginate(self.client, "identities/phones", {"user_id": user_id})
        return [IdentityPhone.model_validate(i) async for i in items]

    async def find_user_by_email(self, email: str) -> User | None:
        wanted = email.strip().lower()
        for user in await self._search_users(wanted):
            if wanted in (e.lower() for e in user.email_addresses):
                return user
        return None

    async def find_user_by_phone(self, phone: str) -> User | None:
        """``phone`` in E.164; identities are compared digit by digit, whatever their formatting."""
        wanted = _digits(phone)
        for user in await self._search_users(phone):
            if any(_digits(n) == wanted for n in user.phone_numbers):
                return user
        return None

    async def _search_users(self, query: str) -> list[User]:
        users = []
        for result in await self.search(query, resources="USERS", limit=10):
            user_id = ref_id(result.data) or result.id
            if user_id is None or (result.resource and result.resource.lower() != "user"):
                continue
            try:
                users.append(await self.get_user(user_id))
            except KayakoNotFound:
                continue
        return users

    async def create_user(
        self, full_name: str, *, email: str | None = None, phone: str | None = None
    ) -> User:
        """A customer with a primary email identity and/or a phone identity; never created twice."""
        if not email and not phone:
            raise KayakoValidationError(
                400, "ANY_FIELD_REQUIRED", "an email or a phone number is needed", "email,phone"
            )
        body: dict[str, Any] = {"full_name": full_name, "role_id": await self.role_id("CUSTOMER")}
        if email:
            body["email"] = email

        async def find() -> dict[str, Any] | None:
            found = (
                await self.find_user_by_email(email) if email else await self._user_by_phone_identity(phone)
            )
            return found.model_dump() if found is not None else None

        user = await self._expanded_user(
            await self.client.create_once("users", body, find_existing=find, what="user")
        )
        if phone and _digits(phone) not in {_digits(n) for n in user.phone_numbers}:
            await self.add_phone(user.id, phone)
            user = await self.get_user(user.id)
        log.info("kayako.user_created", user_id=user.id, with_email=bool(email), with_phone=bool(phone))
        return user

    async def _user_by_phone_identity(self, phone: str | None) -> User | None:
        return await self.find_user_by_phone(phone) if phone else None

    async def add_phone(self, user_id: int, number: str) -> IdentityPhone:
        body = {"user_id": user_id, "number": number, "is_primary": True}

        async def find() -> dict[str, Any] | None:
            for identity in await self.phone_identities(user_id):
                if _digits(identity.number) == _digits(number):
                    return identity.model_dump()
            return None

        created = await self.client.create_once("identities/phones", body, find_existing=find, what="phone")
        return IdentityPhone.model_validate(created)

    async def add_email(self, user_id: int, email: str) -> IdentityEmail:
        body = {"user_id": user_id, "email": email}

        async def find() -> dict[str, Any] | None:
            for identity in await self.email_identities(user_id):
                if identity.email.lower() == email.lower():
                    return identity.model_dump()
            return None

        created = await self.client.create_once("identities/emails", body, find_existing=find, what="email")
        return IdentityEmail.model_validate(created)

    # --- search -----------------------------------------------------------------------------------

    async def search(
        self, query: str, *, resources: str | None = None, limit: int = 10
    ) -> list[SearchResult]:
        params: dict[str, Any] = {"query": query, "limit": limit}
        if resources:
            params["resources"] = resources
        return [SearchResult.model_validate(r) for r in await self.client.get("search", params) or []]

    async def helpcenter_search(self, query: str, *, limit: int = 10) -> list[HelpCenterResult]:
        params = {"query": query, "in": "ARTICLES", "locale": self.locale, "limit": limit}
        return [
            HelpCenterResult.model_validate(r)
            for r in await self.client.get("helpcenter/search", params) or []
        ]

    # --- help center --------------------------------------------------------------------------------

    def articles(self, *, max_items: int | None = None) -> AsyncIterator[Article]:
        return self._articles(max_items)

    async def _articles(self, max_items: int | None) -> AsyncIterator[Article]:
        params = {"include": "locale_field"}
        async for item in paginate(
            self.client, "articles", params, cache_kind="articles", max_items=max_items
        ):
            yield Article.model_validate(item)

    async def article(self, article_id: int) -> Article:
        data = await self.client.get(
            f"articles/{article_id}", {"include": "locale_field"}, cache_kind="articles"
        )
        return Article.model_validate(data)

    async def sections(self) -> list[Section]:
        items = paginate(self.client, "sections", {"include": "locale_field"}, cache_kind="sections")
        return [Section.model_validate(s) async for s in items]

    async def categories(self) -> list[Category]:
        items = paginate(self.client, "categories", {"include": "locale_field"}, cache_kind="categories")
        return [Category.model_validate(c) async for c in items]

    async def text(self, fields: list[Any]) -> str:
        """A locale-field array resolved for this API's locale; reads collapsed references one by one."""
        resolved = localized(fields, self.locale)
        if resolved is not None or not fields:
            return resolved or ""
        expanded = []
        for ref in fields:
            field_id = ref_id(ref)
            if field_id is not None:
                expanded.append(await self.client.get(f"locale/fields/{field_id}", cache_kind="locales"))
        return localized(expanded, self.locale) or ""


async def _cases(items: AsyncIterator[Any]) -> AsyncIterator[Case]:
    async for item in items:
        yield Case.model_validate(item)


def _by_label(items: list[Any], label: str, what: str) -> int:
    wanted = label.strip().lower()
    for item in items:
        if item.label.strip().lower() == wanted:
            return int(item.id)
    known = ", ".join(item.label for item in items)
    raise KayakoNotFound(
        404, "RESOURCE_NOT_FOUND", f"no case {what} labelled {label!r} (instance has: {known})"
    )


def _digits(number: str) -> str:
    return "".join(ch for ch in number if ch.isdigit())
