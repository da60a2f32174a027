"""A Twilio-REST-compatible server for tests, demos and ``make run``: the real ``twilio`` SDK talks to it
over HTTP. It knows the one resource the assistant changes, a live call:
``POST/GET /2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}.json``.

Any call SID is a live, in-progress call until it is completed; redirecting a completed call fails as on
Twilio (21220). ``GET /_fake/requests`` lists what was asked, ``GET /_fake/calls/{sid}`` shows a call's
state and last TwiML, and ``POST /_fake/fail`` makes the next requests fail.

    uvicorn --factory kayako_call_assistant.fakes.twilio_rest:create_default_app --port 8092
"""

from __future__ import annotations

import base64
import binascii
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from ..telephony.signature import DEVELOPMENT_AUTH_TOKEN

DEVELOPMENT_ACCOUNT_SID = "AC" + "0" * 32
_MAX_TWIML = 4000
_ERROR_DOCS = "https://www.twilio.com/docs/errors/"


@dataclass(slots=True)
class FakeCall:
    sid: str
    status: str = "in-progress"
    twiml: str | None = None
    url: str | None = None
    updates: int = 0


@dataclass(slots=True)
class ScriptedFailure:
    status: int
    code: int


@dataclass(slots=True)
class FakeTwilioScript:
    calls: dict[str, FakeCall] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    failures: deque[ScriptedFailure] = field(default_factory=deque)


def _error(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse(
        {"code": code, "message": message, "more_info": f"{_ERROR_DOCS}{code}", "status": status},
        status_code=status,
    )


def _authorized(request: Request, account_sid: str, auth_token: str) -> bool:
    header = request.headers.get("authorization", "")
    if not header.startswith("Basic "):
        return False
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return secrets.compare_digest(user, account_sid) and secrets.compare_digest(password, auth_token)


def _resource(account_sid: str, call: FakeCall) -> dict[str, Any]:
    return {
        "sid": call.sid,
        "account_sid": account_sid,
        "status": call.status,
        "api_version": "2010-04-01",
        "date_updated": time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime()),
        "uri": f"/2010-04-01/Accounts/{account_sid}/Calls/{call.sid}.json",
    }


def create_app(account_sid: str, auth_token: str) -> FastAPI:
    app = FastAPI(title="Fake Twilio REST API")
    script = FakeTwilioScript()
    app.state.script = script

    @app.api_route("/2010-04-01/Accounts/{account}/Calls/{call_sid}.json", methods=["GET", "POST"])
    async def call_resource(request: Request, account: str, call_sid: str) -> JSONResponse:
        form = {k: str(v) for k, v in (await request.form()).items()} if request.method == "POST" else {}
        script.requests.append(
            {"method": request.method, "path": request.url.path, "form": form, "at": time.time()}
        )
        if not _authorized(request, account_sid, auth_token) or account != account_sid:
            return _error(401, 20003, "Authenticate")
        if script.failures:
            failure = script.failures.popleft()
            return _error(failure.status, failure.code, "Scripted failure")
        call = script.calls.setdefault(call_sid, FakeCall(call_sid))
        if request.method == "GET":
            return JSONResponse(_resource(account_sid, call))
        if "Twiml" in form and "Url" in form:
            return _error(400, 21220, "Twiml and Url cannot both be given")
        if len(form.get("Twiml", "")) > _MAX_TWIML:
            return _error(400, 21220, f"Twiml is longer than {_MAX_TWIML} characters")
        if call.status == "completed":
            return _error(400, 21220, "Call is not in-progress. Cannot redirect.")
        if form.get("Status") in {"completed", "canceled"}:
            call.status = "completed"
        if "Twiml" in form:
            call.twiml = form["Twiml"]
        if "Url" in form:
            call.url = form["Url"]
        call.updates += 1
        return JSONResponse(_resource(account_sid, call))

    @app.get("/_fake/requests")
    async def requests() -> list[dict[str, Any]]:
        return script.requests

    @app.get("/_fake/calls/{call_sid}", response_model=None)
    async def call_state(call_sid: str) -> dict[str, Any] | JSONResponse:
        call = script.calls.get(call_sid)
        if call is None:
            return JSONResponse({"detail": "no such call"}, status_code=404)
        return {
            "sid": call.sid,
            "status": call.status,
            "twiml": call.twiml,
            "url": call.url,
            "updates": call.updates,
        }

    @app.post("/_fake/fail")
    async def fail(request: Request) -> dict[str, int]:
        body = await request.json()
        times = int(body.get("times", 1))
        for _ in range(times):
            script.failures.append(
                ScriptedFailure(int(body.get("status", 500)), int(body.get("code", 20500)))
            )
        return {"queued": times}

    return app


def create_default_app() -> FastAPI:
    return create_app(DEVELOPMENT_ACCOUNT_SID, DEVELOPMENT_AUTH_TOKEN)
