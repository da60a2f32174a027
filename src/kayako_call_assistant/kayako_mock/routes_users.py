"""``/me``, ``/session``, users, identities and roles."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from .context import Ctx, api
from .errors import MockError, error_entry, invalid, not_found, required
from .params import body_of, csv_list, fail_if, to_bool, to_int
from .records import add_email, add_phone, add_user, e164, email_owner, iso, strict_e164, strict_email
from .store import Doc

router = APIRouter()
Api = Annotated[Ctx, Depends(api)]


@router.get("/me")
async def me(ctx: Api) -> JSONResponse:
    return ctx.view.one("user", ctx.view.render("user", _user(ctx, ctx.agent_id)))


@router.get("/session")
async def session(ctx: Api, request: Request) -> JSONResponse:
    session_id = getattr(request.state, "new_session", None) or request.headers.get("x-session-id")
    data = {
        "id": session_id,
        "portal": "AGENT",
        "user": {"id": ctx.agent_id, "resource_type": "user"},
        "status": "ONLINE",
        "resource_type": "session",
    }
    response = ctx.view.one("session", data)
    known = ctx.mock.auth.sessions.get(session_id or "")
    if known is not None and known.csrf_token:
        response.headers["X-CSRF-Token"] = known.csrf_token
    return response


@router.delete("/session")
async def logout(ctx: Api, request: Request) -> JSONResponse:
    session_id = getattr(request.state, "new_session", None) or request.headers.get("x-session-id") or ""
    ctx.mock.auth.sessions.pop(session_id, None)
    return ctx.view.deleted()


# --- users ----------------------------------------------------------------------------------------


def _user(ctx: Ctx, user_id: int) -> Doc:
    doc = ctx.store.get("user", user_id)
    if doc is None:
        raise not_found("user")
    return doc


@router.get("/users")
async def list_users(ctx: Api, request: Request) -> JSONResponse:
    users = ctx.store.all("user")
    role = request.query_params.get("role")
    if role:
        wanted = {r.upper() for r in csv_list(role)}
        roles = {r["id"] for r in ctx.store.all("role") if r["type"] in wanted}
        users = [u for u in users if u["role_id"] in roles]
    ids = _id_filter(request)
    if ids is not None:
        users = [u for u in users if u["id"] in ids]
    users.sort(key=lambda u: u["id"], reverse=True)
    return ctx.view.page("user", users, lambda u: ctx.view.render("user", u))


def _id_filter(request: Request) -> set[int] | None:
    raw = request.query_params.get("ids")
    if raw is None:
        return None
    errors: list[dict[str, Any]] = []
    ids = {to_int(v, "ids", errors) for v in csv_list(raw)}
    fail_if(errors)
    return {i for i in ids if i is not None}


@router.get("/users/{user_id:int}")
async def get_user(ctx: Api, user_id: int) -> JSONResponse:
    return ctx.view.one("user", ctx.view.render("user", _user(ctx, user_id)))


@router.post("/users")
async def create_user(ctx: Api, request: Request) -> JSONResponse:
    args = await body_of(request)
    errors: list[dict[str, Any]] = []
    full_name = str(args.get("full_name") or "").strip()
    if not full_name:
        errors.append(required("full_name"))
    role_id = to_int(args.get("role_id"), "role_id", errors)
    if args.get("role_id") in (None, ""):
        errors.append(required("role_id"))
    elif role_id is not None and ctx.store.get("role", role_id) is None:
        errors.append(invalid("role_id", "No role with this id"))
    email = _email_arg(ctx, args, errors)
    phone = _phone_arg(ctx, args.get("phone"), errors)
    fail_if(errors)
    assert role_id is not None
    with ctx.store.transaction():
        password = args.get("password")
        user = add_user(
            ctx.store,
            full_name,
            role_id,
            email=email,
            phone=phone,
            password=str(password) if password else None,
        )
    return ctx.view.one("user", ctx.view.render("user", user), status=201)


def _email_arg(ctx: Ctx, args: dict[str, Any], errors: list[dict[str, Any]]) -> str | None:
    raw = args.get("email")
    if raw in (None, ""):
        return None
    email = str(raw).strip().lower()
    if ctx.mock.config.strict and not strict_email(email):
        errors.append(invalid("email", "Not an email address"))
        return None
    if "@" not in email or email.startswith("@") or email.endswith("@"):
        errors.append(invalid("email", "Not an email address"))
        return None
    if email_owner(ctx.store, email) is not None:
        errors.append(error_entry("FIELD_DUPLICATE", parameter="email"))
        return None
    return email


def _phone_arg(ctx: Ctx, raw: Any, errors: list[dict[str, Any]], parameter: str = "phone") -> str | None:
    if raw in (None, ""):
        return None
    number = strict_e164(str(raw)) if ctx.mock.config.strict else e164(str(raw))
    if number is None:
        errors.append(invalid(parameter, "Not a phone number (E.164 expected)"))
        return None
    if ctx.store.find("identity_phone", number=number):
        errors.append(error_entry("FIELD_DUPLICATE", parameter=parameter))
        return None
    return number


@router.put("/users/{user_id:int}")
async def update_user(ctx: Api, request: Request, user_id: int) -> JSONResponse:
    user = _user(ctx, user_id)
    args = await body_of(request)
    errors: list[dict[str, Any]] = []
    if "full_name" in args and not str(args["full_name"] or "").strip():
        errors.append(error_entry("FIELD_EMPTY", parameter="full_name"))
    role_id = to_int(args.get("role_id"), "role_id", errors)
    if role_id is not None and ctx.store.get("role", role_id) is None:
        errors.append(invalid("role_id", "No role with this id"))
    fail_if(errors)
    if "full_name" in args:
        user["full_name"] = str(args["full_name"]).strip()
    if role_id is not None:
        user["role_id"] = role_id
    for name in ("designation", "is_enabled"):
        if name in args:
            user[name] = to_bool(args[name]) if name == "is_enabled" else args[name]
    if "tags" in args:
        user["tags"] = csv_list(args["tags"])
    user["updated_at"] = iso()
    ctx.store.save("user", user)
    return ctx.view.one("user", ctx.view.render("user", user))


@router.delete("/users/{user_id:int}")
async def delete_user(ctx: Api, user_id: int) -> JSONResponse:
    _user(ctx, user_id)
    with ctx.store.transaction():
        for kind in ("identity_email", "identity_phone"):
            for identity in ctx.store.find(kind, user_id=user_id):
                ctx.store.delete(kind, identity["id"])
        ctx.store.delete("user", user_id)
    return ctx.view.deleted()


# --- identities -----------------------------------------------------------------------------------

KINDS = {"emails": ("identity_email", "email"), "phones": ("identity_phone", "number")}


def _kind(kind: str) -> tuple[str, str]:
    if kind not in KINDS:
        raise not_found("identity type")
    return KINDS[kind]


@router.get("/identities/{kind}")
async def list_identities(ctx: Api, request: Request, kind: str) -> JSONResponse:
    resource, value_field = _kind(kind)
    items = ctx.store.all(resource)
    errors: list[dict[str, Any]] = []
    user_id = to_int(request.query_params.get("user_id"), "user_id", errors)
    fail_if(errors)
    if user_id is not None:
        items = [i for i in items if i["user_id"] == user_id]
    # Kayako documents only user_id; email=/number= filters are tolerated so a client can look up by value.
    wanted = request.query_params.get(value_field)
    if wanted and not ctx.mock.config.strict:
        key = wanted.strip().lower() if value_field == "email" else e164(wanted)
        items = [i for i in items if i[value_field] == key]
    return ctx.view.page(resource, items, lambda i: ctx.view.render(resource, i))


@router.get("/identities/{kind}/{identity_id:int}")
async def get_identity(ctx: Api, kind: str, identity_id: int) -> JSONResponse:
    resource, _ = _kind(kind)
    doc = ctx.store.get(resource, identity_id)
    if doc is None:
        raise not_found(resource)
    return ctx.view.one(resource, ctx.view.render(resource, doc))


@router.post("/identities/{kind}")
async def create_identity(ctx: Api, request: Request, kind: str) -> JSONResponse:
    resource, value_field = _kind(kind)
    args = await body_of(request)
    errors: list[dict[str, Any]] = []
    user_id = to_int(args.get("user_id"), "user_id", errors)
    if args.get("user_id") in (None, ""):
        errors.append(required("user_id"))
    elif user_id is not None and ctx.store.get("user", user_id) is None:
        errors.append(invalid("user_id", "No user with this id"))
    if args.get(value_field) in (None, ""):
        errors.append(required(value_field))
        value = None
    elif value_field == "email":
        value = _email_arg(ctx, args, errors)
    else:
        value = _phone_arg(ctx, args.get("number"), errors, "number")
    fail_if(errors)
    assert user_id is not None and value is not None
    primary = to_bool(args.get("is_primary", False)) or not ctx.store.find(resource, user_id=user_id)
    with ctx.store.transaction():
        if primary:
            for other in ctx.store.find(resource, user_id=user_id):
                other["is_primary"] = False
                ctx.store.save(resource, other)
        add = add_email if value_field == "email" else add_phone
        doc = add(ctx.store, user_id, value, primary=primary)
    return ctx.view.one(resource, ctx.view.render(resource, doc), status=201)


@router.delete("/identities/{kind}/{identity_id:int}")
async def delete_identity(ctx: Api, kind: str, identity_id: int) -> JSONResponse:
    resource, _ = _kind(kind)
    if ctx.store.get(resource, identity_id) is None:
        raise not_found(resource)
    ctx.store.delete(resource, identity_id)
    return ctx.view.deleted()


# --- roles ----------------------------------------------------------------------------------------


@router.get("/roles")
async def list_roles(ctx: Api) -> JSONResponse:
    return ctx.view.page("role", ctx.store.all("role"), lambda r: ctx.view.render("role", r))


@router.get("/roles/{role_id:int}")
async def get_role(ctx: Api, role_id: int) -> JSONResponse:
    doc = ctx.store.get("role", role_id)
    if doc is None:
        raise MockError(404, "RESOURCE_NOT_FOUND")
    return ctx.view.one("role", ctx.view.render("role", doc))
