"""Cases, their posts, replies, notes and tags, and the case configuration (statuses, priorities, …)."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from .context import Ctx, api
from .errors import error_entry, invalid, not_found, required
from .params import body_of, csv_list, fail_if, json_object, to_bool, to_int
from .records import add_case, add_post, digits, iso, tag_refs, unique
from .render import ref
from .store import Doc

router = APIRouter()
Api = Annotated[Ctx, Depends(api)]

CHANNEL_TYPES = frozenset({"MAIL", "NOTE", "MESSENGER", "HELPCENTER", "TWITTER", "FACEBOOK"})
DEFAULT_STATUS = 1  # New


# --- configuration ---------------------------------------------------------------------------------


def _config_routes(path: str, kind: str) -> None:
    async def listing(ctx: Api) -> JSONResponse:
        return ctx.view.page(kind, ctx.store.all(kind), lambda d: ctx.view.render(kind, d))

    async def single(ctx: Api, item_id: int) -> JSONResponse:
        doc = ctx.store.get(kind, item_id)
        if doc is None:
            raise not_found(kind)
        return ctx.view.one(kind, ctx.view.render(kind, doc))

    router.add_api_route(f"/cases/{path}", listing, methods=["GET"], name=f"list_{kind}")
    router.add_api_route(f"/cases/{path}/{{item_id:int}}", single, methods=["GET"], name=f"get_{kind}")


_config_routes("statuses", "case_status")
_config_routes("priorities", "case_priority")
_config_routes("types", "case_type")
_config_routes("channels", "channel")


# --- cases -----------------------------------------------------------------------------------------


def _case(ctx: Ctx, case_id: int) -> Doc:
    doc = ctx.store.get("case", case_id)
    if doc is None:
        raise not_found("case")
    return doc


def _newest_first(cases: list[Doc]) -> list[Doc]:
    return sorted(cases, key=lambda c: (c["updated_at"], c["id"]), reverse=True)


def _render(ctx: Ctx) -> Callable[[Doc], dict[str, Any]]:
    return lambda doc: ctx.view.render("case", doc)


@router.get("/cases")
async def list_cases(ctx: Api, request: Request) -> JSONResponse:
    cases = ctx.store.all("case")
    query = request.query_params
    errors: list[dict[str, Any]] = []
    if query.get("ids"):
        wanted = {to_int(v, "ids", errors) for v in csv_list(query["ids"])}
        cases = [c for c in cases if c["id"] in wanted]
    if query.get("status"):
        types = {s.upper() for s in csv_list(query["status"])}
        statuses = {s["id"] for s in ctx.store.all("case_status") if s["type"] in types}
        cases = [c for c in cases if c["status_id"] in statuses]
    if query.get("legacy_ids"):
        legacy = set(csv_list(query["legacy_ids"]))
        cases = [c for c in cases if c.get("legacy_id") in legacy]
    # Strict: a client must not rely on the tag filter (see MockConfig.strict), so it does nothing.
    if query.get("tags") and not ctx.mock.config.strict:
        tags = set(csv_list(query["tags"]))
        cases = [c for c in cases if tags & set(c.get("tags", []))]
    if query.get("priority"):
        level = to_int(query["priority"], "priority", errors)
        levels = {p["id"]: p["level"] for p in ctx.store.all("case_priority")}
        cases = [c for c in cases if c.get("priority_id") and levels.get(c["priority_id"], 0) <= (level or 0)]
    if query.get("identity_value"):
        owners = _identity_owners(ctx, query.get("identity_type", "EMAIL"), query["identity_value"])
        cases = [c for c in cases if c["requester_id"] in owners]
    fail_if(errors)
    return ctx.view.page("case", _newest_first(cases), _render(ctx))


def _identity_owners(ctx: Ctx, identity_type: str, value: str) -> set[int]:
    if identity_type.upper() == "PHONE":
        wanted = digits(value)
        return {i["user_id"] for i in ctx.store.all("identity_phone") if digits(i["number"]) == wanted}
    return {i["user_id"] for i in ctx.store.find("identity_email", email=value.strip().lower())}


@router.get("/users/{user_id:int}/cases")
async def user_cases(ctx: Api, user_id: int) -> JSONResponse:
    if ctx.store.get("user", user_id) is None:
        raise not_found("user")
    return ctx.view.page("case", _newest_first(ctx.store.find("case", requester_id=user_id)), _render(ctx))


@router.get("/cases/{case_id:int}")
async def get_case(ctx: Api, case_id: int) -> JSONResponse:
    return ctx.view.one("case", ctx.view.render("case", _case(ctx, case_id)))


def _contents(args: dict[str, Any], errors: list[dict[str, Any]]) -> str | None:
    """The post body as HTML: kept as sent with ``channel_options.html``, else escaped plain text."""
    contents = args.get("contents")
    if contents is None or not str(contents).strip():
        errors.append(required("contents"))
        return None
    options = json_object(args.get("channel_options"), "channel_options", errors)
    if to_bool(options.get("html", False)):
        return str(contents)
    return "".join(f"<p>{html.escape(p)}</p>" for p in str(contents).split("\n\n") if p.strip())


def _channel(args: dict[str, Any], errors: list[dict[str, Any]], default: str | None) -> str | None:
    raw = args.get("channel") or default
    if raw is None:
        errors.append(required("channel"))
        return None
    channel = str(raw).upper()
    if channel not in CHANNEL_TYPES:
        errors.append(invalid("channel", f"Channel must be one of {', '.join(sorted(CHANNEL_TYPES))}"))
        return None
    return channel


def _channel_id(
    ctx: Ctx, args: dict[str, Any], channel: str | None, errors: list[dict[str, Any]]
) -> int | None:
    """The mailbox/account of a new case's first post. Never needed for NOTE; strict mode requires it
    otherwise (the agent UI always sends it); when given it must name a channel of the case's type."""
    raw = args.get("channel_id")
    if raw in (None, ""):
        if ctx.mock.config.strict and channel is not None and channel != "NOTE":
            errors.append(required("channel_id"))
        return None
    channel_id = to_int(raw, "channel_id", errors)
    if channel_id is None:
        return None
    found = ctx.store.get("channel", channel_id)
    if found is None or (channel is not None and channel != "NOTE" and found["type"] != channel):
        errors.append(invalid("channel_id", "No channel of the case's type with this id"))
        return None
    return channel_id


