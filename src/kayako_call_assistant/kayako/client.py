"""The Kayako API v1 HTTP client: authentication, rate limit, retries, caching and errors around one httpx
transport.

Retries: GET/PUT/DELETE are retried on connection errors, timeouts, 5xx and 429 (honouring ``Retry-After``)
with capped exponential backoff and full jitter. A POST is retried only when it provably did not land: the
connection was refused before anything was sent, or Kayako answered 429. Any other failure of a POST is
ambiguous (Kayako may have created the object and then failed), so creations go through ``create_once``,
which first looks the object up by a marker the caller set and retries only when it is not there.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal

import httpx
import structlog

from .auth import Authenticator, OAuthAuth, SessionAuth, decode_json
from .cache import CACHED_KINDS, ResponseCache
from .errors import (
    KayakoError,
    KayakoRateLimited,
    KayakoServerError,
    KayakoUnavailable,
    error_from_response,
)
from .ratelimit import LocalRateLimiter, RateLimiter, RedisRateLimiter

log = structlog.get_logger(__name__)

RequestObserver = Callable[[str, str, int, float], None]
"""``on_request(method, path_template, status, seconds)``; status 0 when no response arrived."""

_ID_SEGMENT = re.compile(r"/\d+(?=/|$)")
# Errors after which a request was certainly not processed by Kayako.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(frozen=True, slots=True)
class KayakoConfig:
    base_url: str
    auth: Literal["basic", "oauth"] = "basic"
    email: str = ""
    password: str = field(default="", repr=False)
    oauth_client_id: str = ""
    oauth_client_secret: str = field(default="", repr=False)
    oauth_refresh_token: str = field(default="", repr=False)
    oauth_token_url: str = ""  # empty: ``/oauth/token`` on the instance's host
    timeout_seconds: float = 10.0
    max_retries: int = 4
    requests_per_minute: int = 300
    rate_window_seconds: float = 60.0
    cache_ttl_seconds: float = 300.0
    redis_url: str = ""
    backoff_base_seconds: float = 0.5
    backoff_max_seconds: float = 20.0
    retry_after_max_seconds: float = 60.0

    @property
    def api_root(self) -> str:
        root = self.base_url.rstrip("/")
        return root.removesuffix(".json")

    @property
    def token_url(self) -> str:
        if self.oauth_token_url:
            return self.oauth_token_url
        url = httpx.URL(self.api_root)
        return str(url.copy_with(path="/oauth/token", query=None))


def path_template(path: str, api_root: str) -> str:
    """``/cases/123/posts.json`` → ``/cases/{id}/posts``: a metrics label of bounded cardinality."""
    relative = path.split("?", 1)[0]
    if relative.startswith(api_root):
        relative = relative.removeprefix(api_root)
    elif "://" in relative:
        relative = httpx.URL(relative).path
    relative = "/" + relative.lstrip("/")
    return _ID_SEGMENT.sub("/{id}", relative.removesuffix(".json"))


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds: either a number or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class KayakoClient:
    """Async Kayako API v1 client. Use as ``async with KayakoClient(config) as client``."""

    def __init__(
        self,
        config: KayakoConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        on_request: RequestObserver | None = None,
        limiter: RateLimiter | None = None,
        on_rate_limit_wait: Callable[[float], None] | None = None,
    ) -> None:
        self.config = config
        self._auth: Authenticator = self._make_auth(config)
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(config.timeout_seconds),
            transport=transport,
            headers={
                "Accept": "application/json",
                # Kayako answers a 401 with a browser Basic-auth challenge unless the request says it is XHR.
                "X-Requested-With": "XMLHttpRequest",
                "User-Agent": "kayako-call-assistant",
            },
        )
        self.limiter: RateLimiter = limiter or (
            RedisRateLimiter(config.redis_url, config.requests_per_minute, config.rate_window_seconds)
            if config.redis_url
            else LocalRateLimiter(config.requests_per_minute, config.rate_window_seconds)
        )
        self.cache = ResponseCache(config.cache_ttl_seconds)
        self._on_request = on_request
        self._on_rate_limit_wait = on_rate_limit_wait
        self.requests_made = 0

    @staticmethod
    def _make_auth(config: KayakoConfig) -> Authenticator:
        if config.auth == "oauth":
            return OAuthAuth(
                config.token_url,
                config.oauth_client_id,
                config.oauth_client_secret,
                username=config.email,
                password=config.password,
                refresh_token=config.oauth_refresh_token,
            )
        return SessionAuth(config.api_root, config.email, config.password)

    async def __aenter__(self) -> KayakoClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()
        await self.limiter.aclose()

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.config.api_root}/{path.lstrip('/')}"

    # --- one request ---------------------------------------------------------------------------------

    async def _send_raw(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        waited = await self.limiter.acquire()
        if waited > 0 and self._on_rate_limit_wait is not None:
            self._on_rate_limit_wait(waited)
        started = time.perf_counter()
        status = 0
        try:
            response = await self._http.request(method, url, **kwargs)
            status = response.status_code
            return response
        finally:
            self.requests_made += 1
            if self._on_request is not None:
                self._on_request(
                    method, path_template(url, self.config.api_root), status, time.perf_counter() - started
                )

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.config.backoff_max_seconds, self.config.backoff_base_seconds * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        cache_kind: str | None = None,
    ) -> dict[str, Any]:
        """Send one API request; returns the decoded envelope (``{"status", "data", …}``).

        Raises a ``KayakoError`` subclass. POST is retried only where it cannot have landed (see module doc).
        """
        method = method.upper()
        url = self.url(path)
        cache_key = ""
        if method == "GET" and cache_kind in CACHED_KINDS:
            assert cache_kind is not None
            cache_key = str(httpx.URL(url, params=params or {}))
            cached = self.cache.get(cache_kind, cache_key)
            if cached is not None:
                return dict(cached)
        body = await self._request_with_retries(method, url, params, json)
        if cache_key and cache_kind is not None:
            self.cache.set(cache_kind, cache_key, body)
        return body

    async def _request_with_retries(
        self, method: str, url: str, params: dict[str, Any] | None, json: Any
    ) -> dict[str, Any]:
        idempotent = method != "POST"
        attempt = 0
        renewed = False
        template = path_template(url, self.config.api_root)
        while True:
            try:
                used = await self._auth.headers(self._send_raw, method)
                response = await self._send_raw(method, url, params=params, json=json, headers=used)
            except httpx.TransportError as exc:
                retryable = idempotent or isinstance(exc, _NOT_SENT)
                if not retryable or attempt >= self.config.max_retries:
                    log.warning("kayako.unavailable", method=method, path=template, error=type(exc).__name__)
                    raise KayakoUnavailable(f"{type(exc).__name__} on {method} {template}") from None
                attempt += 1
                delay = self._backoff(attempt)
                log.info("kayako.retry", method=method, path=template, reason=type(exc).__name__, delay=delay)
                await asyncio.sleep(delay)
                continue
            except (KayakoServerError, KayakoRateLimited) as auth_error:
                # Raised by a login or token request, which never creates anything: always safe to repeat.
                if attempt >= self.config.max_retries:
                    raise
                attempt += 1
                await asyncio.sleep(self._delay_for(auth_error, attempt))
                continue

            body = decode_json(response)
            self._auth.observe(response, body)
            status = response.status_code
            if status < 400:
                return body if isinstance(body, dict) else {"status": status, "data": body}

            error = error_from_response(
                status, body, retry_after_seconds(response.headers.get("Retry-After"))
            )
            if status in (401, 403, 454) and not renewed:
                renewed = True
                if await self._auth.recover(self._send_raw, used, status, error.code):
                    continue
            retryable = status == 429 or (status >= 500 and idempotent)
            if retryable and attempt < self.config.max_retries:
                attempt += 1
                delay = self._delay_for(error, attempt)
                log.info(
                    "kayako.retry", method=method, path=template, status=status, code=error.code, delay=delay
                )
                await asyncio.sleep(delay)
                continue
            log.warning(
                "kayako.request_failed", method=method, path=template, status=status, code=error.code,
                parameter=error.parameter,
            )  # fmt: skip
            raise error

    def _delay_for(self, error: KayakoError, attempt: int) -> float:
        if isinstance(error, KayakoRateLimited) and error.retry_after is not None:
            # Jitter on top so that every waiting worker does not return in the same instant.
            wait = min(error.retry_after, self.config.retry_after_max_seconds)
            return wait + random.uniform(0, min(1.0, self.config.backoff_base_seconds))
        return self._backoff(attempt)

    # --- conveniences --------------------------------------------------------------------------------

    async def get(
        self, path: str, params: dict[str, Any] | None = None, *, cache_kind: str | None = None
    ) -> Any:
        """GET and return the envelope's ``data``."""
        return (await self.request("GET", path, params=params, cache_kind=cache_kind)).get("data")

    async def put(self, path: str, json: Any) -> Any:
        return (await self.request("PUT", path, json=json)).get("data")

    async def delete(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return (await self.request("DELETE", path, params=params)).get("data")

    async def create_once(
        self,
        path: str,
        json: Any,
        *,
        find_existing: Callable[[], Awaitable[dict[str, Any] | None]],
        what: str,
    ) -> dict[str, Any]:
        """POST a creation; after an ambiguous failure, return the object if it landed, else retry.

        ``find_existing`` looks the object up by a marker set in ``json`` (a tag, an email, a client id).
        Returns the created (or found) object.
        """
        attempt = 0
        while True:
            try:
                envelope = await self.request("POST", path, json=json)
                data = envelope.get("data")
                return data if isinstance(data, dict) else {}
            except (KayakoServerError, KayakoUnavailable) as error:
                existing = await find_existing()
                if existing is not None:
                    log.info("kayako.create_landed_despite_error", what=what, status=error.status)
                    return existing
                if attempt >= self.config.max_retries:
                    raise
                attempt += 1
                delay = self._backoff(attempt)
                log.info("kayako.create_retry", what=what, status=error.status, delay=delay)
                await asyncio.sleep(delay)
