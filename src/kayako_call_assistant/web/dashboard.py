"""The operator dashboard at ``/admin``: live calls, the call log, one call's record, the outbox, charts.

Server-rendered HTML (Jinja2) with htmx for the small live parts, under a strict Content-Security-Policy:
no inline script or style, scripts and styles only from ``/static``. An operator logs in with an admin API
token (``ports.AdminTokens``) and gets a signed, expiring, HttpOnly, Secure, SameSite=Strict session
cookie. Every login attempt and every page view is written to the audit log. Every POST must carry the
session's CSRF token and a same-origin ``Origin`` header.

The JSON admin API keeps its paths (``/admin/calls``, ``/admin/outbox``, ``/admin/audit``); the pages use
others (``/admin/call-log``, ``/admin/case-queue``).
"""

# No `from __future__ import annotations`: FastAPI must resolve the local `Viewer` dependency type.

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import structlog
from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from ..domain import utcnow
from ..ports import AdminTokens, AuditEvent, AuditLog, CallStore, OutboxStore
from .admin import MAX_OFFSET
from .charts import bar_chart
from .dashboard_queries import DashboardQueries, mask_number
from .operator_session import COOKIE, Operator, Signer, same_origin
from .security import PAGE_CSP

log = structlog.get_logger(__name__)

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
OUTCOMES = ("in_progress", "resolved", "escalated", "transferred", "abandoned", "failed")


def _seconds(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f} s"


def _money(value: float | None) -> str:
    return "–" if value is None else f"${value:.4f}"


def _when(value: dt.datetime | None) -> str:
    return "–" if value is None else value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


TEMPLATES.env.filters.update(seconds=_seconds, money=_money, when=_when, masked=mask_number)


class LoginRequired(Exception):
    """No valid session: pages answer with a redirect to the login form (see ``login_redirect``)."""

    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


async def login_redirect(_request: Request, error: Exception) -> Response:
    assert isinstance(error, LoginRequired)
    return RedirectResponse(f"/admin/login?next={quote(error.next_path)}", status_code=303)


@dataclass(frozen=True, slots=True)
class DashboardDeps:
    tokens: AdminTokens
    audit: AuditLog
    calls: CallStore
    outbox: OutboxStore
    queries: DashboardQueries
    signer: Signer
    session_minutes: int
    public_url: str
    case_key_for_call: Callable[[str], str]
    case_url: Callable[[int], str]  # the case in the help desk's agent interface
    live_here: Callable[[], set[str]]  # CallSids with a media stream on this process
    on_requeue: Callable[[], Awaitable[None]] | None = None


