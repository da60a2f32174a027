"""Writes shared by the seed and the API routes: each keeps related documents consistent.

Callers validate first and call these inside one ``Store.transaction()``, so a rejected request never
leaves half of its writes behind.
"""

from __future__ import annotations

import datetime as dt
import html
import re
import uuid
from typing import Any

from .store import Doc, Store

_TAGS = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


def iso(moment: dt.datetime | None = None) -> str:
    """ISO-8601 with an explicit ``+00:00`` offset, as Kayako writes timestamps."""
    return (moment or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(microsecond=0).isoformat()


def html_to_text(value: str) -> str:
    return _SPACE.sub(" ", html.unescape(_TAGS.sub(" ", value))).strip()


def text_to_html(value: str) -> str:
    return "".join(f"<p>{html.escape(p.strip())}</p>" for p in value.split("\n\n") if p.strip())


def digits(number: str) -> str:
    return "".join(ch for ch in number if ch.isdigit())


E164 = re.compile(r"\+[1-9][0-9]{7,14}")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}")


def strict_e164(number: str) -> str | None:
    """``number`` only when it is written in E.164 already (``+`` and 8-15 digits): the strict reading."""
    number = number.strip()
    return number if E164.fullmatch(number) else None


def strict_email(email: str) -> bool:
    """A plausible mailbox address: one ``@``, no spaces, a dotted domain with a 2+ letter top level."""
    return EMAIL.fullmatch(email.strip()) is not None


def e164(number: str) -> str | None:
    """``number`` as E.164 (``+`` and 8–15 digits); a bare 10-digit number is taken as North American."""
    found = digits(number)
    if len(found) == 10 and not number.strip().startswith("+"):
        found = "1" + found
    if 8 <= len(found) <= 15:
        return "+" + found
    return None


def slugify(value: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-")[:80] or "item"


def locale_fields(store: Store, translation: str, locale: str = "en-us") -> list[int]:
    """One new ``locale_field`` holding ``translation``; returns its id in a list (the API's array form)."""
    now = iso()
    doc = store.insert(
        "locale_field", {"locale": locale, "translation": translation, "created_at": now, "updated_at": now}
    )
    return [int(doc["id"])]


def add_user(
    store: Store,
    full_name: str,
    role_id: int,
    *,
    email: str | None = None,
    phone: str | None = None,
    password: str | None = None,
    mfa: bool = False,
    designation: str | None = None,
) -> Doc:
    now = iso()
    user = store.insert(
        "user",
        {
            "uuid": str(uuid.uuid4()),
            "full_name": full_name,
            "role_id": role_id,
            "designation": designation,
            "is_enabled": True,
            "password": password,
            "is_mfa_enabled": mfa,
            "tags": [],
            "created_at": now,
            "updated_at": now,
        },
    )
    if email:
        add_email(store, user["id"], email, primary=True)
    if phone:
        add_phone(store, user["id"], phone, primary=True)
    return user


def add_email(store: Store, user_id: int, email: str, *, primary: bool) -> Doc:
    now = iso()
    return store.insert(
        "identity_email",
        {
            "user_id": user_id,
            "email": email.strip().lower(),
            "is_primary": primary,
            "is_validated": True,
            "is_notification_enabled": True,
            "created_at": now,
            "updated_at": now,
        },
    )


def add_phone(store: Store, user_id: int, number: str, *, primary: bool) -> Doc:
    now = iso()
    return store.insert(
        "identity_phone",
        {
            "user_id": user_id,
            "number": e164(number) or number,
            "is_primary": primary,
            "is_validated": False,
            "created_at": now,
            "updated_at": now,
        },
    )


def email_owner(store: Store, email: str) -> int | None:
    found = store.find("identity_email", email=email.strip().lower())
    return int(found[0]["user_id"]) if found else None


def add_case(
    store: Store,
    *,
    subject: str,
    contents_html: str,
    requester_id: int,
    creator_id: int,
    channel: str,
    status_id: int,
    priority_id: int | None,
    type_id: int | None,
    tags: list[str],
    client_id: str | None = None,
    channel_id: int | None = None,
    legacy_id: str | None = None,
) -> Doc:
    now = iso()
    case = store.insert(
        "case",
        {
            "subject": subject,
            "channel_id": channel_id,
            "legacy_id": legacy_id,
            "requester_id": requester_id,
            "creator_id": creator_id,
            "channel": channel,
            "status_id": status_id,
            "priority_id": priority_id,
            "type_id": type_id,
            "tags": unique(tags),
            "state": "ACTIVE",
            "post_count": 0,
            "has_notes": False,
            "created_at": now,
            "updated_at": now,
        },
    )
    add_post(
        store,
        case,
        contents_html,
        channel=channel,
        creator_id=requester_id,
        client_id=client_id,
        subject=subject,
    )
    return case


def add_post(
    store: Store,
    case: Doc,
    contents_html: str,
    *,
    channel: str,
    creator_id: int,
    client_id: str | None = None,
    subject: str | None = None,
    source: str = "API",
) -> Doc:
    """A post on ``case`` with its original (a ``note`` for NOTE, else a ``case_message``); saves ``case``."""
    now = iso()
    text = html_to_text(contents_html)
    if channel == "NOTE":
        original = store.insert(
            "note",
            {
                "case_id": case["id"],
                "user_id": creator_id,
                "body_text": text,
                "body_html": contents_html,
                "is_pinned": False,
                "created_at": now,
                "updated_at": now,
            },
        )
        case["has_notes"] = True
    else:
        original = store.insert(
            "case_message",
            {
                "uuid": str(uuid.uuid4()),
                "case_id": case["id"],
                "creator_id": creator_id,
                "subject": subject or case["subject"],
                "body_text": text,
                "body_html": contents_html,
                "created_at": now,
                "updated_at": now,
            },
        )
    post = store.insert(
        "post",
        {
            "uuid": str(uuid.uuid4()),
            "case_id": case["id"],
            "client_id": client_id,
            "subject": subject or case["subject"],
            "contents": text,
            "creator_id": creator_id,
            "channel": channel,
            "source": source,
            "original_type": "note" if channel == "NOTE" else "case_message",
            "original_id": original["id"],
            "created_at": now,
            "updated_at": now,
        },
    )
    case["post_count"] = int(case.get("post_count") or 0) + 1
    case["updated_at"] = now
    store.save("case", case)
    return post


def tag_refs(store: Store, names: list[str]) -> list[dict[str, Any]]:
    """Tags as Kayako shows them (``{id, name, resource_type}``); a new name gets an id once."""
    result = []
    for name in names:
        found = store.find("tag", name=name)
        tag = found[0] if found else store.insert("tag", {"name": name})
        result.append({"id": tag["id"], "name": name, "resource_type": "tag"})
    return result


def unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))
