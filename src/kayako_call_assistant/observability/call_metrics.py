"""A CallStore decorator that prices a call and records its metrics the moment it is finalized.

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
        self._finalized: set[str] = set()

    async def create_call(self, call: CallRecord) -> None:
        await self._inner.create_call(call)
        CALLS_ACTIVE.inc()

    async def update_call(self, call: CallRecord) -> None:
        final = self._price(call)
        await self._inner.update_call(call)
        self._count(call, final)

    async def add_turn(self, call_id: str, turn: Turn) -> None:
        await self._inner.add_turn(call_id, turn)

    async def save_progress(
        self, call: CallRecord, turns: Sequence[Turn], flow_state: dict[str, Any]
    ) -> None:
        final = self._price(call)
        await self._inner.save_progress(call, turns, flow_state)
        self._count(call, final)

    def _price(self, call: CallRecord) -> bool:
        """Price a finished call before it is written; True when it is finished."""
        final = call.outcome is not CallOutcome.IN_PROGRESS and call.ended_at is not None
        if final:
            call.cost_usd = estimate_cost(call.usage, self._prices)
        return final

    def _count(self, call: CallRecord, final: bool) -> None:
        if final and call.call_id not in self._finalized:
            self._finalized.add(call.call_id)
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
