"""The operators' call report: resolution rate, escalation reasons, durations, turn latency and cost."""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from ..domain import CallOutcome, CallRecord, Speaker, Turn
from ..ports import CallStore, OutboxStore

_PAGE = 500


@dataclass(slots=True)
class CallReport:
    since: dt.datetime | None
    until: dt.datetime | None
    calls: int = 0
    finished: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    resolution_rate: float | None = None
    escalation_reasons: dict[str, int] = field(default_factory=dict)
    average_duration_seconds: float | None = None
    p95_duration_seconds: float | None = None
    average_turn_latency_seconds: float | None = None
    p50_turn_latency_seconds: float | None = None
    p95_turn_latency_seconds: float | None = None
    total_cost_usd: float = 0.0
    cost_per_call_usd: float | None = None
    # h/cases: the case outbox now, whatever the time range (None when no outbox was given).
    cases_pending: int | None = None
    cases_dead: int | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["since"] = self.since.isoformat() if self.since else None
        data["until"] = self.until.isoformat() if self.until else None
        return data


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (no interpolation: the reported value is one that was observed)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def turn_latencies(turns: list[Turn]) -> list[float]:
    """Seconds the caller waited for each reply: on voice calls the stored measurement of the turn-latency
    metric (last voiced frame to first answer frame); in text chat, from the caller's turn to the reply."""
    measured = [t.latency_seconds for t in turns if t.latency_seconds is not None]
    if measured:
        return measured
    latencies = []
    for before, after in itertools.pairwise(turns):
        if (
            before.speaker is Speaker.CALLER
            and after.speaker is Speaker.ASSISTANT
            and before.ended_at is not None
        ):
            latencies.append(max(0.0, (after.started_at - before.ended_at).total_seconds()))
    return latencies


async def build_report(
    store: CallStore,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    outbox: OutboxStore | None = None,
) -> CallReport:
    report = CallReport(since=since, until=until)
    if outbox is not None:  # h/cases: dead and pending cases
        counts = await outbox.counts()
        report.cases_pending, report.cases_dead = counts.get("pending", 0), counts.get("dead", 0)
    records: list[CallRecord] = []
    offset = 0
    while True:
        page = await store.list_calls(since=since, until=until, limit=_PAGE, offset=offset)
        records.extend(page)
        if len(page) < _PAGE:
            break
        offset += _PAGE
    report.calls = len(records)
    finished = [call for call in records if call.outcome is not CallOutcome.IN_PROGRESS]
    report.finished = len(finished)
    report.outcomes = dict(Counter(call.outcome.value for call in records))
    # A call that ended right after an answer, with no yes or no, counts neither for nor against the rate.
    rated = [call for call in finished if call.outcome is not CallOutcome.ANSWERED]
    if rated:
        resolved = sum(1 for call in rated if call.outcome is CallOutcome.RESOLVED)
        report.resolution_rate = round(resolved / len(rated), 4)
    report.escalation_reasons = dict(Counter(c.escalation_reason for c in records if c.escalation_reason))
    durations = [c.duration_seconds for c in finished if c.duration_seconds is not None]
    if durations:
        report.average_duration_seconds = round(sum(durations) / len(durations), 3)
        report.p95_duration_seconds = round(percentile(durations, 0.95), 3)
    latencies: list[float] = []
    for call in records:
        latencies.extend(turn_latencies(await store.list_turns(call.call_id)))
    if latencies:
        report.average_turn_latency_seconds = round(sum(latencies) / len(latencies), 3)
        report.p50_turn_latency_seconds = round(percentile(latencies, 0.5), 3)
        report.p95_turn_latency_seconds = round(percentile(latencies, 0.95), 3)
    costs = [c.cost_usd for c in finished if c.cost_usd is not None]
    report.total_cost_usd = round(sum(costs), 6)
    if costs:
        report.cost_per_call_usd = round(report.total_cost_usd / len(costs), 6)
    return report
