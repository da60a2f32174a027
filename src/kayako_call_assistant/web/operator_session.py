"""Signed, expiring values for the browser: the dashboard's session cookie and the softphone's call tokens.

itsdangerous signs with HMAC and a timestamp, so nothing about a session is stored server-side; a session
lives until its cookie expires (``web_session_minutes``) or the operator logs out. Each use has its own salt:
a softphone token can never pass as a session cookie or the reverse.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import HTTPConnection

COOKIE = "kca_operator"


@dataclass(frozen=True, slots=True)
class Operator:
    name: str  # the admin token's name
    csrf: str  # the session's anti-forgery token, sent back with every POST


class Signer:
    def __init__(self, secret: str) -> None:
        # An empty secret means "this process only": a random key, so nothing signed survives a restart.
        key = secret or secrets.token_urlsafe(32)
        self._sessions = URLSafeTimedSerializer(key, salt="kca-operator-session")
        self._calls = URLSafeTimedSerializer(key, salt="kca-softphone-call")

    def session_cookie(self, name: str) -> str:
        return self._sessions.dumps({"who": name, "csrf": secrets.token_urlsafe(24)})

    def operator(self, cookie: str | None, max_age_seconds: int) -> Operator | None:
        """The operator of a valid, unexpired session cookie, else None."""
        data = self._load(self._sessions, cookie, max_age_seconds)
        if data is None or not isinstance(data.get("who"), str) or not isinstance(data.get("csrf"), str):
            return None
        return Operator(name=data["who"], csrf=data["csrf"])

    def call_token(self, call_sid: str) -> str:
        return self._calls.dumps({"sid": call_sid})

    def call_sid(self, token: str | None, max_age_seconds: int) -> str | None:
        data = self._load(self._calls, token, max_age_seconds)
        sid = None if data is None else data.get("sid")
        return sid if isinstance(sid, str) else None

    @staticmethod
    def _load(serializer: URLSafeTimedSerializer, value: str | None, max_age: int) -> dict[str, Any] | None:
        if not value:
            return None
        try:
            data = serializer.loads(value, max_age=max_age)
        except BadSignature:  # also SignatureExpired
            return None
        return data if isinstance(data, dict) else None


def same_origin(connection: HTTPConnection, public_url: str = "") -> bool:
    """The request's ``Origin`` is this server (as the browser reached it, or the configured public URL).

    Browsers send ``Origin`` on every POST and WebSocket handshake, and a page cannot forge it."""
    origin = connection.headers.get("origin")
    if not origin:
        return False
    netloc = urlsplit(origin).netloc
    allowed = {connection.headers.get("host", "")}
    if public_url:
        allowed.add(urlsplit(public_url).netloc)
    return netloc in allowed
