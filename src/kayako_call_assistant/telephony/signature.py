"""Twilio request signatures (``X-Twilio-Signature``) on webhooks and on the media-stream WebSocket upgrade.

The signed URL is the one Twilio requested: normally the configured public URL (``KCA_PUBLIC_URL``), which
is always a candidate. The URL as this server saw it (``Host``, or ``X-Forwarded-Proto``/``-Host`` behind a
reverse proxy) is a candidate only when the peer is a trusted proxy (``KCA_FORWARDED_ALLOW_IPS``):
otherwise anyone could name another host of ours in ``Host`` and replay a signature Twilio made for it
(the same account token signs every host of the account).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit, urlunsplit

from starlette.datastructures import URL, Headers
from twilio.request_validator import RequestValidator

DEVELOPMENT_AUTH_TOKEN = "kca-development-token"  # noqa: S105 - published on purpose, refused in production


class TwilioSignatures:
    def __init__(
        self, auth_tokens: Sequence[str], public_url: str, *, trusted_proxies: str = "127.0.0.1"
    ) -> None:
        """``trusted_proxies``: uvicorn's ``forwarded_allow_ips`` syntax (comma-separated addresses or
        networks, ``*`` for any)."""
        if not auth_tokens:
            raise ValueError("at least one Twilio Auth Token is needed to validate webhooks")
        self._validators = [RequestValidator(token) for token in auth_tokens]
        self._public = urlsplit(public_url)
        entries = [entry.strip() for entry in trusted_proxies.split(",") if entry.strip()]
        self._trust_all = "*" in entries
        self._trusted = [ipaddress.ip_network(e, strict=False) for e in entries if e != "*" and _is_ip(e)]

    def trusts(self, peer: str | None) -> bool:
        """Whether ``peer`` (the connecting address) is a proxy whose Host/X-Forwarded-* headers count."""
        if peer is None:
            return False
        if self._trust_all:
            return True
        if not _is_ip(peer):
            return False
        address = ipaddress.ip_address(peer)
        return any(address in network for network in self._trusted)

    def candidate_urls(
        self, url: URL, headers: Headers, *, websocket: bool = False, peer: str | None = None
    ) -> list[str]:
        path_and_query = (url.path, url.query)
        candidates: list[str] = []
        if self.trusts(peer) or not self._public.netloc:
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
        peer: str | None = None,
    ) -> bool:
        """Whether ``signature`` is Twilio's for this request; ``peer`` is the connecting address (None:
        unknown, so only the public URL is checked)."""
        if not signature:
            return False
        return any(
            validator.validate(candidate, dict(params), signature)
            for candidate in self.candidate_urls(url, headers, websocket=websocket, peer=peer)
            for validator in self._validators
        )


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True


def auth_tokens(primary: str, secondary: str, *, production: bool) -> list[str]:
    """The tokens webhooks are checked against: in development an unset primary is the published dev token."""
    if not primary:
        if production:
            raise ValueError("KCA_TWILIO_AUTH_TOKEN must be set in production")
        primary = DEVELOPMENT_AUTH_TOKEN
    return [token for token in (primary, secondary) if token]