def page(request: Request, template: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    response = TEMPLATES.TemplateResponse(request, template, context, status_code=status_code)
    response.headers["content-security-policy"] = PAGE_CSP
    # With the API's "no-referrer", browsers send `Origin: null` on a page's own POSTs; the same-origin
    # check of forms and the softphone token needs the real origin, which "same-origin" sends (to us only).
    response.headers["referrer-policy"] = "same-origin"
    return response


def create_dashboard_router(deps: DashboardDeps) -> APIRouter:
    router = APIRouter(prefix="/admin", include_in_schema=False)
    max_age = deps.session_minutes * 60

    async def audit(who: str, action: str, target: str, **detail: Any) -> None:
        await deps.audit.write(
            AuditEvent(actor=who, action=action, target=target, at=utcnow(), detail=detail)
        )

    def session(request: Request) -> Operator:
        operator = deps.signer.operator(request.cookies.get(COOKIE), max_age)
        if operator is None:
            raise LoginRequired(request.url.path)
        return operator

    async def viewer(request: Request) -> Operator:
        """The logged-in operator; the page view is audited. No session: redirect to the login form."""
        operator = session(request)
        await audit(operator.name, f"dashboard {request.method} {request.url.path}", "dashboard")
        return operator

    Viewer = Annotated[Operator, Depends(viewer)]
    # The live-calls table polls every 5 s from a page whose view is audited already; auditing each poll
    # would write 720 rows an hour per open dashboard and bury the accesses that matter.
    Poller = Annotated[Operator, Depends(session)]

    def check_post(request: Request, operator: Operator, csrf: str) -> None:
        if not same_origin(request, deps.public_url) or csrf != operator.csrf:
            log.warning("dashboard.csrf_rejected", path=request.url.path, operator=operator.name)
            raise HTTPException(status_code=403, detail="this form is stale or came from another site")

    @router.get("/login")
    async def login_form(request: Request, next: str = "/admin") -> HTMLResponse:
        return page(request, "login.html", {"next": _local(next), "error": None})

    @router.post("/login")
    async def login(
        request: Request,
        token: Annotated[str, Form()],
        next: Annotated[str, Form()] = "/admin",
    ) -> Response:
        if not same_origin(request, deps.public_url):
            raise HTTPException(status_code=403, detail="log in from the dashboard's own page")
        name = await deps.tokens.verify(token.strip()) if token.strip() else None
        if name is None:
            await audit("anonymous", "dashboard login", "denied")
            log.warning("dashboard.login_denied")
            context = {"next": _local(next), "error": "That token is not valid."}
            return page(request, "login.html", context, status_code=401)
        await audit(name, "dashboard login", "granted")
        log.info("dashboard.login", operator=name)
        response = RedirectResponse(_local(next), status_code=303)
        response.set_cookie(
            COOKIE,
            deps.signer.session_cookie(name),
            max_age=max_age,
            path="/",
            secure=True,
            httponly=True,
            samesite="strict",
        )
        return response

    @router.post("/logout")
    async def logout(request: Request, who: Viewer, csrf: Annotated[str, Form()]) -> Response:
        check_post(request, who, csrf)
        response = RedirectResponse("/admin/login", status_code=303)
        response.delete_cookie(COOKIE, path="/", secure=True, httponly=True, samesite="strict")
        return response

    @router.get("")
    async def overview(request: Request, who: Viewer) -> HTMLResponse:
        days = await deps.queries.daily(14)
        labels = [day.day.strftime("%m-%d") for day in days]
        charts = [
            bar_chart("Calls per day", labels, [[float(d.calls) for d in days]], lambda v: f"{v:.0f}"),
            bar_chart(
                "Resolution rate",
                labels,
                [[d.resolution_rate for d in days]],
                lambda v: f"{v:.0%}",
                ceiling=1.0,
            ),
            bar_chart(
                "Turn latency p50 / p95",
                labels,
                [[d.p50 for d in days], [d.p95 for d in days]],
                lambda v: f"{v:.2f} s",
            ),
            bar_chart("Cost per day", labels, [[d.cost_usd for d in days]], lambda v: f"${v:.2f}"),
        ]
        live = await deps.queries.live_calls()
        context = {"who": who, "live": live, "here": deps.live_here(), "charts": charts, "days": days}
        return page(request, "overview.html", context)

    @router.get("/live")
    async def live_fragment(request: Request, who: Poller) -> HTMLResponse:
        """The live-calls table alone; htmx refreshes it every few seconds."""
        live = await deps.queries.live_calls()
        return page(request, "_live.html", {"who": who, "live": live, "here": deps.live_here()})

    @router.get("/call-log")
    async def call_log(
        request: Request,
        who: Viewer,
        q: str = "",
        outcome: str = "",
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    ) -> HTMLResponse:
        found = await deps.queries.search_calls(
            query=q, outcome=outcome if outcome in OUTCOMES else "", limit=50, offset=offset
        )
        context = {
            "who": who,
            "calls": found,
            "q": q,
            "outcome": outcome,
            "outcomes": OUTCOMES,
            "offset": offset,
            "case_url": deps.case_url,
        }
        template = "_call_rows.html" if request.headers.get("hx-request") else "call_log.html"
        return page(request, template, context)

    @router.get("/call-log/{call_id}")
    async def call_page(request: Request, call_id: str, who: Viewer) -> HTMLResponse:
        call = await deps.calls.get_call(call_id)
        if call is None:
            return page(request, "not_found.html", {"who": who, "what": "call"}, status_code=404)
        turns = await deps.calls.list_turns(call_id)
        flow_state = await deps.calls.load_flow_state(call_id) or {}
        entry = await deps.outbox.get(deps.case_key_for_call(call_id))
        latencies = await deps.queries.turn_latencies(call_id)
        context = {
            "who": who,
            "call": call,
            "turns": turns,
            "state": flow_state,
            "entry": entry,
            "latencies": latencies,
            "case_url": deps.case_url,
        }
        return page(request, "call.html", context)

    @router.get("/case-queue")
    async def outbox_page(request: Request, who: Viewer, requeued: str = "") -> HTMLResponse:
        dead = await deps.outbox.list_entries("dead", limit=200)
        pending = await deps.outbox.list_entries("pending", limit=200)
        context = {"who": who, "entries": dead + pending, "requeued": requeued}
        return page(request, "outbox.html", context)

    @router.post("/case-queue/requeue")
    async def requeue(
        request: Request, who: Viewer, key: Annotated[str, Form()], csrf: Annotated[str, Form()]
    ) -> Response:
        check_post(request, who, csrf)
        done = await deps.outbox.requeue(key)
        await audit(who.name, "requeue_case", key, requeued=done)
        if not done:
            raise HTTPException(status_code=404, detail="no such outbox entry")
        log.info("dashboard.case_requeued", key=key, operator=who.name)
        if deps.on_requeue is not None:
            await deps.on_requeue()
        return RedirectResponse(f"/admin/case-queue?requeued={quote(key)}", status_code=303)

    return router


def _local(path: str) -> str:
    """Only a path on this site is a valid place to return to after login (no open redirect)."""
    return path if path.startswith("/") and not path.startswith("//") and "\\" not in path else "/admin"
