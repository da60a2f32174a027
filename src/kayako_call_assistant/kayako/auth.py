"""The two documented ways to authenticate against Kayako API v1: small layers the client asks for headers.

- ``SessionAuth``: HTTP Basic (agent email + password) once, then the ``session_id`` from the response body
  as ``X-Session-ID``, and the ``X-CSRF-Token`` response header on every POST/PUT/DELETE/PATCH. An expired
  session (401, or 454 ``SESSION_LOADING_FAILED``) or a stale CSRF token means one new login.
- ``OAuthAuth``: ``POST /oauth/token`` with the password or refresh-token grant, ``Authorization: Bearer``,
  refreshed shortly before it expires and once more on a 401.

Either way an ``asyncio.Lock`` makes one login/refresh serve every request waiting for it. No credential or
token is ever logged or put into exception text: errors carry only Kayako's code and message.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import httpx
import structlog

from .errors import KayakoAuthError, KayakoError, error_from_response

log = structlog.get_logger(__name__)

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# Sends one request through the client's rate limiter and metrics (no retries, no auth of its own).
RawSender = Callable[..., Awaitable[httpx.Response]]


def decode_json(response: httpx.Response) -> Any:
    """The body as JSON, or None when it is not JSON (a proxy's HTML error page, an empty body)."""
    try:
        return response.json()
    except ValueError:
        return None


class Authenticator(Protocol):
    async def headers(self, send: RawSender, method: str) -> dict[str, str]:
        """Headers that authenticate one request, logging in first when needed."""
        ...

    def observe(self, response: httpx.Response, body: Any) -> None:
        """Keep what a response carries about the session (a new session id or CSRF token)."""
        ...

    async def recover(self, send: RawSender, used: dict[str, str], status: int, code: str | None) -> bool:
        """After an auth failure of a request sent with ``used``: renew; True when a replay may succeed."""
        ...


class SessionAuth:
    def __init__(self, base_url: str, email: str, password: str, *, login_path: str = "me") -> None:
        if not email or not password:
            raise KayakoAuthError(0, "CONFIGURATION", "KCA_KAYAKO_EMAIL and KCA_KAYAKO_PASSWORD must be set")
        self._login_url = f"{base_url.rstrip('/')}/{login_path}"
        self._basic = httpx.BasicAuth(email, password)
        self._session_id: str | None = None
        self._csrf_token: str | None = None
        self._lock = asyncio.Lock()
        self.logins = 0

    async def headers(self, send: RawSender, method: str) -> dict[str, str]:
        if self._session_id is None:
            async with self._lock:
                if self._session_id is None:
                    await self._login(send)
        assert self._session_id is not None
        headers = {"X-Session-ID": self._session_id}
        if method.upper() in WRITE_METHODS and self._csrf_token:
            headers["X-CSRF-Token"] = self._csrf_token
        return headers

    def observe(self, response: httpx.Response, body: Any) -> None:
        if isinstance(body, dict) and isinstance(body.get("session_id"), str) and body["session_id"]:
            self._session_id = body["session_id"]
        csrf = response.headers.get("X-CSRF-Token")
        if csrf:
            self._csrf_token = csrf

    async def recover(self, send: RawSender, used: dict[str, str], status: int, code: str | None) -> bool:
        if status not in (401, 454) and code not in ("SESSION_LOADING_FAILED", "CSRF_FAILED"):
            return False
        async with self._lock:
            # Another request may have logged in again while this one waited: reuse that session.
            if self._session_id is not None and self._session_id != used.get("X-Session-ID"):
                return True
            log.info("kayako.session_renewing", status=status, code=code)
            self._session_id = None
            await self._login(send)
        return True

    async def _login(self, send: RawSender) -> None:
        response = await send("GET", self._login_url, auth=self._basic)
        body = decode_json(response)
        if response.status_code >= 400:
            error = error_from_response(response.status_code, body, None)
            log.warning("kayako.login_failed", status=response.status_code, code=error.code)
            raise error
        self.observe(response, body)
        if self._session_id is None:
            raise KayakoAuthError(
                response.status_code, "SESSION_CREATION_FAILED", "no session_id in login response"
            )
        self.logins += 1
        log.info("kayako.logged_in", csrf=self._csrf_token is not None)


class OAuthAuth:
    """Bearer tokens from the token endpoint; the refresh-token grant when a refresh token is known."""

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        *,
        username: str = "",
        password: str = "",
        refresh_token: str = "",
        refresh_margin_seconds: float = 30.0,
    ) -> None:
        if not client_id or not client_secret:
            raise KayakoAuthError(
                0,
                "CONFIGURATION",
                "KCA_KAYAKO_OAUTH_CLIENT_ID and KCA_KAYAKO_OAUTH_CLIENT_SECRET must be set",
            )
        if not refresh_token and not (username and password):
            raise KayakoAuthError(
                0,
                "CONFIGURATION",
                "OAuth needs KCA_KAYAKO_OAUTH_REFRESH_TOKEN or KCA_KAYAKO_EMAIL and KCA_KAYAKO_PASSWORD",
            )
        self._token_url = token_url
        self._client = (client_id, client_secret)
        self._user = (username, password)
        self._refresh_token = refresh_token or None
        self._configured_margin = refresh_margin_seconds
        self._margin = refresh_margin_seconds
        self._access_token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()
        self.token_requests = 0

    def _fresh(self) -> bool:
        return self._access_token is not None and time.monotonic() < self._expires_at - self._margin

    async def headers(self, send: RawSender, method: str) -> dict[str, str]:
        if not self._fresh():
            async with self._lock:
                if not self._fresh():
                    await self._obtain(send)
        return {"Authorization": f"Bearer {self._access_token}"}

    def observe(self, response: httpx.Response, body: Any) -> None:
        """Bearer tokens are not renewed by API responses."""

    async def recover(self, send: RawSender, used: dict[str, str], status: int, code: str | None) -> bool:
        if status != 401:
            return False
        async with self._lock:
            if self._access_token is not None and used.get("Authorization") != f"Bearer {self._access_token}":
                return True
            log.info("kayako.oauth_token_rejected", code=code)
            self._access_token = None
            await self._obtain(send)
        return True

    async def _obtain(self, send: RawSender) -> None:
        if self._refresh_token:
            try:
                await self._grant(send, {"grant_type": "refresh_token", "refresh_token": self._refresh_token})
                return
            except KayakoAuthError as error:
                if not all(self._user):
                    raise
                log.warning("kayako.oauth_refresh_failed", code=error.code, fallback="password")
                self._refresh_token = None
        username, password = self._user
        await self._grant(send, {"grant_type": "password", "username": username, "password": password})

    async def _grant(self, send: RawSender, form: dict[str, str]) -> None:
        client_id, client_secret = self._client
        response = await send(
            "POST", self._token_url, data={**form, "client_id": client_id, "client_secret": client_secret}
        )
        self.token_requests += 1
        body = decode_json(response)
        if isinstance(body, dict) and "access_token" not in body and isinstance(body.get("data"), dict):
            body = body["data"]
        if response.status_code >= 400 or not isinstance(body, dict) or not body.get("access_token"):
            raise self._grant_error(response.status_code, body)
        self._access_token = str(body["access_token"])
        expires_in = float(body.get("expires_in") or 3600)
        # Short-lived tokens get a proportionate margin, or every request would refresh.
        self._expires_at = time.monotonic() + expires_in
        self._margin = min(self._configured_margin, expires_in / 4)
        if body.get("refresh_token"):
            self._refresh_token = str(body["refresh_token"])  # providers may rotate it on every refresh
        log.info("kayako.oauth_token_obtained", grant=form["grant_type"], expires_in=expires_in)

    @staticmethod
    def _grant_error(status: int, body: Any) -> KayakoError:
        if status >= 500:
            return error_from_response(status, body)
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            # RFC 6749 error shape: {"error": "invalid_grant", "error_description": "..."}.
            description = body.get("error_description")
            return KayakoAuthError(status or 401, body["error"], str(description) if description else None)
        error = error_from_response(status or 401, body)
        if isinstance(error, KayakoAuthError):
            return error
        return KayakoAuthError(error.status, error.code, error.message, error.parameter, error.more_info)
