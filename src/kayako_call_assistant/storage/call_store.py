"""Calls, their transcript turns and their call-flow state in SQL (``ports.CallStore``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import BindParameter, RowMapping, bindparam, case, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from ..domain import CallChannel, CallOutcome, CallRecord, ContactDetails, Speaker, Turn, Usage, utcnow
from .database import dialect_insert
from .driver import DriverSession, DriverStatement, driver_session, is_foreign_key_violation
from .models import calls, turns

Redactor = Callable[[str], str]

# The flow state's fields that hold the caller's own words (their descriptions of the problem and the
# question last answered): redacted with the transcript. The pending email and phone are not: a Gather
# call resumes from this state on every turn and must read back and file the detail it is confirming
# (they are the contact details the contact columns keep anyway). Nor are the assistant's last prompt and
# reply, said again verbatim after a silence or a "say that again" (a read-back in them holds only that
# same pending detail).
REDACTED_STATE_FIELDS = ("issue", "question")


def redact_flow_state(state: dict[str, Any], redact: Redactor) -> dict[str, Any]:
    """A copy of ``state`` with the free-text fields of ``REDACTED_STATE_FIELDS`` redacted."""
    result = dict(state)
    for name in REDACTED_STATE_FIELDS:
        value = result.get(name)
        if isinstance(value, str):
            result[name] = redact(value)
        elif isinstance(value, list):
            result[name] = [redact(item) if isinstance(item, str) else item for item in value]
    return result


def _call_values(call: CallRecord) -> dict[str, Any]:
    """The call's scalar columns (everything but its id, start, flow state)."""
    return {
        "external_id": call.external_id,
        "channel": call.channel.value,
        "from_number": call.from_number,
        "to_number": call.to_number,
        "ended_at": call.ended_at,
        "duration_seconds": call.duration_seconds,
        "outcome": call.outcome.value,
        "escalation_reason": call.escalation_reason,
        "case_id": call.case_id,
        "contact_name": call.contact.name,
        "contact_email": call.contact.email,
        "contact_phone": call.contact.phone,
        "model_input_tokens": call.usage.model_input_tokens,
        "model_output_tokens": call.usage.model_output_tokens,
        "audio_seconds_transcribed": call.usage.audio_seconds_transcribed,
        "characters_synthesized": call.usage.characters_synthesized,
        "kayako_requests": call.usage.kayako_requests,
        "cost_usd": call.cost_usd,
    }


def _call_from_row(row: RowMapping) -> CallRecord:
    return CallRecord(
        call_id=row["call_id"],
        channel=CallChannel(row["channel"]),
        started_at=row["started_at"],
        external_id=row["external_id"],
        from_number=row["from_number"],
        to_number=row["to_number"],
        caller_attestation=row["caller_attestation"],
        ended_at=row["ended_at"],
        outcome=CallOutcome(row["outcome"]),
        escalation_reason=row["escalation_reason"],
        case_id=row["case_id"],
        case_status=row["case_status"],
        contact=ContactDetails(
            name=row["contact_name"], email=row["contact_email"], phone=row["contact_phone"]
        ),
        usage=Usage(
            model_input_tokens=row["model_input_tokens"],
            model_output_tokens=row["model_output_tokens"],
            audio_seconds_transcribed=row["audio_seconds_transcribed"],
            characters_synthesized=row["characters_synthesized"],
            kayako_requests=row["kayako_requests"],
        ),
        cost_usd=row["cost_usd"],
    )


