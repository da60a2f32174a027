"""Twilio request signatures (``X-Twilio-Signature``) on webhooks and on the media-stream WebSocket upgrade.

The signed URL is the one Twilio requested. Behind a reverse proxy the request this server sees has another
scheme, host or port, so the URL is rebuilt from ``X-Forwarded-Proto``/``X-Forwarded-Host`` and, failing
that, from the configured public URL; a request passes when any of those candidates verifies. Trusting
those headers here is safe: they only choose which URL the signature is checked against, and no URL verifies
without the Auth Token.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit, urlunsplit

from starlette.datastructures import URL, Headers
from twilio.request_validator import RequestValidator

DEVELOPMENT_AUTH_TOKEN = "kca-development-token"  # noqa: S105 - published on purpose, refused in production


class TwilioSignatures:
    def __init__(self, auth_tokens: Sequence[str], public_url: str) -> None:
        if not auth_tokens:
            raise ValueError("at least one Twilio Auth Token is needed to validate webhooks")
        self._validators = [RequestValidator(token) for token in auth_tokens]
        self._public = urlsplit(public_url)

    def candidate_urls(self, url: URL, headers: Headers, *, websocket: bool = False) -> list[str]:
        path_and_query = (url.path, url.query)
        candidates: list[str] = []
        forwarded_proto = headers.get("x-forwarded-proto", "").split(",")[0].strip()
        forwarded_host = headers.get("x-forwarded-host", "").split(",")[0].strip()
        scheme = forwarded_proto or url.scheme
        host = forwarded_host or headers.get("host") or url.netloc
        candidates.append(urlunsplit((scheme, host, *path_and_query, "")))
        if self._public.netloc:
            candidates.append(urlunsplit((self._public.scheme, self._public.netloc, *path_and_query, "")))
        if websocket:
            # Twilio signs the stream URL as configured (wss://); accept the https:// spelling as well.
            swapped = {"https": "wss", "http": "ws", "wss": "https", "ws": "http"}
            candidates += [
                urlunsplit((swapped.get(urlsplit(c).scheme, "wss"), *urlsplit(c)[1:])) for c in candidates
            ]
        return list(dict.fromkeys(candidates))

    def valid(
        self,
        signature: str | None,
        url: URL,
        headers: Headers,
        params: Mapping[str, str],
        *,
        websocket: bool = False,
    ) -> bool:
        if not signature:
            return False
        return any(
            validator.validate(candidate, dict(params), signature)
            for candidate in self.candidate_urls(url, headers, websocket=websocket)
            for validator in self._validators
        )


def auth_tokens(primary: str, secondary: str, *, production: bool) -> list[str]:
    """The tokens webhooks are checked against: in development an unset primary is the published dev token."""
    if not primary:
        if production:
            raise ValueError("KCA_TWILIO_AUTH_TOKEN must be set in production")
        primary = DEVELOPMENT_AUTH_TOKEN
    return [token for token in (primary, secondary) if token]
