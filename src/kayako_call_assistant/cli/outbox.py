"""``kca outbox``: the cases waiting for Kayako (pending) and those it refused beyond repair (dead).

Works on the database the server uses (``KCA_DATABASE_URL``), so an operator can list, inspect and requeue
cases while the server runs: a requeued case is due at once and the server's worker delivers it under the
usual lease; ``--now`` delivers from this process instead (same lease, so never both).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import typer

from ..ports import OutboxEntry
from ..settings import Settings
from ..storage import SqlStores, create_engine, database_url, upgrade
from ..tickets.outbox import entry_json

app = typer.Typer(no_args_is_help=True, help="Case outbox: list, show and requeue undelivered cases.")
JSON_OPTION = typer.Option(False, "--json", help="Print JSON instead of text.")
NOW_OPTION = typer.Option(False, "--now", help="Deliver from this process at once (needs Kayako settings).")
T = TypeVar("T")


def _with_stores(action: Callable[[SqlStores, Settings], Awaitable[T]]) -> T:
    async def run() -> T:
        settings = Settings()
        engine = create_engine(database_url(settings))
        try:
            await upgrade(engine)
            return await action(SqlStores(engine), settings)
        finally:
            await engine.dispose()

    return asyncio.run(run())


async def _deliver_now(stores: SqlStores, settings: Settings) -> int:
    """Deliver every due entry from this process; returns how many were delivered."""
    from ..llm.engines import language_engine_from_settings
    from ..wiring import build_helpdesk, outbox_worker_from_settings  # Kayako only when asked

    async with build_helpdesk(settings) as helpdesk:
        engine = language_engine_from_settings(settings)
        worker = outbox_worker_from_settings(settings, stores.outbox, helpdesk, stores.calls, engine)
        delivered = 0
        while (count := await worker.deliver_due()) > 0:
            delivered += count
        return delivered


@app.command("deliver")
def deliver_command(
    watch: bool = typer.Option(
        False, "--watch", help="Keep delivering as cases become due, like the server's worker (Ctrl-C stops)."
    ),
) -> None:
    """Deliver due cases from this process: once, or continuously with --watch (an extra delivery worker
    beside the servers, or the only one while they are down). Safe beside them: every delivery is leased."""

    async def work(stores: SqlStores, settings: Settings) -> int:
        if not watch:
            return await _deliver_now(stores, settings)
        from ..llm.engines import language_engine_from_settings
        from ..wiring import build_helpdesk, outbox_worker_from_settings

        async with build_helpdesk(settings) as helpdesk:
            engine = language_engine_from_settings(settings)
            worker = outbox_worker_from_settings(settings, stores.outbox, helpdesk, stores.calls, engine)
            await worker.run(asyncio.Event())  # until the process is stopped
        return 0

    delivered = _with_stores(work)
    typer.echo(f"delivered {delivered}")


def _line(entry: OutboxEntry) -> str:
    case = f"case #{entry.case_id}" if entry.case_id else "no case"
    error = f"  last error: {entry.last_error}" if entry.last_error else ""
    return f"{entry.status:9} {entry.idempotency_key}  attempts={entry.attempts}  {case}{error}"


@app.command("list")
def list_command(
    status: str | None = typer.Option(
        None, "--status", help="pending, delivered or dead (default: pending and dead)."
    ),
    limit: int = typer.Option(100, "--limit", min=1),
    as_json: bool = JSON_OPTION,
) -> None:
    """Entries that still need Kayako (pending) or an operator (dead), newest first, with the counts."""
    if status not in (None, "pending", "delivered", "dead"):
        raise typer.BadParameter("status must be pending, delivered or dead")

    async def work(stores: SqlStores, _settings: Settings) -> tuple[dict[str, int], list[OutboxEntry]]:
        entries = await stores.outbox.list_entries(status, limit)
        if status is None:
            entries = [e for e in entries if e.status != "delivered"]
        return await stores.outbox.counts(), entries

    counts, entries = _with_stores(work)
    if as_json:
        typer.echo(json.dumps({"counts": counts, "entries": [entry_json(e) for e in entries]}, indent=2))
        return
    typer.echo(", ".join(f"{name}: {count}" for name, count in counts.items()))
    for entry in entries:
        typer.echo(_line(entry))
    if counts.get("dead"):
        typer.echo("dead cases: fix the cause shown, then `kca outbox requeue KEY` (or `requeue-all`)")


@app.command("show")
def show_command(
    key: str = typer.Argument(..., help="The idempotency key (call-<call id>)."), as_json: bool = JSON_OPTION
) -> None:
    """One entry with its stored draft."""
    entry = _with_stores(lambda stores, _s: stores.outbox.get(key))
    if entry is None:
        typer.echo(f"no outbox entry {key!r}", err=True)
        raise typer.Exit(code=1)
    data = entry_json(entry, with_payload=True)
    if as_json:
        typer.echo(json.dumps(data, indent=2, default=str))
        return
    typer.echo(_line(entry))
    for name in ("call_id", "subject", "contact", "next_attempt_at", "created_at"):
        typer.echo(f"  {name}: {data[name]}")
    for repair in entry.repairs:
        typer.echo(f"  repair: {repair}")


def _requeue(keys: Callable[[SqlStores], Awaitable[list[str]]], now: bool, as_json: bool) -> None:
    async def work(stores: SqlStores, settings: Settings) -> dict[str, Any]:
        requeued = await keys(stores)
        result: dict[str, Any] = {"requeued": requeued}
        if now and requeued:
            result["delivered"] = await _deliver_now(stores, settings)
            result["entries"] = [entry_json(e) for k in requeued if (e := await stores.outbox.get(k))]
        return result

    result = _with_stores(work)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
    else:
        typer.echo(f"requeued {len(result['requeued'])}: {' '.join(result['requeued'])}".rstrip(": "))
        if "delivered" in result:
            typer.echo(f"delivered {result['delivered']}")
            for entry in result["entries"]:
                typer.echo(f"  {entry['idempotency_key']}: {entry['status']} case={entry['case_id']}")


@app.command("requeue")
def requeue_command(
    key: str = typer.Argument(..., help="The idempotency key (call-<call id>)."),
    now: bool = NOW_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Make one entry due again (repairs run again on its next delivery)."""

    async def one(stores: SqlStores) -> list[str]:
        return [key] if await stores.outbox.requeue(key) else []

    _requeue_or_fail(one, now, as_json, key)


@app.command("requeue-all")
def requeue_all_command(now: bool = NOW_OPTION, as_json: bool = JSON_OPTION) -> None:
    """Make every dead entry due again."""
    _requeue(lambda stores: stores.outbox.requeue_all("dead"), now, as_json)


def _requeue_or_fail(
    keys: Callable[[SqlStores], Awaitable[list[str]]], now: bool, as_json: bool, key: str
) -> None:
    found = _with_stores(lambda stores, _s: stores.outbox.get(key))
    if found is None:
        typer.echo(f"no outbox entry {key!r}", err=True)
        raise typer.Exit(code=1)
    _requeue(keys, now, as_json)