def _turn_from_row(row: RowMapping) -> Turn:
    return Turn(
        speaker=Speaker(row["speaker"]),
        text=row["text"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        interrupted=row["interrupted"],
        latency_seconds=row["latency_seconds"],
        intent=row["intent"],
        seq=row["seq"],
    )


# Written once, by the write that finalizes the call (its ``ended_at`` from NULL).
_FINAL_COLUMNS = ("ended_at", "duration_seconds", "outcome", "cost_usd")

# Every column but the (possibly large) flow state, which only load_flow_state reads.
_CALL_COLUMNS = [column for column in calls.c if column.name != "flow_state"]

# The call path's writes (one or two a turn for every call) are built once, with bind parameters, compiled
# once per engine and run on the driver's connection (``driver``): building, cache-keying and executing an
# UPDATE with literal values through SQLAlchemy cost several times the CPU of running it. The parameters
# are the columns' names prefixed with "v_" for the call row and "t_" for a turn (a bind parameter cannot
# take the name of a column the statement sets).


def _bind(name: str) -> BindParameter[Any]:
    return bindparam(f"v_{name}", type_=calls.c[name].type)


_NOT_FINISHED = calls.c.ended_at.is_(None)
# Columns the flow owns outright: written as they are.
_PLAIN_COLUMNS = (
    "external_id",
    "channel",
    "from_number",
    "to_number",
    "escalation_reason",
    "contact_name",
    "contact_email",
    "contact_phone",
    "model_input_tokens",
    "model_output_tokens",
    "audio_seconds_transcribed",
    "characters_synthesized",
    "kayako_requests",
    "updated_at",
)
_SAVE_CALL = (
    update(calls)
    .where(calls.c.call_id == bindparam("v_call_id"))
    .values(
        {
            **{name: _bind(name) for name in _PLAIN_COLUMNS},
            # After the finalization these keep the values it wrote.
            **{name: case((_NOT_FINISHED, _bind(name)), else_=calls.c[name]) for name in _FINAL_COLUMNS},
            "case_id": func.coalesce(_bind("case_id"), calls.c.case_id),  # only ever filled
            "case_status": func.coalesce(calls.c.case_status, _bind("case_status")),  # only when empty
        }
    )
)
_SAVE_CALL_AND_STATE = _SAVE_CALL.values(flow_state=_bind("flow_state"))
_FINALIZE_CALL = (
    update(calls)
    .where(calls.c.call_id == bindparam("v_call_id"), _NOT_FINISHED)
    .values({name: _bind(name) for name in (*_FINAL_COLUMNS, "updated_at")})
)


def _write_params(call: CallRecord, updated_at: dt.datetime) -> dict[str, Any]:
    """The parameters of ``_SAVE_CALL`` and ``_FINALIZE_CALL`` for ``call``."""
    usage, contact = call.usage, call.contact
    return {
        "v_call_id": call.call_id,
        "v_external_id": call.external_id,
        "v_channel": call.channel.value,
        "v_from_number": call.from_number,
        "v_to_number": call.to_number,
        "v_escalation_reason": call.escalation_reason,
        "v_contact_name": contact.name,
        "v_contact_email": contact.email,
        "v_contact_phone": contact.phone,
        "v_model_input_tokens": usage.model_input_tokens,
        "v_model_output_tokens": usage.model_output_tokens,
        "v_audio_seconds_transcribed": usage.audio_seconds_transcribed,
        "v_characters_synthesized": usage.characters_synthesized,
        "v_kayako_requests": usage.kayako_requests,
        "v_updated_at": updated_at,
        "v_ended_at": call.ended_at,
        "v_duration_seconds": call.duration_seconds,
        "v_outcome": call.outcome.value,
        "v_cost_usd": call.cost_usd,
        "v_case_id": call.case_id,
        "v_case_status": call.case_status,
    }


def _turn_params(call_id: str, turn: Turn, text: str) -> dict[str, Any]:
    """The parameters of ``_upsert_turn_statement`` for ``turn`` (its text as it is to be stored)."""
    return {
        "t_call_id": call_id,
        "t_seq": turn.seq,
        "t_speaker": turn.speaker.value,
        "t_text": text,
        "t_started_at": turn.started_at,
        "t_ended_at": turn.ended_at,
        "t_interrupted": turn.interrupted,
        "t_intent": turn.intent,
        "t_latency_seconds": turn.latency_seconds,
    }


def _upsert_turn_statement(dialect_name: str) -> postgresql.Insert | sqlite.Insert:
    """``INSERT … ON CONFLICT (call_id, seq) DO UPDATE`` of a turn: a turn written again replaces the
    stored one with the row proposed (``excluded``)."""
    insert = dialect_insert(dialect_name, turns).values(
        {column.name: bindparam(f"t_{column.name}", type_=column.type) for column in turns.c}
    )
    return insert.on_conflict_do_update(
        index_elements=[turns.c.call_id, turns.c.seq],
        set_={column.name: insert.excluded[column.name] for column in turns.c if not column.primary_key},
    )


class _Writes:
    """The call path's statements compiled for one engine's dialect."""

    def __init__(self, dialect: Dialect) -> None:
        upsert_turn = _upsert_turn_statement(dialect.name)
        self.upsert_turn = DriverStatement(upsert_turn, dialect)
        self.finalize_call = DriverStatement(_FINALIZE_CALL, dialect)
        self.save_call = DriverStatement(_SAVE_CALL, dialect)
        self.save_call_and_state = DriverStatement(_SAVE_CALL_AND_STATE, dialect)
        # PostgreSQL: a turn and the call row in one statement (the turn's upsert a data-modifying WITH),
        # atomic by itself: no BEGIN and COMMIT, each a round trip to the server costing as much CPU here
        # as the statement. SQLite has no data-modifying WITH; there the two run in one transaction.
        self.save_turn_call_and_state = (
            DriverStatement(_SAVE_CALL_AND_STATE.add_cte(upsert_turn.cte("saved_turn")), dialect)
            if dialect.name == "postgresql"
            else None
        )


class SqlCallStore:
    """``redact``, when given, is applied to each turn's text and the flow state's free text
    (``REDACTED_STATE_FIELDS``) before they are written (the stored transcript is then redacted; the
    caller's confirmed contact details stay in their own columns)."""

    def __init__(self, engine: AsyncEngine, *, redact: Redactor | None = None) -> None:
        self._engine = engine
        self._redact = redact
        self._writes = _Writes(engine.dialect)

    async def create_call(self, call: CallRecord) -> None:
        values = _call_values(call) | {
            "call_id": call.call_id,
            "started_at": call.started_at,
            "case_status": call.case_status,
            "caller_attestation": call.caller_attestation,  # set once, at the start of the call
            "updated_at": utcnow(),
        }
        try:
            async with self._engine.begin() as conn:
                await conn.execute(calls.insert().values(**values))
        except IntegrityError as error:
            raise ValueError(
                f"call {call.call_id!r} (external id {call.external_id!r}) is already stored"
            ) from error

    async def update_call(self, call: CallRecord) -> bool:
        """See ``ports.CallStore.update_call``."""
        return await self._write(call, (), {})

    async def set_case(self, call_id: str, case_id: int, case_status: str | None) -> None:
        statement = (
            update(calls)
            .where(calls.c.call_id == call_id, or_(calls.c.case_id.is_(None), calls.c.case_id == case_id))
            .values(
                case_id=case_id,
                case_status=func.coalesce(calls.c.case_status, case_status),  # a webhook's status stays
                updated_at=utcnow(),
            )
        )
        async with self._engine.begin() as conn:
            await conn.execute(statement)

    async def set_case_status(self, case_id: int, status: str) -> int:
        statement = (
            update(calls).where(calls.c.case_id == case_id).values(case_status=status, updated_at=utcnow())
        )
        async with self._engine.begin() as conn:
            result = await conn.execute(statement)
        return int(result.rowcount)

    async def unfinished_calls(self, idle_since: dt.datetime, limit: int = 100) -> list[CallRecord]:
        statement = (
            select(*_CALL_COLUMNS)
            .where(calls.c.ended_at.is_(None), calls.c.updated_at < idle_since)
            .order_by(calls.c.updated_at)
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(statement)).mappings().all()
        return [_call_from_row(row) for row in rows]

    async def add_turn(self, call_id: str, turn: Turn) -> None:
        """Store a turn; a turn with the same ``seq`` replaces the stored one (a barge-in shortens it)."""
        # One statement, atomic by itself: no transaction around it (two fewer round trips).
        async with driver_session(self._engine, transaction=False) as session:
            await self._upsert_turns(session, call_id, (turn,))

    async def save_progress(
        self, call: CallRecord, turns: Sequence[Turn], flow_state: dict[str, Any]
    ) -> bool:
        return await self._write(call, turns, {"flow_state": self._state(flow_state)})

    def _state(self, state: dict[str, Any]) -> dict[str, Any]:
        return redact_flow_state(state, self._redact) if self._redact is not None else state

    async def _write(self, call: CallRecord, turns: Sequence[Turn], extra: dict[str, Any]) -> bool:
        """The flow's columns, guarded against the other writers (see ``ports.CallStore.update_call``).

        Each writer reads the row at its own time; rather than a version check that would make the flow
        retry a whole turn, the columns other writers own are merged in SQL: the finalization is a
        conditional UPDATE (``ended_at IS NULL``) whose row count says who made it, and after it the end,
        outcome, duration and cost keep their values; ``case_id`` is only ever filled, ``case_status`` only
        written when empty (``set_case``/``set_case_status`` own it).
        """
        params = _write_params(call, utcnow())
        writes = self._writes
        statement = writes.save_call
        if "flow_state" in extra:
            params["v_flow_state"] = extra["flow_state"]
            statement = writes.save_call_and_state
        combined = writes.save_turn_call_and_state if "flow_state" in extra else None
        finalized = False
        if call.ended_at is None and (not turns or (len(turns) == 1 and combined is not None)):
            # No finalization and at most one turn (the common save): one statement, atomic by itself.
            async with driver_session(self._engine, transaction=False) as session:
                if turns and combined is not None:
                    params |= _turn_params(call.call_id, turns[0], self._text(turns[0]))
                    try:
                        updated = await session.execute(combined, params)
                    except IntegrityError as error:
                        if not is_foreign_key_violation(error):
                            raise  # e.g. the call's external id taken: not a missing call
                        raise LookupError(f"no call {call.call_id!r} to add a turn to") from error
                else:
                    updated = await session.execute(statement, params)
        else:
            async with driver_session(self._engine, transaction=True) as session:
                if turns:
                    await self._upsert_turns(session, call.call_id, turns)
                if call.ended_at is not None:
                    finalized = await session.execute(writes.finalize_call, params) == 1
                updated = await session.execute(statement, params)
        if updated == 0:
            raise LookupError(f"no call {call.call_id!r} to update")
        return finalized

    def _text(self, turn: Turn) -> str:
        return self._redact(turn.text) if self._redact is not None else turn.text

    async def _upsert_turns(self, session: DriverSession, call_id: str, turns: Sequence[Turn]) -> None:
        statement = self._writes.upsert_turn
        try:
            if len(turns) == 1:
                await session.execute(statement, _turn_params(call_id, turns[0], self._text(turns[0])))
            else:
                await session.executemany(
                    statement, [_turn_params(call_id, turn, self._text(turn)) for turn in turns]
                )
        except IntegrityError as error:
            raise LookupError(f"no call {call_id!r} to add a turn to") from error

    async def get_call(self, call_id: str) -> CallRecord | None:
        return await self._one(select(*_CALL_COLUMNS).where(calls.c.call_id == call_id))

    async def get_call_by_external_id(self, external_id: str) -> CallRecord | None:
        return await self._one(select(*_CALL_COLUMNS).where(calls.c.external_id == external_id))

    async def _one(self, statement: Any) -> CallRecord | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(statement)).mappings().one_or_none()
        return _call_from_row(row) if row is not None else None

    async def list_turns(self, call_id: str) -> list[Turn]:
        async with self._engine.connect() as conn:
            rows = (
                (await conn.execute(select(turns).where(turns.c.call_id == call_id).order_by(turns.c.seq)))
                .mappings()
                .all()
            )
        return [_turn_from_row(row) for row in rows]

    async def calls_for_case(self, case_id: int) -> list[CallRecord]:
        statement = select(*_CALL_COLUMNS).where(calls.c.case_id == case_id).order_by(calls.c.started_at)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(statement)).mappings().all()
        return [_call_from_row(row) for row in rows]

    async def list_calls(
        self,
        *,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[CallRecord]:
        """Calls started in ``[since, until)``, newest first."""
        statement = select(*_CALL_COLUMNS)
        if since is not None:
            statement = statement.where(calls.c.started_at >= since)
        if until is not None:
            statement = statement.where(calls.c.started_at < until)
        statement = statement.order_by(calls.c.started_at.desc(), calls.c.call_id).limit(limit).offset(offset)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(statement)).mappings().all()
        return [_call_from_row(row) for row in rows]

    async def save_flow_state(self, call_id: str, state: dict[str, Any]) -> None:
        statement = (
            update(calls)
            .where(calls.c.call_id == call_id)
            .values(flow_state=self._state(state), updated_at=utcnow())
        )
        async with self._engine.begin() as conn:
            result = await conn.execute(statement)
        if result.rowcount == 0:
            raise LookupError(f"no call {call_id!r} to save a flow state for")

    async def load_flow_state(self, call_id: str) -> dict[str, Any] | None:
        async with self._engine.connect() as conn:
            state = await conn.scalar(select(calls.c.flow_state).where(calls.c.call_id == call_id))
        return dict(state) if state is not None else None
