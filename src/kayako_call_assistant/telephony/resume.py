"""A call whose media stream died on one replica continues on another (deploy: drain and resume).

Twilio follows the ``<Redirect>`` after ``<Connect>`` back to the voice webhook with the same CallSid; the new
stream's ``start`` then carries a CallSid this service already knows. Instead of starting a new call (and
greeting again), the call's flow is loaded from its stored state and, in place of the greeting, the caller
hears that the line dropped and the last question the assistant asked. State is stored once per reply, so
a turn whose reply was cut by the dead replica is not in it: the caller is asked again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import structlog

from ..calls import phrases
from ..calls.flow import CallFlow
from ..calls.service import CallService
from ..domain import CallRecord, CallStart, FlowAction, Say
from ..ports import CallHandler, CallHandlerFactory, CallStore

log = structlog.get_logger(__name__)


async def unfinished_call(calls: CallStore, service: CallService, call_sid: str) -> CallFlow | None:
    """The stored flow of a call with this CallSid that has not finished, else None (unknown or ended)."""
    if not call_sid:
        return None
    record = await calls.get_call_by_external_id(call_sid)
    if record is None or record.ended_at is not None:
        return None
    flow = await service.resume(record.call_id)
    # A flow that reached its end is saved before the socket closes: a stream that ended on purpose never
    # resumes, even when Twilio's redirect arrives before the record is finalized.
    if flow is None or flow.finished:
        return None
    # The dead replica may have written turns after the state it last saved (a caller's words are written
    # on their own): new turns are numbered after every stored one, so none is overwritten.
    stored = [turn.seq for turn in flow.turns]
    flow.memory.next_seq = max([flow.memory.next_seq, *(seq + 1 for seq in stored)])
    return flow


class ResumedCall:
    """The stored flow, with a greeting that picks the conversation up instead of starting it over."""

    def __init__(self, flow: CallFlow) -> None:
        self._flow = flow

    @property
    def call(self) -> CallRecord:
        return self._flow.call

    @property
    def finished(self) -> bool:
        return self._flow.finished

    @property
    def expects(self) -> str | None:
        return self._flow.expects

    async def greet(self) -> AsyncIterator[FlowAction]:
        yield Say(phrases.LINE_DROPPED)
        yield Say(self._flow.memory.last_prompt or phrases.HOW_CAN_I_HELP)

    def caller_said(self, text: str) -> AsyncIterator[FlowAction]:
        return self._flow.caller_said(text)

    def caller_silent(self) -> AsyncIterator[FlowAction]:
        return self._flow.caller_silent()

    def caller_pressed(self, digit: str) -> AsyncIterator[FlowAction]:
        return self._flow.caller_pressed(digit)

    def transfer_failed(self) -> AsyncIterator[FlowAction]:
        return self._flow.transfer_failed()

    def reply_started(self, latency_seconds: float) -> None:
        self._flow.reply_started(latency_seconds)

    async def assistant_cut_off(self, heard_text: str) -> None:
        await self._flow.assistant_cut_off(heard_text)

    async def hung_up(self, *, transport_failure: bool = False) -> None:
        await self._flow.hung_up(transport_failure=transport_failure)


def start_or_resume(calls: CallStore, service: CallService) -> CallHandlerFactory:
    """The media stream's call factory: a known, unfinished CallSid resumes; anything else starts a call."""

    async def factory(start: CallStart) -> CallHandler:
        flow = await unfinished_call(calls, service, start.external_id or "")
        if flow is None:
            return await service.start(start)
        log.info("telephony.call_resumed", call_id=flow.call.call_id, call_sid=start.external_id)
        return ResumedCall(flow)

    return factory
