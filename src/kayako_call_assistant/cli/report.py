"""`kca report`: resolution rate, escalation reasons, durations, turn latency and cost over a time range."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ..observability.report import CallReport, build_report
from ..settings import Settings
from ..storage import SqlStores, create_engine, database_url, upgrade
from .errors import CliError


def _parse_since(value: str | None, option: str = "--since") -> dt.datetime | None:
    """ISO-8601 time, or a span back from now such as ``24h``, ``7d``, ``30m``."""
    if value is None:
        return None
    units = {"m": "minutes", "h": "hours", "d": "days"}
    if value[-1:] in units and value[:-1].isdigit():
        return dt.datetime.now(dt.UTC) - dt.timedelta(**{units[value[-1]]: int(value[:-1])})
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise CliError(
            f"{option} {value!r}: expected an ISO date or time (2026-08-27, 2026-08-27T09:00:00+00:00) "
            "or a span back from now such as 30m, 24h, 7d"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


async def _report(settings: Settings, since: dt.datetime | None, until: dt.datetime | None) -> CallReport:
    engine = create_engine(database_url(settings))
    try:
        await upgrade(engine)
        stores = SqlStores(engine)
        return await build_report(stores.calls, since=since, until=until, outbox=stores.outbox)
    finally:
        await engine.dispose()


def _show(report: CallReport) -> None:
    table = Table(title="Calls")
    table.add_column("measure")
    table.add_column("value", justify="right")
    rows = [
        ("calls", report.calls),
        ("finished", report.finished),
        ("resolution rate", report.resolution_rate),
        ("average duration (s)", report.average_duration_seconds),
        ("p95 duration (s)", report.p95_duration_seconds),
        ("average turn latency (s)", report.average_turn_latency_seconds),
        ("p50 turn latency (s)", report.p50_turn_latency_seconds),
        ("p95 turn latency (s)", report.p95_turn_latency_seconds),
        ("cost per call (USD)", report.cost_per_call_usd),
        ("total cost (USD)", report.total_cost_usd),
        ("cases pending delivery", report.cases_pending),
        ("cases dead (`kca outbox list`)", report.cases_dead),
    ]
    for name, value in rows:
        table.add_row(name, "—" if value is None else str(value))
    for outcome, count in sorted(report.outcomes.items()):
        table.add_row(f"outcome: {outcome}", str(count))
    for reason, count in sorted(report.escalation_reasons.items()):
        table.add_row(f"escalation: {reason}", str(count))
    Console().print(table)


def report_command(
    since: Annotated[str | None, typer.Option(help="Start: ISO-8601 time or a span such as 24h, 7d.")] = None,
    until: Annotated[str | None, typer.Option(help="End: ISO-8601 time.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Report on the calls in a time range."""
    report = asyncio.run(_report(Settings(), _parse_since(since), _parse_since(until, "--until")))
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2))
    else:
        _show(report)
