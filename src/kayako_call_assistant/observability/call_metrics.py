"""A CallStore decorator that prices a call and records its metrics the moment it is finalized (once: the
store reports which write made the transition).

Wrapping the store (rather than calling metrics from the call flow) keeps the core free of adapters and
makes every transport — media stream, Gather, chat — counted the same way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from ..domain import CallOutcome, CallRecord, Turn
from ..ports import CallStore
from .metrics import CALLS_ACTIVE, PriceTable, estimate_cost, record_finished_call


class MeteredCallStore:
    def __init__(self, inner: CallStore, prices: PriceTable) -> None:
        self._inner = inner
        self._prices = prices

    async def create_call(self, call: CallRecord) -> None:
        await self._inner.create_call(call)
        CALLS_ACTIVE.inc()

    async def update_call(self, call: CallRecord) -> bool:
        self._price(call)
        finalized = await self._inner.update_call(call)
        self._count(call, finalized)
        return finalized

    async def set_case(self, call_id: str, case_id: int, case_status: str | None) -> None:
        await self._inner.set_case(call_id, case_id, case_status)

    async def set_case_status(self, case_id: int, status: str) -> int:
        return await self._inner.set_case_status(case_id, status)

    async def unfinished_calls(self, idle_since: dt.datetime, limit: int = 100) -> list[CallRecord]:
        return await self._inner.unfinished_calls(idle_since, limit)

    async def add_turn(self, call_id: str, turn: Turn) -> None:
        await self._inner.add_turn(call_id, turn)

    async def save_progress(
        self, call: CallRecord, turns: Sequence[Turn], flow_state: dict[str, Any]
    ) -> bool:
        self._price(call)
        finalized = await self._inner.save_progress(call, turns, flow_state)
        self._count(call, finalized)
        return finalized

    def _price(self, call: CallRecord) -> bool:
        """Price a finished call before it is written; True when it is finished."""
        final = call.outcome is not CallOutcome.IN_PROGRESS and call.ended_at is not None
        if final:
            call.cost_usd = estimate_cost(call.usage, self._prices)
        return final

    def _count(self, call: CallRecord, finalized: bool) -> None:
        """Count a call when this write finalized it: the database's conditional UPDATE decides, so a call
        is counted once whatever the number of workers, restarts and writers."""
        if finalized:
            CALLS_ACTIVE.dec()
            record_finished_call(call)

    async def get_call(self, call_id: str) -> CallRecord | None:
        return await self._inner.get_call(call_id)

    async def get_call_by_external_id(self, external_id: str) -> CallRecord | None:
        return await self._inner.get_call_by_external_id(external_id)

    async def list_turns(self, call_id: str) -> list[Turn]:
        return await self._inner.list_turns(call_id)

    async def calls_for_case(self, case_id: int) -> list[CallRecord]:
        return await self._inner.calls_for_case(case_id)

    async def list_calls(
        self,
        *,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[CallRecord]:
        return await self._inner.list_calls(since=since, until=until, limit=limit, offset=offset)

    async def save_flow_state(self, call_id: str, state: dict[str, Any]) -> None:
        await self._inner.save_flow_state(call_id, state)

    async def load_flow_state(self, call_id: str) -> dict[str, Any] | None:
        return await self._inner.load_flow_state(call_id)
