"""Starting and resuming calls: the factory every transport (media stream, Gather, chat) asks for a flow."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

import structlog

from ..domain import CallOutcome, CallRecord, CallStart, utcnow
from ..ports import CallStore, HelpDesk, LanguageEngine, OutboxStore, Retriever
from ..tickets.case_builder import CaseBuilder
from ..tickets.outbox import OutboxWorker
from ..tickets.requester import e164_or_none
from .flow import CallFlow, FlowDeps
from .policy import CallPolicy

log = structlog.get_logger(__name__)


class CallService:
    def __init__(
        self,
        *,
        helpdesk: HelpDesk,
        engine: LanguageEngine,
        retriever: Retriever,
        calls: CallStore,
        outbox: OutboxStore,
        policy: CallPolicy,
        clock: Callable[[], datetime] = utcnow,
        delivery: OutboxWorker | None = None,
    ) -> None:
        """``delivery`` makes the immediate case delivery share the background worker's retry schedule."""
        self._calls = calls
        self._deps = FlowDeps(
            helpdesk=helpdesk,
            engine=engine,
            retriever=retriever,
            calls=calls,
            outbox=outbox,
            delivery=delivery or OutboxWorker(outbox, helpdesk, calls, clock=clock, engine=engine),
            cases=CaseBuilder(
                engine,
                priority_escalated=policy.case_priority_escalated or None,
                priority_resolved=policy.case_priority_resolved or None,
                case_type=policy.case_type or None,
                defer_summary=True,  # the outbox delivery summarizes: the caller never waits for the model
            ),
            policy=policy,
            clock=clock,
        )

    @property
    def policy(self) -> CallPolicy:
        return self._deps.policy

    async def start(self, start: CallStart) -> CallFlow:
        """A new call: its record is written at once, before a word is said."""
        call = CallRecord(
            call_id=uuid.uuid4().hex,
            channel=start.channel,
            started_at=self._deps.clock(),
            external_id=start.external_id,
            # "anonymous", "restricted", "" and other non-numbers are no caller ID (never read back,
            # never filed as a phone identity Kayako would refuse).
            from_number=e164_or_none(start.from_number),
            to_number=start.to_number,
            caller_attestation=start.caller_attestation,
        )
        await self._calls.create_call(call)
        flow = CallFlow(call=call, deps=self._deps)
        await self._calls.save_flow_state(call.call_id, flow.to_state())
        log.info(
            "call.started",
            call_id=call.call_id,
            channel=str(call.channel),
            external_id=call.external_id,
            caller_id=call.from_number is not None,
            caller_id_withheld=bool(start.from_number) and call.from_number is None,
        )
        return flow

    async def finalize_stale(self, idle_since: datetime, limit: int = 100) -> int:
        """Finish the calls nobody will finish: never finalized, and their row untouched since
        ``idle_since`` (the stream ended or the process serving it died before the status callback did
        its work). Each is finished as a hang-up from its stored state, which files the case of an
        unresolved call; a call without a state (it died before its greeting) is closed as abandoned.
        Safe beside live workers and other sweepers: the store's conditional finalization lets only one
        writer finish a call. Returns how many calls were finished."""
        finished = 0
        for stale in await self._calls.unfinished_calls(idle_since, limit):
            try:
                flow = await self.resume(stale.call_id)
                if flow is not None:
                    await flow.hung_up()
                else:
                    stale.outcome = CallOutcome.ABANDONED
                    stale.ended_at = self._deps.clock()
                    await self._calls.update_call(stale)
            except Exception:
                # One broken call must not stop the sweep; it is tried again next round.
                log.exception("call.sweep_failed", call_id=stale.call_id)
                continue
            finished += 1
            log.warning(
                "call.finalized_by_sweep",
                call_id=stale.call_id,
                external_id=stale.external_id,
                last_update_before=idle_since.isoformat(),
            )
        return finished

    async def resume(self, call_id: str) -> CallFlow | None:
        """The flow of a call in progress, as the last worker that served it left it (Gather mode)."""
        call = await self._calls.get_call(call_id)
        state = await self._calls.load_flow_state(call_id)
        if call is None or state is None:
            log.warning("call.resume_unknown", call_id=call_id, has_record=call is not None)
            return None
        turns = await self._calls.list_turns(call_id)
        return CallFlow.from_state(state, call=call, deps=self._deps, turns=turns)