def _changes(ctx: Ctx, args: dict[str, Any], errors: list[dict[str, Any]]) -> dict[str, Any]:
    """Validated case field updates shared by create, update and reply."""
    changes: dict[str, Any] = {}
    for name, kind in (
        ("status_id", "case_status"),
        ("priority_id", "case_priority"),
        ("type_id", "case_type"),
    ):
        if args.get(name) in (None, ""):
            continue
        value = to_int(args[name], name, errors)
        if value is not None and ctx.store.get(kind, value) is None:
            errors.append(invalid(name, f"No {kind} with this id"))
        elif value is not None:
            changes[name] = value
    if args.get("requester_id") not in (None, ""):
        requester = to_int(args["requester_id"], "requester_id", errors)
        if requester is not None and ctx.store.get("user", requester) is None:
            errors.append(invalid("requester_id", "No user with this id"))
        elif requester is not None:
            changes["requester_id"] = requester
    if "subject" in args:
        if not str(args["subject"] or "").strip():
            errors.append(error_entry("FIELD_EMPTY", parameter="subject"))
        else:
            changes["subject"] = str(args["subject"]).strip()
    if "tags" in args:
        changes["tags"] = unique(csv_list(args["tags"]))
    if args.get("state") not in (None, ""):
        state = str(args["state"]).upper()
        if state not in {"ACTIVE", "TRASH"}:
            errors.append(invalid("state"))
        else:
            changes["state"] = state
    return changes


@router.post("/cases")
async def create_case(ctx: Api, request: Request) -> JSONResponse:
    args = await body_of(request)
    errors: list[dict[str, Any]] = []
    if args.get("subject") is None:
        errors.append(required("subject"))
    contents = _contents(args, errors)
    channel = _channel(args, errors, None)
    if args.get("requester_id") in (None, ""):
        errors.append(required("requester_id"))
    changes = _changes(ctx, args, errors)
    channel_id = _channel_id(ctx, args, channel, errors)
    fail_if(errors)
    assert contents is not None and channel is not None
    client_id = args.get("client_id")
    legacy_id = args.get("legacy_id")
    with ctx.store.transaction():
        case = add_case(
            ctx.store,
            subject=changes["subject"],
            contents_html=contents,
            requester_id=changes["requester_id"],
            creator_id=ctx.agent_id,
            channel=channel,
            status_id=changes.get("status_id", DEFAULT_STATUS),
            priority_id=changes.get("priority_id"),
            type_id=changes.get("type_id"),
            tags=changes.get("tags", []),
            client_id=str(client_id) if client_id else None,
            channel_id=channel_id,
            legacy_id=str(legacy_id) if legacy_id not in (None, "") else None,
        )
        tag_refs(ctx.store, case["tags"])
    return ctx.view.one("case", ctx.view.render("case", case), status=201)


def _apply(ctx: Ctx, case: Doc, changes: dict[str, Any]) -> None:
    """Write validated ``changes`` to ``case`` and fire the status automation when the status moved."""
    old_status = case["status_id"]
    case.update(changes)
    case["updated_at"] = iso()
    ctx.store.save("case", case)
    tag_refs(ctx.store, case.get("tags", []))
    if case["status_id"] != old_status:
        status = ctx.store.get("case_status", case["status_id"])
        label = status["label"] if status else str(case["status_id"])
        ctx.mock.automation.fire("case.status_changed", case_id=case["id"], status=label)


