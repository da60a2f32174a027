"""Admin API bearer tokens (``ports.AdminTokens``): only their SHA-256 is stored.

A plain SHA-256 rather than a slow password hash: the tokens are 256-bit random values, so there is no
dictionary to slow down, and verification runs on every admin request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from ..domain import utcnow
from .models import admin_tokens

log = structlog.get_logger(__name__)

TOKEN_BYTES = 32


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class SqlAdminTokens:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def create(self, name: str) -> str:
        """Issue a token for ``name``; the plain token is returned once and never stored."""
        if not name.strip():
            raise ValueError("a token needs a name (who or what uses it)")
        token = secrets.token_urlsafe(TOKEN_BYTES)
        values = {"name": name.strip(), "token_sha256": _digest(token), "created_at": utcnow()}
        async with self._engine.begin() as conn:
            await conn.execute(admin_tokens.insert().values(**values))
        log.info("admin_token.created", name=name.strip())
        return token

    async def verify(self, token: str) -> str | None:
        """The token's name when it is valid and not revoked, else None."""
        digest = _digest(token)
        statement = select(admin_tokens.c.name, admin_tokens.c.token_sha256).where(
            admin_tokens.c.token_sha256 == digest, admin_tokens.c.revoked_at.is_(None)
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(statement)).one_or_none()
        # The lookup already matched; the constant-time comparison keeps the final decision free of
        # early-exit string comparison, whatever the database's index did.
        if row is None or not hmac.compare_digest(row.token_sha256, digest):
            return None
        return str(row.name)

    async def revoke(self, name: str) -> int:
        """Revoke every live token of ``name``; how many were revoked."""
        statement = (
            update(admin_tokens)
            .where(admin_tokens.c.name == name, admin_tokens.c.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        async with self._engine.begin() as conn:
            result = await conn.execute(statement)
        log.info("admin_token.revoked", name=name, count=result.rowcount)
        return int(result.rowcount)
