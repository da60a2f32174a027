"""The durable case outbox in SQL (``ports.OutboxStore``): cases waiting to be created in Kayako.

Any worker may drain it. A claim is a lease, not a lock held open: the claiming worker's transaction ends
at once, and if that worker dies, the entry becomes due again when ``leased_until`` passes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import structlog
from sqlalchemy import RowMapping, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from ..domain import utcnow
from ..ports import OutboxEntry
from .database import dialect_insert
from .models import case_outbox

log = structlog.get_logger(__name__)

PENDING = "pending"
DELIVERED = "delivered"
DEAD = "dead"


def _entry_from_row(row: RowMapping) -> OutboxEntry:
    return OutboxEntry(
        idempotency_key=row["idempotency_key"],
        call_id=row["call_id"],
        payload=dict(row["payload"]),
        status=row["status"],
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        last_error=row["last_error"],
        case_id=row["case_id"],
        created_at=row["created_at"],
        repairs=list(row["repairs"] or []),
        leased_until=row["leased_until"],
    )


def redact_payload(payload: dict[str, Any], redact: Callable[[str], str]) -> dict[str, Any]:
    """A copy of a case payload (``CaseDraft.to_json``, perhaps with ``summary_pending``) whose subject,
    body and pending transcript are redacted; the contact stays, since the case is filed under it."""
    result = dict(payload)
    for name in ("subject", "contents_html"):
        if isinstance(result.get(name), str):
            result[name] = redact(result[name])
    pending = result.get("summary_pending")
    if isinstance(pending, dict) and isinstance(pending.get("turns"), list):
        result["summary_pending"] = {
            **pending,
            "turns": [
                [turn[0], redact(turn[1])] if isinstance(turn, list) and len(turn) == 2 else turn
                for turn in pending["turns"]
            ],
        }
    return result


class SqlOutboxStore:
    """``redact``, when given (``KCA_REDACT_TRANSCRIPTS``), is applied to the payload's text before it is
    stored (``redact_payload``): the case then reaches Kayako with the redacted transcript too."""

    def __init__(self, engine: AsyncEngine, *, redact: Callable[[str], str] | None = None) -> None:
        self._engine = engine
        self._redact = redact

    async def enqueue(self, entry: OutboxEntry) -> OutboxEntry:
        """Store a pending case, due at once unless ``next_attempt_at`` says otherwise.

        ``ON CONFLICT DO NOTHING`` makes concurrent enqueues of one key safe: exactly one row wins and every
        caller gets that row back.
        """
        now = utcnow()
        values = {
            "idempotency_key": entry.idempotency_key,
            "call_id": entry.call_id,
            "payload": redact_payload(entry.payload, self._redact) if self._redact else entry.payload,
            "status": PENDING,
            "attempts": 0,
            "next_attempt_at": entry.next_attempt_at or now,
            "created_at": entry.created_at or now,
            "updated_at": now,
        }
        async with self._engine.begin() as conn:
            insert = dialect_insert(conn.dialect.name, case_outbox).values(**values)
            result = await conn.execute(
                insert.on_conflict_do_nothing(index_elements=[case_outbox.c.idempotency_key])
            )
            row = (
                (
                    await conn.execute(
                        select(case_outbox).where(case_outbox.c.idempotency_key == entry.idempotency_key)
                    )
                )
                .mappings()
                .one()
            )
        stored = _entry_from_row(row)
        if result.rowcount == 0:
            log.info("outbox.enqueue_duplicate", key=entry.idempotency_key, status=stored.status)
        else:
            log.info("outbox.enqueued", key=entry.idempotency_key, call_id=entry.call_id)
        return stored

    async def claim_due(self, now: dt.datetime, limit: int, lease_seconds: float) -> list[OutboxEntry]:
        """Lease up to ``limit`` due entries in one statement.

        PostgreSQL: ``FOR UPDATE SKIP LOCKED`` in a CTE (evaluated once), so concurrent claimers pass over
        each other's rows instead of waiting or double-claiming. SQLite: the same UPDATE with an IN-subquery;
        the database's single writer lock makes it atomic.
        """
        leased_until = now + dt.timedelta(seconds=lease_seconds)
        due = (
            select(case_outbox.c.idempotency_key)
            .where(
                case_outbox.c.status == PENDING,
                or_(case_outbox.c.next_attempt_at.is_(None), case_outbox.c.next_attempt_at <= now),
                or_(case_outbox.c.leased_until.is_(None), case_outbox.c.leased_until <= now),
            )
            .order_by(case_outbox.c.next_attempt_at, case_outbox.c.created_at)
            .limit(limit)
        )
        async with self._engine.begin() as conn:
            statement = update(case_outbox).values(leased_until=leased_until, updated_at=utcnow())
            if conn.dialect.name == "postgresql":
                claimed = due.with_for_update(skip_locked=True).cte("due")
                statement = statement.where(case_outbox.c.idempotency_key == claimed.c.idempotency_key)
            else:
                statement = statement.where(case_outbox.c.idempotency_key.in_(due))
            rows = (await conn.execute(statement.returning(*case_outbox.c))).mappings().all()
        entries = sorted((_entry_from_row(row) for row in rows), key=lambda e: e.next_attempt_at or now)
        if entries:
            log.info("outbox.claimed", count=len(entries), keys=[entry.idempotency_key for entry in entries])
        return entries

    async def mark_delivered(self, idempotency_key: str, case_id: int) -> None:
        await self._set(
            idempotency_key,
            status=DELIVERED,
            case_id=case_id,
            leased_until=None,
            next_attempt_at=None,
            last_error=None,
        )
        log.info("outbox.delivered", key=idempotency_key, case_id=case_id)

    async def mark_failed(
        self, idempotency_key: str, error: str, next_attempt_at: dt.datetime | None
    ) -> None:
        """Count a failed attempt; pending again at ``next_attempt_at``, or ``dead`` when it is None.

        An entry another worker delivered meanwhile (its lease had run out) stays delivered.
        """
        status = PENDING if next_attempt_at is not None else DEAD
        statement = (
            update(case_outbox)
            .where(case_outbox.c.idempotency_key == idempotency_key, case_outbox.c.status != DELIVERED)
            .values(
                status=status,
                attempts=case_outbox.c.attempts + 1,
                last_error=error,
                next_attempt_at=next_attempt_at,
                leased_until=None,
                updated_at=utcnow(),
            )
        )
        async with self._engine.begin() as conn:
            result = await conn.execute(statement)
        if result.rowcount == 0:
            if await self.get(idempotency_key) is None:
                raise LookupError(f"no outbox entry {idempotency_key!r}")
            log.warning("outbox.failure_after_delivery_ignored", key=idempotency_key, error=error)
        elif status == DEAD:
            log.error("outbox.dead", key=idempotency_key, error=error)
        else:
            log.warning(
                "outbox.retry_scheduled", key=idempotency_key, error=error, next_attempt_at=next_attempt_at
            )

    async def _set(self, idempotency_key: str, **values: Any) -> None:
        statement = (
            update(case_outbox)
            .where(case_outbox.c.idempotency_key == idempotency_key)
            .values(updated_at=utcnow(), **values)
        )
        async with self._engine.begin() as conn:
            result = await conn.execute(statement)
        if result.rowcount == 0:
            raise LookupError(f"no outbox entry {idempotency_key!r}")

    async def get(self, idempotency_key: str) -> OutboxEntry | None:
        async with self._engine.connect() as conn:
            row = (
                (
                    await conn.execute(
                        select(case_outbox).where(case_outbox.c.idempotency_key == idempotency_key)
                    )
                )
                .mappings()
                .one_or_none()
            )
        return _entry_from_row(row) if row is not None else None

    async def requeue(self, idempotency_key: str) -> bool:
        """Pending again and due now, whatever its state. A delivered case is safe to re-send: the help desk
        adapter's create is idempotent on the key. A live lease is left alone: a delivery in progress
        finishes (its outcome then stands)."""
        try:
            await self._set(idempotency_key, status=PENDING, next_attempt_at=utcnow())
        except LookupError:
            return False
        log.info("outbox.requeued", key=idempotency_key)
        return True

    async def depth(self) -> int:
        """Pending entries, leased or not, due or not: every case not yet in Kayako and not given up."""
        return (await self.counts())[PENDING]

    async def counts(self) -> dict[str, int]:
        statement = select(case_outbox.c.status, func.count()).group_by(case_outbox.c.status)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(statement)).all()
        result = {PENDING: 0, DELIVERED: 0, DEAD: 0}
        result.update({str(status): int(count) for status, count in rows})
        return result

    async def claim(self, idempotency_key: str, now: dt.datetime, lease_seconds: float) -> OutboxEntry | None:
        """Lease one pending entry now, due or not (the immediate attempt at the end of a call). The
        conditional UPDATE is the whole lock: of two claimers, exactly one sees its row come back."""
        statement = (
            update(case_outbox)
            .where(
                case_outbox.c.idempotency_key == idempotency_key,
                case_outbox.c.status == PENDING,
                or_(case_outbox.c.leased_until.is_(None), case_outbox.c.leased_until <= now),
            )
            .values(leased_until=now + dt.timedelta(seconds=lease_seconds), updated_at=utcnow())
            .returning(*case_outbox.c)
        )
        async with self._engine.begin() as conn:
            row = (await conn.execute(statement)).mappings().one_or_none()
        if row is None:
            log.info("outbox.claim_skipped", key=idempotency_key, reason="leased, delivered, dead or unknown")
            return None
        return _entry_from_row(row)

    async def extend_lease(self, idempotency_key: str, leased_until: dt.datetime) -> None:
        statement = (
            update(case_outbox)
            .where(case_outbox.c.idempotency_key == idempotency_key, case_outbox.c.status == PENDING)
            .values(leased_until=leased_until, updated_at=utcnow())
        )
        async with self._engine.begin() as conn:
            await conn.execute(statement)

    async def record_repairs(self, idempotency_key: str, repairs: list[str]) -> None:
        await self._set(idempotency_key, repairs=list(repairs))

    async def list_entries(self, status: str | None = None, limit: int = 100) -> list[OutboxEntry]:
        statement = select(case_outbox).order_by(case_outbox.c.created_at.desc()).limit(limit)
        if status is not None:
            statement = statement.where(case_outbox.c.status == status)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(statement)).mappings().all()
        return [_entry_from_row(row) for row in rows]

    async def requeue_all(self, status: str = DEAD) -> list[str]:
        statement = (
            update(case_outbox)
            .where(case_outbox.c.status == status)
            .values(status=PENDING, next_attempt_at=utcnow(), updated_at=utcnow())
            .returning(case_outbox.c.idempotency_key)
        )
        async with self._engine.begin() as conn:
            keys = [str(key) for key in (await conn.execute(statement)).scalars()]
        log.info("outbox.requeued_all", status=status, count=len(keys))
        return keys