@router.put("/cases/{case_id:int}")
async def update_case(ctx: Api, request: Request, case_id: int) -> JSONResponse:
    case = _case(ctx, case_id)
    args = await body_of(request)
    errors: list[dict[str, Any]] = []
    changes = _changes(ctx, args, errors)
    fail_if(errors)
    with ctx.store.transaction():
        _apply(ctx, case, changes)
    return ctx.view.one("case", ctx.view.render("case", case))


# --- posts, replies, notes -------------------------------------------------------------------------


@router.get("/cases/{case_id:int}/posts")
async def list_posts(ctx: Api, request: Request, case_id: int) -> JSONResponse:
    _case(ctx, case_id)
    posts = sorted(ctx.store.find("post", case_id=case_id), key=lambda p: p["id"], reverse=True)
    filters = {f.upper() for f in csv_list(request.query_params.get("filters"))} - {"ALL"}
    if filters:
        wanted = set()
        if "MESSAGES" in filters:
            wanted.add("case_message")
        if "NOTES" in filters:
            wanted.add("note")
        posts = [p for p in posts if p["original_type"] in wanted]
    return ctx.view.page("post", posts, lambda p: ctx.view.render("post", p), cursor=True)


@router.get("/cases/posts/{post_id:int}")
async def get_post(ctx: Api, post_id: int) -> JSONResponse:
    doc = ctx.store.get("post", post_id)
    if doc is None:
        raise not_found("post")
    return ctx.view.one("post", ctx.view.render("post", doc))


@router.post("/cases/{case_id:int}/reply")
async def reply(ctx: Api, request: Request, case_id: int) -> JSONResponse:
    case = _case(ctx, case_id)
    args = await body_of(request)
    errors: list[dict[str, Any]] = []
    contents = _contents(args, errors)
    channel = _channel(args, errors, "MAIL")
    changes = _changes(ctx, {k: v for k, v in args.items() if k != "subject"}, errors)
    fail_if(errors)
    assert contents is not None and channel is not None
    client_id = args.get("client_id")
    with ctx.store.transaction():
        post = add_post(
            ctx.store,
            case,
            contents,
            channel=channel,
            creator_id=ctx.agent_id,
            client_id=str(client_id) if client_id else None,
            subject=str(args["subject"]) if args.get("subject") else None,
            source="AGENT",
        )
        if changes:
            _apply(ctx, case, changes)
    data = {
        "posts": [ref("post", post["id"])],
        "case": ref("case", case["id"]),
        "resource_type": "case_reply",
    }
    return ctx.view.one("case_reply", data, status=201)


@router.get("/cases/{case_id:int}/notes")
async def list_notes(ctx: Api, case_id: int) -> JSONResponse:
    _case(ctx, case_id)
    notes = sorted(ctx.store.find("note", case_id=case_id), key=lambda n: n["id"], reverse=True)
    return ctx.view.page("note", notes, lambda n: ctx.view.render("note", n))


@router.get("/cases/{case_id:int}/notes/{note_id:int}")
async def get_note(ctx: Api, case_id: int, note_id: int) -> JSONResponse:
    note = ctx.store.get("note", note_id)
    if note is None or note["case_id"] != case_id:
        raise not_found("note")
    return ctx.view.one("note", ctx.view.render("note", note))


@router.get("/cases/{case_id:int}/messages/{message_id:int}")
async def get_message(ctx: Api, case_id: int, message_id: int) -> JSONResponse:
    message = ctx.store.get("case_message", message_id)
    if message is None or message["case_id"] != case_id:
        raise not_found("case_message")
    return ctx.view.one("case_message", ctx.view.render("case_message", message))


# --- tags ------------------------------------------------------------------------------------------


def _tags_response(ctx: Ctx, case: Doc, status: int = 200) -> JSONResponse:
    return ctx.view.one("tag", tag_refs(ctx.store, case.get("tags", [])), status=status)


@router.get("/cases/{case_id:int}/tags")
async def get_tags(ctx: Api, case_id: int) -> JSONResponse:
    return _tags_response(ctx, _case(ctx, case_id))


@router.api_route("/cases/{case_id:int}/tags", methods=["POST", "PUT", "DELETE"])
async def change_tags(ctx: Api, request: Request, case_id: int) -> JSONResponse:
    """POST adds the ``tags`` CSV, PUT replaces the tags with it, DELETE removes it."""
    case = _case(ctx, case_id)
    args = await body_of(request)
    if "tags" not in args:
        fail_if([required("tags")])
    given = unique(csv_list(args["tags"]))
    current = case.get("tags", [])
    if request.method == "POST":
        tags = unique([*current, *given])
    elif request.method == "PUT":
        tags = given
    else:
        tags = [t for t in current if t not in given]
    with ctx.store.transaction():
        _apply(ctx, case, {"tags": tags})
    return _tags_response(ctx, case, 201 if request.method == "POST" else 200)
