"""Help center: articles, sections, categories, locale fields, locales and help-center search.

Reads are public, as on Kayako; writes need an agent and fire the article automation events.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from .context import Ctx, api, public
from .errors import MockError, error_entry, invalid, not_found, required
from .params import body_of, csv_list, fail_if, to_bool, to_int
from .records import html_to_text, iso, locale_fields, slugify
from .render import ref
from .store import Doc

router = APIRouter()
Api = Annotated[Ctx, Depends(api)]
Public = Annotated[Ctx, Depends(public)]

ARTICLE_STATUSES = frozenset({"PUBLISHED", "DRAFT", "PENDINGAPPROVAL"})
MIN_QUERY = 3


def _doc(ctx: Ctx, kind: str, doc_id: int) -> Doc:
    doc = ctx.store.get(kind, doc_id)
    if doc is None:
        raise not_found(kind)
    return doc


def _text(ctx: Ctx, field_ids: list[int]) -> str:
    for field_id in field_ids:
        field = ctx.store.get("locale_field", field_id)
        if field is not None:
            return str(field["translation"])
    return ""


# --- articles --------------------------------------------------------------------------------------


@router.get("/articles")
async def list_articles(ctx: Public, request: Request) -> JSONResponse:
    query = request.query_params
    errors: list[dict[str, Any]] = []
    articles = ctx.store.all("article")
    if query.get("section_id"):
        section_id = to_int(query["section_id"], "section_id", errors)
        articles = [a for a in articles if a["section_id"] == section_id]
    wanted = {s.upper() for s in csv_list(query.get("status") or query.get("filter"))} - {"PINNED"}
    if ctx.user_id is None:
        wanted = wanted & {"PUBLISHED"} or {"PUBLISHED"}  # anonymous readers see published articles only
    if wanted:
        articles = [a for a in articles if a.get("status") in wanted]
    if query.get("tags"):
        tags = set(csv_list(query["tags"]))
        articles = [a for a in articles if tags & set(a.get("tags", []))]
    fail_if(errors)
    return ctx.view.page("article", articles, lambda a: ctx.view.render("article", a))


@router.get("/articles/{article_id:int}")
async def get_article(ctx: Public, article_id: int) -> JSONResponse:
    article = _doc(ctx, "article", article_id)
    if ctx.user_id is None and article.get("status") != "PUBLISHED":
        raise not_found("article")
    return ctx.view.one("article", ctx.view.render("article", article))


def _locale_text(value: Any, parameter: str, errors: list[dict[str, Any]]) -> str | None:
    """The en-us (else first) translation of a write-format locale array, or a plain string."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        chosen = next((v for v in value if str(v.get("locale", "")).lower() == "en-us"), value[0])
        translation = chosen.get("translation")
        if isinstance(translation, str):
            return translation
    errors.append(invalid(parameter, 'Expected [{"locale": "en-us", "translation": "..."}]'))
    return None


def _article_fields(
    ctx: Ctx, args: dict[str, Any], errors: list[dict[str, Any]], *, create: bool
) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name in ("titles", "contents"):
        if args.get(name) in (None, "", []):
            if create:
                errors.append(required(name))
            continue
        text = _locale_text(args[name], name, errors)
        if text is not None and not text.strip():
            errors.append(error_entry("FIELD_EMPTY", parameter=name))
        elif text is not None:
            fields[name] = text
    if args.get("section_id") in (None, ""):
        if create:
            errors.append(required("section_id"))
    else:
        section_id = to_int(args["section_id"], "section_id", errors)
        if section_id is not None and ctx.store.get("section", section_id) is None:
            errors.append(invalid("section_id", "No section with this id"))
        elif section_id is not None:
            fields["section_id"] = section_id
    if args.get("status") not in (None, ""):
        status = str(args["status"]).upper()
        if status not in ARTICLE_STATUSES:
            errors.append(invalid("status"))
        else:
            fields["status"] = status
    if "tags" in args:
        fields["tags"] = csv_list(args["tags"])
    if "keywords" in args:
        fields["keywords"] = str(args["keywords"] or "")
    if "is_featured" in args:
        fields["is_featured"] = to_bool(args["is_featured"])
    return fields


@router.post("/articles")
async def create_article(ctx: Api, request: Request) -> JSONResponse:
    args = await body_of(request)
    errors: list[dict[str, Any]] = []
    fields = _article_fields(ctx, args, errors, create=True)
    fail_if(errors)
    now = iso()
    with ctx.store.transaction():
        article = ctx.store.insert(
            "article",
            {
                "uuid": str(uuid.uuid4()),
                "section_id": fields["section_id"],
                "title_ids": locale_fields(ctx.store, fields["titles"]),
                "content_ids": locale_fields(ctx.store, fields["contents"]),
                "slug": slugify(fields["titles"]),
                "keywords": fields.get("keywords", ""),
                "status": fields.get("status", "DRAFT"),
                "author_id": ctx.agent_id,
                "tags": fields.get("tags", []),
                "is_featured": fields.get("is_featured", False),
                "created_at": now,
                "updated_at": now,
                "published_at": now if fields.get("status") == "PUBLISHED" else None,
            },
        )
    ctx.mock.automation.fire("article.created", article_id=article["id"])
    return ctx.view.one("article", ctx.view.render("article", article), status=201)


def _set_text(ctx: Ctx, field_ids: list[int], text: str) -> None:
    for field_id in field_ids:
        field = ctx.store.get("locale_field", field_id)
        if field is not None:
            field.update(translation=text, updated_at=iso())
            ctx.store.save("locale_field", field)


