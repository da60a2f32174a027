"""Documents to API objects, and the per-request output options: ``include``, flat sideloading, pagination.

Renderers write nested resources as references (``{"id", "resource_type"}``; channels by ``uuid``).
``View.finish`` then walks the output once: a reference whose type is in ``include`` (or ``include=*``)
is expanded in place, or, in flat mode (``X-Options: flat`` / ``_flat=true``), copied into the
top-level ``resources`` object keyed by type and id.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import JSONResponse

from .params import query_int, to_bool
from .records import tag_refs
from .store import Doc, Store

DEFAULT_LIMIT = 10
MAX_LIMIT = 200
MAX_DEPTH = 3

# Kinds a reference can be expanded from, with the path their ``resource_url`` lives at.
PATHS: dict[str, str] = {
    "user": "users/{id}",
    "role": "roles/{id}",
    "identity_email": "identities/emails/{id}",
    "identity_phone": "identities/phones/{id}",
    "case": "cases/{id}",
    "case_status": "cases/statuses/{id}",
    "case_priority": "cases/priorities/{id}",
    "case_type": "cases/types/{id}",
    "post": "cases/posts/{id}",
    "note": "cases/{case_id}/notes/{id}",
    "case_message": "cases/{case_id}/messages/{id}",
    "article": "articles/{id}",
    "section": "sections/{id}",
    "category": "categories/{id}",
    "locale_field": "locale/fields/{id}",
    "locale": "locales/{id}",
}


def ref(kind: str, doc_id: Any) -> dict[str, Any] | None:
    return None if doc_id is None else {"id": doc_id, "resource_type": kind}


def refs(kind: str, ids: list[Any]) -> list[dict[str, Any]]:
    return [{"id": i, "resource_type": kind} for i in ids]


def _is_ref(value: dict[str, Any]) -> bool:
    return len(value) == 2 and "resource_type" in value and ("id" in value or "uuid" in value)


class View:
    """How one request wants its output: base URL, expansions, flat mode, tag visibility."""

    def __init__(self, request: Request, store: Store, public_base_url: str) -> None:
        self.request = request
        self.store = store
        base = public_base_url.rstrip("/") or str(request.base_url).rstrip("/")
        self.api = f"{base}/api/v1"
        tokens = {t.strip() for t in request.query_params.get("include", "").split(",") if t.strip()}
        self.include_all = "*" in tokens
        self.include = tokens
        options = {o.strip().lower() for o in request.headers.get("x-options", "").split(",")}
        self.flat = "flat" in options or to_bool(request.query_params.get("_flat", "false"))
        fields = {f.strip().lstrip("+") for f in request.query_params.get("fields", "").split(",")}
        self.with_tags = "tags" in fields or "*" in fields
        self.resources: dict[str, dict[str, Any]] = {}

    def url(self, kind: str, doc: Doc) -> str:
        return f"{self.api}/" + PATHS[kind].format(**doc)

    def wants(self, kind: str) -> bool:
        return self.include_all or kind in self.include

    # --- expansion --------------------------------------------------------------------------------

    def finish(self, value: Any, depth: int = 0) -> Any:
        if isinstance(value, list):
            return [self.finish(v, depth) for v in value]
        if not isinstance(value, dict):
            return value
        if _is_ref(value) and self.wants(value["resource_type"]) and depth < MAX_DEPTH:
            expanded = self.expand(value["resource_type"], value.get("id", value.get("uuid")))
            if expanded is not None:
                expanded = self.finish(expanded, depth + 1)
                if not self.flat:
                    return expanded
                key = str(value.get("id", value.get("uuid")))
                self.resources.setdefault(value["resource_type"], {})[key] = expanded
            return value
        return {k: self.finish(v, depth) for k, v in value.items()}

    def expand(self, kind: str, key: Any) -> dict[str, Any] | None:
        if kind == "channel":
            found = self.store.find("channel", uuid=key)
            return self.render("channel", found[0]) if found else None
        renderer = RENDERERS.get(kind)
        if renderer is None:
            return None
        doc = self.store.get(kind, int(key))
        return renderer(self, doc) if doc is not None else None

    def render(self, kind: str, doc: Doc) -> dict[str, Any]:
        return RENDERERS[kind](self, doc)

    # --- envelopes --------------------------------------------------------------------------------

    def one(self, resource: str, data: Any, status: int = 200) -> JSONResponse:
        body: dict[str, Any] = {"status": status, "data": self.finish(data), "resource": resource}
        return self._respond(body, status)

    def page(
        self, resource: str, items: list[Any], render: Callable[[Any], Any], *, cursor: bool = False
    ) -> JSONResponse:
        """One page of ``items`` (already in the endpoint's order) with Kayako's paging fields and links."""
        offset = query_int(self.request, "offset", 0)
        limit = min(max(query_int(self.request, "limit", DEFAULT_LIMIT), 1), MAX_LIMIT)
        params = dict(self.request.query_params)
        links: dict[str, str] = {}
        after = self.request.query_params.get("after_id") if cursor else None
        before = self.request.query_params.get("before_id") if cursor else None
        if cursor and (after or before):
            # Cursors name a position: ids are ordered descending, so "after" means smaller ids.
            if after:
                pivot = query_int(self.request, "after_id", 0)
                rest = [i for i in items if int(i["id"]) < pivot]
                chosen = rest[:limit]
            else:
                pivot = query_int(self.request, "before_id", 0)
                rest = [i for i in items if int(i["id"]) > pivot]
                chosen = rest[-limit:]
            offset = items.index(chosen[0]) if chosen else len(items)
            base = {k: v for k, v in params.items() if k not in {"after_id", "before_id", "offset"}}
            if chosen and int(chosen[-1]["id"]) > int(items[-1]["id"]):
                links["next"] = self._link({**base, "after_id": chosen[-1]["id"], "limit": limit})
            if chosen and int(chosen[0]["id"]) < int(items[0]["id"]):
                links["previous"] = self._link({**base, "before_id": chosen[0]["id"], "limit": limit})
        else:
            chosen = items[offset : offset + limit]
            if offset + limit < len(items):
                links["next"] = self._link({**params, "offset": offset + limit, "limit": limit})
            if offset > 0:
                links["previous"] = self._link({**params, "offset": max(0, offset - limit), "limit": limit})
        body: dict[str, Any] = {
            "status": 200,
            "data": self.finish([render(i) for i in chosen]),
            "resource": resource,
            "offset": offset,
            "limit": limit,
            "total_count": len(items),
        }
        for rel, url in links.items():
            body[f"{rel}_url"] = url
        header = ", ".join(f'<{url}>; rel="{rel}"' for rel, url in links.items())
        return self._respond(body, 200, {"Link": header} if header else None)

    def deleted(self) -> JSONResponse:
        return self._respond({"status": 200}, 200)

    def _link(self, params: dict[str, Any]) -> str:
        path = self.request.url.path
        return f"{self.api}{path.removeprefix('/api/v1')}?{urlencode(params)}"

    def _respond(
        self, body: dict[str, Any], status: int, headers: dict[str, str] | None = None
    ) -> JSONResponse:
        if self.flat and self.resources:
            body["resources"] = self.resources
        session = getattr(self.request.state, "new_session", None)
        if session is not None:
            body["session_id"] = session
        return JSONResponse(body, status_code=status, headers=headers)


# --- renderers: one per resource type -----------------------------------------------------------


def _stamps(doc: Doc) -> dict[str, Any]:
    return {"created_at": doc.get("created_at"), "updated_at": doc.get("updated_at")}


def _user(view: View, doc: Doc) -> dict[str, Any]:
    emails = view.store.find("identity_email", user_id=doc["id"])
    phones = view.store.find("identity_phone", user_id=doc["id"])
    return {
        "id": doc["id"],
        "uuid": doc["uuid"],
        "full_name": doc["full_name"],
        "legacy_id": None,
        "designation": doc.get("designation"),
        "is_enabled": doc.get("is_enabled", True),
        "is_mfa_enabled": doc.get("is_mfa_enabled", False),
        "role": ref("role", doc["role_id"]),
        "avatar": None,
        "organization": ref("organization", doc.get("organization_id")),
        "teams": [],
        "emails": refs("identity_email", [e["id"] for e in emails]),
        "phones": refs("identity_phone", [p["id"] for p in phones]),
        "locale": "en-us",
        "time_zone": "UTC",
        "custom_fields": [],
        **_stamps(doc),
        "resource_type": "user",
        "resource_url": view.url("user", doc),
    }


def _identity(kind: str, value_field: str) -> Callable[[View, Doc], dict[str, Any]]:
    def render(view: View, doc: Doc) -> dict[str, Any]:
        extra = (
            {"is_notification_enabled": doc.get("is_notification_enabled", True)}
            if kind.endswith("l")
            else {}
        )
        return {
            "id": doc["id"],
            "user": ref("user", doc["user_id"]),
            value_field: doc[value_field],
            "is_primary": doc.get("is_primary", False),
            "is_validated": doc.get("is_validated", False),
            **extra,
            **_stamps(doc),
            "resource_type": kind,
            "resource_url": view.url(kind, doc),
        }

    return render


def _plain(kind: str, *names: str) -> Callable[[View, Doc], dict[str, Any]]:
    def render(view: View, doc: Doc) -> dict[str, Any]:
        return {
            "id": doc["id"],
            **{n: doc.get(n) for n in names},
            **_stamps(doc),
            "resource_type": kind,
            "resource_url": view.url(kind, doc),
        }

    return render


def _channel(view: View, doc: Doc) -> dict[str, Any]:
    return {
        "id": doc["id"],
        "uuid": doc["uuid"],
        "type": doc["type"],
        "character_limit": None,
        "account": None,
        "resource_type": "channel",
    }


def channel_ref(store: Store, channel_type: str) -> dict[str, Any] | None:
    found = store.find("channel", type=channel_type)
    return {"uuid": found[0]["uuid"], "resource_type": "channel"} if found else None


def _case(view: View, doc: Doc) -> dict[str, Any]:
    body = {
        "id": doc["id"],
        "legacy_id": doc.get("legacy_id"),
        "subject": doc["subject"],
        "portal": "API",
        "source_channel": channel_ref(view.store, doc.get("channel", "MAIL")),
        "requester": ref("user", doc["requester_id"]),
        "creator": ref("user", doc.get("creator_id")),
        "identity": None,
        "assigned_agent": None,
        "assigned_team": None,
        "brand": None,
        "status": ref("case_status", doc["status_id"]),
        "priority": ref("case_priority", doc.get("priority_id")),
        "type": ref("case_type", doc.get("type_id")),
        "state": doc.get("state", "ACTIVE"),
        "post_count": doc.get("post_count", 0),
        "has_notes": doc.get("has_notes", False),
        "custom_fields": [],
        **_stamps(doc),
        "resource_type": "case",
        "resource_url": view.url("case", doc),
    }
    if view.with_tags:
        body["tags"] = tag_refs(view.store, doc.get("tags", []))
    return body


def _post(view: View, doc: Doc) -> dict[str, Any]:
    return {
        "id": doc["id"],
        "uuid": doc["uuid"],
        "client_id": doc.get("client_id"),
        "subject": doc.get("subject"),
        "contents": doc["contents"],
        "creator": ref("user", doc.get("creator_id")),
        "identity": None,
        "source_channel": channel_ref(view.store, doc.get("channel", "MAIL")),
        "attachments": [],
        "source": doc.get("source", "API"),
        "original": ref(doc["original_type"], doc["original_id"]),
        "post_status": "SENT",
        "is_requester": doc.get("creator_id") == _requester_of(view.store, doc["case_id"]),
        **_stamps(doc),
        "resource_type": "post",
        "resource_url": view.url("post", doc),
    }


def _requester_of(store: Store, case_id: int) -> int | None:
    case = store.get("case", case_id)
    return int(case["requester_id"]) if case else None


def _note(view: View, doc: Doc) -> dict[str, Any]:
    return {
        "id": doc["id"],
        "body_text": doc["body_text"],
        "body_html": doc["body_html"],
        "is_pinned": doc.get("is_pinned", False),
        "pinned_by": None,
        "user": ref("user", doc.get("user_id")),
        "attachments": [],
        **_stamps(doc),
        "resource_type": "note",
        "resource_url": view.url("note", doc),
    }


def _case_message(view: View, doc: Doc) -> dict[str, Any]:
    return {
        "id": doc["id"],
        "uuid": doc["uuid"],
        "subject": doc.get("subject"),
        "body_text": doc["body_text"],
        "body_html": doc["body_html"],
        "creator": ref("user", doc.get("creator_id")),
        "attachments": [],
        "locale": "en-us",
        **_stamps(doc),
        "resource_type": "case_message",
        "resource_url": view.url("case_message", doc),
    }


def _slugs(doc: Doc) -> list[dict[str, Any]]:
    return [{"locale": "en-us", "translation": doc.get("slug", ""), "resource_type": "slug"}]


def _article(view: View, doc: Doc) -> dict[str, Any]:
    return {
        "id": doc["id"],
        "uuid": doc["uuid"],
        "legacy_id": None,
        "titles": refs("locale_field", doc["title_ids"]),
        "slugs": _slugs(doc),
        "contents": refs("locale_field", doc["content_ids"]),
        "keywords": doc.get("keywords", ""),
        "section": ref("section", doc["section_id"]),
        "creator": ref("user", doc.get("author_id")),
        "author": ref("user", doc.get("author_id")),
        "attachments": [],
        "status": doc.get("status", "DRAFT"),
        "upvote_count": 0,
        "downvote_count": 0,
        "views": 0,
        "rank": 0,
        "tags": [{"name": t, "resource_type": "tag"} for t in doc.get("tags", [])],
        "is_featured": doc.get("is_featured", False),
        "allow_comments": False,
        "total_comments": 0,
        "created_at": doc.get("created_at"),
        "published_at": doc.get("published_at"),
        "updated_at": doc.get("updated_at"),
        "helpcenter_url": f"{view.api.removesuffix('/api/v1')}/article/{doc['id']}-{doc.get('slug', '')}",
        "resource_type": "article",
        "resource_url": view.url("article", doc),
    }


def _section(view: View, doc: Doc) -> dict[str, Any]:
    return {
        "id": doc["id"],
        "legacy_id": None,
        "titles": refs("locale_field", doc["title_ids"]),
        "slugs": _slugs(doc),
        "descriptions": refs("locale_field", doc.get("description_ids", [])),
        "visibility": doc.get("visibility", "PUBLIC"),
        "teams": [],
        "tags": [],
        "category": ref("category", doc["category_id"]),
        "agent": None,
        "article_order_by": doc.get("article_order_by", "LATEST"),
        "total_articles": len(view.store.find("article", section_id=doc["id"])),
        **_stamps(doc),
        "resource_type": "section",
        "resource_url": view.url("section", doc),
    }


def _category(view: View, doc: Doc) -> dict[str, Any]:
    return {
        "id": doc["id"],
        "legacy_id": None,
        "titles": refs("locale_field", doc["title_ids"]),
        "slugs": _slugs(doc),
        "descriptions": refs("locale_field", doc.get("description_ids", [])),
        "brand": None,
        "display_order": doc.get("display_order", 1),
        **_stamps(doc),
        "resource_type": "category",
        "resource_url": view.url("category", doc),
    }


RENDERERS: dict[str, Callable[[View, Doc], dict[str, Any]]] = {
    "user": _user,
    "identity_email": _identity("identity_email", "email"),
    "identity_phone": _identity("identity_phone", "number"),
    "role": _plain("role", "title", "type", "is_system", "agent_case_access"),
    "case_status": _plain("case_status", "label", "type", "sort_order", "is_sla_active", "is_deleted"),
    "case_priority": _plain("case_priority", "label", "level"),
    "case_type": _plain("case_type", "label", "type"),
    "channel": _channel,
    "case": _case,
    "post": _post,
    "note": _note,
    "case_message": _case_message,
    "article": _article,
    "section": _section,
    "category": _category,
    "locale_field": _plain("locale_field", "locale", "translation"),
    "locale": _plain("locale", "locale", "name", "native_name", "direction", "is_public", "is_localized"),
}
