"""Per-call media-stream tokens: the signed voice webhook vouches for the stream that follows it.

The voice webhook (signed by Twilio) issues a token that carries the call's facts — CallSid, caller and
called numbers, STIR/SHAKEN attestation, expiry — signed with HMAC-SHA256 under a server secret, in a
``<Parameter name="token">`` of the ``<Stream>``. The WebSocket accepts a ``start`` only when its token is
genuine, unexpired, names the same CallSid, and has not been used before (one-time: Redis ``SET NX`` when
``KCA_REDIS_URL`` is set, so every worker sees it; else this process). The call's numbers and attestation
are then taken from the token's signed contents, never from the ``start`` message's other parameters.

Hand-written on ``hmac``/``hashlib`` rather than a JWT library: the token is issued and checked by this
service alone, a fixed layout is all it needs, and no algorithm choice travels with it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import structlog

log = structlog.get_logger(__name__)

_VERSTAT = re.compile(r"TN-Validation-Passed-([ABC])")
_MAX_TOKEN_CHARS = 2048  # a real token is a few hundred characters; anything longer is not ours


def attestation_from_verstat(verstat: str | None) -> str | None:
    """Twilio's ``StirVerstat`` ("TN-Validation-Passed-A") as the attestation level "A", "B" or "C";
    None when the caller ID was not validated (failed, absent, or not a SHAKEN call)."""
    if not verstat:
        return None
    match = _VERSTAT.fullmatch(verstat.strip()[:64])
    return match.group(1) if match else None


@dataclass(frozen=True, slots=True)
class StreamClaims:
    """What the signed voice webhook said about the call, as carried by its stream token."""

    call_sid: str
    caller: str | None
    called: str | None
    attestation: str | None
    expires_at: float


class UsedTokens(Protocol):
    async def claim(self, token_id: str, ttl_seconds: float) -> bool:
        """True the first time ``token_id`` is claimed (within ``ttl_seconds``), False ever after."""
        ...


class InProcessUsedTokens:
    """One process's memory of used tokens; expired ones are forgotten as new ones come."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._used: dict[str, float] = {}

    async def claim(self, token_id: str, ttl_seconds: float) -> bool:
        now = self._clock()
        if len(self._used) > 1024:
            self._used = {key: until for key, until in self._used.items() if until > now}
        if self._used.get(token_id, 0.0) > now:
            return False
        self._used[token_id] = now + ttl_seconds
        return True


class RedisUsedTokens:
    """Used tokens in Redis, shared by every worker: ``SET key 1 NX EX ttl``."""

    def __init__(self, redis_url: str) -> None:
        from redis.asyncio import Redis

        self._redis: Redis = Redis.from_url(redis_url)

    async def claim(self, token_id: str, ttl_seconds: float) -> bool:
        created = await self._redis.set(
            f"kca:stream-token:{token_id}", b"1", nx=True, ex=max(1, int(ttl_seconds) + 1)
        )
        return bool(created)

    async def aclose(self) -> None:
        await self._redis.aclose()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class StreamTokens:
    def __init__(
        self,
        secret: bytes,
        *,
        used: UsedTokens,
        ttl_seconds: float = 120.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if len(secret) < 16:
            raise ValueError("the stream token secret must be at least 16 bytes")
        self._secret = secret
        self._used = used
        self._ttl = ttl_seconds
        self._clock = clock

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._secret, payload.encode("ascii"), hashlib.sha256).digest())

    def issue(self, *, call_sid: str, caller: str | None, called: str | None, attestation: str | None) -> str:
        """A token for the stream of this call, valid ``ttl_seconds`` and once."""
        claims = {
            "sid": call_sid,
            "from": caller,
            "to": called,
            "att": attestation,
            "exp": round(self._clock() + self._ttl, 3),
        }
        payload = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode("utf-8"))
        return f"{payload}.{self._sign(payload)}"

    def verify(self, token: str, call_sid: str) -> StreamClaims | None:
        """The token's claims when it is genuine, unexpired and for ``call_sid``; else None (and why, in
        the log). Does not use the token up: ``redeem`` does."""
        if not token or len(token) > _MAX_TOKEN_CHARS or token.count(".") != 1:
            log.warning("telephony.stream_token_refused", reason="malformed")
            return None
        payload, signature = token.split(".")
        if not hmac.compare_digest(signature, self._sign(payload)):
            log.warning("telephony.stream_token_refused", reason="bad_signature")
            return None
        try:
            data = json.loads(_unb64(payload))
            claims = StreamClaims(
                call_sid=str(data["sid"]),
                caller=data.get("from"),
                called=data.get("to"),
                attestation=data.get("att"),
                expires_at=float(data["exp"]),
            )
        except (ValueError, KeyError, TypeError, binascii.Error):
            log.warning("telephony.stream_token_refused", reason="bad_payload")
            return None
        if claims.expires_at < self._clock():
            log.warning("telephony.stream_token_refused", reason="expired")
            return None
        if not hmac.compare_digest(claims.call_sid, call_sid):
            log.warning("telephony.stream_token_refused", reason="call_sid_mismatch")
            return None
        return claims

    async def redeem(self, token: str, call_sid: str) -> StreamClaims | None:
        """``verify``, then use the token up: a second stream with the same token is refused."""
        claims = self.verify(token, call_sid)
        if claims is None:
            return None
        token_id = hashlib.sha256(token.encode("ascii")).hexdigest()
        if not await self._used.claim(token_id, max(1.0, claims.expires_at - self._clock())):
            log.warning("telephony.stream_token_refused", reason="replayed")
            return None
        return claims