@router.put("/articles/{article_id:int}")
async def update_article(ctx: Api, request: Request, article_id: int) -> JSONResponse:
    article = _doc(ctx, "article", article_id)
    args = await body_of(request)
    errors: list[dict[str, Any]] = []
    fields = _article_fields(ctx, args, errors, create=False)
    fail_if(errors)
    with ctx.store.transaction():
        if "titles" in fields:
            _set_text(ctx, article["title_ids"], fields.pop("titles"))
        if "contents" in fields:
            _set_text(ctx, article["content_ids"], fields.pop("contents"))
        if fields.get("status") == "PUBLISHED" and not article.get("published_at"):
            article["published_at"] = iso()
        article.update(fields, updated_at=iso())
        ctx.store.save("article", article)
    ctx.mock.automation.fire("article.updated", article_id=article_id)
    return ctx.view.one("article", ctx.view.render("article", article))


@router.delete("/articles/{article_id:int}")
async def delete_article(ctx: Api, article_id: int) -> JSONResponse:
    article = _doc(ctx, "article", article_id)
    with ctx.store.transaction():
        for field_id in [*article["title_ids"], *article["content_ids"]]:
            ctx.store.delete("locale_field", field_id)
        ctx.store.delete("article", article_id)
    ctx.mock.automation.fire("article.deleted", article_id=article_id)
    return ctx.view.deleted()


# --- sections and categories -------------------------------------------------------------------------


@router.get("/sections")
async def list_sections(ctx: Public, request: Request) -> JSONResponse:
    sections = ctx.store.all("section")
    raw = request.query_params.get("category_ids") or request.query_params.get("category_id")
    if raw:
        errors: list[dict[str, Any]] = []
        wanted = {to_int(v, "category_ids", errors) for v in csv_list(raw)}
        fail_if(errors)
        sections = [s for s in sections if s["category_id"] in wanted]
    sections.sort(key=lambda s: (s["created_at"], s["id"]))
    return ctx.view.page("section", sections, lambda s: ctx.view.render("section", s))


@router.get("/sections/{section_id:int}")
async def get_section(ctx: Public, section_id: int) -> JSONResponse:
    return ctx.view.one("section", ctx.view.render("section", _doc(ctx, "section", section_id)))


@router.get("/categories")
async def list_categories(ctx: Public) -> JSONResponse:
    categories = sorted(ctx.store.all("category"), key=lambda c: (c.get("display_order", 0), c["id"]))
    return ctx.view.page("category", categories, lambda c: ctx.view.render("category", c))


@router.get("/categories/{category_id:int}")
async def get_category(ctx: Public, category_id: int) -> JSONResponse:
    return ctx.view.one("category", ctx.view.render("category", _doc(ctx, "category", category_id)))


# --- locales -----------------------------------------------------------------------------------------


@router.get("/locale/fields/{field_id:int}")
async def get_locale_field(ctx: Public, field_id: int) -> JSONResponse:
    return ctx.view.one("locale_field", ctx.view.render("locale_field", _doc(ctx, "locale_field", field_id)))


@router.get("/locales")
async def list_locales(ctx: Public) -> JSONResponse:
    return ctx.view.page("locale", ctx.store.all("locale"), lambda lc: ctx.view.render("locale", lc))


# --- help-center search ------------------------------------------------------------------------------


def query_words(query: str) -> list[str]:
    """Words worth matching: three letters or more (all words when the query has none that long)."""
    words = [w.strip("?!.,;:'\"()") for w in query.lower().split()]
    long_words = [w for w in words if len(w) >= MIN_QUERY]
    return long_words or [w for w in words if w]


def relevance(query: str, title: str, text: str) -> float:
    """Share of query words found (title hits count extra, the whole phrase more): 0 means no match."""
    words = query_words(query)
    if not words:
        return 0.0
    haystack = f"{title} {text}".lower()
    found = sum(w in haystack for w in words) / len(words)
    if found == 0:
        return 0.0
    in_title = sum(w in title.lower() for w in words) / len(words)
    phrase = 1.0 if query.lower().strip() in haystack else 0.0
    return round(found + in_title / 2 + phrase, 3)


def article_matches(ctx: Ctx, query: str) -> list[tuple[float, Doc, str, str]]:
    """Published articles matching the query, as (relevance, article, title, text), best first."""
    found = []
    for article in ctx.store.find("article", status="PUBLISHED"):
        title = _text(ctx, article["title_ids"])
        text = html_to_text(_text(ctx, article["content_ids"]))
        score = relevance(query, title, text)
        if score > 0:
            found.append((score, article, title, text))
    found.sort(key=lambda item: (-item[0], item[1]["id"]))
    return found


@router.get("/helpcenter/search")
async def helpcenter_search(ctx: Public, request: Request) -> JSONResponse:
    query = (request.query_params.get("query") or "").strip()
    if len(query) < MIN_QUERY:
        raise MockError(
            400, "FIELD_INVALID", "The query must be at least 3 characters long", parameter="query"
        )
    scope = (request.query_params.get("in") or "ALL").upper()
    if scope not in {"ARTICLES", "CONVERSATIONS", "ALL"}:
        raise MockError(400, "FIELD_INVALID", parameter="in")
    matches = article_matches(ctx, query) if scope in {"ARTICLES", "ALL"} else []
    site = ctx.view.api.removesuffix("/api/v1")

    def item(match: tuple[float, Doc, str, str]) -> dict[str, Any]:
        _, article, title, text = match
        return {
            "uuid": article["uuid"],
            "title": title,
            "contents": text[:300],
            "link": f"{site}/article/{article['id']}-{article.get('slug', '')}",
            "original": ref("article", article["id"]),
            "created_at": article["created_at"],
            "updated_at": article["updated_at"],
            "resource_type": "search",
        }

    return ctx.view.page("search", matches, item)
