"""``GET /search``: cases, users and articles found by simple case-insensitive matching."""

from __future__ import annotations

import html
import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from .context import Ctx, api
from .errors import MockError
from .params import csv_list
from .records import digits
from .render import ref
from .routes_helpcenter import article_matches, relevance

router = APIRouter()
Api = Annotated[Ctx, Depends(api)]

RESOURCES = {"CASES": "case", "USERS": "user", "ARTICLES": "article"}


def _snippet(text: str, query: str) -> str:
    """About 160 characters around the first match, HTML-escaped, matches in ``<em>``."""
    lowered = text.lower()
    start = max(0, lowered.find(query.lower().split()[0]) - 60) if query.split() else 0
    excerpt = html.escape(text[start : start + 160])
    for word in {w for w in query.split() if len(w) >= 3}:
        excerpt = re.sub(f"({re.escape(html.escape(word))})", r"<em>\1</em>", excerpt, flags=re.IGNORECASE)
    return excerpt


def _users(ctx: Ctx, query: str) -> list[tuple[float, str, str, dict[str, Any]]]:
    found = []
    wanted_digits = digits(query)
    for user in ctx.store.all("user"):
        emails = [e["email"] for e in ctx.store.find("identity_email", user_id=user["id"])]
        phones = [p["number"] for p in ctx.store.find("identity_phone", user_id=user["id"])]
        text = " ".join([user["full_name"], *emails, *phones])
        score = relevance(query, user["full_name"], text)
        if len(wanted_digits) >= 7 and any(digits(p).endswith(wanted_digits) for p in phones):
            score = max(score, 2.0)
        if score > 0:
            found.append((score, user["full_name"], text, {"doc": user, "kind": "user"}))
    return found


def _cases(ctx: Ctx, query: str) -> list[tuple[float, str, str, dict[str, Any]]]:
    found = []
    for case in ctx.store.all("case"):
        posts = " ".join(p["contents"] for p in ctx.store.find("post", case_id=case["id"]))
        score = relevance(query, case["subject"], f"{posts} {' '.join(case.get('tags', []))}")
        if score > 0:
            found.append((score, case["subject"], posts, {"doc": case, "kind": "case"}))
    return found


def _articles(ctx: Ctx, query: str) -> list[tuple[float, str, str, dict[str, Any]]]:
    return [
        (s, title, text, {"doc": a, "kind": "article"}) for s, a, title, text in article_matches(ctx, query)
    ]


@router.get("/search")
async def search(ctx: Api, request: Request) -> JSONResponse:
    query = (request.query_params.get("query") or "").strip()
    if not query:
        raise MockError(400, "FIELD_REQUIRED", parameter="query")
    asked = {r.upper() for r in csv_list(request.query_params.get("resources"))} or set(RESOURCES)
    unknown = asked - set(RESOURCES)
    if unknown:
        raise MockError(
            400,
            "FIELD_INVALID",
            f"Unsupported resources: {', '.join(sorted(unknown))}",
            parameter="resources",
        )
    matches = []
    if "USERS" in asked:
        matches += _users(ctx, query)
    if "CASES" in asked:
        matches += _cases(ctx, query)
    if "ARTICLES" in asked:
        matches += _articles(ctx, query)
    matches.sort(key=lambda m: (-m[0], m[3]["kind"], m[3]["doc"]["id"]))

    def item(match: tuple[float, str, str, dict[str, Any]]) -> dict[str, Any]:
        score, title, text, found = match
        doc, kind = found["doc"], found["kind"]
        return {
            "id": doc["id"],
            "title": title,
            "snippet": _snippet(text, query),
            "relevance": score,
            "resource": kind,
            "resource_url": ctx.view.url(kind, doc),
            "created_at": doc.get("created_at"),
            "data": ref(kind, doc["id"]),
            "resource_type": "result",
        }

    return ctx.view.page("result", matches, item)
