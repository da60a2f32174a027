"""Who a request is: Basic → session (+ CSRF), ``X-Session-ID``, OAuth bearer tokens, and the token endpoint.

Sessions and tokens live in memory: like Kayako's own, they do not survive a restart, and a client must
then log in again (454 / 401), which is exactly what tests of re-login want.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import structlog
from fastapi import Request

from .config import MockConfig
from .errors import MockError
from .records import email_owner
from .store import Store

log = structlog.get_logger(__name__)

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass
class Session:
    user_id: int
    csrf_token: str | None
    expires_at: float
    created_at: float = field(default_factory=time.time)


@dataclass
class Token:
    user_id: int
    expires_at: float


class AuthState:
    def __init__(self, config: MockConfig, store: Store) -> None:
        self.config = config
        self.store = store
        self.sessions: dict[str, Session] = {}
        self.tokens: dict[str, Token] = {}
        self.refresh_tokens: dict[str, int] = {}
        self.pending_otp: dict[str, int] = {}
        self.token_issued = 0

    # --- admin ------------------------------------------------------------------------------------

    def expire_sessions(self) -> int:
        count = len(self.sessions)
        self.sessions.clear()
        return count

    def expire_tokens(self) -> int:
        count = len(self.tokens)
        self.tokens.clear()
        return count

    # --- request authentication -----------------------------------------------------------------

    def authenticate(self, request: Request, *, required: bool) -> int | None:
        """The user id behind ``request`` (None for an anonymous request to a public resource)."""
        bearer = _bearer(request)
        if bearer is not None:
            token = self.tokens.get(bearer)
            if token is None or token.expires_at < time.monotonic():
                raise MockError(401, "AUTHENTICATION_FAILED", "The access token is invalid or has expired")
            return token.user_id
        session_id = _one_of(request, "x-session-id", "_session_id") or request.cookies.get("novo_sessionid")
        if session_id:
            return self._session_user(request, session_id)
        authorization = request.headers.get("authorization", "")
        if authorization.lower().startswith("basic "):
            return self._basic_login(request, authorization[6:])
        if required:
            raise MockError(401, "AUTHENTICATION_FAILED", "Authentication is required for this resource")
        return None

    def _session_user(self, request: Request, session_id: str) -> int:
        session = self.sessions.get(session_id)
        if session is None or session.expires_at < time.monotonic():
            self.sessions.pop(session_id, None)
            raise MockError(454, "SESSION_LOADING_FAILED")
        if request.method in WRITE_METHODS and session.csrf_token is not None:
            sent = request.headers.get("x-csrf-token")
            if sent is None or not secrets.compare_digest(sent, session.csrf_token):
                raise MockError(403, "CSRF_FAILED")
        session.expires_at = time.monotonic() + self.config.session_ttl_seconds
        return session.user_id

    def _basic_login(self, request: Request, encoded: str) -> int:
        try:
            email, _, password = base64.b64decode(encoded).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError) as error:
            raise MockError(401, "AUTHENTICATION_FAILED") from error
        user = self.check_password(email, password)
        if user.get("is_mfa_enabled"):
            self._second_factor(request, int(user["id"]))
        session_id = secrets.token_hex(16)
        csrf = None if request.headers.get("x-csrf", "").lower() == "false" else secrets.token_urlsafe(24)
        self.sessions[session_id] = Session(
            int(user["id"]), csrf, time.monotonic() + self.config.session_ttl_seconds
        )
        request.state.new_session = session_id
        request.state.csrf_token = csrf
        log.info("kayako_mock.session_created", user_id=user["id"], csrf=csrf is not None)
        return int(user["id"])

    def _second_factor(self, request: Request, user_id: int) -> None:
        token = _one_of(request, "x-token", "_token")
        otp = _one_of(request, "x-otp", "_otp")
        if token and otp and self.pending_otp.get(token) == user_id:
            if secrets.compare_digest(otp, self.config.twofactor_otp):
                del self.pending_otp[token]
                return
            raise MockError(
                403, "OTP_EXPECTED", "The one-time password is wrong", extra={"auth_token": token}
            )
        auth_token = secrets.token_urlsafe(24)
        self.pending_otp[auth_token] = user_id
        notification = {
            "type": "INFO",
            "message": "Enter the code from your authenticator app",
            "sticky": False,
        }
        raise MockError(
            403, "OTP_EXPECTED", extra={"auth_token": auth_token, "notifications": [notification]}
        )

    def check_password(self, email: str, password: str) -> dict[str, Any]:
        user_id = email_owner(self.store, email)
        user = self.store.get("user", user_id) if user_id is not None else None
        stored = user.get("password") if user else None
        if user is None or not stored or not secrets.compare_digest(str(stored), password):
            log.info("kayako_mock.login_refused", reason="bad credentials")
            raise MockError(401, "AUTHENTICATION_FAILED")
        return user

    # --- OAuth ------------------------------------------------------------------------------------

    def grant(self, args: dict[str, Any]) -> dict[str, Any]:
        """RFC 6749 token response for the password and refresh-token grants (rotating refresh tokens)."""
        client_ok = secrets.compare_digest(str(args.get("client_id", "")), self.config.oauth_client_id) and (
            secrets.compare_digest(str(args.get("client_secret", "")), self.config.oauth_client_secret)
        )
        if not client_ok:
            raise OAuthError(401, "invalid_client", "Unknown client or wrong client secret")
        grant_type = args.get("grant_type")
        if grant_type == "password":
            try:
                user = self.check_password(str(args.get("username", "")), str(args.get("password", "")))
            except MockError as error:
                raise OAuthError(400, "invalid_grant", "Wrong username or password") from error
            user_id = int(user["id"])
        elif grant_type == "refresh_token":
            refreshed = self.refresh_tokens.pop(str(args.get("refresh_token", "")), None)
            if refreshed is None:
                raise OAuthError(400, "invalid_grant", "Unknown or already used refresh token")
            user_id = refreshed
        else:
            raise OAuthError(400, "unsupported_grant_type", "Use grant_type password or refresh_token")
        access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        ttl = self.config.oauth_token_ttl_seconds
        self.tokens[access] = Token(user_id, time.monotonic() + ttl)
        self.refresh_tokens[refresh] = user_id
        self.token_issued += 1
        log.info("kayako_mock.token_issued", grant=grant_type, user_id=user_id)
        return {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": ttl,
            "refresh_token": refresh,
            "scope": args.get("scope") or "users conversations insights search configuration",
        }


class OAuthError(Exception):
    """An RFC 6749 error (``{"error", "error_description"}``): the token endpoint is not a v1 resource."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.description = description


def _bearer(request: Request) -> str | None:
    authorization = request.headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return request.query_params.get("access_token")


def _one_of(request: Request, header: str, argument: str) -> str | None:
    """A value sent as a header or a query argument; both and different → 400 PARAMETERS_INCONSISTENT."""
    from_header = request.headers.get(header)
    from_argument = request.query_params.get(argument)
    if from_header and from_argument and from_header != from_argument:
        raise MockError(400, "PARAMETERS_INCONSISTENT", parameters=[header, argument])
    return from_header or from_argument
